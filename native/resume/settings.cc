// hiberkit-resume's settings (settings.h), parsed by the rules of lib/config.ts.
#include "settings.h"

#include <cerrno>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "failure.h"
#include "system_facts.h"

namespace hiberkit_resume {
namespace {

// parseCount: digits only.
uint64_t Count(const std::string& value, const char* what) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 15) {
    throw std::invalid_argument("\"" + value + "\" is not " + what);
  }
  return std::stoull(value);
}

std::string OneOf(const std::string& value, std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* choice : allowed) {
    if (value == choice) return value;
    list += (list.empty() ? "" : ", ") + std::string(choice);
  }
  throw std::invalid_argument("\"" + value + "\" is not one of " + list);
}

// parseSize: checked only (image-size is hibernate's).
void CheckSize(const std::string& value) {
  static const std::regex kSize(R"(^(\d+(\.\d+)?)\s*([KMGTkmgt]?)[iI]?[bB]?$)");
  if (!std::regex_match(value, kSize)) {
    throw std::invalid_argument("\"" + value + "\" is not a size (examples: 0, 524288000, 500M, 2G)");
  }
}

const char* const kKnownSettings[] = {
    "resume-device", "resume-offset",  "image-size",      "compress",         "power-off",
    "encrypt",       "public-key",     "secret-key",      "signing-key",      "passphrase-file",
    "passphrase-fd", "passphrase-tries", "on-bad-passphrase",
};

}  // namespace

void Settings::MergeFrom(const Settings& over) {
  auto take = [](auto& mine, const auto& theirs) {
    if (theirs) mine = theirs;
  };
  take(resumeDevice, over.resumeDevice);
  take(resumeOffset, over.resumeOffset);
  take(encrypt, over.encrypt);
  take(publicKey, over.publicKey);
  take(secretKey, over.secretKey);
  take(passphraseFile, over.passphraseFile);
  take(passphraseFd, over.passphraseFd);
  take(passphraseTries, over.passphraseTries);
  take(onBadPassphrase, over.onBadPassphrase);
}

void ApplySetting(Settings& settings, const std::string& name, const std::string& raw) {
  const std::string value = Trimmed(raw);
  if (name == "resume-device") {
    settings.resumeDevice = value;
  } else if (name == "resume-offset") {
    settings.resumeOffset = Count(value, "a page count");
  } else if (name == "image-size") {
    CheckSize(value);
  } else if (name == "compress") {
    OneOf(value, {"lz4", "none"});
  } else if (name == "power-off") {
    OneOf(value, {"platform", "shutdown", "reboot"});
  } else if (name == "encrypt") {
    settings.encrypt = OneOf(value, {"none", "passphrase", "public-key"});
  } else if (name == "public-key") {
    settings.publicKey = value;
  } else if (name == "secret-key") {
    settings.secretKey = value;
  } else if (name == "signing-key") {
    // hibernate's: the signing key never goes into the initramfs.
  } else if (name == "passphrase-file") {
    settings.passphraseFile = value;
  } else if (name == "passphrase-fd") {
    const uint64_t fd = Count(value, "a file descriptor number");
    if (fd > INT32_MAX) throw std::invalid_argument("\"" + value + "\" is not a file descriptor number");
    settings.passphraseFd = static_cast<int>(fd);
  } else if (name == "passphrase-tries") {
    settings.passphraseTries = Count(value, "a number of tries");
  } else if (name == "on-bad-passphrase") {
    settings.onBadPassphrase = OneOf(value, {"keep", "discard"});
  } else {
    std::string known;
    for (const char* key : kKnownSettings) known += (known.empty() ? "" : ", ") + std::string(key);
    throw std::invalid_argument("unknown setting \"" + name + "\" (known: " + known + ")");
  }
}

Settings ParseConfig(const std::string& text, const std::string& source) {
  Settings settings;
  std::map<std::string, size_t> lineOf;  // a key given twice is a mistake, whichever line was meant
  std::istringstream lines(text);
  std::string raw;
  for (size_t number = 1; std::getline(lines, raw); number++) {
    const std::string line = Trimmed(raw.substr(0, raw.find('#')));
    if (line.empty()) continue;
    try {
      const size_t eq = line.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("expected \"key = value\"");
      const std::string name = Trimmed(line.substr(0, eq));
      ApplySetting(settings, name, line.substr(eq + 1));
      const auto earlier = lineOf.find(name);
      if (earlier != lineOf.end()) {
        throw std::invalid_argument("\"" + name + "\" is set twice, on lines " + std::to_string(earlier->second) +
                                    " and " + std::to_string(number) + "; keep one");
      }
      lineOf[name] = number;
    } catch (const std::invalid_argument& problem) {
      throw Failure{"BAD_CONFIG", source + ":" + std::to_string(number) + ": " + problem.what()};
    }
  }
  return settings;
}

Settings LoadConfig(const std::string& path, bool mayBeMissing) {
  std::string text;
  const int error = ReadWholeFile(path, &text);
  if (error == 0) return ParseConfig(text, path);
  if (mayBeMissing && (error == ENOENT || error == ENOTDIR)) return {};
  throw Failure{"BAD_CONFIG", "cannot read the config file " + path + ": " + ErrnoReason(error)};
}

}  // namespace hiberkit_resume
