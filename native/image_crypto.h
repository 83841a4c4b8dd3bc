// AES-256-GCM and SHA-256 for the C++ image writer's encrypted images (docs/image-format.md §2.1),
// through the OpenSSL built into node: node exports its libcrypto symbols, and the addon, linked
// with -z now, binds all of them when it is loaded, so a missing one fails the load, not a call.
//
// When each call may run matters, because the writer runs with user space frozen, in a forked
// child that must not allocate or take a lock (critical_child.h):
//  * ImageCipher::Init, before the freeze (in the parent, before the fork): fetches AES-256-GCM
//    from the provider store (locks, allocates), creates both contexts (EVP_CIPHER_CTX_new) and
//    initialises each with its key (allocates the provider's context, expands the key schedule,
//    builds the GHASH table). Then it rehearses every later call once (see Rehearse).
//  * SealChunk and MacHeader, after the freeze, call only, on the prepared contexts:
//    EVP_EncryptInit_ex with no cipher and no key, only an IV — OpenSSL 3.0 then skips the ENGINE
//    lookup and the fetch, keeps the provider context, and the provider copies the 12 bytes;
//    EVP_EncryptUpdate for the associated data and the payload; EVP_EncryptFinal_ex; and
//    EVP_CIPHER_CTX_ctrl(EVP_CTRL_AEAD_GET_TAG), which passes an OSSL_PARAM on the stack and copies
//    16 bytes. None of them allocates or locks (read in OpenSSL 3.0's evp_enc.c and
//    ciphercommon_gcm.c, and measured: test/image-encryption.test.ts counts malloc calls around
//    them). OpenSSL allocates only to record an error, which the writer's lengths never provoke.
//  * The extent map's SHA-256: Init fetches SHA-256, creates a digest context and starts it
//    (EVP_DigestInit_ex2 allocates the provider's context); after the freeze the writer calls only
//    EVP_DigestUpdate and EVP_DigestFinal_ex on it, which work in that context and allocate
//    nothing. One context per image: it is used once, and Init rehearses SHA-256 on another.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image_layout.h"

struct evp_cipher_st;
struct evp_cipher_ctx_st;
struct evp_md_st;
struct evp_md_ctx_st;

namespace hiberkit {

constexpr size_t kImageKeyBytes = 32;
constexpr size_t kAeadTagBytes = 16;

class ImageCipher {
 public:
  ImageCipher() = default;
  ~ImageCipher();  // frees the contexts; OpenSSL wipes their key material
  ImageCipher(const ImageCipher&) = delete;
  ImageCipher& operator=(const ImageCipher&) = delete;

  // Before the freeze only. Returns 0, ENOMEM, or EINVAL when OpenSSL refuses (no AES-256-GCM).
  int Init(const uint8_t* chunk_key, const uint8_t* header_key);
  bool ready() const { return header_ != nullptr; }

  // Encrypts `data` in place (the ciphertext is as long) under the chunk key, with nonce
  // 0u32 || index as u64 little endian and `aad` as associated data; writes the 16-byte tag.
  bool SealChunk(uint64_t index, const uint8_t* aad, size_t aad_bytes, uint8_t* data, size_t bytes, uint8_t* tag);
  // GMAC of `data` under the header key with the all-zero nonce (that key signs one header).
  bool MacHeader(const uint8_t* data, size_t bytes, uint8_t* mac);

  // The extent map's SHA-256, in steps (the map is hashed batch by batch), once per image.
  bool HashExtentMap(const uint8_t* data, size_t bytes);
  bool FinishExtentMapHash(uint8_t* digest);  // kSha256Bytes

  // Runs SealChunk's and MacHeader's code paths (bulk and tail lengths, associated data) on
  // scratch bytes, with nonces no image uses (a chunk index above 2^32, an all-ones header nonce):
  // a failure shows before the freeze, and each page of code and data those calls touch is
  // faulted in. Init calls it; a critical-section child that locks memory on fault can call it
  // again after locking, so that those pages are locked too.
  bool Rehearse();

 private:
  bool Seal(evp_cipher_ctx_st* context, const uint8_t* nonce, const uint8_t* aad, size_t aad_bytes, uint8_t* data,
            size_t bytes, uint8_t* tag);

  // Before the freeze: SHA-256 on a context of its own, so that a failure shows now.
  bool RehearseDigest();

  evp_cipher_st* cipher_ = nullptr;
  evp_cipher_ctx_st* chunk_ = nullptr;
  evp_cipher_ctx_st* header_ = nullptr;
  evp_md_st* sha256_ = nullptr;
  evp_md_ctx_st* map_digest_ = nullptr;
};

// Overwrites secret bytes in a way the compiler cannot drop (OPENSSL_cleanse).
void WipeSecret(void* bytes, size_t length);

}  // namespace hiberkit
