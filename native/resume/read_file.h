// Whole small files (the config, the kernel command line, key files, sysfs attributes), read the
// same way by every part of hiberkit-resume.
#pragma once

#include <string>

namespace hiberkit_resume {

// Reads all of `path` into `text`: 0, or the errno value of the failure.
int ReadWholeFile(const std::string& path, std::string* text);

}  // namespace hiberkit_resume
