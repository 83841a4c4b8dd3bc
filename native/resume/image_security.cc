// The checks on an opened image, ported from lib/image/security.ts (openChunk, headerMacMatches)
// and lib/crypto/origin.ts (originSignatureValid); declared in image_keys.h.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <vector>

#include "crypto.h"
#include "image_keys.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the chunk nonce stores the index little endian");

namespace hiberkit_resume {
namespace {

// What the origin signature covers: this label (with its NUL), the image id and the key block.
constexpr char kOriginLabel[] = "hiberkit v2 image origin";

// The header key seals exactly one message per image (its header), so its nonce can be fixed.
constexpr uint8_t kHeaderNonce[kGcmNonceBytes] = {};

}  // namespace

bool OpenChunk(const uint8_t* chunkKey, uint64_t index, const uint8_t* aad, size_t aadLength, uint8_t* data,
               size_t length, const uint8_t* tag) {
  // Chunk `index`'s nonce: four zero bytes, then the index as a little-endian u64.
  uint8_t nonce[kGcmNonceBytes] = {};
  memcpy(nonce + 4, &index, sizeof index);
  return AesGcmOpen(chunkKey, nonce, aad, aadLength, data, length, tag);
}

bool HeaderMacMatches(const uint8_t* headerKey, const uint8_t* macInput, size_t length, const uint8_t* mac) {
  uint8_t expected[kMacBytes];
  AesGcmMac(headerKey, kHeaderNonce, macInput, length, expected);
  // Constant time, so that the check tells an attacker nothing about the right MAC.
  return CRYPTO_memcmp(expected, mac, kMacBytes) == 0;
}

bool OriginSignatureValid(const uint8_t* verifyKey, const uint8_t* imageId, const uint8_t* keyBlock,
                          const uint8_t* signature) {
  std::vector<uint8_t> message(kOriginLabel, kOriginLabel + sizeof kOriginLabel);
  message.insert(message.end(), imageId, imageId + kImageIdBytes);
  message.insert(message.end(), keyBlock, keyBlock + kKeyBlockBytes);
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, verifyKey, kVerifyKeyBytes), EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!key || !context) ThrowLibcryptoFailure("cannot load the Ed25519 verify key");
  // Ed25519 hashes the message itself: no digest is named. Any failure (a verify key that is no
  // curve point, a bad signature) is a signature that does not verify, as node's verify() says.
  const bool valid = EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
                     EVP_DigestVerify(context.get(), signature, kOriginSignatureBytes, message.data(), message.size()) == 1;
  ERR_clear_error();
  return valid;
}

}  // namespace hiberkit_resume
