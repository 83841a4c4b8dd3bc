// The names of the critical stages (critical_sequence.h).
#include "critical_sequence.h"

namespace hiberkit {
namespace {

const char* const kStageNames[] = {
    "wait-go",    "lock-memory", "platform-support", "freeze",     "create-image",  "get-image-size",
    "write-image", "power-off",  "resumed",          "invalidate", "atomic-restore",
};
static_assert(sizeof(kStageNames) / sizeof(kStageNames[0]) ==
                  static_cast<size_t>(CriticalStage::kAtomicRestore) + 1,
              "one name per stage");

}  // namespace

const char* CriticalStageName(CriticalStage stage) {
  size_t index = static_cast<size_t>(stage);
  return index < sizeof(kStageNames) / sizeof(kStageNames[0]) ? kStageNames[index] : "unknown";
}

}  // namespace hiberkit
