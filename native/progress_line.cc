// See progress_line.h.
#include "progress_line.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hiberkit {

ProgressOutput::ProgressOutput(int fd) : fd_(fd), kind_(Kind::kDisabled), pipe_capacity_(0) {
  struct stat info;
  if (fd < 0 || fstat(fd, &info) != 0) return;
  if (S_ISFIFO(info.st_mode)) {
    pipe_capacity_ = fcntl(fd, F_GETPIPE_SZ);
    kind_ = pipe_capacity_ > 0 ? Kind::kPipe : Kind::kDisabled;
  } else if (S_ISSOCK(info.st_mode)) {
    kind_ = Kind::kSocket;
  } else {
    // Terminals, the console, regular files: a write completes without a reader.
    kind_ = Kind::kOther;
  }
}

void ProgressOutput::Write(const char* data, size_t length) const {
  switch (kind_) {
    case Kind::kDisabled:
      return;
    case Kind::kPipe: {
      // O_NONBLOCK would have to be set on the open file the parent shares; instead, write only
      // when the pipe has room for the whole line (a write of less than PIPE_BUF is atomic).
      int queued = 0;
      if (ioctl(fd_, FIONREAD, &queued) != 0 || pipe_capacity_ - queued < static_cast<long>(length)) return;
      (void)!write(fd_, data, length);
      return;
    }
    case Kind::kSocket:
      (void)!send(fd_, data, length, MSG_DONTWAIT | MSG_NOSIGNAL);
      return;
    case Kind::kOther:
      (void)!write(fd_, data, length);
      return;
  }
}

ProgressLine& ProgressLine::Text(const char* text) {
  // One byte stays free for the newline.
  while (*text != '\0' && length_ < sizeof(buffer_) - 1) buffer_[length_++] = *text++;
  return *this;
}

ProgressLine& ProgressLine::Number(uint64_t value) {
  char digits[20];  // 2^64 has 20 decimal digits
  size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (count > 0 && length_ < sizeof(buffer_) - 1) buffer_[length_++] = digits[--count];
  return *this;
}

void ProgressLine::SendTo(const ProgressOutput& output) {
  buffer_[length_++] = '\n';
  output.Write(buffer_, length_);
  length_ = 0;
}

}  // namespace hiberkit
