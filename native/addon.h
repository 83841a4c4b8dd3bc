// The addon's families, one file each; addon.cc registers them all on the module object.
#pragma once
#include <napi.h>

namespace hiberkit {

void RegisterErrors(Napi::Env env, Napi::Object exports);           // errors.cc
void RegisterSnapshotDevice(Napi::Env env, Napi::Object exports);   // snapshot_device.cc
void RegisterBlockDevice(Napi::Env env, Napi::Object exports);      // block_device.cc
void RegisterSystem(Napi::Env env, Napi::Object exports);           // system.cc
void RegisterCodec(Napi::Env env, Napi::Object exports);            // codec.cc
void RegisterCriticalSection(Napi::Env env, Napi::Object exports);  // critical_section.cc

}  // namespace hiberkit
