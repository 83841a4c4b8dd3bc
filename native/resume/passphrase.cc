// See passphrase.h.
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "image_keys.h"

namespace hiberkit_resume {

SecretBytes::~SecretBytes() { Release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : bytes_(other.bytes_), size_(other.size_), capacity_(other.capacity_) {
  other.bytes_ = nullptr;
  other.size_ = other.capacity_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    std::swap(bytes_, other.bytes_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }
  return *this;
}

void SecretBytes::Append(const uint8_t* bytes, size_t length) {
  if (size_ + length > capacity_) {
    // Grown by hand rather than by a vector, so that the old buffer is wiped before it is freed.
    const size_t capacity = std::max({size_t{64}, 2 * capacity_, size_ + length});
    uint8_t* grown = new uint8_t[capacity];
    if (size_ > 0) memcpy(grown, bytes_, size_);
    const size_t size = size_;
    Release();
    bytes_ = grown;
    size_ = size;
    capacity_ = capacity;
  }
  memcpy(bytes_ + size_, bytes, length);
  size_ += length;
}

void SecretBytes::Truncate(size_t length) {
  if (length >= size_) return;
  Wipe(bytes_ + length, size_ - length);
  size_ = length;
}

void SecretBytes::Release() {
  if (bytes_ != nullptr) {
    Wipe(bytes_, capacity_);
    delete[] bytes_;
  }
  bytes_ = nullptr;
  size_ = capacity_ = 0;
}

namespace {

// Closes a descriptor this module opened when it goes.
struct OwnedFd {
  int fd;
  ~OwnedFd() {
    if (fd >= 0) close(fd);
  }
};

// Everything `fd` has until end of file, or errno.
int ReadToEnd(int fd, SecretBytes& bytes) {
  uint8_t buffer[4096];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int error = got < 0 ? errno : 0;
      Wipe(buffer, sizeof buffer);
      return error;
    }
    bytes.Append(buffer, static_cast<size_t>(got));
  }
}

// stripNewline: the passphrase without its trailing line ends (any number of \n and \r).
SecretBytes StripNewline(SecretBytes bytes, const std::string& from) {
  size_t end = bytes.size();
  while (end > 0 && (bytes.data()[end - 1] == '\n' || bytes.data()[end - 1] == '\r')) end--;
  bytes.Truncate(end);
  if (end == 0) throw Failure{"NO_PASSPHRASE", "the passphrase from " + from + " is empty"};
  return bytes;
}

SecretBytes ReadFromFileOrFd(const PassphraseSource& source) {
  const bool isFile = source.kind == PassphraseSource::Kind::File;
  const std::string from = isFile ? "the passphrase file " + source.file
                                  : "file descriptor " + std::to_string(source.fd) + " (--passphrase-fd)";
  OwnedFd opened{isFile ? open(source.file.c_str(), O_RDONLY | O_CLOEXEC) : -1};
  int error = isFile && opened.fd < 0 ? errno : 0;
  SecretBytes bytes;
  if (error == 0) error = ReadToEnd(isFile ? opened.fd : source.fd, bytes);
  if (error != 0) throw Failure{"NO_PASSPHRASE", "cannot read the passphrase from " + from + ": " + SystemReason(error)};
  return StripNewline(std::move(bytes), from);
}

bool IsTerminal(const char* path) {
  OwnedFd terminal{open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)};
  return terminal.fd >= 0 && isatty(terminal.fd) == 1;
}

// findTerminal: the controlling terminal, or in an initramfs (where init has none) the console
// when stdin is on it. Anything else (a service, a pipeline without a terminal) gets no prompt:
// it would wait for ever for an answer nobody can type.
const char* FindTerminal() {
  if (IsTerminal("/dev/tty")) return "/dev/tty";
  return isatty(0) == 1 && IsTerminal("/dev/console") ? "/dev/console" : nullptr;
}

void WriteAll(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t wrote = write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return;  // a terminal that takes no output still takes the answer
    done += static_cast<size_t>(wrote);
  }
}

// The signals that end the program during the prompt. Their handler puts the terminal's mode back
// first: a person must never be left at a console that no longer echoes.
constexpr int kEndingSignals[] = {SIGINT, SIGTERM};

// What the handler needs, set while the terminal is raw (a handler can reach only globals).
int g_rawTerminal = -1;
struct termios g_savedMode;
struct sigaction g_previousActions[sizeof kEndingSignals / sizeof kEndingSignals[0]];
volatile sig_atomic_t g_interrupted = 0;

// Async-signal-safe: tcsetattr, sigaction and raise. The signal is blocked while this runs, so
// the raised one is delivered as soon as it returns, with the program's own disposition (by
// default: the program ends, as it would without a prompt).
void RestoreTerminalOnSignal(int signal) {
  tcsetattr(g_rawTerminal, TCSANOW, &g_savedMode);
  for (size_t i = 0; i < sizeof kEndingSignals / sizeof kEndingSignals[0]; i++) {
    if (kEndingSignals[i] == signal) sigaction(signal, &g_previousActions[i], nullptr);
  }
  g_interrupted = 1;
  raise(signal);
}

// Raw mode around the prompt, as node's setRawMode(true) (libuv's UV_TTY_MODE_RAW) sets it: no
// echo, no line editing by the terminal, no signals from the keyboard (Ctrl-C arrives as a byte);
// the saved mode comes back on every path out, a signal included.
class RawTerminal {
 public:
  RawTerminal(int fd, const std::string& path) : fd_(fd) {
    if (tcgetattr(fd, &g_savedMode) != 0) {
      throw Failure{"NO_PASSPHRASE", "cannot use the terminal " + path + ": " + SystemReason(errno)};
    }
    g_rawTerminal = fd;
    g_interrupted = 0;
    struct sigaction restore = {};
    restore.sa_handler = RestoreTerminalOnSignal;
    sigemptyset(&restore.sa_mask);
    for (size_t i = 0; i < sizeof kEndingSignals / sizeof kEndingSignals[0]; i++) {
      sigaction(kEndingSignals[i], nullptr, &g_previousActions[i]);
      // An ignored signal stays ignored: it cannot end the program during the prompt.
      if (g_previousActions[i].sa_handler != SIG_IGN) sigaction(kEndingSignals[i], &restore, nullptr);
    }
    struct termios raw = g_savedMode;
    raw.c_iflag &= ~static_cast<tcflag_t>(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_oflag |= ONLCR;
    raw.c_cflag |= CS8;
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSADRAIN, &raw) != 0) {
      const int error = errno;
      Restore();
      throw Failure{"NO_PASSPHRASE", "cannot turn off echo on the terminal " + path + ": " + SystemReason(error)};
    }
  }
  ~RawTerminal() { Restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  void Restore() {
    tcsetattr(fd_, TCSADRAIN, &g_savedMode);
    for (size_t i = 0; i < sizeof kEndingSignals / sizeof kEndingSignals[0]; i++) {
      sigaction(kEndingSignals[i], &g_previousActions[i], nullptr);
    }
    g_rawTerminal = -1;
  }
  int fd_;
};

constexpr uint8_t kCtrlC = 0x03;
constexpr uint8_t kCtrlD = 0x04;
constexpr uint8_t kBackspace = 0x08;
constexpr uint8_t kDelete = 0x7f;
constexpr uint8_t kCtrlU = 0x15;

// readLine: one line typed in raw mode. Enter ends it, Backspace and Ctrl-U edit it, Ctrl-C (or
// Ctrl-D on an empty line) abandons the prompt.
SecretBytes ReadLine(int fd, const std::string& path) {
  SecretBytes typed;
  for (;;) {
    uint8_t byte = 0;
    const ssize_t got = read(fd, &byte, 1);
    if (got < 0 && errno == EINTR && g_interrupted == 0) continue;
    if (got < 0 && errno == EINTR) throw Failure{"NO_PASSPHRASE", "the passphrase prompt was interrupted by a signal"};
    if (got < 0) throw Failure{"NO_PASSPHRASE", "cannot read the passphrase from the terminal " + path + ": " + SystemReason(errno)};
    if (got == 0) throw Failure{"NO_PASSPHRASE", "the terminal closed before a passphrase was entered"};
    if (byte == '\n' || byte == '\r') return typed;
    if (byte == kCtrlC || (byte == kCtrlD && typed.size() == 0)) {
      throw Failure{"NO_PASSPHRASE", std::string("the passphrase prompt was abandoned (") +
                                         (byte == kCtrlC ? "Ctrl-C" : "Ctrl-D") + ")"};
    }
    if (byte == kBackspace || byte == kDelete) {
      if (typed.size() > 0) typed.Truncate(typed.size() - 1);
    } else if (byte == kCtrlU) {
      typed.Truncate(0);
    } else {
      typed.Append(&byte, 1);
    }
    Wipe(&byte, 1);
  }
}

// promptWithoutEcho: asks on the terminal with echo off. A line typed there is the passphrase as
// it is, empty or not: only a file's or descriptor's line end is stripped.
SecretBytes PromptWithoutEcho(const std::string& prompt) {
  const char* path = FindTerminal();
  if (path == nullptr) {
    throw Failure{"NO_PASSPHRASE",
                  "no terminal to ask for the passphrase on (no controlling terminal, and stdin is not the console): "
                  "use --passphrase-file or --passphrase-fd"};
  }
  OwnedFd terminal{open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)};
  if (terminal.fd < 0) {
    throw Failure{"NO_PASSPHRASE", std::string("cannot open the terminal ") + path + ": " + SystemReason(errno)};
  }
  RawTerminal raw(terminal.fd, path);
  WriteAll(terminal.fd, prompt);
  try {
    SecretBytes line = ReadLine(terminal.fd, path);
    WriteAll(terminal.fd, "\n");
    return line;
  } catch (...) {
    WriteAll(terminal.fd, "\n");
    throw;
  }
}

}  // namespace

SecretBytes ReadPassphrase(const PassphraseSource& source) {
  if (source.kind == PassphraseSource::Kind::Prompt) return PromptWithoutEcho(source.prompt);
  return ReadFromFileOrFd(source);
}

}  // namespace hiberkit_resume
