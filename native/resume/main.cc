// hiberkit-resume: the native resume program, for the initramfs (issue #11). It makes exactly the
// decisions of `hiberkit resume` (lib/resume.ts) without Node: find the image, check it, read it
// once with every chunk checked before it reaches /dev/snapshot, invalidate it and jump into it.
// No image: exit 0 at once. A refusal: one line `hiberkit-resume: CODE: message` saying whether
// the image was discarded (proven bad for this machine: the swap signature is back) or kept, and
// exit 1; the boot goes on either way. Usage errors: exit 2.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "../image_invalidate.h"
#include "failure.h"
#include "image_reader.h"
#include "resume_location.h"
#include "restore.h"
#include "settings.h"
#include "system_facts.h"

namespace hiberkit_resume {
namespace {

constexpr const char* kUsage =
    "usage: hiberkit-resume [--config FILE] [--resume-device DEV] [--resume-offset PAGES]\n"
    "                       [--passphrase-file FILE | --passphrase-fd N] [--secret-key FILE]\n"
    "                       [--passphrase-tries N] [--on-bad-passphrase keep|discard]\n"
    "                       [--cmdline-file FILE] [--dry-run] [--quiet] [--version] [--help]\n"
    "\n"
    "Resumes a hiberkit image from the initramfs; exits 0 when there is none. Where the image is,\n"
    "highest first: the flags; the kernel command line (noresume, resume=, resume_offset=); the\n"
    "config file (default /etc/hiberkit.conf). --dry-run checks the whole image without opening\n"
    "/dev/snapshot and leaves a good one in place. --cmdline-file reads the kernel command line\n"
    "from FILE instead of /proc/cmdline.\n";

constexpr const char* kDefaultConfig = "/etc/hiberkit.conf";
constexpr const char* kDefaultSecretKey = "/etc/hiberkit/key";  // MachinePaths.secretKey

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  Settings flags;
  std::optional<std::string> config;
  std::string cmdlineFile = "/proc/cmdline";
  bool dryRun = false;
  bool quiet = false;
  bool help = false;
  bool version = false;
};

bool g_quiet = false;

// A progress line on stderr, unless --quiet.
void Progress(const char* line) {
  if (!g_quiet) fprintf(stderr, "hiberkit-resume: %s\n", line);
}

void Progress(const std::string& line) { Progress(line.c_str()); }

Options ParseArguments(int argc, char** argv) {
  static const std::set<std::string> kSettingFlags = {"resume-device",   "resume-offset", "passphrase-file",
                                                      "passphrase-fd",   "secret-key",    "passphrase-tries",
                                                      "on-bad-passphrase"};
  Options options;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg.compare(0, 2, "--") != 0) throw UsageError("unexpected argument \"" + arg + "\"");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    bool* toggle = name == "dry-run" ? &options.dryRun : name == "quiet" ? &options.quiet : name == "help" ? &options.help
                   : name == "version" ? &options.version : nullptr;
    if (toggle != nullptr) {
      if (value) throw UsageError("--" + name + " takes no value");
      *toggle = true;
      continue;
    }
    if (kSettingFlags.count(name) == 0 && name != "config" && name != "cmdline-file") throw UsageError("unknown option --" + name);
    if (!value) {
      if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "config") {
      options.config = *value;
    } else if (name == "cmdline-file") {
      options.cmdlineFile = *value;
    } else {
      try {
        ApplySetting(options.flags, name, *value);
      } catch (const std::invalid_argument& problem) {
        throw UsageError("--" + name + ": " + problem.what());
      }
    }
  }
  return options;
}

// expectedSealing (lib/crypto/image-keys.ts): how this machine's images must be sealed, as far as
// resume can tell.
void ExpectedSealing(const Settings& settings, KeySettings& keys) {
  if (settings.encrypt == std::string("none")) return;
  if (settings.encrypt) {
    keys.hasExpected = true;
    keys.expected = *settings.encrypt == "passphrase" ? KeyKind::Passphrase : KeyKind::PublicKey;
    return;
  }
  struct stat info;
  if (settings.secretKey || settings.publicKey || stat(kDefaultSecretKey, &info) == 0) {
    keys.hasExpected = true;
    keys.expected = KeyKind::PublicKey;
  }
}

KeySettings KeySettingsOf(const Settings& settings) {
  KeySettings keys;
  keys.passphraseFile = settings.passphraseFile.value_or("");
  keys.passphraseFd = settings.passphraseFd.value_or(-1);
  keys.secretKeyFile = settings.secretKey.value_or(kDefaultSecretKey);
  keys.tries = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(settings.passphraseTries.value_or(3), 1000)));
  ExpectedSealing(settings, keys);
  return keys;
}

// provesImageBad (lib/resume.ts): an allow-list. Only an image proven bad for this machine is
// discarded, or one a wrong passphrase or key failed to open under on-bad-passphrase = discard.
bool ProvesImageBad(const std::string& code, const std::string& onBadPassphrase) {
  static const std::set<std::string> kImageBad = {"IMAGE_CORRUPT",    "IMAGE_TRUNCATED", "UNSUPPORTED_VERSION",
                                                  "IMAGE_TAMPERED",   "IMAGE_FORGED",    "WRONG_KERNEL",
                                                  "WRONG_MACHINE",    "IMAGE_NOT_ENCRYPTED", "RESTORE_FAILED"};
  return kImageBad.count(code) != 0 ||
         (onBadPassphrase == "discard" && (code == "WRONG_PASSPHRASE" || code == "WRONG_KEY"));
}

std::string RetryHint(const std::string& code) {
  static const std::set<std::string> kKeyProblems = {"WRONG_PASSPHRASE", "WRONG_KEY", "KEY_REQUIRED", "NO_PASSPHRASE",
                                                     "BAD_KEY_FILE"};
  return kKeyProblems.count(code) != 0 ? "with the right key" : "once that is fixed";
}

std::string IsoTime(uint64_t ms) {
  const time_t seconds = static_cast<time_t>(ms / 1000);
  tm utc;
  gmtime_r(&seconds, &utc);
  char text[64];
  snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
           utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<unsigned>(ms % 1000));
  return text;
}

int Fail(const Failure& failure) {
  fprintf(stderr, "hiberkit-resume: %s: %s\n", failure.code.c_str(), failure.message.c_str());
  return 1;
}

// The one decision whether a failed resume discards the image (lib/resume.ts), and its one line.
int Refuse(const Storage& storage, uint64_t resumePage, const FoundMarker& marker, const Settings& settings,
           const Failure& refusal) {
  const std::string reason = "the image on " + storage.path() + " was not restored: " + refusal.message;
  if (!ProvesImageBad(refusal.code, settings.onBadPassphrase.value_or("keep"))) {
    return Fail({refusal.code, reason + ". The image is kept: boot again to retry " + RetryHint(refusal.code) +
                                   ", or run `hiberkit discard` to drop it (swapon refuses the area until then); the boot continues."});
  }
  AlignedBuffer pages(2 * hiberkit::kPageSize);  // page aligned, as O_DIRECT wants
  memcpy(pages.data(), marker.original, hiberkit::kPageSize);
  const int error = hiberkit::InvalidateImage(storage.fd(), resumePage, pages.data(), pages.data() + hiberkit::kPageSize);
  if (error != 0) {
    return Fail({refusal.code, reason + ". Discarding it failed (" + ErrnoReason(error) +
                                   "): run `hiberkit discard` once the system is up; the boot continues."});
  }
  return Fail({refusal.code, reason + ". It was discarded and the swap signature put back; the boot continues normally."});
}

// The image on `storage` once its marker was found: verified, then restored (or, --dry-run,
// left in place); a refusal discards or keeps it.
int ResumeImage(const Storage& storage, uint64_t resumePage, const FoundMarker& marker, const Settings& settings,
                const Options& options) {
  try {
    Progress("image found on " + storage.path() + "; loading it");
    OpenOptions open;
    open.kernelRelease = KernelRelease();
    open.machineId = MachineId();
    open.keys = KeySettingsOf(settings);
    // A system set up for encrypted images resumes nothing else: whoever can write the disk could
    // otherwise put a plain, unauthenticated image in its place.
    open.requireEncryption = open.keys.hasExpected;
    open.progress = Progress;
    std::unique_ptr<OpenedImage> image = OpenImage(storage, resumePage, open);
    const ImageHeader& header = image->header();
    // Only now is the header believed (authenticated, for an encrypted image): an old image put back shows its age here.
    Progress("image made " + IsoTime(header.createdAtMs) + " by kernel " + header.kernelRelease +
             (header.encrypted ? ", authenticated" : ""));
    if (options.dryRun) {
      image->ReadStream([](const uint8_t*, size_t) {});
      printf("hiberkit-resume: image OK: %s holds %llu pages (%llu bytes stored) made %s by kernel %s%s; dry run: left in place\n",
             storage.path().c_str(), static_cast<unsigned long long>(header.streamPages),
             static_cast<unsigned long long>(header.storedBytes), IsoTime(header.createdAtMs).c_str(),
             header.kernelRelease.c_str(), header.encrypted ? ", authenticated" : "");
      return 0;
    }
    UploadAndRestore(*image, {&storage, resumePage, marker.original, options.quiet ? -1 : 2, Progress});
  } catch (const Failure& refusal) {
    return Refuse(storage, resumePage, marker, settings, refusal);
  } catch (const std::bad_alloc&) {
    return Refuse(storage, resumePage, marker, settings, Failure{"RESUME_FAILED", "out of memory"});
  } catch (const std::exception& unexpected) {
    return Refuse(storage, resumePage, marker, settings, Failure{"RESUME_FAILED", std::string("an unexpected error: ") + unexpected.what()});
  }
}

// Everything before the image's own checks: settings, where to look, whether there is an image.
int Run(const Options& options) {
  if (options.config) {
    struct stat info;
    if (stat(options.config->c_str(), &info) != 0) throw UsageError("--config: " + *options.config + ": " + ErrnoReason(errno));
  }
  const Settings config = LoadConfig(options.config.value_or(kDefaultConfig), !options.config);
  Settings settings = config;
  settings.MergeFrom(options.flags);
  std::string commandLine;
  ReadWholeFile(options.cmdlineFile, &commandLine);  // no /proc: no command line
  const std::vector<std::string> words = ParseCommandLine(commandLine);
  if (!options.flags.resumeDevice && ResumeDisabled(words)) {
    Progress("noresume is on the kernel command line: not resuming; the boot continues");
    return 0;
  }
  const std::optional<ResumeLocation> location = FindResumeLocation(options.flags, words, config);
  if (!location) {
    Progress("no hibernation image: no resume device configured (resume=, --resume-device or resume-device in the config file)");
    return 0;
  }
  const std::string device = ResolveBlockDevice(location->deviceSpec);
  const Storage storage(device);
  if (location->resumePage != 0) {
    // A resume offset is for a swap file; on a swap partition it would point into the middle of the area.
    AlignedBuffer first(hiberkit::kPageSize);
    if (storage.Read(first.data(), hiberkit::kPageSize, 0) == hiberkit::kPageSize && HasKnownSignature(first.data())) {
      throw Failure{"RESUME_OFFSET_ON_PARTITION",
                    device + " is a swap partition (its swap header is page 0), so resume offset " + std::to_string(location->resumePage) +
                        " does not apply to it; drop --resume-offset (and resume_offset=), which is for swap files"};
    }
  }
  std::optional<FoundMarker> marker;
  try {
    marker = ReadMarker(storage, location->resumePage);
  } catch (const Failure& foreign) {
    // Another tool's image (the kernel's own, uswsusp's) or no swap at all is not ours to touch: boot on.
    if (foreign.code != "FOREIGN_SIGNATURE") throw;
    Progress(foreign.message);
  }
  if (!marker) {
    Progress("no hibernation image on " + device + "; the boot continues");
    return 0;
  }
  return ResumeImage(storage, location->resumePage, *marker, settings, options);
}

}  // namespace
}  // namespace hiberkit_resume

int main(int argc, char** argv) {
  using namespace hiberkit_resume;
  try {
    const Options options = ParseArguments(argc, argv);
    if (options.help) {
      fputs(kUsage, stdout);
      return 0;
    }
    if (options.version) {
      printf("hiberkit-resume %s\n", HIBERKIT_VERSION);
      return 0;
    }
    g_quiet = options.quiet;
    return Run(options);
  } catch (const UsageError& usage) {
    fprintf(stderr, "hiberkit-resume: %s\n\n%s", usage.what(), kUsage);
    return 2;
  } catch (const Failure& failure) {
    return Fail(failure);
  } catch (const std::exception& unexpected) {
    return Fail({"RESUME_FAILED", std::string("an unexpected error: ") + unexpected.what()});
  }
}
