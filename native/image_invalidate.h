// Discarding an image on disk (docs/image-format.md §6): what the C++ writer's failure paths, the
// restore critical section and hiberkit-resume do, as lib/image/reader.ts invalidateImage does.
// Synchronous system calls on a caller-provided page: no allocation, no lock, safe with user
// space frozen.
#pragma once

#include <cstdint>

namespace hiberkit {

// A swap header page that can be marked and rebuilt from the marker alone (format.ts
// assertMarkable): a swap signature at 4086 and zeros in 4048..4085.
bool IsMarkableSwapHeader(const uint8_t* page);

// Zeroes the image header the on-disk marker names (when it is still there) and flushes, then
// writes the original swap header page back and flushes: the image is no longer valid, cannot be
// revived by re-marking the page, and the swap area is usable. `scratch` is one page-aligned page.
// kKeepHeader skips the first step, for the one caller that runs while the swap area is in use
// and the image's pages are free again (after a hibernating child died): the kernel may already
// have put a swapped-out page where the header was. Returns 0 or an errno value.
enum class HeaderWipe { kWipe, kKeep };
int InvalidateImage(int storage_fd, uint64_t resume_page, const uint8_t* original_page, uint8_t* scratch,
                    HeaderWipe header = HeaderWipe::kWipe);

}  // namespace hiberkit
