// WriteQueue (write_queue.h): the image writer's overlapped disk writes.
#include "write_queue.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "retry_eintr.h"

namespace hiberkit {
namespace {

// The context's size. Each write is one run of consecutive swap pages, so with a contiguous swap
// area a buffer slot needs one; the cap only matters on a badly fragmented one, and keeps the
// context far below fs.aio-max-nr (65536 for the whole system by default; the kernel reserves
// twice what is asked).
constexpr size_t kMaxInFlight = 1024;

constexpr size_t kRecordAlign = 64;

size_t AlignUp(size_t n) { return (n + kRecordAlign - 1) / kRecordAlign * kRecordAlign; }

size_t CapacityFor(size_t groups, size_t max_writes_per_group) {
  return std::min(groups * max_writes_per_group, kMaxInFlight);
}

// Where each record array lives in the caller's memory.
struct QueueLayout {
  size_t requests, events, used, pending, total;
};

QueueLayout QueueLayoutFor(size_t groups, size_t max_writes_per_group) {
  QueueLayout layout{};
  layout.requests = 0;
  layout.events = AlignUp(layout.requests + groups * max_writes_per_group * sizeof(iocb));
  layout.used = AlignUp(layout.events + CapacityFor(groups, max_writes_per_group) * sizeof(io_event));
  layout.pending = AlignUp(layout.used + groups * sizeof(size_t));
  layout.total = AlignUp(layout.pending + groups * sizeof(size_t));
  return layout;
}

// The system calls themselves: glibc has no wrappers, and libaio would be one more library to
// load and lock for the critical section.
long IoSetup(unsigned nr_events, aio_context_t* context) { return syscall(SYS_io_setup, nr_events, context); }
long IoDestroy(aio_context_t context) { return syscall(SYS_io_destroy, context); }
long IoSubmit(aio_context_t context, long count, iocb** requests) {
  return syscall(SYS_io_submit, context, count, requests);
}
long IoGetevents(aio_context_t context, long min_events, long max_events, io_event* events) {
  return syscall(SYS_io_getevents, context, min_events, max_events, events, nullptr);
}

}  // namespace

int WriteAll(int fd, const uint8_t* buf, size_t length, uint64_t offset) {
  while (length > 0) {
    const ssize_t n = RetryOnEintr([&] { return pwrite(fd, buf, length, static_cast<off_t>(offset)); });
    if (n < 0) return errno;
    if (n == 0) return EIO;
    buf += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

int Flush(int fd) { return RetryOnEintr([fd] { return fdatasync(fd); }) == 0 ? 0 : errno; }

size_t WriteQueue::MemoryBytes(size_t groups, size_t max_writes_per_group) {
  return QueueLayoutFor(groups, max_writes_per_group).total;
}

WriteQueue::WriteQueue(int fd, size_t groups, size_t max_writes_per_group, uint8_t* memory)
    : fd_(fd),
      groups_(groups),
      max_writes_per_group_(max_writes_per_group),
      capacity_(CapacityFor(groups, max_writes_per_group)) {
  const QueueLayout layout = QueueLayoutFor(groups, max_writes_per_group);
  requests_ = reinterpret_cast<iocb*>(memory + layout.requests);
  events_ = reinterpret_cast<io_event*>(memory + layout.events);
  used_ = reinterpret_cast<size_t*>(memory + layout.used);
  pending_ = reinterpret_cast<size_t*>(memory + layout.pending);
  std::fill(used_, used_ + groups, 0);
  std::fill(pending_, pending_ + groups, 0);
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_DIRECT) == 0) return;
  // On failure the context stays 0 and every write is done when it is queued.
  if (IoSetup(static_cast<unsigned>(capacity_), &context_) != 0) context_ = 0;
}

WriteQueue::~WriteQueue() {
  if (context_ == 0) return;
  // Reap stops early only if io_getevents itself fails; io_destroy then still waits for the rest.
  while (in_flight_ > 0 && Reap()) {
  }
  IoDestroy(context_);
}

int WriteQueue::Write(size_t group, const uint8_t* buf, size_t length, uint64_t offset) {
  if (error_ != 0) return error_;
  if (context_ == 0) return error_ = WriteAll(fd_, buf, length, offset);
  if (group >= groups_ || used_[group] == max_writes_per_group_) return error_ = EINVAL;  // a caller's bug
  while (in_flight_ == capacity_ && error_ == 0) Reap();
  if (error_ != 0) return error_;
  iocb* request = &requests_[group * max_writes_per_group_ + used_[group]];
  memset(request, 0, sizeof(*request));
  request->aio_data = group;
  request->aio_lio_opcode = IOCB_CMD_PWRITE;
  request->aio_fildes = static_cast<uint32_t>(fd_);
  request->aio_buf = reinterpret_cast<uintptr_t>(buf);
  request->aio_nbytes = length;
  request->aio_offset = static_cast<int64_t>(offset);
  // Errors the write itself meets (EIO, ENOSPC, ...) arrive as its completion; io_submit fails
  // only for a request it cannot start (EBADF, EINVAL, EAGAIN when out of kernel memory).
  if (IoSubmit(context_, 1, &request) != 1) return error_ = errno;
  used_[group]++;
  pending_[group]++;
  in_flight_++;
  return 0;
}

int WriteQueue::WaitGroup(size_t group) {
  while (error_ == 0 && pending_[group] > 0) Reap();
  if (error_ == 0) used_[group] = 0;
  return error_;
}

int WriteQueue::WaitAll() {
  while (error_ == 0 && in_flight_ > 0) Reap();
  if (error_ == 0) std::fill(used_, used_ + groups_, 0);
  return error_;
}

bool WriteQueue::Reap() {
  const long n = RetryOnEintr([&] { return IoGetevents(context_, 1, static_cast<long>(capacity_), events_); });
  if (n < 0) {
    if (error_ == 0) error_ = errno;
    return false;
  }
  for (long i = 0; i < n; i++) Settle(events_[i]);
  return true;
}

void WriteQueue::Settle(const io_event& event) {
  pending_[event.data]--;
  in_flight_--;
  const iocb& request = *reinterpret_cast<const iocb*>(static_cast<uintptr_t>(event.obj));
  if (event.res < 0) {
    if (error_ == 0) error_ = static_cast<int>(-event.res);
    return;
  }
  // A short write (the end of the device, a file size limit, a full file system): finishing it
  // with pwrite either succeeds or returns the errno that explains it.
  const uint64_t written = static_cast<uint64_t>(event.res);
  if (written < request.aio_nbytes && error_ == 0) {
    error_ = WriteAll(fd_, reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(request.aio_buf)) + written,
                      request.aio_nbytes - written, static_cast<uint64_t>(request.aio_offset) + written);
  }
}

}  // namespace hiberkit
