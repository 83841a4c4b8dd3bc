// See failure.h.
#include "failure.h"

#include <cctype>
#include <cstring>

namespace hiberkit_resume {

std::string SystemReason(int errnum) {
  // strerror says "No such file or directory"; Node (libuv) says it in lower case.
  std::string description = strerror(errnum);
  if (!description.empty()) description[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(description[0])));
  // glibc's own table of symbolic names, as ErrnoName in native/errors.cc uses it.
  const char* name = strerrorname_np(errnum);
  return description + " (" + (name != nullptr ? std::string(name) : "E" + std::to_string(errnum)) + ")";
}

}  // namespace hiberkit_resume
