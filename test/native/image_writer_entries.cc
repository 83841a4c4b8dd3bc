// The test addon's entries for the C++ image writer (native/image_writer.h): WriteImage and
// InvalidateImage on memory and a file, so host tests can compare this writer's output with the
// TypeScript one; which write path (native/write_queue.h) a descriptor gets; and the image cipher
// (native/image_crypto.h) on its own. They allocate freely: they run on the host, never in the
// critical section.
#include <mcheck.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../../native/fd_util.h"
#include "../../native/image_crypto.h"
#include "../../native/image_invalidate.h"
#include "../../native/image_writer.h"
#include "../../native/write_queue.h"
#include "test_entries.h"

namespace hiberkit {
namespace {

size_t DivideRoundingUp(size_t n, size_t d) { return (n + d - 1) / d; }


class MemoryPageSource final : public PageSource {
 public:
  MemoryPageSource(const uint8_t* data, size_t pages, size_t max_per_read)
      : data_(data), pages_(pages), max_per_read_(max_per_read) {}
  long ReadPages(uint8_t* buf, size_t pages) override {
    const size_t n = std::min({pages, pages_ - next_, max_per_read_});
    memcpy(buf, data_ + next_ * kPageSize, n * kPageSize);
    next_ += n;
    return static_cast<long>(n);
  }

 private:
  const uint8_t* data_;
  size_t pages_;
  size_t max_per_read_;
  size_t next_ = 0;
};

class ListAllocator final : public SwapAllocator {
 public:
  explicit ListAllocator(std::vector<int64_t> offsets) : offsets_(std::move(offsets)) {}
  int64_t AllocPage() override { return next_ < offsets_.size() ? offsets_[next_++] : -ENOSPC; }

 private:
  std::vector<int64_t> offsets_;
  size_t next_ = 0;
};

class NoProgress final : public ProgressSink {
 public:
  void Progress(uint64_t, uint64_t) override {}
};

// Page-aligned zeroed memory, freed on scope exit.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes) {
    if (posix_memalign(&memory_, kPageSize, bytes) != 0) memory_ = nullptr;
    if (memory_ != nullptr) memset(memory_, 0, bytes);
  }
  ~AlignedBuffer() { free(memory_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* get() const { return static_cast<uint8_t*>(memory_); }

 private:
  void* memory_ = nullptr;
};

// A non-negative safe integer property of the params object.
bool GetCountProperty(Napi::Env env, Napi::Object object, const char* name, double* out) {
  Napi::Value value = object.Get(name);
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= 0 && number <= 9007199254740991.0) || number != static_cast<double>(static_cast<int64_t>(number))) {
    const std::string what = std::string("expected a non-negative integer ") + name;
    return ArgError(env, "writeImageFromBuffer", what.c_str());
  }
  *out = number;
  return true;
}

// Copies the Uint8Array property `name` of `object`, which must be exactly `length` bytes.
bool GetFixedBytes(Napi::Env env, const char* fn, Napi::Object object, const char* name, uint8_t* out, size_t length) {
  Napi::Value value = object.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      value.As<Napi::Uint8Array>().ElementLength() != length) {
    return ArgError(env, fn, (std::string(name) + " must be a Uint8Array of " + std::to_string(length) + " bytes").c_str());
  }
  memcpy(out, value.As<Napi::Uint8Array>().Data(), length);
  return true;
}

// keys.originSignature: absent or null for an unsigned image, else 64 bytes.
bool GetOriginSignature(Napi::Env env, const char* fn, Napi::Object keys, ImageEncryptionConfig* out) {
  Napi::Value value = keys.Get("originSignature");
  out->signed_origin = !value.IsUndefined() && !value.IsNull();
  return !out->signed_origin ||
         GetFixedBytes(env, fn, keys, "originSignature", out->origin_signature, sizeof(out->origin_signature));
}

// params.encryption, when present: {chunkKey, headerKey, keyBlock, imageId, originSignature?} (test/native-test-binding.ts).
bool GetEncryption(Napi::Env env, Napi::Object params, ImageEncryptionConfig* out) {
  const char* fn = "writeImageFromBuffer";
  Napi::Value value = params.Get("encryption");
  out->enabled = !value.IsUndefined();
  if (!out->enabled) return true;
  if (!value.IsObject()) return ArgError(env, fn, "encryption must be an object");
  Napi::Object keys = value.As<Napi::Object>();
  return GetFixedBytes(env, fn, keys, "chunkKey", out->chunk_key, sizeof(out->chunk_key)) &&
         GetFixedBytes(env, fn, keys, "headerKey", out->header_key, sizeof(out->header_key)) &&
         GetFixedBytes(env, fn, keys, "keyBlock", out->key_block, sizeof(out->key_block)) &&
         GetFixedBytes(env, fn, keys, "imageId", out->image_id, sizeof(out->image_id)) &&
         GetOriginSignature(env, fn, keys, out);
}

bool GetIdentityString(Napi::Env env, Napi::Object identity, const char* name, char (&field)[kIdentityFieldBytes]) {
  Napi::Value value = identity.Get(name);
  if (!value.IsString()) return ArgError(env, "writeImageFromBuffer", (std::string("expected a string ") + name).c_str());
  const std::string text = value.As<Napi::String>().Utf8Value();
  if (text.size() >= kIdentityFieldBytes) return ArgError(env, "writeImageFromBuffer", "identity string too long", true);
  memset(field, 0, kIdentityFieldBytes);
  memcpy(field, text.data(), text.size());
  return true;
}

// writeImageFromBuffer(storageFd, params, stream, allocOffsets): see lib/native/binding.ts.
Napi::Value WriteImageFromBufferJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "writeImageFromBuffer";
  int fd = -1;
  uint8_t* stream;
  size_t stream_length;
  if (!GetFd(info, 0, fn, &fd)) return env.Undefined();
  if (info.Length() < 4 || !info[1].IsObject() || !info[3].IsArray()) {
    ArgError(env, fn, "expected (storageFd, params, stream, allocOffsets)");
    return env.Undefined();
  }
  if (!GetBytes(info, 2, fn, &stream, &stream_length)) return env.Undefined();
  if (stream_length % kPageSize != 0) {
    ArgError(env, fn, "the stream must be whole pages", true);
    return env.Undefined();
  }
  Napi::Object params = info[1].As<Napi::Object>();
  Napi::Value original_value = params.Get("originalResumePage");
  if (!original_value.IsTypedArray() || original_value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      original_value.As<Napi::Uint8Array>().ElementLength() != kPageSize) {
    ArgError(env, fn, "originalResumePage must be a 4096-byte Uint8Array");
    return env.Undefined();
  }
  const uint8_t* original = original_value.As<Napi::Uint8Array>().Data();

  ImageWriterConfig config{};
  double resume_page, chunk_pages, io_bytes, max_stored_pages, created_at_ms, per_read = 0;
  if (!params.Get("identity").IsObject()) {
    ArgError(env, fn, "expected an identity object");
    return env.Undefined();
  }
  Napi::Object identity = params.Get("identity").As<Napi::Object>();
  if (!GetCountProperty(env, params, "resumePage", &resume_page) || !GetCountProperty(env, params, "chunkPages", &chunk_pages) ||
      !GetCountProperty(env, params, "ioBytes", &io_bytes) ||
      !GetCountProperty(env, params, "maxStoredPages", &max_stored_pages) ||
      !GetCountProperty(env, identity, "createdAtMs", &created_at_ms) ||
      !GetIdentityString(env, identity, "kernelRelease", config.identity.kernel_release) ||
      !GetIdentityString(env, identity, "machineId", config.identity.machine_id) ||
      !GetEncryption(env, params, &config.encryption)) {
    WipeSecret(&config.encryption, sizeof(config.encryption));
    return env.Undefined();
  }
  if (params.Has("sourcePagesPerRead") && !params.Get("sourcePagesPerRead").IsUndefined() &&
      !GetCountProperty(env, params, "sourcePagesPerRead", &per_read)) {
    return env.Undefined();
  }
  config.storage_fd = fd;
  config.resume_page = static_cast<uint64_t>(resume_page);
  config.original_resume_page = original;
  config.identity.created_at_ms = static_cast<uint64_t>(created_at_ms);
  config.identity.platform_mode = identity.Get("platformMode").ToBoolean();
  config.compress = params.Get("compression").ToString().Utf8Value() == "lz4";
  config.chunk_pages = static_cast<uint32_t>(chunk_pages);
  config.max_stored_pages = static_cast<uint64_t>(max_stored_pages);
  config.io_bytes = static_cast<size_t>(io_bytes);

  Napi::Array offsets_array = info[3].As<Napi::Array>();
  std::vector<int64_t> offsets(offsets_array.Length());
  for (uint32_t i = 0; i < offsets_array.Length(); i++) {
    Napi::Value offset = offsets_array.Get(i);
    if (!offset.IsNumber()) {
      ArgError(env, fn, "allocOffsets must be numbers");
      return env.Undefined();
    }
    offsets[i] = offset.As<Napi::Number>().Int64Value();
  }

  const size_t stream_pages = stream_length / kPageSize;
  MemoryPageSource source(stream, stream_pages, per_read >= 1 ? static_cast<size_t>(per_read) : stream_pages);
  ListAllocator allocator(std::move(offsets));
  NoProgress progress;
  // The workspace checks need a sane configuration before they size anything.
  const bool sized = config.chunk_pages >= 1 && config.chunk_pages <= kMaxChunkPages && config.io_bytes >= kPageSize;
  const size_t workspace_bytes = sized ? ImageWriterWorkspaceBytes(config) : kPageSize;
  AlignedBuffer workspace(workspace_bytes);
  ImageWriterWorkspace prepared{workspace.get(), workspace_bytes, nullptr};
  ImageCipher cipher;
  const int init_error = InitImageWriterWorkspace(&config, &prepared, &cipher);
  if (init_error != 0) {
    ThrowSnapshotError(env, init_error, "EVP_EncryptInit_ex", nullptr, nullptr, "the image cipher could not be initialised");
    return env.Undefined();
  }
  if (workspace.get() == nullptr) {
    ThrowSnapshotError(env, ENOMEM, "posix_memalign", nullptr, nullptr, "no memory for the image writer's workspace");
    return env.Undefined();
  }
  const ImageWriteResult result = WriteImage(config, prepared, stream_pages, source, allocator, progress);

  Napi::Object out = Napi::Object::New(env);
  out.Set("error", Napi::Number::New(env, result.error));
  out.Set("stage", Napi::String::New(env, result.stage));
  out.Set("streamPages", Napi::Number::New(env, static_cast<double>(result.stream_pages)));
  out.Set("storedBytes", Napi::Number::New(env, static_cast<double>(result.stored_bytes)));
  out.Set("extents", Napi::Number::New(env, static_cast<double>(result.extents)));
  out.Set("storedPages", Napi::Number::New(env, static_cast<double>(result.stored_pages)));
  return out;
}

// imageWriterIoMode(storageFd): "aio" when WriteImage's chunk writes on this descriptor would
// overlap (it is O_DIRECT and the kernel gives an AIO context), else "synchronous". The same
// WriteQueue constructor WriteImage runs decides, so tests can tell which path they exercise.
Napi::Value ImageWriterIoModeJs(const Napi::CallbackInfo& info) {
  int fd = -1;
  if (!GetFd(info, 0, "imageWriterIoMode", &fd)) return info.Env().Undefined();
  AlignedBuffer memory(WriteQueue::MemoryBytes(1, 1));
  if (memory.get() == nullptr) {
    ThrowSnapshotError(info.Env(), ENOMEM, "posix_memalign", nullptr, nullptr);
    return info.Env().Undefined();
  }
  const WriteQueue queue(fd, 1, 1, memory.get());
  return Napi::String::New(info.Env(), queue.asynchronous() ? "aio" : "synchronous");
}

// invalidateImageFd(storageFd, resumePage, originalPage): 0 or an errno value.
Napi::Value InvalidateImageFdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "invalidateImageFd";
  int fd = -1;
  int64_t resume_page = 0;
  uint8_t* original;
  size_t original_length;
  if (!GetFd(info, 0, fn, &fd) || !GetNonNegative(info, 1, fn, &resume_page) || !GetBytes(info, 2, fn, &original, &original_length)) {
    return env.Undefined();
  }
  if (original_length != kPageSize) {
    ArgError(env, fn, "the original page is 4096 bytes", true);
    return env.Undefined();
  }
  AlignedBuffer scratch(kPageSize);
  if (scratch.get() == nullptr) {
    ThrowSnapshotError(env, ENOMEM, "posix_memalign", nullptr, nullptr);
    return env.Undefined();
  }
  return Napi::Number::New(env, InvalidateImage(fd, static_cast<uint64_t>(resume_page), original, scratch.get()));
}

// An ImageCipher initialised with the keys given (either may be null: a zero key then).
bool InitTestCipher(Napi::Env env, const char* fn, const uint8_t* chunk_key, const uint8_t* header_key,
                    ImageCipher* cipher) {
  const uint8_t zero[kImageKeyBytes] = {};
  const int error = cipher->Init(chunk_key != nullptr ? chunk_key : zero, header_key != nullptr ? header_key : zero);
  if (error != 0) ThrowSnapshotError(env, error, fn, nullptr, nullptr, "the image cipher could not be initialised");
  return error == 0;
}

// Reads a key argument: a Uint8Array of kImageKeyBytes.
bool GetKey(const Napi::CallbackInfo& info, size_t index, const char* fn, uint8_t** key) {
  size_t length = 0;
  if (!GetBytes(info, index, fn, key, &length)) return false;
  return length == kImageKeyBytes || ArgError(info.Env(), fn, "a key is 32 bytes", true);
}

// Seals `data` in place as consecutive chunks of `chunkBytes` (the last may be shorter), chunk i
// with index firstIndex + i and associated data `aad`; returns their tags, 16 bytes each.
bool SealChunks(ImageCipher& cipher, uint64_t first_index, const uint8_t* aad, size_t aad_bytes, uint8_t* data,
                size_t bytes, size_t chunk_bytes, uint8_t* tags) {
  for (size_t at = 0, i = 0; at < bytes; at += chunk_bytes, i++) {
    if (!cipher.SealChunk(first_index + i, aad, aad_bytes, data + at, std::min(chunk_bytes, bytes - at),
                          tags + i * kAeadTagBytes)) {
      return false;
    }
  }
  return true;
}

// imageCipherSealChunks(chunkKey, firstIndex, aad, data, chunkBytes): Buffer of tags.
Napi::Value ImageCipherSealChunksJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "imageCipherSealChunks";
  uint8_t *key, *aad, *data;
  size_t aad_bytes, bytes;
  int64_t first_index = 0, chunk_bytes = 0;
  if (!GetKey(info, 0, fn, &key) || !GetNonNegative(info, 1, fn, &first_index) || !GetBytes(info, 2, fn, &aad, &aad_bytes) ||
      !GetBytes(info, 3, fn, &data, &bytes) || !GetNonNegative(info, 4, fn, &chunk_bytes)) {
    return env.Undefined();
  }
  if (chunk_bytes < 1 || bytes < 1) {
    ArgError(env, fn, "data and chunkBytes must not be empty", true);
    return env.Undefined();
  }
  ImageCipher cipher;
  if (!InitTestCipher(env, fn, key, nullptr, &cipher)) return env.Undefined();
  const size_t chunks = DivideRoundingUp(bytes, static_cast<size_t>(chunk_bytes));
  Napi::Buffer<uint8_t> tags = Napi::Buffer<uint8_t>::New(env, chunks * kAeadTagBytes);
  if (!SealChunks(cipher, static_cast<uint64_t>(first_index), aad, aad_bytes, data, bytes, static_cast<size_t>(chunk_bytes),
                  tags.Data())) {
    ThrowSnapshotError(env, EIO, fn, nullptr, nullptr, "sealing failed");
    return env.Undefined();
  }
  return tags;
}

// imageCipherMacHeader(headerKey, data): the 16-byte MAC.
Napi::Value ImageCipherMacHeaderJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "imageCipherMacHeader";
  uint8_t *key, *data;
  size_t bytes;
  if (!GetKey(info, 0, fn, &key) || !GetBytes(info, 1, fn, &data, &bytes)) return env.Undefined();
  ImageCipher cipher;
  if (!InitTestCipher(env, fn, nullptr, key, &cipher)) return env.Undefined();
  Napi::Buffer<uint8_t> mac = Napi::Buffer<uint8_t>::New(env, kAeadTagBytes);
  if (!cipher.MacHeader(data, bytes, mac.Data())) {
    ThrowSnapshotError(env, EIO, fn, nullptr, nullptr, "the MAC failed");
    return env.Undefined();
  }
  return mac;
}

// imageCipherTraceChild(data, chunkBytes, initInChild): what the critical section does, observed.
// Initialises a cipher here, forks, and in the single-threaded child runs, between mtrace() and
// muntrace(), exactly the calls the writer makes after the freeze (seal every chunk of `data`,
// hash it, MAC a page) — preceded, if `initInChild`, by the initialisation the writer must never
// do there. Run under LD_PRELOAD=libc_malloc_debug.so.0 with MALLOC_TRACE=FILE, the file then lists
// every allocation made in between. Returns the child's exit status: 0 when every call succeeded.
Napi::Value ImageCipherTraceChildJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "imageCipherTraceChild";
  uint8_t* data;
  size_t bytes;
  int64_t chunk_bytes = 0;
  if (!GetBytes(info, 0, fn, &data, &bytes) || !GetNonNegative(info, 1, fn, &chunk_bytes)) return env.Undefined();
  if (chunk_bytes < 1 || info.Length() < 3 || !info[2].IsBoolean()) {
    ArgError(env, fn, "expected (data, chunkBytes > 0, initInChild: boolean)");
    return env.Undefined();
  }
  const bool init_in_child = info[2].As<Napi::Boolean>().Value();
  const uint8_t chunk_key[kImageKeyBytes] = {1};
  const uint8_t header_key[kImageKeyBytes] = {2};
  ImageCipher prepared;
  if (!InitTestCipher(env, fn, chunk_key, header_key, &prepared)) return env.Undefined();
  const size_t chunks = DivideRoundingUp(bytes, static_cast<size_t>(chunk_bytes));
  // Prepared before the fork, like the workspace: the child allocates nothing of its own.
  std::vector<uint8_t> tags((chunks + 1) * kAeadTagBytes);
  uint8_t aad[36] = {};
  uint8_t digest[kSha256Bytes];
  const pid_t pid = fork();
  if (pid == 0) {
    mtrace();
    ImageCipher late;  // its destructor never runs: the child leaves with _exit
    ImageCipher& cipher = init_in_child && late.Init(chunk_key, header_key) == 0 ? late : prepared;
    bool ok = SealChunks(cipher, 0, aad, sizeof(aad), data, bytes, static_cast<size_t>(chunk_bytes), tags.data());
    ok = ok && cipher.HashExtentMap(data, bytes) && cipher.FinishExtentMapHash(digest);
    ok = ok && cipher.MacHeader(data, std::min(bytes, kPageSize), tags.data() + chunks * kAeadTagBytes);
    muntrace();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || RetryOnEintr([&] { return waitpid(pid, &status, 0); }) < 0) {
    ThrowSnapshotError(env, errno, pid < 0 ? "fork" : "waitpid", nullptr, nullptr);
    return env.Undefined();
  }
  return Napi::Number::New(env, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}
}  // namespace

void RegisterImageWriterEntries(Napi::Env env, Napi::Object exports) {
  exports.Set("writeImageFromBuffer", Napi::Function::New(env, WriteImageFromBufferJs, "writeImageFromBuffer"));
  exports.Set("invalidateImageFd", Napi::Function::New(env, InvalidateImageFdJs, "invalidateImageFd"));
  exports.Set("imageWriterIoMode", Napi::Function::New(env, ImageWriterIoModeJs, "imageWriterIoMode"));
  exports.Set("imageCipherSealChunks", Napi::Function::New(env, ImageCipherSealChunksJs, "imageCipherSealChunks"));
  exports.Set("imageCipherMacHeader", Napi::Function::New(env, ImageCipherMacHeaderJs, "imageCipherMacHeader"));
  exports.Set("imageCipherTraceChild", Napi::Function::New(env, ImageCipherTraceChildJs, "imageCipherTraceChild"));
}

}  // namespace hiberkit
