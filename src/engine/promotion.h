// A promotion run: audit → [approval gate] → tag → (deploy → validate) per wave → promoted, or
// rollback of every service the run touched → revalidate → rolled back. Drives the phases
// through the state machine of engine/states.h; every transition and side effect is journaled
// before it happens, in the run's folder beside its reports.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/git/manifest.h"
#include "core/error.h"
#include "engine/states.h"
#include "phases/audit.h"
#include "phases/deploy.h"
#include "phases/validate.h"

namespace promote {
class Redactor;
}

namespace promote::plan {
struct Plan;
}

namespace promote::phases {
struct Context;
}

namespace promote::engine {

/// What one run is asked to do.
struct PromotionOptions {
  std::string source;
  std::string target;
  std::string run_id;
  std::filesystem::path state_dir;  ///< runs/<id>/ and locks/ live here
  std::filesystem::path run_dir;    ///< journal and reports
  std::string initiator;
  bool force = false;  ///< promote a release marked bad anyway
  /// `promote rollback TARGET --to TAG`: the source is the release tag `source` (its manifest),
  /// not an environment; no new tag is made, the run restores that release.
  bool restore = false;
  /// --override-freeze --reason: promote inside a freeze window; the reason is journaled.
  std::optional<std::string> override_freeze;
  std::shared_ptr<const Redactor> redactor;  ///< the journal's: only names of secrets on disk
  std::chrono::milliseconds rollback_budget{std::chrono::minutes(5)};
};

/// How a run ended, with what a person (or the report) needs to know.
struct PromotionResult {
  RunState state = RunState::kPlanned;
  std::string summary;  ///< one paragraph: what happened and why
  std::string tag;      ///< the release tag, when one was created or found
  phases::AuditReport audit;
  std::vector<phases::ServiceRollout> rollouts;  ///< every service deployed, in order
  std::vector<phases::ServiceRollout> restores;  ///< every service restored, on rollback
  /// Each wave's validation in order, then the re-validation after a rollback (when any).
  std::vector<std::pair<std::string, phases::ValidationResult>> validations;
  std::vector<std::string> next_steps;  ///< commands for a person, on RollbackFailed
  /// "window 'weekend' (…) overridden by ana: INC-4711 …", when the run went through a freeze.
  std::string freeze_override;
};

/// The manifest of release `tag`, which must be a release into `target`: what a restore run
/// (`promote rollback TARGET --to TAG`) deploys. kUsage errors say where to find the tags.
Result<adapters::git::ReleaseManifest> ReleaseToRestore(const phases::Context& context,
                                                        const std::string& tag,
                                                        const std::string& target);

/// The promotion diff as journaled (service, action, from, to): what an approval is for.
nlohmann::json DiffJson(const phases::AuditReport& audit);

/// A stable hash of a diff (16 hex digits): the "plan hash" an approval names.
std::string DiffHash(const nlohmann::json& diff);

/// Runs one promotion of `options.source` into `options.target`.
class Promotion {
 public:
  Promotion(const plan::Plan& plan, PromotionOptions options);

  /// An Error means the run could not start or its journal could not be written (nothing was
  /// changed without a journal line first); every other ending is a PromotionResult.
  Result<PromotionResult> Run(phases::Context& context) const;

  /// Continues the run of options.run_id that waits at the gate and has been approved by
  /// `approvers` for the change whose hash is `approved_hash`: a fresh audit must still want
  /// to deploy exactly that, else the run is Refused, naming what changed.
  Result<PromotionResult> Resume(phases::Context& context,
                                 const std::vector<std::string>& approvers,
                                 const std::string& approved_hash) const;

  /// Continues the run of options.run_id that was stopped (killed, crashed) anywhere but at the
  /// gate: reads its journal, audits again, and goes on from the last step it finished. Each
  /// step checks the world first (tag there? image set? rollout done?), so nothing is repeated
  /// blindly; a run that was rolling back finishes its rollback.
  Result<PromotionResult> Continue(phases::Context& context) const;

 private:
  const plan::Plan& plan_;
  PromotionOptions options_;
};

}  // namespace promote::engine
