// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterImageWriter(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
