// See crypto.h.
#include "crypto.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <algorithm>
#include <memory>

#include "failure.h"
#include "image_keys.h"

namespace hiberkit_resume {
namespace {

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

// EVP_*Update take an int length: longer inputs go in slices of this size.
constexpr size_t kMaxSliceBytes = size_t{1} << 30;

// A context ready for `encrypt`ing or decrypting under `key` with `nonce`, `aad` already fed.
CipherContext GcmContext(bool encrypt, const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aadLength) {
  CipherContext context(EVP_CIPHER_CTX_new());
  if (!context) ThrowLibcryptoFailure("cannot make an AES-256-GCM context");
  // The default IV length of GCM is the 12 bytes every hiberkit nonce has.
  if (EVP_CipherInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key, nonce, encrypt ? 1 : 0) != 1) {
    ThrowLibcryptoFailure("cannot set up AES-256-GCM");
  }
  for (size_t done = 0; done < aadLength;) {
    const size_t slice = std::min(aadLength - done, kMaxSliceBytes);
    int ignored = 0;
    if (EVP_CipherUpdate(context.get(), nullptr, &ignored, aad + done, static_cast<int>(slice)) != 1) {
      ThrowLibcryptoFailure("AES-256-GCM refused the associated data");
    }
    done += slice;
  }
  return context;
}

}  // namespace

bool AesGcmOpen(const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aadLength, uint8_t* data,
                size_t length, const uint8_t* tag) {
  CipherContext context = GcmContext(false, key, nonce, aad, aadLength);
  for (size_t done = 0; done < length;) {
    const size_t slice = std::min(length - done, kMaxSliceBytes);
    int written = 0;
    if (EVP_DecryptUpdate(context.get(), data + done, &written, data + done, static_cast<int>(slice)) != 1 ||
        static_cast<size_t>(written) != slice) {
      Wipe(data, length);
      ThrowLibcryptoFailure("AES-256-GCM decryption failed");
    }
    done += slice;
  }
  int tail = 0;
  if (EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kGcmTagBytes),
                          const_cast<uint8_t*>(tag)) != 1) {
    Wipe(data, length);
    ThrowLibcryptoFailure("AES-256-GCM refused the tag");
  }
  // Final checks the tag; GCM has no padding, so it writes nothing.
  if (EVP_DecryptFinal_ex(context.get(), data + length, &tail) != 1) {
    ERR_clear_error();  // a tag mismatch is an answer, not an error to report later
    Wipe(data, length);
    return false;
  }
  return true;
}

void AesGcmMac(const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aadLength, uint8_t* tag) {
  CipherContext context = GcmContext(true, key, nonce, aad, aadLength);
  int tail = 0;
  uint8_t nothing[1];
  if (EVP_EncryptFinal_ex(context.get(), nothing, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kGcmTagBytes), tag) != 1) {
    ThrowLibcryptoFailure("AES-256-GCM could not make a MAC");
  }
}

void HkdfSha256(const uint8_t* ikm, size_t ikmLength, const uint8_t* salt, size_t saltLength, const std::string& info,
                uint8_t* out, size_t length) {
  std::unique_ptr<EVP_KDF, void (*)(EVP_KDF*)> kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr), EVP_KDF_free);
  std::unique_ptr<EVP_KDF_CTX, void (*)(EVP_KDF_CTX*)> context(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr,
                                                               EVP_KDF_CTX_free);
  if (!context) ThrowLibcryptoFailure("cannot make an HKDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  OSSL_PARAM* param = params;
  *param++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  *param++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm), ikmLength);
  // No salt is HKDF's default salt (HashLen zero bytes), which is what node's empty salt means.
  if (saltLength > 0) *param++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt), saltLength);
  *param++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
  *param = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(context.get(), out, length, params) != 1) ThrowLibcryptoFailure("HKDF-SHA256 failed");
}

void ThrowLibcryptoFailure(const std::string& what) {
  const unsigned long error = ERR_get_error();
  const char* reason = error != 0 ? ERR_reason_error_string(error) : nullptr;
  ERR_clear_error();
  throw Failure{"RESUME_FAILED", what + " (libcrypto: " + (reason != nullptr ? reason : "no reason given") + ")"};
}

}  // namespace hiberkit_resume
