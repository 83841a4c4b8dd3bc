// The test addon (test/native/binding.gyp): N-API entries that only tests use, kept out of the
// production addon. Each file registers one family on the module object; test_addon.cc calls them.
#pragma once
#include <napi.h>

namespace hiberkit {

void RegisterImageWriterEntries(Napi::Env env, Napi::Object exports);  // image_writer_entries.cc
void RegisterCodecEntries(Napi::Env env, Napi::Object exports);        // codec_entries.cc
void RegisterDeviceTableEntries(Napi::Env env, Napi::Object exports);  // device_table_entries.cc

}  // namespace hiberkit
