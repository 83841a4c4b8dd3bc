// See key_files.h. The text is handled as bytes: the prefixes are ASCII and the keys base64, so
// the only thing node's UTF-8 decoding changes is what trim() removes, which TrimmedLine follows.
#include "key_files.h"

#include <cstring>
#include <optional>
#include <vector>

#include "sealed_key.h"

namespace hiberkit_resume {
namespace {

constexpr char kSecretPrefixV1[] = "hiberkit-secret-key-v1:";
constexpr char kSecretPrefix[] = "hiberkit-secret-key-v2:";
constexpr char kVerifyPrefix[] = "hiberkit-verify-key-v2:";

// Length in bytes of the JavaScript white space (what String.prototype.trim() removes) that
// starts `text`, which holds `length` bytes of UTF-8; 0 when none does.
size_t WhiteSpaceAt(const char* text, size_t length) {
  const auto byte = [&](size_t i) -> unsigned char { return i < length ? static_cast<unsigned char>(text[i]) : 0; };
  const unsigned char first = byte(0);
  if (first == ' ' || (first >= '\t' && first <= '\r')) return 1;
  if (first == 0xc2 && byte(1) == 0xa0) return 2;                      // U+00A0
  if (first == 0xe1 && byte(1) == 0x9a && byte(2) == 0x80) return 3;   // U+1680
  if (first == 0xe2 && byte(1) == 0x80) {                              // U+2000..200A, U+2028, U+2029, U+202F
    const unsigned char third = byte(2);
    if ((third >= 0x80 && third <= 0x8a) || third == 0xa8 || third == 0xa9 || third == 0xaf) return 3;
  }
  if (first == 0xe2 && byte(1) == 0x81 && byte(2) == 0x9f) return 3;   // U+205F
  if (first == 0xe3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;   // U+3000
  if (first == 0xef && byte(1) == 0xbb && byte(2) == 0xbf) return 3;   // U+FEFF (a byte order mark)
  return 0;
}

// The same, ending at `end` (exclusive): the last code point before it.
size_t WhiteSpaceBefore(const char* begin, const char* end) {
  for (size_t width = 1; width <= 3 && width <= static_cast<size_t>(end - begin); width++) {
    if (WhiteSpaceAt(end - width, width) == width) return width;
  }
  return 0;
}

// findLine: what follows `prefix` on the first line that starts with it once trimmed.
std::optional<std::string> FindLine(const std::string& text, const char* prefix) {
  const size_t prefixLength = strlen(prefix);
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const char* first = text.data() + start;
    const char* last = text.data() + end;
    while (first < last) {
      const size_t width = WhiteSpaceAt(first, static_cast<size_t>(last - first));
      if (width == 0) break;
      first += width;
    }
    while (last > first) {
      const size_t width = WhiteSpaceBefore(first, last);
      if (width == 0) break;
      last -= width;
    }
    if (static_cast<size_t>(last - first) >= prefixLength && memcmp(first, prefix, prefixLength) == 0) {
      return std::string(first + prefixLength, last);
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::string RequireLine(const std::string& text, const char* prefix, const char* what) {
  std::optional<std::string> line = FindLine(text, prefix);
  if (!line) {
    throw Failure{"BAD_KEY_FILE", std::string("not a hiberkit ") + what + " file (no \"" + prefix + "\" line)"};
  }
  return *line;
}

// The value of one base64 or base64url character, or -1.
int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Buffer.from(text, 'base64url') as node decodes it: either alphabet, other characters skipped,
// decoding stops at the first '='; a last lone character adds no byte.
std::vector<uint8_t> DecodeBase64(const std::string& text) {
  std::vector<uint8_t> bytes;
  uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    if (c == '=') break;
    const int value = Base64Value(c);
    if (value < 0) continue;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    held += 6;
    if (held >= 8) {
      held -= 8;
      bytes.push_back(static_cast<uint8_t>(bits >> held));
    }
  }
  return bytes;
}

// decodeKey: a key of exactly `length` bytes, or BAD_KEY_FILE.
std::vector<uint8_t> DecodeKey(const std::string& base64, size_t length, const char* what) {
  std::vector<uint8_t> key = DecodeBase64(base64);
  if (key.size() != length) {
    throw Failure{"BAD_KEY_FILE", std::string("the ") + what + " is not " + std::to_string(length) + " bytes"};
  }
  return key;
}

// openSealedPrivateKey: only WRONG_PASSPHRASE is about the passphrase; any other refusal of the
// block is the key file's fault, never the image's (resume keeps the image).
void OpenSealedPrivateKey(const std::vector<uint8_t>& block, const uint8_t* passphrase, size_t passphraseLength,
                          SealPurpose purpose, const uint8_t* bound, size_t boundLength, uint8_t* privateKey) {
  try {
    OpenDataKey(block.data(), block.size(), Unlocker{KeyKind::Passphrase, passphrase, passphraseLength}, purpose, bound,
                boundLength, privateKey);
  } catch (Failure& failure) {
    if (failure.code == "WRONG_PASSPHRASE" || failure.code == "RESUME_FAILED") throw;
    throw Failure{"BAD_KEY_FILE",
                  "the sealed private key in the key file is damaged, truncated or from a newer hiberkit: restore the "
                  "file from a backup"};
  }
}

}  // namespace

SecretKey::~SecretKey() { Wipe(privateKey, sizeof privateKey); }

void OpenSecretKey(const std::string& text, const uint8_t* passphrase, size_t passphraseLength, SecretKey& secret) {
  std::optional<std::string> current = FindLine(text, kSecretPrefix);
  if (!current) {
    const std::vector<uint8_t> block = DecodeBase64(RequireLine(text, kSecretPrefixV1, "private key"));
    OpenSealedPrivateKey(block, passphrase, passphraseLength, SealPurpose::Image, nullptr, 0, secret.privateKey);
    secret.hasVerifyKey = false;
    return;
  }
  const std::vector<uint8_t> verifyKey = DecodeKey(RequireLine(text, kVerifyPrefix, "private key"), kVerifyKeyBytes, "verify key");
  OpenSealedPrivateKey(DecodeBase64(*current), passphrase, passphraseLength, SealPurpose::KeyFile, verifyKey.data(),
                       verifyKey.size(), secret.privateKey);
  memcpy(secret.verifyKey, verifyKey.data(), kVerifyKeyBytes);
  secret.hasVerifyKey = true;
}

}  // namespace hiberkit_resume
