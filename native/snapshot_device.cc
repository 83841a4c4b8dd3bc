// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterSnapshotDevice(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
