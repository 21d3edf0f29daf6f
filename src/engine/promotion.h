// A promotion run: audit → [approval gate] → tag → (deploy → validate) per wave → after-audit →
// promoted, or rollback of every service the run touched → revalidate → rolled back. The audit
// and Prepare (engine/run_plan.h) decide what the run does; the run journals that plan and
// performs it through the state machine of engine/states.h, every transition and side effect
// journaled before it happens. What people read (reports) is handed to a RunObserver.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/git/manifest.h"
#include "adapters/git/release_repo.h"
#include "core/error.h"
#include "engine/run_plan.h"
#include "engine/states.h"
#include "engine/timeline.h"
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

class Journal;
class RunLock;

/// What a person asked for: the part of a run's options that the audit and Prepare decide on.
/// `promote audit`, the dry run and the run all go through AuditAndPrepare with one of these.
struct RunRequest {
  std::string source;  ///< an environment, or for a restore the release tag
  std::string target;
  /// `promote rollback TARGET --to TAG`: the source is the tag's manifest, not an environment.
  bool restore = false;
  std::optional<std::string> force_reason;     ///< --force --reason: deploy bad images anyway
  std::optional<std::string> override_freeze;  ///< --override-freeze --reason
  /// The window an override was given for, when a resumed run carries its first life's over.
  std::optional<std::string> override_window;
  /// Program and global flags of the invocation: every suggested command starts with them.
  std::vector<std::string> command_prefix = {"promote"};
};

/// What an audit found and the run it prepares from it.
struct Prepared {
  phases::AuditReport audit;
  RunPlan plan;
};

/// The audit `request` asks for (of a restore: of the tag's manifest against the target) and
/// the run Prepare makes of it. Read-only. kUsage when a restore's tag is not a release of the
/// target.
Result<Prepared> AuditAndPrepare(const plan::Plan& plan, const RunRequest& request,
                                 phases::Context& context);

/// What one run is asked to do.
struct PromotionOptions {
  RunRequest request;
  std::string run_id;
  std::filesystem::path state_dir;   ///< runs/<id>/ and locks/ live here
  std::filesystem::path run_dir;     ///< the journal
  std::filesystem::path report_dir;  ///< the reports (--report-dir; default: run_dir)
  std::string initiator;
  std::shared_ptr<const Redactor> redactor;  ///< the journal's: only names of secrets on disk
};

/// Something a person should do after a run, with the command when there is one.
struct NextStep {
  std::string why;      ///< "restore api by hand", "see what happened"
  std::string command;  ///< a shell line carrying the invocation's global flags; may be empty
};

/// Why a run turned back, whose fault it was, and the images that were judged.
struct RunFailure {
  std::string reason;
  phases::Blame blame = phases::Blame::kInfrastructure;
  std::vector<adapters::git::JudgedImage> images;  ///< kRelease: the images that failed
};

/// How a run ended, with what a person (or the report) needs to know.
struct PromotionResult {
  std::string run_id;
  RunState state = RunState::kPlanned;
  std::string summary;  ///< one paragraph: what happened and why
  std::string tag;      ///< the release tag, when one was created or found
  RunPlan plan;         ///< what the run set out to do
  phases::AuditReport audit;
  std::vector<phases::ServiceRollout> rollouts;  ///< every service deployed, in order
  std::vector<phases::ServiceRollout> restores;  ///< every service restored, on rollback
  /// Each wave's validation in order, then the re-validation after a rollback (when any).
  std::vector<std::pair<std::string, phases::ValidationResult>> validations;
  std::optional<RunFailure> failure;  ///< why it turned back or failed to start
  /// What was recorded of the release at the end: "marked bad (api …)", "recorded unverified",
  /// "could NOT be recorded: …"; empty when nothing was to be recorded.
  std::string release_record;
  /// What the release's note now says, when this run wrote one (unset: nothing was written).
  std::optional<adapters::git::ReleaseStatus> recorded;
  std::vector<NextStep> next_steps;
  /// "window 'weekend' (…) overridden by ana: INC-4711 …", when the run went through a freeze.
  std::string freeze_override;
  /// "--force by ana: …", when bad images were deployed anyway (which ones: plan.forced).
  std::string forced;
  /// The run as its journal recorded it, step by step, for the report's timeline.
  std::vector<TimelineStep> timeline;
};

/// Receives what a run produces for people, so that the engine never renders reports itself:
/// the cli writes them (report/), tests may just keep them.
class RunObserver {
 public:
  virtual ~RunObserver();
  /// An audit of the run ended; `stage` is "audit", "audit-resume" or "after" (the target as it
  /// stands after a promotion). `plan` is the run prepared from it, when one was.
  virtual void Audited(const phases::AuditReport& audit, const RunPlan* plan,
                       const std::string& stage) = 0;
  /// The run stopped: at its end, or at the gate.
  virtual void Ended(const PromotionResult& result) = 0;
};

/// The manifest of release `tag`, which must be a release into `target`: what a restore run
/// (`promote rollback TARGET --to TAG`) deploys. kUsage errors say where to find the tags.
Result<adapters::git::ReleaseManifest> ReleaseToRestore(const phases::Context& context,
                                                        const std::string& tag,
                                                        const std::string& target);

/// Runs one promotion of `options.request.source` into `options.request.target`.
class Promotion {
 public:
  /// `observer` (may be null) is told of every audit and of the end.
  Promotion(const plan::Plan& plan, PromotionOptions options, RunObserver* observer = nullptr);

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
  /// gate: reads its journal, audits again, and goes on from the last step it finished, with
  /// the plan its journal holds. Each step checks the world first (tag there? image set?
  /// rollout done?), so nothing is repeated blindly; a run that was rolling back finishes it.
  Result<PromotionResult> Continue(phases::Context& context) const;

 private:
  /// Run, once the target is locked and the journal created.
  Result<PromotionResult> RunLocked(phases::Context& context,
                                    std::chrono::system_clock::time_point started, RunLock& lock,
                                    Journal& journal) const;
  /// What Resume and Continue do once the target is locked (started: when they began).
  using LockedBody =
      std::function<Result<PromotionResult>(std::chrono::system_clock::time_point, RunLock&)>;
  /// Locks the target, then runs `body` guarded against unreadable journal fields, keeping
  /// the lock when it stops for want of a journal.
  Result<PromotionResult> Locked(phases::Context& context, const LockedBody& body) const;
  /// `ended`, unless it stopped for want of a journal (ErrorKind::kInterrupted): then the lock
  /// is kept for `promote resume` and the error says how to go on.
  Result<PromotionResult> KeptIfInterrupted(Result<PromotionResult> ended, RunLock& lock) const;

  const plan::Plan& plan_;
  PromotionOptions options_;
  RunObserver* observer_;
};

}  // namespace promote::engine
