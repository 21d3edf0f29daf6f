// Hooks: the operator's executables that promote calls at phase boundaries (hooks/README.md is
// the user documentation). A HookRunner finds the hooks of one point, runs each through the one
// process adapter (argv only, never a shell) with the run context as JSON on stdin and a few
// PROMOTE_* variables, and returns what happened, output redacted and cut, ready for the journal.
//
// Where hooks come from, in this order, each path run at most once:
//  1. `<dir>/<point>`: one executable named after the point (`hooks/pre-deploy`);
//  2. `<dir>/<point>.d/*`: executables run in lexical order (like run-parts); names starting with
//     `.`, ending in `~`, `.sample` or `.disabled` are skipped silently;
//  3. HookOptions::listed: paths named explicitly (the plan's `hooks:` map), relative to base_dir.
//
// Edge cases, stated once:
//  - No hook for a point is not an error: the report is empty and Passed().
//  - A file with a hook name that is not executable (or a broken symlink, or a listed path that
//    does not exist) is not run: it becomes a warning in the report. Warnings never fail a point.
//  - A hook that cannot be started at all (bad interpreter line) is a failed execution with
//    `launch_error` set, not an Error: the run engine decides, like for a non-zero exit.
//  - At a `pre-*` point the first failing hook stops the others (the run is stopping anyway); at
//    every other point all hooks run, so one broken notifier does not silence the next one.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/process/process.h"
#include "core/redactor.h"

namespace promote::adapters::hooks {

/// The phase boundaries a hook can be attached to.
enum class HookPoint {
  kPreAudit,
  kPostAudit,
  kPreDeploy,
  kPostDeploy,
  kPostValidate,
  kOnRollback,
  kOnSuccess,
  kOnFailure,
};

/// Every point, in the order a run meets them.
const std::vector<HookPoint>& AllHookPoints();
/// "pre-audit", "post-audit", "pre-deploy", … (the hook's file name).
std::string_view HookPointName(HookPoint point);
/// The point named `name`, or nothing for an unknown name.
std::optional<HookPoint> ParseHookPoint(std::string_view name);
/// Whether a failing hook at `point` means "stop the run" (the `pre-*` points).
bool IsGate(HookPoint point);

/// Whether the run changes anything (PROMOTE_DRY_RUN and run.dryRun tell the hook).
enum class RunMode { kLive, kDryRun };

/// The facts about the run every hook gets, both as PROMOTE_* variables and as `run` on stdin.
struct HookRun {
  std::string id;      ///< PROMOTE_RUN_ID
  std::string source;  ///< PROMOTE_SOURCE: the environment promoted from ("dev")
  std::string target;  ///< PROMOTE_TARGET: the environment promoted to ("prod")
  std::string state;   ///< PROMOTE_STATE: the run's state when the hook is called
  std::optional<std::filesystem::path> run_dir;  ///< PROMOTE_RUN_DIR, when the run has one
  std::optional<std::string> tag;                ///< PROMOTE_TAG, once the release tag is known
  RunMode mode = RunMode::kLive;                 ///< PROMOTE_DRY_RUN=1 for kDryRun
};

/// Where hooks are and how they run; defaults suit a run from the command line.
struct HookOptions {
  /// The hooks folder (default: `hooks/` next to the plan file). A missing folder = no hooks.
  std::filesystem::path dir;
  /// Extra hooks named explicitly per point (the plan's `hooks:` map, keyed "pre-deploy", …).
  std::map<std::string, std::vector<std::string>> listed;
  /// What relative `listed` paths are resolved against (the plan's folder).
  std::filesystem::path base_dir;
  /// Each hook's time budget; then its whole process group is terminated (SIGTERM, then SIGKILL
  /// after kill_grace).
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds kill_grace{2000};
  /// How much of each output stream (the last bytes, after redaction) a result keeps.
  std::size_t output_limit = 8192;
  /// Variables added to every hook's environment (on top of promote's own, PROMOTE_* win).
  std::map<std::string, std::string> env;
  /// Variables (from `env` or promote's environment) whose values are secrets: a hook that prints
  /// one has it replaced by `<redacted:NAME>` in its result.
  std::vector<std::string> secret_env = {"PROMOTE_WEBHOOK_URL"};
};

/// One hook that was run (or could not be started).
struct HookExecution {
  std::filesystem::path path;  ///< the executable, as found
  ExitStatus status = ExitStatus::kExited;
  int exit_code = -1;  ///< meaningful when status is kExited
  int signal = 0;      ///< the ending signal (kSignaled) or the one that killed it (kTimedOut)
  std::chrono::milliseconds elapsed{0};
  std::string out;         ///< stdout: redacted, valid UTF-8, at most output_limit bytes (the end)
  std::string err;         ///< stderr: the same
  bool truncated = false;  ///< out or err lost its beginning to the limit
  std::optional<std::string> launch_error;  ///< set when the hook could not be started at all

  /// Started, exited with code 0.
  bool ok() const { return !launch_error && status == ExitStatus::kExited && exit_code == 0; }
  bool timed_out() const { return status == ExitStatus::kTimedOut; }
  /// "exited with code 1", "timed out after 1000 ms (process group killed)", "cannot be run: …".
  std::string Describe() const;
  /// For the journal: {"path","status","exitCode","signal","timedOut","elapsedMs","stdout",
  /// "stderr","truncated","launchError"?}.
  nlohmann::json ToJson() const;
};

/// Everything that happened at one point: the hooks run, in order, and the files not run.
struct HookReport {
  HookPoint point = HookPoint::kPreAudit;
  std::vector<HookExecution> executions;
  std::vector<std::string> warnings;  ///< e.g. "hooks/pre-deploy is not executable: not run"

  /// No hook failed (also true when none ran).
  bool Passed() const;
  /// A `pre-*` hook failed: the engine should stop the run before any change.
  bool StopsRun() const { return IsGate(point) && !Passed(); }
  /// The first failed execution, or null.
  const HookExecution* FirstFailure() const;
  /// One line for a person: "pre-deploy hook hooks/require-change-ticket exited with code 1:
  /// <its last stderr line>"; "" when Passed().
  std::string Summary() const;
  /// For the journal: {"hook","passed","stopsRun","executions":[…],"warnings":[…]}.
  nlohmann::json ToJson() const;
};

/// The hooks found for one point, in run order, and the files that will not be run.
struct FoundHooks {
  std::vector<std::filesystem::path> executables;
  std::vector<std::string> warnings;
  /// Hooks the plan lists that cannot be run (missing, not executable): at a `pre-*` point they
  /// fail the gate, since the plan demands them (a lost `chmod +x` must not skip a check).
  std::vector<std::pair<std::filesystem::path, std::string>> unrunnable_listed;
};

/// Finds and runs the hooks of a point. Holds no mutable state: Run may be called from several
/// threads at once (if the ProcessRunner allows it, as SystemProcessRunner does).
class HookRunner {
 public:
  /// The API version stamped on every stdin document.
  static constexpr const char* kApiVersion = "promote/hook/v1";

  /// `processes` must outlive the runner; `redactor` is copied (and learns options.secret_env).
  HookRunner(ProcessRunner& processes, const Redactor& redactor, HookOptions options);

  /// The executables that would run at `point`, in order, plus warnings for files not run.
  /// Reads the file system only (a dry run can show it).
  FoundHooks Find(HookPoint point) const;

  /// Runs the hooks of `point`. Each gets on stdin the document built by Envelope and the
  /// PROMOTE_* variables built by Environment.
  HookReport Run(HookPoint point, const HookRun& run, const nlohmann::json& context) const;

  /// The stdin document: `context`'s members (when it is an object; else `context` under the key
  /// "context"), then "apiVersion", "hook" and "run" set over them.
  static nlohmann::json Envelope(HookPoint point, const HookRun& run,
                                 const nlohmann::json& context);

  /// The variables a hook gets on top of promote's environment: options.env, then PROMOTE_HOOK,
  /// PROMOTE_RUN_ID, PROMOTE_SOURCE, PROMOTE_TARGET, PROMOTE_STATE, PROMOTE_DRY_RUN ("1"/"0"),
  /// PROMOTE_RUN_DIR and PROMOTE_TAG when known (an inherited value of those two is removed when
  /// unknown, so a hook never sees a stale one), PROMOTE_HOOK_API.
  std::map<std::string, std::string> Environment(HookPoint point, const HookRun& run) const;

 private:
  HookExecution RunOne(const std::filesystem::path& path, const std::string& input,
                       const std::map<std::string, std::string>& env) const;

  ProcessRunner& processes_;
  Redactor redactor_;
  HookOptions options_;
};

}  // namespace promote::adapters::hooks
