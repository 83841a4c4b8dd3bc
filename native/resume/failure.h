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

}  // namespace hiberkit_resume
