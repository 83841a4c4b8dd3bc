// See image_crypto.h. The byte formats (nonces, associated data, what the MAC covers) are the
// image format's and match lib/image/security.ts.

#include "image_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <climits>
#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the nonce stores the chunk index little endian");

namespace hiberkit {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr int kMaxUpdateBytes = INT_MAX;  // EVP_EncryptUpdate takes an int length

// Lengths that take every path of OpenSSL's x86-64 AES-GCM: the stitched AES-NI/AVX bulk code
// (288 bytes and more), whole blocks, a partial last block, and a short input.
constexpr size_t kRehearsalBytes = 1000;
constexpr size_t kRehearsalShortBytes = 5;
constexpr size_t kRehearsalAadBytes = kChunkAuthenticatedBytes + kImageIdBytes;  // a chunk's associated data

}  // namespace

ImageCipher::~ImageCipher() {
  EVP_CIPHER_CTX_free(chunk_);
  EVP_CIPHER_CTX_free(header_);
  EVP_CIPHER_free(cipher_);
  EVP_MD_CTX_free(map_digest_);
  EVP_MD_free(sha256_);
}

int ImageCipher::Init(const uint8_t* chunk_key, const uint8_t* header_key) {
  if (cipher_ != nullptr) return EINVAL;  // one image, one pair of keys
  cipher_ = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher_ == nullptr) return EINVAL;
  chunk_ = EVP_CIPHER_CTX_new();
  evp_cipher_ctx_st* header = EVP_CIPHER_CTX_new();
  if (chunk_ == nullptr || header == nullptr) {
    EVP_CIPHER_CTX_free(header);
    return ENOMEM;
  }
  // The default IV length of GCM is the 12 bytes used here; the keys are set once, for good.
  if (EVP_EncryptInit_ex(chunk_, cipher_, nullptr, chunk_key, nullptr) != 1 ||
      EVP_EncryptInit_ex(header, cipher_, nullptr, header_key, nullptr) != 1 ||
      EVP_CIPHER_CTX_get_iv_length(chunk_) != static_cast<int>(kNonceBytes)) {
    EVP_CIPHER_CTX_free(header);
    return EINVAL;
  }
  sha256_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  map_digest_ = EVP_MD_CTX_new();
  if (sha256_ == nullptr || map_digest_ == nullptr || EVP_DigestInit_ex2(map_digest_, sha256_, nullptr) != 1 ||
      !RehearseDigest()) {
    EVP_CIPHER_CTX_free(header);
    return EINVAL;
  }
  header_ = header;  // ready() from here
  return Rehearse() ? 0 : EINVAL;
}

bool ImageCipher::HashExtentMap(const uint8_t* data, size_t bytes) {
  return EVP_DigestUpdate(map_digest_, data, bytes) == 1;
}

bool ImageCipher::FinishExtentMapHash(uint8_t* digest) {
  unsigned int length = 0;
  return EVP_DigestFinal_ex(map_digest_, digest, &length) == 1 && length == kSha256Bytes;
}

bool ImageCipher::RehearseDigest() {
  evp_md_ctx_st* context = EVP_MD_CTX_new();
  const uint8_t scratch[kRehearsalBytes] = {};
  uint8_t digest[kSha256Bytes];
  unsigned int length = 0;
  const bool ok = context != nullptr && EVP_DigestInit_ex2(context, sha256_, nullptr) == 1 &&
                  EVP_DigestUpdate(context, scratch, sizeof(scratch)) == 1 &&
                  EVP_DigestFinal_ex(context, digest, &length) == 1 && length == kSha256Bytes;
  EVP_MD_CTX_free(context);
  return ok;
}

bool ImageCipher::Seal(evp_cipher_ctx_st* context, const uint8_t* nonce, const uint8_t* aad, size_t aad_bytes,
                       uint8_t* data, size_t bytes, uint8_t* tag) {
  if (context == nullptr || aad_bytes > static_cast<size_t>(kMaxUpdateBytes) || bytes > static_cast<size_t>(kMaxUpdateBytes)) {
    return false;
  }
  int length = 0;
  uint8_t no_output[16];  // GCM's final step writes nothing; OpenSSL still wants a buffer
  return EVP_EncryptInit_ex(context, nullptr, nullptr, nullptr, nonce) == 1 &&
         (aad_bytes == 0 || EVP_EncryptUpdate(context, nullptr, &length, aad, static_cast<int>(aad_bytes)) == 1) &&
         (bytes == 0 || EVP_EncryptUpdate(context, data, &length, data, static_cast<int>(bytes)) == 1) &&
         EVP_EncryptFinal_ex(context, no_output, &length) == 1 &&
         EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagBytes), tag) == 1;
}

bool ImageCipher::SealChunk(uint64_t index, const uint8_t* aad, size_t aad_bytes, uint8_t* data, size_t bytes,
                            uint8_t* tag) {
  uint8_t nonce[kNonceBytes] = {};
  memcpy(nonce + 4, &index, sizeof(index));
  return Seal(chunk_, nonce, aad, aad_bytes, data, bytes, tag);
}

bool ImageCipher::MacHeader(const uint8_t* data, size_t bytes, uint8_t* mac) {
  const uint8_t nonce[kNonceBytes] = {};
  return Seal(header_, nonce, data, bytes, nullptr, 0, mac);
}

bool ImageCipher::Rehearse() {
  uint8_t scratch[kRehearsalBytes] = {};
  uint8_t tag[kAeadTagBytes];
  uint8_t header_nonce[kNonceBytes];
  memset(header_nonce, 0xff, sizeof(header_nonce));
  const uint64_t never_a_chunk = UINT64_MAX;  // chunk indexes are u32 in the record header
  return SealChunk(never_a_chunk, scratch, kRehearsalAadBytes, scratch, sizeof(scratch), tag) &&
         SealChunk(never_a_chunk - 1, scratch, kRehearsalAadBytes, scratch, kRehearsalShortBytes, tag) &&
         Seal(header_, header_nonce, scratch, sizeof(scratch), nullptr, 0, tag);
}

void WipeSecret(void* bytes, size_t length) { OPENSSL_cleanse(bytes, length); }

}  // namespace hiberkit
