// PLACEHOLDER until its owner writes it.
#include "addon.h"
namespace hiberkit {
void RegisterCodec(Napi::Env, Napi::Object) {}
}  // namespace hiberkit
