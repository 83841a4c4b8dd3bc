// Opening a sealed key block, ported from lib/crypto/keys.ts (openDataKey and its helpers). An
// image's key block and a key file's sealed private key share the format; `purpose` and `bound`
// go into the associated data exactly as the TypeScript puts them there. Internal to
// native/resume: hiberkit-resume uses UnlockDataKey (image_keys.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "image_keys.h"

namespace hiberkit_resume {

enum class SealPurpose { Image, KeyFile };

// What opens a block: a passphrase (any length, empty included) or a raw X25519 private key.
struct Unlocker {
  KeyKind kind;
  const uint8_t* secret;  // the passphrase's bytes, or the kDataKeyBytes private key
  size_t length;
};

// openDataKey: writes the kDataKeyBytes key sealed in `block` (`length` bytes: at least
// kKeyBlockBytes, bytes after them ignored, as the TypeScript ignores them) to `dataKey`. Throws
// Failure IMAGE_CORRUPT / UNSUPPORTED_VERSION (the block's structure), WRONG_KEY (the other kind
// of unlocker, another recipient, or the private key does not open it), WRONG_PASSPHRASE, or
// RESUME_FAILED (libcrypto failed, e.g. no memory for scrypt).
void OpenDataKey(const uint8_t* block, size_t length, const Unlocker& unlocker, SealPurpose purpose,
                 const uint8_t* bound, size_t boundLength, uint8_t* dataKey);

}  // namespace hiberkit_resume
