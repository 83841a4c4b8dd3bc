// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterErrors(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
