// hiberkit_keys_probe: a test-only program that runs hiberkit-resume's key handling
// (native/resume/image_keys.h, passphrase.h) on the bytes a test gives it, so that
// test/native-image-keys.test.ts can check it against the TypeScript it ports.
//
// A program rather than entries in the test addon: hiberkit-resume links the system libcrypto,
// and inside node every OpenSSL symbol would bind to node's own copy first (node exports them),
// so an addon would test node's OpenSSL, not the library the program runs with. A process of its
// own also gives the console prompt a terminal, signals and a controlling tty of its own.
//
// Usage (bytes in hex; one JSON object on stdout; a refusal is {"code","message"}):
//   kind BLOCK
//   unlock BLOCK [--passphrase-file F] [--passphrase-fd N] [--secret-key F] [--tries N] [--expected KIND]
//   secret-key FILE PASSPHRASE
//   derive DATA_KEY
//   header-mac HEADER_KEY MAC_INPUT MAC
//   origin VERIFY_KEY IMAGE_ID BLOCK SIGNATURE
//   open-chunk CHUNK_KEY INDEX AAD TAG          (the ciphertext in hex on stdin)
//   passphrase (--file F | --fd N | --prompt TEXT)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include "../../native/resume/image_keys.h"
#include "../../native/resume/key_files.h"
#include "../../native/resume/passphrase.h"

namespace {

using hiberkit_resume::Failure;
using hiberkit_resume::KeyKind;
using Bytes = std::vector<uint8_t>;

struct Usage {
  std::string problem;
};

Bytes FromHex(const std::string& hex) {
  if (hex.size() % 2 != 0) throw Usage{"odd-length hex"};
  Bytes bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    char* end = nullptr;
    const std::string pair = hex.substr(i, 2);
    bytes.push_back(static_cast<uint8_t>(strtoul(pair.c_str(), &end, 16)));
    if (*end != '\0') throw Usage{"not hex: " + pair};
  }
  return bytes;
}

// Hex of exactly `length` bytes.
Bytes FromHex(const std::string& hex, size_t length) {
  Bytes bytes = FromHex(hex);
  if (bytes.size() != length) throw Usage{"expected " + std::to_string(length) + " bytes, got " + std::to_string(bytes.size())};
  return bytes;
}

std::string Hex(const uint8_t* bytes, size_t length) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (size_t i = 0; i < length; i++) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 15];
  }
  return hex;
}

std::string Json(const std::string& text) {
  std::string quoted = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
    } else if (c < 0x20) {
      char escape[8];
      snprintf(escape, sizeof escape, "\\u%04x", c);
      quoted += escape;
    } else {
      quoted += static_cast<char>(c);
    }
  }
  return quoted + "\"";
}

std::string g_progress;  // the progress lines UnlockDataKey gave, as a JSON array's items

void CollectProgress(const char* line) {
  if (!g_progress.empty()) g_progress += ",";
  g_progress += Json(line);
}

KeyKind ParseKind(const std::string& word) {
  if (word == "passphrase") return KeyKind::Passphrase;
  if (word == "public-key") return KeyKind::PublicKey;
  throw Usage{"unknown key kind " + word};
}

std::string Unlock(const std::vector<std::string>& args) {
  if (args.empty()) throw Usage{"unlock BLOCK [options]"};
  const Bytes block = FromHex(args[0], hiberkit_resume::kKeyBlockBytes);
  hiberkit_resume::KeySettings settings;
  for (size_t i = 1; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) throw Usage{"option " + args[i] + " needs a value"};
    const std::string& option = args[i];
    const std::string& value = args[i + 1];
    if (option == "--passphrase-file") settings.passphraseFile = value;
    else if (option == "--passphrase-fd") settings.passphraseFd = std::stoi(value);
    else if (option == "--secret-key") settings.secretKeyFile = value;
    else if (option == "--tries") settings.tries = std::stoi(value);
    else if (option == "--expected") {
      settings.hasExpected = true;
      settings.expected = ParseKind(value);
    } else {
      throw Usage{"unknown option " + option};
    }
  }
  const KeyKind kind = hiberkit_resume::KeyBlockKind(block.data());
  hiberkit_resume::UnlockedKey unlocked = hiberkit_resume::UnlockDataKey(block.data(), kind, settings, CollectProgress);
  std::string result = "{\"dataKey\":" + Json(Hex(unlocked.dataKey, sizeof unlocked.dataKey)) + ",\"verifyKey\":" +
                       (unlocked.hasVerifyKey ? Json(Hex(unlocked.verifyKey, sizeof unlocked.verifyKey)) : "null");
  hiberkit_resume::Wipe(&unlocked, sizeof unlocked);
  return result + ",\"progress\":[" + g_progress + "]}";
}

std::string SecretKeyFile(const std::vector<std::string>& args) {
  if (args.size() != 2) throw Usage{"secret-key FILE PASSPHRASE"};
  FILE* file = fopen(args[0].c_str(), "rb");
  if (file == nullptr) throw Usage{"cannot open " + args[0]};
  std::string text;
  for (int c; (c = fgetc(file)) != EOF;) text += static_cast<char>(c);
  fclose(file);
  const Bytes passphrase = FromHex(args[1]);
  hiberkit_resume::SecretKey secret;
  hiberkit_resume::OpenSecretKey(text, passphrase.data(), passphrase.size(), secret);
  return "{\"privateKey\":" + Json(Hex(secret.privateKey, sizeof secret.privateKey)) + ",\"verifyKey\":" +
         (secret.hasVerifyKey ? Json(Hex(secret.verifyKey, sizeof secret.verifyKey)) : "null") + "}";
}

std::string Passphrase(const std::vector<std::string>& args) {
  if (args.size() != 2) throw Usage{"passphrase (--file F | --fd N | --prompt TEXT)"};
  hiberkit_resume::PassphraseSource source;
  using Kind = hiberkit_resume::PassphraseSource::Kind;
  if (args[0] == "--file") {
    source.kind = Kind::File;
    source.file = args[1];
  } else if (args[0] == "--fd") {
    source.kind = Kind::Fd;
    source.fd = std::stoi(args[1]);
  } else if (args[0] == "--prompt") {
    source.kind = Kind::Prompt;
    source.prompt = args[1];
  } else {
    throw Usage{"unknown passphrase source " + args[0]};
  }
  // The process id first, so that a test can signal the prompt.
  printf("{\"pid\":%d}\n", static_cast<int>(getpid()));
  fflush(stdout);
  const hiberkit_resume::SecretBytes passphrase = hiberkit_resume::ReadPassphrase(source);
  return "{\"passphrase\":" + Json(Hex(passphrase.data(), passphrase.size())) + "}";
}

std::string Run(const std::string& command, const std::vector<std::string>& args) {
  if (command == "kind" && args.size() == 1) {
    const Bytes block = FromHex(args[0]);
    return std::string("{\"kind\":") + Json(KeyKindName(hiberkit_resume::KeyBlockKind(block.data(), block.size()))) + "}";
  }
  if (command == "unlock") return Unlock(args);
  if (command == "secret-key") return SecretKeyFile(args);
  if (command == "derive" && args.size() == 1) {
    const Bytes dataKey = FromHex(args[0], hiberkit_resume::kDataKeyBytes);
    hiberkit_resume::ImageKeys keys = hiberkit_resume::DeriveImageKeys(dataKey.data());
    std::string result = "{\"chunkKey\":" + Json(Hex(keys.chunkKey, sizeof keys.chunkKey)) +
                         ",\"headerKey\":" + Json(Hex(keys.headerKey, sizeof keys.headerKey)) + "}";
    hiberkit_resume::Wipe(&keys, sizeof keys);
    return result;
  }
  if (command == "header-mac" && args.size() == 3) {
    const Bytes headerKey = FromHex(args[0], 32);
    const Bytes macInput = FromHex(args[1]);
    const Bytes mac = FromHex(args[2], hiberkit_resume::kMacBytes);
    const bool matches = hiberkit_resume::HeaderMacMatches(headerKey.data(), macInput.data(), macInput.size(), mac.data());
    return std::string("{\"matches\":") + (matches ? "true" : "false") + "}";
  }
  if (command == "origin" && args.size() == 4) {
    const Bytes verifyKey = FromHex(args[0], hiberkit_resume::kVerifyKeyBytes);
    const Bytes imageId = FromHex(args[1], hiberkit_resume::kImageIdBytes);
    const Bytes block = FromHex(args[2], hiberkit_resume::kKeyBlockBytes);
    const Bytes signature = FromHex(args[3], hiberkit_resume::kOriginSignatureBytes);
    const bool valid = hiberkit_resume::OriginSignatureValid(verifyKey.data(), imageId.data(), block.data(), signature.data());
    return std::string("{\"valid\":") + (valid ? "true" : "false") + "}";
  }
  if (command == "open-chunk" && args.size() == 4) {
    const Bytes chunkKey = FromHex(args[0], 32);
    const uint64_t index = std::stoull(args[1]);
    const Bytes aad = FromHex(args[2]);
    const Bytes tag = FromHex(args[3], hiberkit_resume::kChunkTagBytes);
    Bytes data = FromHex(std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()));
    const bool opened = hiberkit_resume::OpenChunk(chunkKey.data(), index, aad.data(), aad.size(), data.data(), data.size(), tag.data());
    // A refused chunk must come back wiped: the test sees what is left in the buffer.
    return std::string("{\"opened\":") + (opened ? "true" : "false") + ",\"data\":" + Json(Hex(data.data(), data.size())) + "}";
  }
  if (command == "passphrase") return Passphrase(args);
  throw Usage{"unknown command or wrong arguments: " + command};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hiberkit_keys_probe COMMAND ARGS...\n");
    return 2;
  }
  try {
    printf("%s\n", Run(argv[1], std::vector<std::string>(argv + 2, argv + argc)).c_str());
  } catch (const Failure& failure) {
    // unlock reports its progress lines with either answer.
    const std::string progress = strcmp(argv[1], "unlock") == 0 ? ",\"progress\":[" + g_progress + "]" : "";
    printf("{\"code\":%s,\"message\":%s%s}\n", Json(failure.code).c_str(), Json(failure.message).c_str(), progress.c_str());
  } catch (const Usage& usage) {
    fprintf(stderr, "hiberkit_keys_probe: %s\n", usage.problem.c_str());
    return 2;
  } catch (const std::exception& error) {  // std::stoi on a word that is no number
    fprintf(stderr, "hiberkit_keys_probe: bad argument (%s)\n", error.what());
    return 2;
  }
  return 0;
}
