// RetryOnEintr, for code with and without N-API (the addon, hiberkit-resume).
#pragma once

#include <cerrno>

namespace hiberkit {

// Repeats a system call that failed with EINTR. Only for calls where EINTR means "nothing
// happened" (open, the read/write family, fdatasync), never for close() (on Linux the fd is
// gone even then) or for requests with side effects that a repeat would duplicate.
template <typename Call>
auto RetryOnEintr(Call call) -> decltype(call()) {
  decltype(call()) result;
  do {
    result = call();
  } while (result == -1 && errno == EINTR);
  return result;
}

}  // namespace hiberkit
