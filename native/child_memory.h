// Memory locking for the critical-section child (critical_child.cc).
//
// From SNAPSHOT_FREEZE on, a page fault that needs I/O (a text page evicted from the page cache,
// an anonymous page swapped out) may wait on a frozen filesystem or swap path: the child must
// only touch memory that is resident and locked. The parent gathers the address ranges (that
// needs the dynamic loader's lock, which a frozen thread could hold later); the child locks them
// before it freezes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hiberkit {

struct LockRange {
  uintptr_t start;  // page aligned
  size_t bytes;     // a multiple of the page size
};

// Room for every loaded segment of the libraries a Node process maps (about 8 libraries with
// 4-5 segments each); overflowing it is reported, never truncated silently.
constexpr size_t kMaxLibraryRanges = 128;

struct LibraryRanges {
  LockRange ranges[kMaxLibraryRanges];
  size_t count;
  size_t bytes;
};

// Parent side: the loaded segments (PT_LOAD) of every shared object in the process except the
// main executable: the addon, libc, libstdc++, libm, libgcc_s and the loader. The child runs
// code and reads data from those only; the executable (node, ~100 MB of V8, ICU and OpenSSL)
// is never entered by the child, so locking it would only add to the image.
// Returns 0, or E2BIG if there are more segments than kMaxLibraryRanges.
int CollectLibraryRanges(LibraryRanges* out);

// How the child locks itself.
//
// kPrecise (the default): mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) locks what is resident
// now and whatever is faulted in later without populating anything, then mlock() populates and
// locks exactly what the child touches: the library segments, the parent-prepared areas
// (workspace, report), and a stack window.
//
// kEverything: mlockall(MCL_CURRENT | MCL_FUTURE), what the kernel documentation asks of a
// hibernation tool. In a fork of Node it populates every writable private mapping with a write
// fault, which breaks copy-on-write: the child gets its own copy of the parent's whole heap, and
// those pages are locked, so the kernel cannot reclaim them and they enlarge the image.
// Kept selectable so the VM test can measure the difference (test/vm/critical-section.vm.test.ts).
//
// Measured there (1 vCPU under TCG, 1024 MB, the child forked from a Node process holding
// ~100 MB of buffers), precise vs everything: locking 33 ms vs 1468 ms; pages the child owns
// alone 6.5 MiB vs 227 MiB; FREEZE to CREATE_IMAGE 0.8 s vs 3.4 s; snapshot stream 294 MiB vs
// 353 MiB; FREEZE to power-off 6.6 s vs 9.8 s. Hence kPrecise. Its price: MCL_CURRENT also pins
// the anonymous pages the child still shares with the parent (Node's heap), so CREATE_IMAGE cannot
// swap those out to reach a small preferred image size; they are in the image either way.
enum class LockMode { kPrecise, kEverything };

struct ChildMemory {
  LockMode mode;
  const LibraryRanges* libraries;
  LockRange areas[2];  // the private workspace mapping and the shared report page
};

// Child side, before the freeze. Returns 0 or an errno value; `*failed_call` names the call.
int LockChildMemory(const ChildMemory& memory, const char** failed_call);

// What locking cost the calling process, from /proc/self/smaps_rollup (zeros if it cannot be read).
// Read before the freeze: /proc is a filesystem.
struct MemoryUse {
  uint64_t resident_kib;       // resident pages; all locked, since both modes lock with MCL_CURRENT
  uint64_t private_dirty_kib;  // pages this process owns alone: what it copied from the parent or created
};
MemoryUse MeasureMemoryUse();

}  // namespace hiberkit
