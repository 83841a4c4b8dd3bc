// hiberkit-resume's settings: /etc/hiberkit.conf (the syntax and keys of lib/config.ts), the
// program's flags on top, and where the image is (flags, then the kernel command line, then the
// config file: resume_location.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hiberkit_resume {

// The settings hiberkit-resume acts on; the config file's others (image-size, compress, …) are
// checked like `hiberkit` checks them, then ignored: they are for hibernate.
struct Settings {
  std::optional<std::string> resumeDevice;
  std::optional<uint64_t> resumeOffset;
  std::optional<std::string> encrypt;  // none | passphrase | public-key
  std::optional<std::string> publicKey;
  std::optional<std::string> secretKey;
  std::optional<std::string> passphraseFile;
  std::optional<int> passphraseFd;
  std::optional<uint64_t> passphraseTries;
  std::optional<std::string> onBadPassphrase;  // keep | discard

  // Every setting `over` has replaces this one's (flags over the config file).
  void MergeFrom(const Settings& over);
};

// One setting by its name (`resume-offset`), as a flag or a config line gives it. Throws
// std::invalid_argument with the reason for an unknown name or a bad value.
void ApplySetting(Settings& settings, const std::string& name, const std::string& value);

// parseConfig: one `key = value` per line, `#` comments, blank lines; a key given twice is an
// error. Throws Failure BAD_CONFIG "SOURCE:LINE: reason".
Settings ParseConfig(const std::string& text, const std::string& source);

// loadConfig: the file `path`. A missing default file means no settings (`mayBeMissing`); any
// other read failure is Failure BAD_CONFIG.
Settings LoadConfig(const std::string& path, bool mayBeMissing);

}  // namespace hiberkit_resume
