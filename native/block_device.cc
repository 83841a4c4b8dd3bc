// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterBlockDevice(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
