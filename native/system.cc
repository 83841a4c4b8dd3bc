// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterSystem(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
