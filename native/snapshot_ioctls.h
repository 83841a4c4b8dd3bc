// What the addon knows about /dev/snapshot requests: the ioctl table (numbers from the kernel's
// UAPI header, checked against the literal values of docs/snapshot-device.md §2.2) and the "frozen
// by this process" state that other native families consult.
#pragma once

#include <sys/ioctl.h>  // _IO/_IOR/_IOW, which <linux/suspend_ioctls.h> uses without including

#include <linux/suspend_ioctls.h>

namespace hiberkit {

// What the argument of a request is (mirrors IoctlArg in lib/ioctls.ts; a test compares them).
enum class IoctlArg { kNone, kValue, kIntOut, kLoffOut, kSwapAreaIn };

struct SnapshotIoctl {
  const char* name;
  unsigned long request;
  IoctlArg arg;
};

inline constexpr SnapshotIoctl kFreeze{"SNAPSHOT_FREEZE", SNAPSHOT_FREEZE, IoctlArg::kNone};
inline constexpr SnapshotIoctl kUnfreeze{"SNAPSHOT_UNFREEZE", SNAPSHOT_UNFREEZE, IoctlArg::kNone};
inline constexpr SnapshotIoctl kAtomicRestore{"SNAPSHOT_ATOMIC_RESTORE", SNAPSHOT_ATOMIC_RESTORE,
                                              IoctlArg::kNone};
inline constexpr SnapshotIoctl kFree{"SNAPSHOT_FREE", SNAPSHOT_FREE, IoctlArg::kNone};
inline constexpr SnapshotIoctl kFreeSwapPages{"SNAPSHOT_FREE_SWAP_PAGES", SNAPSHOT_FREE_SWAP_PAGES,
                                              IoctlArg::kNone};
inline constexpr SnapshotIoctl kS2ram{"SNAPSHOT_S2RAM", SNAPSHOT_S2RAM, IoctlArg::kNone};
inline constexpr SnapshotIoctl kSetSwapArea{"SNAPSHOT_SET_SWAP_AREA", SNAPSHOT_SET_SWAP_AREA,
                                            IoctlArg::kSwapAreaIn};
inline constexpr SnapshotIoctl kGetImageSize{"SNAPSHOT_GET_IMAGE_SIZE", SNAPSHOT_GET_IMAGE_SIZE,
                                             IoctlArg::kLoffOut};
inline constexpr SnapshotIoctl kPlatformSupport{"SNAPSHOT_PLATFORM_SUPPORT",
                                                SNAPSHOT_PLATFORM_SUPPORT, IoctlArg::kValue};
inline constexpr SnapshotIoctl kPowerOff{"SNAPSHOT_POWER_OFF", SNAPSHOT_POWER_OFF, IoctlArg::kNone};
// `_IOW` in the header, yet the kernel *writes* the int through the pointer (docs/snapshot-device.md §2.2).
inline constexpr SnapshotIoctl kCreateImage{"SNAPSHOT_CREATE_IMAGE", SNAPSHOT_CREATE_IMAGE,
                                            IoctlArg::kIntOut};
inline constexpr SnapshotIoctl kPrefImageSize{"SNAPSHOT_PREF_IMAGE_SIZE", SNAPSHOT_PREF_IMAGE_SIZE,
                                              IoctlArg::kValue};
inline constexpr SnapshotIoctl kAvailSwapSize{"SNAPSHOT_AVAIL_SWAP_SIZE", SNAPSHOT_AVAIL_SWAP_SIZE,
                                              IoctlArg::kLoffOut};
inline constexpr SnapshotIoctl kAllocSwapPage{"SNAPSHOT_ALLOC_SWAP_PAGE", SNAPSHOT_ALLOC_SWAP_PAGE,
                                              IoctlArg::kLoffOut};

inline constexpr const SnapshotIoctl* kSnapshotIoctls[] = {
    &kFreeze,          &kUnfreeze,      &kAtomicRestore, &kFree,          &kFreeSwapPages,
    &kS2ram,           &kSetSwapArea,   &kGetImageSize,  &kPlatformSupport, &kPowerOff,
    &kCreateImage,     &kPrefImageSize, &kAvailSwapSize, &kAllocSwapPage,
};

// The header and docs/snapshot-device.md §2.2 must agree; a mismatch means a wrong header, not a new kernel.
static_assert(kFreeze.request == 0x00003301, "SNAPSHOT_FREEZE");
static_assert(kUnfreeze.request == 0x00003302, "SNAPSHOT_UNFREEZE");
static_assert(kAtomicRestore.request == 0x00003304, "SNAPSHOT_ATOMIC_RESTORE");
static_assert(kFree.request == 0x00003305, "SNAPSHOT_FREE");
static_assert(kFreeSwapPages.request == 0x00003309, "SNAPSHOT_FREE_SWAP_PAGES");
static_assert(kS2ram.request == 0x0000330B, "SNAPSHOT_S2RAM");
static_assert(kSetSwapArea.request == 0x400C330D, "SNAPSHOT_SET_SWAP_AREA");
static_assert(kGetImageSize.request == 0x8008330E, "SNAPSHOT_GET_IMAGE_SIZE");
static_assert(kPlatformSupport.request == 0x0000330F, "SNAPSHOT_PLATFORM_SUPPORT");
static_assert(kPowerOff.request == 0x00003310, "SNAPSHOT_POWER_OFF");
static_assert(kCreateImage.request == 0x40043311, "SNAPSHOT_CREATE_IMAGE");
static_assert(kPrefImageSize.request == 0x00003312, "SNAPSHOT_PREF_IMAGE_SIZE");
static_assert(kAvailSwapSize.request == 0x80083313, "SNAPSHOT_AVAIL_SWAP_SIZE");
static_assert(kAllocSwapPage.request == 0x80083314, "SNAPSHOT_ALLOC_SWAP_PAGE");
static_assert(sizeof(resume_swap_area) == 12, "struct resume_swap_area is packed, 12 bytes");
static_assert(sizeof(kSnapshotIoctls) / sizeof(kSnapshotIoctls[0]) == 14, "one entry per ioctl");

// The table entry for a request value, or null for anything a current kernel rejects.
inline const SnapshotIoctl* FindSnapshotIoctl(unsigned long request) {
  for (const SnapshotIoctl* entry : kSnapshotIoctls) {
    if (entry->request == request) return entry;
  }
  return nullptr;
}

// True while a /dev/snapshot fd of this process has user space frozen (a successful FREEZE not
// yet undone by a thawing UNFREEZE or by closing that fd). Every other thread of the process,
// the libuv pool included, is frozen then: work queued to it would never finish.
bool UserSpaceFrozenByThisProcess();

}  // namespace hiberkit
