// The private key file `hiberkit keygen` writes, ported from lib/crypto/key-files.ts (openSecretKey):
//   # a comment line (no key material)
//   hiberkit-verify-key-v2:<base64url of the Ed25519 verify key>
//   hiberkit-secret-key-v2:<base64url of the 128-byte block sealing the X25519 private key>
// The verify key is bound into the block's associated data, so the passphrase that opens the
// private key also vouches for it. A v1 file (older keygens) holds only a v1 secret line and no
// verify key. Internal to native/resume: hiberkit-resume uses UnlockDataKey (image_keys.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image_keys.h"

namespace hiberkit_resume {

// The opened private key and the verify key that came with it; wiped when it goes.
struct SecretKey {
  uint8_t privateKey[kDataKeyBytes];
  bool hasVerifyKey = false;  // false: a v1 file, whose images cannot be checked for origin
  uint8_t verifyKey[kVerifyKeyBytes];
  ~SecretKey();
};

// openSecretKey: opens the private key in the key file's `text` with `passphrase` into `secret`.
// Throws Failure WRONG_PASSPHRASE (the passphrase does not fit, or the verify key was changed) or
// BAD_KEY_FILE (a line is missing, a key has the wrong length, or the sealed block is damaged).
void OpenSecretKey(const std::string& text, const uint8_t* passphrase, size_t passphraseLength, SecretKey& secret);

}  // namespace hiberkit_resume
