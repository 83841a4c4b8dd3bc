// Where hiberkit-resume looks for the image, highest first: its flags; the kernel command line
// (`noresume` → nowhere, else `resume=` and `resume_offset=`, read by the kernel's rules as
// lib/kernel-cmdline.ts reads them); the config file. lib/target.ts resumeTarget decides the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "settings.h"

namespace hiberkit_resume {

// parseCommandLine: the words of a command line as the kernel splits them.
std::vector<std::string> ParseCommandLine(const std::string& text);

struct ResumeLocation {
  std::string deviceSpec;  // as given: a path, UUID=…, MAJ:MIN (system_facts.h ResolveBlockDevice)
  uint64_t resumePage;
};

// `noresume` on the kernel command line (before a `--`).
bool ResumeDisabled(const std::vector<std::string>& commandLine);

// Nothing when no layer names a device. A flag naming one wins over `noresume` (ResumeDisabled),
// which the caller checks first otherwise.
std::optional<ResumeLocation> FindResumeLocation(const Settings& flags, const std::vector<std::string>& commandLine,
                                                 const Settings& config);

}  // namespace hiberkit_resume
