// The baseline phase (`promote baseline ENV`): records what an environment runs now as its first
// release, so that a new installation starts from a known state. Without one, drift cannot be
// told from "nothing released yet", and the first promotion has no earlier release to name.
// It reads the environment's workloads and writes one annotated tag; nothing else changes.
#pragma once

#include <string>
#include <vector>

#include "adapters/git/manifest.h"
#include "core/error.h"

namespace promote::plan {
struct Plan;
}

namespace promote::phases {

struct Context;

/// What a baseline found and recorded.
struct BaselineResult {
  std::string tag;  ///< the tag written (or that a dry run would write)
  adapters::git::ReleaseManifest manifest;
  std::vector<std::string> missing;  ///< services with no workload in the environment
  bool written = false;              ///< false for a dry run
};

/// Whether the baseline only reads (a dry run) or also writes its tag.
enum class BaselineMode { kRecord, kDryRun };

/// Records the images `env` runs now as a release of `env`. Refused (kUsage, nothing written)
/// when there is no release repository, when it already holds a release of `env` (a baseline is
/// the first release, never a rewrite of history), or when no service has a workload there. A
/// workload that cannot be read is an Error: a baseline records only what was seen.
class Baseline {
 public:
  Baseline(const plan::Plan& plan, std::string env, std::string initiator, std::string run_id);

  Result<BaselineResult> Run(Context& context, BaselineMode mode) const;

 private:
  const plan::Plan& plan_;
  std::string env_;
  std::string initiator_;
  std::string run_id_;
};

}  // namespace promote::phases
