// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterCriticalSection(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
