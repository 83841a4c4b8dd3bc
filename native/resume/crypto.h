// The libcrypto primitives the key handling is built from (AES-256-GCM, HKDF-SHA256), each one
// call, so that the ports of the TypeScript read like the TypeScript. Internal to native/resume.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hiberkit_resume {

constexpr size_t kGcmNonceBytes = 12;
constexpr size_t kGcmTagBytes = 16;

// Decrypts `data` in place under AES-256-GCM and checks `tag` over `aad` and the ciphertext.
// False when the tag does not match; `data` is wiped then, as the TypeScript wipes a plaintext
// whose tag failed. Throws Failure RESUME_FAILED when libcrypto itself fails.
bool AesGcmOpen(const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aadLength, uint8_t* data,
                size_t length, const uint8_t* tag);

// GMAC: the AES-256-GCM tag of `aad` with no plaintext.
void AesGcmMac(const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aadLength, uint8_t* tag);

// hkdfSync('sha256', ikm, salt, info, length).
void HkdfSha256(const uint8_t* ikm, size_t ikmLength, const uint8_t* salt, size_t saltLength, const std::string& info,
                uint8_t* out, size_t length);

// Failure RESUME_FAILED for a libcrypto call that failed (no memory, a missing algorithm), with
// OpenSSL's reason: the image is not to blame, so resume keeps it (it is not in provesImageBad).
[[noreturn]] void ThrowLibcryptoFailure(const std::string& what);

}  // namespace hiberkit_resume
