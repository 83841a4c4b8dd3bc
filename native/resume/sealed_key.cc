// See sealed_key.h. The block layout (128 bytes), as lib/crypto/keys.ts writes it: magic "HKKB",
// version 1, kind, 2 reserved, then
//   passphrase: logN, r, p, reserved, salt[16]              (kind parameters: 20 of 40 bytes)
//   x25519:     ephemeral public key[32], recipient id[8]    (kind parameters: 40 bytes)
// then nonce[12], sealed key[32], tag[16], and 20 bytes that must be zero. The first 48 bytes are
// the GCM associated data (after the purpose label and the bound bytes).
//
// Resume only opens blocks, so the scrypt cost of new blocks (scryptCost, and the test override
// HIBERKIT_TEST_SCRYPT_LOG_N that lowers it) has no part here: a block states its own cost.
#include "sealed_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "crypto.h"

namespace hiberkit_resume {
namespace {

constexpr uint8_t kBlockMagic[4] = {'H', 'K', 'K', 'B'};
constexpr uint8_t kBlockVersion = 1;
constexpr uint8_t kKindPassphrase = 1;
constexpr uint8_t kKindX25519 = 2;

constexpr size_t kParamsOffset = 8;
constexpr size_t kParamsBytes = 40;
constexpr size_t kSaltOffset = kParamsOffset + 4;
constexpr size_t kSaltBytes = 16;
constexpr size_t kRecipientIdOffset = kParamsOffset + 32;
constexpr size_t kRecipientIdBytes = 8;
constexpr size_t kNonceOffset = kParamsOffset + kParamsBytes;
constexpr size_t kSealedOffset = kNonceOffset + kGcmNonceBytes;
constexpr size_t kTagOffset = kSealedOffset + kDataKeyBytes;
constexpr size_t kX25519Bytes = 32;

// The cost keys.ts seals with (SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P): the most a block may ask is 4× it.
constexpr int kScryptLogN = 18;
constexpr int kScryptR = 8;
constexpr int kScryptP = 1;

// A key file's block carries this label first in its associated data (with its NUL); an image's
// block the empty label of format version 1: the two are never interchangeable.
constexpr char kKeyFileLabel[] = "hiberkit v2 secret key file";

// Bytes scrypt's memory-hard step takes: 128 · N · r (exact in a double for every logN and r a block holds).
double ScryptMemory(int logN, int r) { return 128.0 * std::ldexp(1.0, logN) * r; }

// The most scrypt work (memory × parallelism) a key block may ask of resume: 4× the default (1 GiB).
const double kMaxScryptWork = 4 * ScryptMemory(kScryptLogN, kScryptR) * kScryptP;

[[noreturn]] void ThrowDamaged() { throw Failure{"IMAGE_CORRUPT", "the image header's key block is damaged"}; }

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A 32-byte secret on the stack, wiped when it goes.
struct SecretKey32 {
  uint8_t bytes[32];
  ~SecretKey32() { Wipe(bytes, sizeof bytes); }
};

void ScryptKek(const Unlocker& unlocker, const uint8_t* salt, int logN, int r, int p, uint8_t* kek) {
  // The memory bound node's scryptSync is given in keys.ts: twice the work, and 16 MiB to spare.
  const uint64_t maxMemory = static_cast<uint64_t>(2 * ScryptMemory(logN, r)) + 16 * 1024 * 1024;
  if (EVP_PBE_scrypt(reinterpret_cast<const char*>(unlocker.secret), unlocker.length, salt, kSaltBytes,
                     uint64_t{1} << logN, static_cast<uint64_t>(r), static_cast<uint64_t>(p), maxMemory, kek,
                     32) != 1) {
    ThrowLibcryptoFailure("scrypt (N=2^" + std::to_string(logN) + ", r=" + std::to_string(r) + ", p=" +
                          std::to_string(p) + ") failed");
  }
}

void RecipientId(const uint8_t* publicKey, uint8_t* id) {
  HkdfSha256(publicKey, kX25519Bytes, nullptr, 0, "hiberkit v1 recipient id", id, kRecipientIdBytes);
}

void X25519Kek(EVP_PKEY* privateKey, const uint8_t* ephemeralPublic, const uint8_t* recipientPublic, uint8_t* kek) {
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, ephemeralPublic, kX25519Bytes));
  std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> context(EVP_PKEY_CTX_new(privateKey, nullptr),
                                                                 EVP_PKEY_CTX_free);
  SecretKey32 shared;
  size_t sharedLength = sizeof shared.bytes;
  // OpenSSL refuses a peer key of small order (an all-zero shared secret), as node's
  // diffieHellman does: a libcrypto failure, not a verdict on the image, in both.
  if (!peer || !context || EVP_PKEY_derive_init(context.get()) != 1 ||
      EVP_PKEY_derive_set_peer(context.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(context.get(), shared.bytes, &sharedLength) != 1 || sharedLength != sizeof shared.bytes) {
    ThrowLibcryptoFailure("the X25519 exchange with the key block's ephemeral key failed");
  }
  uint8_t salt[2 * kX25519Bytes];
  memcpy(salt, ephemeralPublic, kX25519Bytes);
  memcpy(salt + kX25519Bytes, recipientPublic, kX25519Bytes);
  HkdfSha256(shared.bytes, sizeof shared.bytes, salt, sizeof salt, "hiberkit v1 x25519", kek, 32);
}

// The key-encryption key of a passphrase block, or IMAGE_CORRUPT for a cost resume must not pay.
void PassphraseKek(const uint8_t* block, const Unlocker& unlocker, uint8_t* kek) {
  if (unlocker.kind != KeyKind::Passphrase) {
    throw Failure{"WRONG_KEY", "the image is sealed with a passphrase; give the passphrase"};
  }
  const int logN = block[kParamsOffset];
  const int r = block[kParamsOffset + 1];
  const int p = block[kParamsOffset + 2];
  // The parameters are not authenticated until the unseal: a damaged or forged block must not
  // make resume allocate gigabytes, nor hand scrypt values it rejects.
  if (logN < 1 || r < 1 || p < 1 || ScryptMemory(logN, r) * p > kMaxScryptWork) {
    throw Failure{"IMAGE_CORRUPT", "the key block asks for an unreasonable scrypt cost (N=2^" + std::to_string(logN) +
                                       ", r=" + std::to_string(r) + ", p=" + std::to_string(p) + ")"};
  }
  ScryptKek(unlocker, block + kSaltOffset, logN, r, p, kek);
}

// The key-encryption key of a block sealed to a public key, or WRONG_KEY for another recipient's.
void PublicKeyKek(const uint8_t* block, const Unlocker& unlocker, uint8_t* kek) {
  if (unlocker.kind != KeyKind::PublicKey) {
    throw Failure{"WRONG_KEY", "the image is sealed to a public key; give its private key"};
  }
  Pkey privateKey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, unlocker.secret, unlocker.length));
  uint8_t myPublic[kX25519Bytes];
  size_t publicLength = sizeof myPublic;
  if (!privateKey || EVP_PKEY_get_raw_public_key(privateKey.get(), myPublic, &publicLength) != 1 ||
      publicLength != sizeof myPublic) {
    ThrowLibcryptoFailure("cannot load the X25519 private key");
  }
  uint8_t id[kRecipientIdBytes];
  RecipientId(myPublic, id);
  if (memcmp(id, block + kRecipientIdOffset, kRecipientIdBytes) != 0) {
    throw Failure{"WRONG_KEY", "the image was sealed to another public key"};
  }
  X25519Kek(privateKey.get(), block + kParamsOffset, myPublic, kek);
}

}  // namespace

KeyKind KeyBlockKind(const uint8_t* keyBlock, size_t length) {
  if (length < kKeyBlockBytes || memcmp(keyBlock, kBlockMagic, sizeof kBlockMagic) != 0 || keyBlock[4] != kBlockVersion) {
    ThrowDamaged();
  }
  if (keyBlock[5] == kKindPassphrase) return KeyKind::Passphrase;
  if (keyBlock[5] == kKindX25519) return KeyKind::PublicKey;
  throw Failure{"UNSUPPORTED_VERSION", "the image is sealed with an unknown key kind " + std::to_string(keyBlock[5])};
}

const char* KeyKindName(KeyKind kind) { return kind == KeyKind::Passphrase ? "passphrase" : "public-key"; }

void OpenDataKey(const uint8_t* block, size_t length, const Unlocker& unlocker, SealPurpose purpose,
                 const uint8_t* bound, size_t boundLength, uint8_t* dataKey) {
  const KeyKind kind = KeyBlockKind(block, length);
  // The tail is not covered by the GCM tag; it must be zero so that no bit of the block goes unchecked.
  for (size_t i = kTagOffset + kGcmTagBytes; i < kKeyBlockBytes; i++) {
    if (block[i] != 0) ThrowDamaged();
  }
  SecretKey32 kek;
  if (kind == KeyKind::Passphrase) {
    PassphraseKek(block, unlocker, kek.bytes);
  } else {
    PublicKeyKek(block, unlocker, kek.bytes);
  }
  std::vector<uint8_t> aad;
  if (purpose == SealPurpose::KeyFile) aad.assign(kKeyFileLabel, kKeyFileLabel + sizeof kKeyFileLabel);
  aad.insert(aad.end(), bound, bound + boundLength);
  aad.insert(aad.end(), block, block + kNonceOffset);
  memcpy(dataKey, block + kSealedOffset, kDataKeyBytes);
  if (!AesGcmOpen(kek.bytes, block + kNonceOffset, aad.data(), aad.size(), dataKey, kDataKeyBytes, block + kTagOffset)) {
    if (kind == KeyKind::Passphrase) throw Failure{"WRONG_PASSPHRASE", "wrong passphrase (or a damaged key block)"};
    throw Failure{"WRONG_KEY", "the private key does not open this image (or the key block is damaged)"};
  }
}

ImageKeys DeriveImageKeys(const uint8_t* dataKey) {
  ImageKeys keys;
  try {
    HkdfSha256(dataKey, kDataKeyBytes, nullptr, 0, "hiberkit v1 chunks", keys.chunkKey, sizeof keys.chunkKey);
    HkdfSha256(dataKey, kDataKeyBytes, nullptr, 0, "hiberkit v1 header", keys.headerKey, sizeof keys.headerKey);
  } catch (...) {
    Wipe(&keys, sizeof keys);
    throw;
  }
  return keys;
}

void Wipe(void* bytes, size_t length) { OPENSSL_cleanse(bytes, length); }

}  // namespace hiberkit_resume
