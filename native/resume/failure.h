// The one refusal type of hiberkit-resume: a stable code from lib/errors.ts (HiberkitErrorCode)
// and a message that says what happened and what to do next, as `hiberkit resume` words it. It is
// thrown wherever the TypeScript throws a HiberkitError; main() prints
// `hiberkit-resume: CODE: message` and decides, from the code alone (lib/resume.ts
// provesImageBad), whether the image is discarded or kept.
#pragma once

#include <string>

namespace hiberkit_resume {

struct Failure {
  std::string code;
  std::string message;
};

// Why a system call failed, for a message that already names the file: "no such file or
// directory (ENOENT)", as reasonOf() in lib/describe-error.ts words Node's errors.
std::string SystemReason(int errnum);

}  // namespace hiberkit_resume
