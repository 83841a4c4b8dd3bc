// See child_memory.h.
#include "child_memory.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hiberkit {

namespace {

constexpr uintptr_t kPage = 4096;

// Stack the child may still grow into after the freeze: its own frames, the image writer's and
// the kernel's signal frame if it crashes. A fault there would allocate while memory is tight.
constexpr size_t kStackPrefaultBytes = 256 * 1024;

struct Collector {
  LibraryRanges* out;
  bool overflow;
};

int AddSharedObject(dl_phdr_info* info, size_t /*size*/, void* data) {
  Collector* collector = static_cast<Collector*>(data);
  const char* name = info->dlpi_name;
  // The executable has an empty name; the vDSO is the one object without a path (and a special
  // mapping that mlock refuses to handle like a file).
  if (name == nullptr || std::strchr(name, '/') == nullptr) return 0;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    if (phdr.p_type != PT_LOAD || phdr.p_memsz == 0) continue;
    LibraryRanges* out = collector->out;
    if (out->count == kMaxLibraryRanges) {
      collector->overflow = true;
      return 1;  // stops the iteration
    }
    uintptr_t begin = (info->dlpi_addr + phdr.p_vaddr) & ~(kPage - 1);
    uintptr_t end = (info->dlpi_addr + phdr.p_vaddr + phdr.p_memsz + kPage - 1) & ~(kPage - 1);
    out->ranges[out->count++] = LockRange{begin, end - begin};
    out->bytes += end - begin;
  }
  return 0;
}

// Faults in (and, under MCL_FUTURE, locks) a window of stack below the caller's frame. noinline:
// the window must be a frame of its own, below every frame that calls it.
__attribute__((noinline)) void PrefaultStack() {
  uint8_t window[kStackPrefaultBytes];
  volatile uint8_t* touch = window;  // volatile: the stores must happen although nothing reads them
  for (size_t offset = 0; offset < kStackPrefaultBytes; offset += kPage) touch[offset] = 0;
}

int LockRangeNow(const LockRange& range, const char** failed_call) {
  if (range.bytes == 0) return 0;
  if (mlock(reinterpret_cast<void*>(range.start), range.bytes) != 0) {
    *failed_call = "mlock";
    return errno;
  }
  return 0;
}

// The number after `name` in /proc text like "Locked:   1234 kB"; 0 if absent.
uint64_t KibField(const char* text, const char* name) {
  const char* field = std::strstr(text, name);
  if (field == nullptr) return 0;
  field += std::strlen(name);
  while (*field == ' ' || *field == '\t') field++;
  uint64_t kib = 0;
  while (*field >= '0' && *field <= '9') kib = kib * 10 + static_cast<uint64_t>(*field++ - '0');
  return kib;
}

}  // namespace

int CollectLibraryRanges(LibraryRanges* out) {
  out->count = 0;
  out->bytes = 0;
  Collector collector{out, false};
  dl_iterate_phdr(AddSharedObject, &collector);
  return collector.overflow ? E2BIG : 0;
}

int LockChildMemory(const ChildMemory& memory, const char** failed_call) {
  if (memory.mode == LockMode::kEverything) {
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
      *failed_call = "mlockall";
      return errno;
    }
    PrefaultStack();
    return 0;
  }
  // MCL_CURRENT without populating: whatever is resident now (the stack frames and TLS inherited
  // from the parent, which the child reads) stays resident even when CREATE_IMAGE reclaims
  // memory; MCL_FUTURE: pages faulted in later are locked as they arrive.
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
    *failed_call = "mlockall";
    return errno;
  }
  for (size_t i = 0; i < memory.libraries->count; i++) {
    if (int err = LockRangeNow(memory.libraries->ranges[i], failed_call)) return err;
  }
  for (const LockRange& area : memory.areas) {
    if (int err = LockRangeNow(area, failed_call)) return err;
  }
  PrefaultStack();
  return 0;
}

MemoryUse MeasureMemoryUse() {
  MemoryUse use = {0, 0};
  int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return use;
  char text[4096];
  ssize_t length = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (length <= 0) return use;
  text[length] = '\0';
  use.resident_kib = KibField(text, "\nRss:");
  use.private_dirty_kib = KibField(text, "\nPrivate_Dirty:");
  return use;
}

}  // namespace hiberkit
