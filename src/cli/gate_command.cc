// Implementation details: each command opens the run's journal, reads its gate (engine/gate.h)
// and the plan the run was started with (its absolute path is in the Planned event). Writing an
// approval or a rejection holds the target's lock, so it cannot race a resume.
#include "cli/gate_command.h"

#include <spdlog/logger.h>

#include <filesystem>
#include <ostream>

#include "cli/promote_command.h"
#include "cli/wiring.h"
#include "core/redactor.h"
#include "core/time_format.h"
#include "engine/gate.h"
#include "engine/journal.h"
#include "engine/lock.h"
#include "engine/promotion.h"
#include "engine/states.h"
#include "plan/loader.h"
#include "plan/plan.h"
#include "report/run_reports.h"

namespace promote::cli {
namespace {

namespace fs = std::filesystem;

/// A run's folder, journal, gate and plan, opened together.
struct WaitingRun {
  fs::path dir;
  engine::Journal journal;
  engine::GateState gate;
  plan::Plan plan;
};

Result<WaitingRun> OpenRun(const GlobalOptions& options, const std::string& run_id,
                           std::shared_ptr<Redactor> redactor) {
  const fs::path dir = fs::path(options.state_dir) / "runs" / run_id;
  if (run_id.empty() || !fs::exists(dir / engine::Journal::kFileName)) {
    return Error{ErrorKind::kUsage, "no run '" + run_id + "'", dir.string(),
                 "name a run folder under " + options.state_dir + "/runs (see `promote status`)"};
  }
  auto journal = engine::Journal::Open(dir, redactor);
  if (!journal) return UnreadableJournal(std::move(journal).error());
  auto gate = engine::ReadGate(*journal);
  if (!gate) return UnreadableJournal(std::move(gate).error());
  // The plan the run started with: where it was, or where --plan says it is now (a CI job with
  // another checkout path), and byte for byte the same plan: a changed plan could loosen the
  // very gate being passed, or change how a half-done run is validated.
  const std::string file = options.plan.empty() ? gate->plan_file : options.plan;
  auto plan = plan::LoadPlan(file);
  if (!plan) return std::move(plan).error().WithContext("the run's plan");
  const bool recorded = !gate->plan_hash.empty();  // journals of older versions have no hash
  if ((recorded || !options.plan.empty()) && plan->content_hash != gate->plan_hash) {
    return Error{ErrorKind::kUsage,
                 file + " is not the plan run " + run_id + " started with (" + gate->plan_file +
                     ", since changed or replaced)",
                 file,
                 "put that plan back unchanged (a copy at another path is fine with --plan), or "
                 "start a new run with the new plan"};
  }
  if (!plan->FindEnvironment(gate->target)) {
    return Error{ErrorKind::kUsage,
                 "the run's target '" + gate->target + "' is no longer in its plan",
                 gate->plan_file, "restore the environment in the plan, or start a new run"};
  }
  RegisterPlanSecrets(*plan, *redactor);
  return WaitingRun{dir, std::move(*journal), std::move(*gate), std::move(*plan)};
}

/// Whether the run's target lock is still held in this run's name (an unreadable lock: no).
bool LockStillNames(const GlobalOptions& options, const WaitingRun& run, const std::string& run_id,
                    std::shared_ptr<const Redactor> redactor) {
  auto holder = InspectRunLockOf(options, run.plan, run.gate.target, std::move(redactor));
  return holder && *holder && (*holder)->run_id == run_id;
}

}  // namespace

Result<CommandOutcome> RunApproveCommand(const GlobalOptions& options, const std::string& run_id,
                                         const std::string& who, std::shared_ptr<Redactor> redactor,
                                         spdlog::logger& logger, std::ostream& out) {
  auto run = OpenRun(options, run_id, redactor);
  if (!run) return std::move(run).error();
  const std::string approver = who.empty() ? CurrentIdentity() : who;
  const plan::ApprovalGate& gate = run->plan.FindEnvironment(run->gate.target)->approval;
  if (auto ok = engine::CheckApprover(gate, run->gate, approver); !ok) {
    return std::move(ok).error();
  }
  auto lock = TakeRunLock(options, run->plan, run->gate.target, run_id, redactor);
  if (!lock) return std::move(lock).error();
  if (auto ok = engine::RecordApproval(run->journal, run->gate, approver); !ok) {
    return std::move(ok).error();
  }
  const int have = static_cast<int>(run->gate.approvers.size()) + 1;
  logger.info("run {}: approved by {} ({} of {})", run_id, approver, have, gate.count);
  std::string text = "Run " + run_id + ": approved by " + approver + " (" + std::to_string(have) +
                     " of " + std::to_string(gate.count) + " needed) for plan hash " +
                     run->gate.diff_hash + "\n";
  if (have >= gate.count) {
    text += "  next: promote --state-dir " + options.state_dir + " resume " + run_id + "\n";
    out << redactor->Redact(text);
    return CommandOutcome{ExitCode::kOk};
  }
  out << redactor->Redact(text);
  return CommandOutcome{ExitCode::kAwaitingApproval};
}

Result<CommandOutcome> RunRejectCommand(const GlobalOptions& options, const std::string& run_id,
                                        const std::string& who, const std::string& reason,
                                        std::shared_ptr<Redactor> redactor, std::ostream& out) {
  auto run = OpenRun(options, run_id, redactor);
  if (!run) return std::move(run).error();
  auto lock = TakeRunLock(options, run->plan, run->gate.target, run_id, redactor);
  if (!lock) return std::move(lock).error();
  const std::string by = who.empty() ? CurrentIdentity() : who;
  if (auto ok = engine::RecordRejection(run->journal, run->gate, by, reason); !ok) {
    return std::move(ok).error();
  }
  out << redactor->Redact("Run " + run_id + ": Rejected by " + by + ": " + reason + "\n");
  return CommandOutcome{ExitCode::kOk};
}

Result<CommandOutcome> RunResumeCommand(const GlobalOptions& options, const std::string& run_id,
                                        std::shared_ptr<Redactor> redactor,
                                        std::shared_ptr<spdlog::logger> logger, std::ostream& out) {
  auto run = OpenRun(options, run_id, redactor);
  if (!run) return std::move(run).error();
  const plan::ApprovalGate& gate = run->plan.FindEnvironment(run->gate.target)->approval;
  const bool at_gate = run->gate.state == "AwaitingApproval";
  // An ended run is refused before its target's lock is taken: nothing to do, nothing written.
  // Unless the lock still names it: killed right after journaling its end, its process never
  // answered nor let go, and the engine's resume reports that end and releases the lock.
  if (const auto state = engine::StateFromName(run->gate.state);
      state && engine::IsTerminal(*state) && !LockStillNames(options, *run, run_id, redactor)) {
    return Error{ErrorKind::kUsage, "run " + run_id + " is " + run->gate.state + ": it has ended",
                 run->dir.string(), "see `promote status " + run_id + "`"};
  }
  if (at_gate && static_cast<int>(run->gate.approvers.size()) < gate.count) {
    out << redactor->Redact("Run " + run_id + ": still waiting for approval (" +
                            std::to_string(run->gate.approvers.size()) + " of " +
                            std::to_string(gate.count) + ")\n");
    return CommandOutcome{ExitCode::kAwaitingApproval};
  }
  auto wiring = Wiring::Create(WiringOptionsFrom(options), run->plan, redactor, logger);
  if (!wiring) return std::move(wiring).error();

  engine::PromotionOptions resume;
  // The journaled plan carries the first life's --force; a flag given now may add to it.
  resume.request =
      RequestFrom(options, run->plan, run->gate.source, run->gate.target, run->gate.restore);
  resume.run_id = run_id;
  resume.state_dir = options.state_dir;
  resume.run_dir = run->dir;
  resume.report_dir = ReportDirFor(options, run->dir);
  resume.initiator = run->gate.initiator;
  resume.redactor = redactor;
  report::RunReports reports(resume.report_dir, *redactor, *logger);
  // Only this read of the journal happens here; the engine opens it again to append.
  auto result = [&] {
    if (!at_gate) {
      return engine::Promotion(run->plan, resume, &reports).Continue((*wiring)->context());
    }
    logger->info("run {}: resuming {} → {}, approved by {}", run_id, resume.request.source,
                 resume.request.target, run->gate.approvers.front());
    return engine::Promotion(run->plan, resume, &reports)
        .Resume((*wiring)->context(), run->gate.approvers, run->gate.diff_hash);
  }();
  if (!result) return std::move(result).error();
  return PrintRun(options, resume, *result, *redactor, out);
}

}  // namespace promote::cli
