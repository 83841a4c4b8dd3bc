// Where hiberkit-resume looks for the image (resume_location.h).
#include "resume_location.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace hiberkit_resume {
namespace {

bool IsBlank(char c) { return isspace(static_cast<unsigned char>(c)) != 0; }

// The words the kernel reads as its own parameters: those before a `--` (the rest are init's).
std::vector<std::string> KernelParameters(const std::vector<std::string>& words) {
  return {words.begin(), std::find(words.begin(), words.end(), "--")};
}

// commandLineValue: the value of the last `name=value` parameter, if any.
std::optional<std::string> CommandLineValue(const std::vector<std::string>& words, const std::string& name) {
  const std::string prefix = name + "=";
  std::optional<std::string> value;
  for (const std::string& word : KernelParameters(words)) {
    if (word.compare(0, prefix.size(), prefix) == 0) value = word.substr(prefix.size());
  }
  return value;
}

// resumeOffsetFromCommandLine: kstrtoull(…, 0) — decimal, 0x… hexadecimal, 0… octal; 0 when
// absent or not a number (the kernel warns and keeps 0).
uint64_t ResumeOffset(const std::vector<std::string>& words) {
  const auto text = CommandLineValue(words, "resume_offset");
  if (!text) return 0;
  static const std::regex kNumber(R"(^(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))\n?$)");
  std::smatch match;
  if (!std::regex_match(*text, match, kNumber)) return 0;
  const int base = match[1].matched ? 16 : match[2].matched ? 8 : 10;
  const std::string digits = match[1].matched ? match[1].str() : match[2].matched ? match[2].str() : match[3].str();
  errno = 0;
  const unsigned long long value = strtoull(digits.c_str(), nullptr, base);
  // Number.isSafeInteger in the TypeScript: beyond 2^53 - 1 it keeps 0 too.
  return errno == 0 && value <= (1ULL << 53) - 1 ? value : 0;
}

}  // namespace

std::vector<std::string> ParseCommandLine(const std::string& text) {
  std::vector<std::string> words;
  size_t at = 0;
  for (;;) {
    while (at < text.size() && IsBlank(text[at])) at++;
    if (at >= text.size()) return words;
    bool quoted = false;
    if (text[at] == '"') {
      quoted = true;
      at++;
    }
    bool inQuote = quoted;
    size_t end = at;
    size_t equals = std::string::npos;
    for (; end < text.size() && (inQuote || !IsBlank(text[end])); end++) {
      if (equals == std::string::npos && text[end] == '=') equals = end;
      if (text[end] == '"') inQuote = !inQuote;
    }
    std::string word = text.substr(at, end - at);
    const bool endsWithQuote = !word.empty() && word.back() == '"';
    if (equals != std::string::npos && equals + 1 < text.size() && text[equals + 1] == '"') {
      const std::string name = text.substr(at, equals + 1 - at);
      const size_t valueEnd = endsWithQuote && end - 1 > equals + 1 ? end - 1 : end;
      word = name + text.substr(equals + 2, valueEnd > equals + 2 ? valueEnd - (equals + 2) : 0);
    } else if (quoted && endsWithQuote) {
      word.pop_back();
    }
    words.push_back(word);
    at = end;
  }
}

bool ResumeDisabled(const std::vector<std::string>& commandLine) {
  const std::vector<std::string> parameters = KernelParameters(commandLine);
  return std::find(parameters.begin(), parameters.end(), "noresume") != parameters.end();
}

std::optional<ResumeLocation> FindResumeLocation(const Settings& flags, const std::vector<std::string>& commandLine,
                                                 const Settings& config) {
  if (flags.resumeDevice) return ResumeLocation{*flags.resumeDevice, flags.resumeOffset.value_or(0)};
  const auto kernelDevice = CommandLineValue(commandLine, "resume");
  if (kernelDevice && !kernelDevice->empty()) {
    return ResumeLocation{*kernelDevice, flags.resumeOffset.value_or(ResumeOffset(commandLine))};
  }
  if (config.resumeDevice) {
    return ResumeLocation{*config.resumeDevice, flags.resumeOffset.value_or(config.resumeOffset.value_or(0))};
  }
  return std::nullopt;
}

}  // namespace hiberkit_resume
