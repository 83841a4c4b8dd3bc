// Status lines the critical-section child prints while user space is frozen
// ("hiberkit: saving image 12/345 MiB").
//
// Nothing here allocates or locks: lines are assembled in a fixed buffer with hand-written number
// formatting (printf may take the stdio lock a frozen thread holds, and may allocate), and are
// written with one system call that never waits for a reader: the reader of a pipe or socket is
// usually a frozen process, and a child blocked on it would keep the machine frozen for ever.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hiberkit {

// Where lines go. Constructed before the freeze: it asks once what kind of file `fd` is.
class ProgressOutput {
 public:
  // A negative fd disables output.
  explicit ProgressOutput(int fd);

  // Writes `length` bytes (one line) if that cannot block; otherwise drops it.
  void Write(const char* data, size_t length) const;

 private:
  enum class Kind { kDisabled, kPipe, kSocket, kOther };
  int fd_;
  Kind kind_;
  long pipe_capacity_;
};

// One line under construction. Text that does not fit is cut (the line stays well-formed).
class ProgressLine {
 public:
  ProgressLine& Text(const char* text);
  ProgressLine& Number(uint64_t value);
  // Appends the newline and writes the line.
  void SendTo(const ProgressOutput& output);

 private:
  char buffer_[192];
  size_t length_ = 0;
};

}  // namespace hiberkit
