// Where a passphrase comes from, ported from lib/crypto/passphrase.ts: a file or an inherited file
// descriptor (automation, tests, unattended machines), read whole with the trailing newlines
// dropped; or a prompt with echo off on the controlling terminal, or on /dev/console in an
// initramfs (where init has none) when stdin is on it. Every failure is Failure NO_PASSPHRASE:
// a missing or unreadable file, an empty passphrase, no terminal, Ctrl-C or Ctrl-D at the prompt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "failure.h"

namespace hiberkit_resume {

// Secret bytes on the heap, wiped when they grow and when they go; never copied.
class SecretBytes {
 public:
  SecretBytes() = default;
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  void Append(const uint8_t* bytes, size_t length);
  void Truncate(size_t length);  // length <= size(); the dropped bytes are wiped
  const uint8_t* data() const { return bytes_; }
  uint8_t* data() { return bytes_; }
  size_t size() const { return size_; }

 private:
  void Release();
  uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

struct PassphraseSource {
  enum class Kind { File, Fd, Prompt };
  Kind kind = Kind::Prompt;
  std::string file;    // Kind::File
  int fd = -1;         // Kind::Fd
  std::string prompt;  // Kind::Prompt: what the console shows, e.g. "Passphrase to resume: "
};

// readPassphrase: the passphrase from `source`, or throws Failure NO_PASSPHRASE.
SecretBytes ReadPassphrase(const PassphraseSource& source);

}  // namespace hiberkit_resume
