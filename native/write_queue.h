// The image writer's disk writes (image_writer.cc): positional writes that wait, and a queue that
// lets the writer fill its next buffer while the previous ones are still on their way to disk.
//
// The queue uses Linux native AIO (io_setup/io_submit/io_getevents through syscall(2), no libaio)
// when the descriptor is O_DIRECT: only then does io_submit return before the data is written
// (buffered AIO is done inside io_submit). Otherwise, or when the kernel refuses a context (no
// CONFIG_AIO: ENOSYS; fs.aio-max-nr reached: EAGAIN), each write is done when it is queued and the
// waits have nothing to wait for: one code path, the same results and errors.
//
// Like the writer, it runs in the critical section: it allocates nothing in user space (its
// records live in memory the caller prepared before the freeze) and takes no lock. io_setup only
// allocates kernel memory; the context is per process, so it is created by the process that
// writes, when it starts writing, and destroyed by the destructor on every way out.
#pragma once

#include <linux/aio_abi.h>

#include <cstddef>
#include <cstdint>

namespace hiberkit {

// pwrite(2) until `length` bytes are written; 0 or an errno value (EIO if the device takes nothing).
int WriteAll(int fd, const uint8_t* buf, size_t length, uint64_t offset);

// fdatasync(2), retried on EINTR: 0 or an errno value.
int Flush(int fd);

// Writes are queued under a group number, 0 .. groups-1 (the writer's buffer slots): WaitGroup(g)
// waits for every write of group g, so that its buffer can be filled again.
class WriteQueue {
 public:
  // Bytes of caller memory (aligned to 64) the queue keeps its records in.
  static size_t MemoryBytes(size_t groups, size_t max_writes_per_group);

  WriteQueue(int fd, size_t groups, size_t max_writes_per_group, uint8_t* memory);
  // Waits for whatever is still in flight (its errors no longer matter: only a failed write leaves
  // writes behind) and destroys the context.
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Whether writes overlap (AIO), rather than being done when queued.
  bool asynchronous() const { return context_ != 0; }

  // Queues one write; `buf` must stay unchanged until the group has been waited for. Returns 0 or
  // an errno value: that of this write, or of an earlier one that completed meanwhile.
  int Write(size_t group, const uint8_t* buf, size_t length, uint64_t offset);

  // Waits for every write of `group` / of all groups. Returns 0, or the errno value of the first
  // write that failed (a short write is finished with WriteAll, whose error counts).
  int WaitGroup(size_t group);
  int WaitAll();

 private:
  // Waits for at least one completion and settles every one that is there; false (with error_
  // set) if io_getevents itself failed.
  bool Reap();
  void Settle(const io_event& event);

  const int fd_;
  const size_t groups_;
  const size_t max_writes_per_group_;
  const size_t capacity_;  // writes in flight at most: the context's size
  aio_context_t context_ = 0;
  iocb* requests_;         // [groups][max_writes_per_group]: what event.obj points back to
  io_event* events_;       // [capacity]
  size_t* used_;           // [groups]: requests of the group since it was last waited for
  size_t* pending_;        // [groups]: of those, not completed yet
  size_t in_flight_ = 0;
  int error_ = 0;          // the first failure; every later call reports it
};

}  // namespace hiberkit
