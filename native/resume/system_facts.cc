// What hiberkit-resume reads of the system (system_facts.h).
#include "system_facts.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include "../image_layout.h"
#include "../retry_eintr.h"
#include "failure.h"

namespace hiberkit_resume {

using hiberkit::RetryOnEintr;
namespace {

// The file's text, or "" when it cannot be read (absent kernel feature, not root).
std::string TextOf(const std::string& path) {
  std::string text;
  return ReadWholeFile(path, &text) == 0 ? text : "";
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// KEY=value lines of a sysfs uevent file.
std::map<std::string, std::string> Uevent(const std::string& path) {
  std::map<std::string, std::string> fields;
  const std::string text = TextOf(path);
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    const size_t eq = line.find('=');
    if (eq != std::string::npos && eq > 0) fields[line.substr(0, eq)] = Trimmed(line.substr(eq + 1));
    at = end + 1;
  }
  return fields;
}

// /dev/NAME of a block device number, from the kernel's own name in sysfs.
std::string NodeOfDevice(unsigned long major, unsigned long minor) {
  const std::string numbers = std::to_string(major) + ":" + std::to_string(minor);
  const auto fields = Uevent("/sys/dev/block/" + numbers + "/uevent");
  const auto name = fields.find("DEVNAME");
  if (name == fields.end()) {
    throw Failure{"NO_BLOCK_DEVICE", "device " + numbers +
                                         " is not a block device this kernel knows (a swap file on btrfs or another "
                                         "filesystem without a single block device needs the resume device given explicitly)"};
  }
  return "/dev/" + name->second;
}

// The UUID (canonical lower case) and label of the swap header at the start of `device`, if it
// has one (lib/swap-header.ts swapIdentity).
bool SwapIdentity(const std::string& device, std::string* uuid, std::string* label) {
  const int fd = RetryOnEintr([&] { return open(device.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return false;
  uint8_t page[hiberkit::kPageSize];
  const ssize_t got = RetryOnEintr([&] { return pread(fd, page, sizeof(page), 0); });
  close(fd);
  if (got != static_cast<ssize_t>(sizeof(page))) return false;
  const uint8_t* signature = page + hiberkit::kSignatureOffset;
  if (memcmp(signature, hiberkit::kSwapSignature, hiberkit::kSignatureBytes) != 0 &&
      memcmp(signature, hiberkit::kLegacySwapSignature, hiberkit::kSignatureBytes) != 0) {
    return false;
  }
  char text[37];
  const uint8_t* u = page + 1036;  // the swap header's UUID, then its 16-byte label
  snprintf(text, sizeof(text), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
           u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  *uuid = text;
  *label = std::string(reinterpret_cast<const char*>(page + 1052), strnlen(reinterpret_cast<const char*>(page + 1052), 16));
  return true;
}

std::string NodeByIdentifier(const std::string& kind, const std::string& value) {
  static const std::map<std::string, std::string> kByLinkDirs = {
      {"UUID", "by-uuid"}, {"LABEL", "by-label"}, {"PARTUUID", "by-partuuid"}, {"PARTLABEL", "by-partlabel"}};
  const std::string link = "/dev/disk/" + kByLinkDirs.at(kind) + "/" + value;
  char resolved[PATH_MAX];
  if (Exists(link) && realpath(link.c_str(), resolved) != nullptr) return resolved;
  // No udev (an early initramfs): partition labels from sysfs, swap UUIDs and labels from the headers.
  if (DIR* dir = opendir("/sys/class/block")) {
    std::string found;
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (kind == "PARTLABEL") {
        const auto fields = Uevent("/sys/class/block/" + name + "/uevent");
        const auto partname = fields.find("PARTNAME");
        if (partname != fields.end() && partname->second == value) found = "/dev/" + name;
      } else if (kind == "UUID" || kind == "LABEL") {
        std::string uuid, label;
        if (SwapIdentity("/dev/" + name, &uuid, &label)) {
          std::string lower = value;
          for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
          if (kind == "UUID" ? uuid == lower : label == value) found = "/dev/" + name;
        }
      }
      if (!found.empty()) break;
    }
    closedir(dir);
    if (!found.empty()) return found;
  }
  throw Failure{"DEVICE_NOT_FOUND", "no block device has " + kind + "=" + value};
}

}  // namespace

std::string Trimmed(const std::string& text) {
  const char* blanks = " \t\r\n\v\f";
  const size_t first = text.find_first_not_of(blanks);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

int ReadWholeFile(const std::string& path, std::string* text) {
  const int fd = RetryOnEintr([&] { return open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return errno;
  text->clear();
  char buffer[4096];
  for (;;) {
    const ssize_t got = RetryOnEintr([&] { return read(fd, buffer, sizeof(buffer)); });
    if (got < 0) {
      const int error = errno;
      close(fd);
      return error;
    }
    if (got == 0) break;
    text->append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return 0;
}

std::string ErrnoReason(int error) {
  std::string description = strerror(error);
  if (!description.empty()) description[0] = static_cast<char>(tolower(static_cast<unsigned char>(description[0])));
  const char* name = strerrorname_np(error);
  return description + " (" + (name != nullptr ? name : "E" + std::to_string(error)) + ")";
}

std::string KernelRelease() {
  utsname names;
  return uname(&names) == 0 ? names.release : "";
}

std::string MachineId() {
  const std::string machineId = Trimmed(TextOf("/etc/machine-id"));
  if (!machineId.empty()) return machineId;
  std::string productUuid = Trimmed(TextOf("/sys/class/dmi/id/product_uuid"));
  for (char& c : productUuid) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (!productUuid.empty()) return productUuid;
  char host[HOST_NAME_MAX + 1] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

std::string ResolveBlockDevice(const std::string& spec) {
  static const std::regex kMajorMinor(R"(^\s*(\d+):(\d+)\s*$)");
  static const std::regex kHexNumber("^[0-9a-fA-F]+$");
  static const std::regex kIdentifier("^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$");
  std::smatch match;
  if (std::regex_match(spec, match, kMajorMinor)) return NodeOfDevice(std::stoul(match[1]), std::stoul(match[2]));
  if (std::regex_match(spec, kHexNumber) && spec.size() <= 8) {
    // The kernel's encoding of a device number (lib/ioctls.ts decodeDev).
    const unsigned long dev = std::stoul(spec, nullptr, 16);
    return NodeOfDevice((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
  }
  if (std::regex_match(spec, match, kIdentifier)) return NodeByIdentifier(match[1], match[2]);
  if (!spec.empty() && spec[0] == '/') {
    if (!Exists(spec)) throw Failure{"DEVICE_NOT_FOUND", spec + " does not exist"};
    return spec;
  }
  throw Failure{"BAD_DEVICE_SPEC", "cannot read \"" + spec +
                                       "\" as a device (expected MAJ:MIN, a path, UUID=, LABEL=, PARTUUID= or PARTLABEL=)"};
}

}  // namespace hiberkit_resume
