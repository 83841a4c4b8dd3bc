// UnlockDataKey, ported from unlockerFor in lib/crypto/image-keys.ts: which secret an image needs,
// where its passphrase comes from, and how many tries it gets. The block itself is opened by
// sealed_key.cc, the private key file by key_files.cc, the passphrase read by passphrase.cc.
#include "image_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "key_files.h"
#include "passphrase.h"
#include "sealed_key.h"

namespace hiberkit_resume {
namespace {

// passphraseSource: a file, else a descriptor, else the console with the prompt for this kind.
PassphraseSource SourceFor(const KeySettings& settings, KeyKind kind) {
  PassphraseSource source;
  if (!settings.passphraseFile.empty()) {
    source.kind = PassphraseSource::Kind::File;
    source.file = settings.passphraseFile;
  } else if (settings.passphraseFd >= 0) {
    source.kind = PassphraseSource::Kind::Fd;
    source.fd = settings.passphraseFd;
  } else {
    source.kind = PassphraseSource::Kind::Prompt;
    source.prompt = kind == KeyKind::Passphrase ? "Passphrase to resume: " : "Passphrase of the hiberkit private key: ";
  }
  return source;
}

// readKeyFile: the whole file, or BAD_KEY_FILE (a missing key file keeps the image).
std::string ReadKeyFile(const std::string& path, const char* what) {
  int error = 0;
  std::string text;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) error = errno;
  for (char buffer[4096]; error == 0;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) error = errno;
    if (got <= 0) break;
    text.append(buffer, static_cast<size_t>(got));
  }
  if (fd >= 0) close(fd);
  if (error != 0) {
    throw Failure{"BAD_KEY_FILE", std::string("cannot read the ") + what + " " + path + ": " + SystemReason(error) +
                                      " (make one with `hiberkit keygen`)"};
  }
  return text;
}

// One try with one passphrase: the data key (and the verify key of a v2 key file) into `unlocked`.
void OpenWith(const SecretBytes& passphrase, const uint8_t* keyBlock, KeyKind kind, const std::string& secretText,
              void (*progress)(const char* line), UnlockedKey& unlocked) {
  if (kind == KeyKind::Passphrase) {
    OpenDataKey(keyBlock, kKeyBlockBytes, Unlocker{KeyKind::Passphrase, passphrase.data(), passphrase.size()},
                SealPurpose::Image, nullptr, 0, unlocked.dataKey);
    unlocked.hasVerifyKey = false;
    return;
  }
  SecretKey secret;
  OpenSecretKey(secretText, passphrase.data(), passphrase.size(), secret);
  if (!secret.hasVerifyKey) {
    progress("warning: the private key file has no verify key (an older hiberkit keygen): the image's origin cannot be "
             "checked; run `hiberkit keygen --force`");
  }
  OpenDataKey(keyBlock, kKeyBlockBytes, Unlocker{KeyKind::PublicKey, secret.privateKey, sizeof secret.privateKey},
              SealPurpose::Image, nullptr, 0, unlocked.dataKey);
  unlocked.hasVerifyKey = secret.hasVerifyKey;
  memcpy(unlocked.verifyKey, secret.verifyKey, sizeof unlocked.verifyKey);
}

}  // namespace

UnlockedKey UnlockDataKey(const uint8_t* keyBlock, KeyKind kind, const KeySettings& settings,
                          void (*progress)(const char* line)) {
  // The kind byte is not authenticated yet: an image sealed another way than this machine's is
  // refused before anything is asked.
  if (settings.hasExpected && kind != settings.expected) {
    throw Failure{"WRONG_KEY", std::string("the image says it is sealed with a ") + KeyKindName(kind) +
                                   ", but this machine seals its images with a " + KeyKindName(settings.expected) +
                                   ": it was not made here, or with other settings (set `encrypt = " + KeyKindName(kind) +
                                   "` in the configuration to try it)"};
  }
  const PassphraseSource source = SourceFor(settings, kind);
  // A passphrase from a file or descriptor cannot change: one try.
  const int tries = source.kind == PassphraseSource::Kind::Prompt ? std::max(1, settings.tries) : 1;
  const std::string secretText = kind == KeyKind::PublicKey ? ReadKeyFile(settings.secretKeyFile, "private key") : "";
  UnlockedKey unlocked = {};
  for (int attempt = 1;; attempt++) {
    const SecretBytes passphrase = ReadPassphrase(source);
    try {
      OpenWith(passphrase, keyBlock, kind, secretText, progress, unlocked);
      return unlocked;
    } catch (const Failure& failure) {
      Wipe(&unlocked, sizeof unlocked);
      if (failure.code != "WRONG_PASSPHRASE" || attempt >= tries) throw;
      const int left = tries - attempt;
      const std::string line = "wrong passphrase (" + std::to_string(left) + (left == 1 ? " try" : " tries") + " left)";
      progress(line.c_str());
    }
  }
}

}  // namespace hiberkit_resume
