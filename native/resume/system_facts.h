// What hiberkit-resume reads of the system, as lib/native/system-info.ts reads it for `hiberkit
// resume`: whole small files, the identity an image must match (kernel release, machine id), and
// block devices named the ways `resume=` names them.
#pragma once

#include <string>

namespace hiberkit_resume {

// `text` without its leading and trailing blanks (JavaScript's trim(), for ASCII).
std::string Trimmed(const std::string& text);

// Reads all of `path` into `text`: 0, or the errno value of the failure.
int ReadWholeFile(const std::string& path, std::string* text);

// How lib/describe-error.ts reasonOf words a system error: "no such file or directory (ENOENT)".
std::string ErrnoReason(int error);

// uname -r.
std::string KernelRelease();

// machineId(): /etc/machine-id, else the DMI product UUID (lower case), else the host name.
std::string MachineId();

// resolveBlockDevice: `MAJ:MIN`, a hexadecimal device number, a path, or UUID=, LABEL=,
// PARTUUID=, PARTLABEL= (through /dev/disk/by-*; without udev, partition labels from sysfs and
// swap UUIDs and labels from the swap headers). Throws Failure BAD_DEVICE_SPEC,
// DEVICE_NOT_FOUND or NO_BLOCK_DEVICE.
std::string ResolveBlockDevice(const std::string& spec);

}  // namespace hiberkit_resume
