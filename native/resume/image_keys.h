// The keys of an encrypted image at resume, ported from the TypeScript so that hiberkit-resume
// opens exactly what `hiberkit resume` opens and refuses it with the same codes:
//   lib/crypto/keys.ts        the sealed key block (scrypt or X25519, AES-256-GCM), the image keys (HKDF)
//   lib/crypto/key-files.ts   the private key file, sealed with a passphrase, and its verify key
//   lib/crypto/image-keys.ts  unlockerFor: which secret to ask for, from where, how many tries
//   lib/crypto/origin.ts      the Ed25519 origin signature
//   lib/image/security.ts     chunk opening (AES-256-GCM) and the header MAC (GMAC)
// Everything here uses the system libcrypto (OpenSSL 3). Secrets live in fixed arrays the caller
// wipes with Wipe() when done; nothing here keeps a copy.
//
// Built from failure.cc crypto.cc sealed_key.cc key_files.cc image_security.cc image_keys.cc
// passphrase.cc, linked with -lcrypto and compiled against the system's OpenSSL headers (not
// node's). test/native-image-keys.test.ts checks all of it against the TypeScript.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../image_layout.h"
#include "failure.h"

namespace hiberkit_resume {

constexpr size_t kDataKeyBytes = 32;
constexpr size_t kVerifyKeyBytes = 32;
constexpr size_t kKeyBlockBytes = hiberkit::kKeyBlockBytes;  // 128
constexpr size_t kImageIdBytes = hiberkit::kImageIdBytes;    // 16
constexpr size_t kMacBytes = hiberkit::kMacBytes;            // 16
constexpr size_t kOriginSignatureBytes = hiberkit::kOriginSignatureBytes;  // 64
constexpr size_t kChunkTagBytes = hiberkit::kChunkTagBytes;  // 16

enum class KeyKind { Passphrase, PublicKey };

// The word the TypeScript uses for a kind ("passphrase", "public-key"), in messages and in the
// `encrypt` setting.
const char* KeyKindName(KeyKind kind);

// What a key block says it is sealed with. Throws Failure IMAGE_CORRUPT (shorter than
// kKeyBlockBytes, no "HKKB" magic or not version 1) or UNSUPPORTED_VERSION (an unknown kind), as
// keyBlockKind. `length` is for the key file's block, whose length comes from its base64 text.
KeyKind KeyBlockKind(const uint8_t* keyBlock, size_t length = kKeyBlockBytes);

// Where the secret comes from: unlockerFor's view of the settings, already resolved by the caller.
struct KeySettings {
  std::string passphraseFile;  // --passphrase-file / passphrase-file; empty: none
  int passphraseFd = -1;       // --passphrase-fd / passphrase-fd; -1: none
  // The private key file for public-key images: the secret-key setting, or the default
  // /etc/hiberkit/key (MachinePaths.secretKey) when none is set.
  std::string secretKeyFile;
  int tries = 3;  // passphrase-tries: tries at the console prompt (a file or fd gets one)
  // expectedSealing (lib/crypto/image-keys.ts), computed by the caller: how this machine seals
  // its images; an image whose kind differs is refused with WRONG_KEY before anything is asked.
  bool hasExpected = false;
  KeyKind expected = KeyKind::PublicKey;
};

// The data key, and the verify key that came with the private key (a v2 key file): when present,
// the caller must check the image's origin signature with it (IMAGE_FORGED otherwise).
struct UnlockedKey {
  uint8_t dataKey[kDataKeyBytes];
  bool hasVerifyKey;
  uint8_t verifyKey[kVerifyKeyBytes];
};

// unlockerFor's callback: the passphrase from the file or fd (one try) or typed at the console
// without echo (`tries` tries, "wrong passphrase (N tries left)" through `progress` between them),
// then the key block opened with it, or with the private key it opens. Throws Failure WRONG_KEY,
// WRONG_PASSPHRASE, NO_PASSPHRASE, BAD_KEY_FILE, IMAGE_CORRUPT (an unreasonable scrypt cost, a
// nonzero tail) as the TypeScript does, or RESUME_FAILED when libcrypto itself fails (no memory
// for scrypt). `progress` (never null) gets whole lines without a newline (warnings, the tries
// left). The caller wipes the result. The one wording that differs from the TypeScript: a kind
// other than `expected` is retried with `encrypt = KIND` in the configuration (hiberkit-resume has
// no --encrypt flag).
UnlockedKey UnlockDataKey(const uint8_t* keyBlock, KeyKind kind, const KeySettings& settings,
                          void (*progress)(const char* line));

// deriveImageKeys: HKDF-SHA256 of the data key into the chunk key and the header key. The caller
// wipes the result.
struct ImageKeys {
  uint8_t chunkKey[32];
  uint8_t headerKey[32];
};
ImageKeys DeriveImageKeys(const uint8_t* dataKey);

// headerMacMatches: the GMAC (kMacBytes) of `macInput` under the header key equals `mac`,
// compared in constant time.
bool HeaderMacMatches(const uint8_t* headerKey, const uint8_t* macInput, size_t length, const uint8_t* mac);

// originSignatureValid: `signature` (kOriginSignatureBytes) is the Ed25519 signature of the
// origin message (label, image id, key block) under `verifyKey`.
bool OriginSignatureValid(const uint8_t* verifyKey, const uint8_t* imageId, const uint8_t* keyBlock,
                          const uint8_t* signature);

// openChunk: decrypts chunk `index` in place (the plaintext is as long as the ciphertext) and
// checks its tag (kChunkTagBytes) over `aad` (the chunk's associated data, chunkAad). False: the
// chunk was altered (IMAGE_TAMPERED); `data` is wiped then.
bool OpenChunk(const uint8_t* chunkKey, uint64_t index, const uint8_t* aad, size_t aadLength, uint8_t* data,
               size_t length, const uint8_t* tag);

// Overwrites secret bytes in a way the compiler cannot drop (OPENSSL_cleanse).
void Wipe(void* bytes, size_t length);

}  // namespace hiberkit_resume
