// Whole small files (read_file.h).
#include "read_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "../retry_eintr.h"

namespace hiberkit_resume {

using hiberkit::RetryOnEintr;

int ReadWholeFile(const std::string& path, std::string* text) {
  const int fd = RetryOnEintr([&] { return open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return errno;
  text->clear();
  char buffer[4096];
  for (;;) {
    const ssize_t got = RetryOnEintr([&] { return read(fd, buffer, sizeof(buffer)); });
    if (got < 0) {
      const int error = errno;
      close(fd);
      return error;
    }
    if (got == 0) break;
    text->append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return 0;
}

}  // namespace hiberkit_resume
