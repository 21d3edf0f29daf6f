// Implementation details: CLI11 builds the command tree; each command is a small function that
// returns Result<CommandOutcome>. Errors travel up as values and are printed and mapped to an exit
// code in exactly one place, Main() below.
#include "cli/cli.h"

#include <spdlog/logger.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/audit_command.h"
#include "cli/baseline_command.h"
#include "cli/exit_code.h"
#include "cli/gate_command.h"
#include "cli/history_command.h"
#include "cli/options.h"
#include "cli/promote_command.h"
#include "cli/status_command.h"
#include "cli/wiring.h"
#include "core/log.h"
#include "core/redactor.h"
#include "core/version.h"
#include "plan/loader.h"
#include "plan/plan.h"
#include "report/plan_summary.h"

namespace promote::cli {
namespace {

namespace fs = std::filesystem;

// `text` with every run of more than 200 non-space characters cut to its first 200 and "…".
std::string CutLongWords(const std::string& text) {
  constexpr std::size_t kLongest = 200;
  std::string out;
  std::size_t run = 0;
  for (char c : text) {
    run = std::isspace(static_cast<unsigned char>(c)) ? 0 : run + 1;
    if (run <= kLongest) {
      out += c;
    } else if (run == kLongest + 1) {
      out += "…";
    }
  }
  return out;
}

Error UsageError(std::string what, std::string fix) {
  return Error{ErrorKind::kUsage, std::move(what), "", std::move(fix)};
}

// A run id as promote makes them (20261125T110312Z-dev-prod-3fa9): letters, digits, '.', '_'
// and '-', not starting with '.', at most 128 characters. Anything else could name a folder
// outside --state-dir/runs (`../x`) or is a mistake a message should say plainly.
Status CheckRunId(const std::string& id) {
  constexpr std::size_t kLongest = 128;
  const bool valid = !id.empty() && id.size() <= kLongest && id[0] != '.' &&
                     id.find_first_not_of(
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789._-") == std::string::npos;
  if (valid) return Done{};
  return UsageError("run id '" + id + "' is not a run id",
                    "name a run as `promote status` lists it, e.g. 20261125T110312Z-dev-prod-3fa9 "
                    "(letters, digits, '.', '_', '-')");
}

// A release tag as `rollback --to` takes it: a git tag name of printable characters, at most 255
// (git's own limit for a ref's component); a longer one is no release promote made, and would
// otherwise be logged whole before the repository says so.
Status CheckReleaseTag(const std::string& tag) {
  constexpr std::size_t kLongest = 255;
  bool printable = !tag.empty() && tag.size() <= kLongest;
  for (char c : tag) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) printable = false;
  }
  if (printable) return Done{};
  return UsageError("--to '" + tag + "' is not a release tag",
                    "name a release tag of the environment, as `promote history ENV` lists them");
}

// The path flags, checked before anything is read or written: a flag that points at nothing
// would otherwise surface later as a cluster, probe or report failure, or be quietly replaced
// by a default (an empty --kubectl meant "kubectl on PATH").
Status CheckPathFlags(const CLI::App& app, const GlobalOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::pair<const char*, const std::string*> given[] = {
      {"--plan", &options.plan},           {"--kubectl", &options.kubectl},
      {"--helm", &options.helm},           {"--kubeconfig", &options.kubeconfig},
      {"--endpoints", &options.endpoints}, {"--releases", &options.releases},
      {"--hooks", &options.hooks},         {"--report-dir", &options.report_dir}};
  for (const auto& [flag, value] : given) {
    if (app.count(flag) > 0 && value->empty()) {
      return UsageError(std::string(flag) + " is empty",
                        "give it a path, or leave the flag out for its default");
    }
  }
  // A bare name is looked up on PATH when it is run; a path must be an executable file.
  for (const auto& [flag, value] :
       {std::pair{"--kubectl", &options.kubectl}, std::pair{"--helm", &options.helm}}) {
    if (value->empty() || value->find('/') == std::string::npos) continue;
    if (!fs::exists(*value, ec)) {
      return UsageError(std::string(flag) + " " + *value + ": no such file",
                        "give the path of the binary, or leave the flag out to use $PROMOTE_" +
                            std::string(flag[2] == 'k' ? "KUBECTL" : "HELM") + " or PATH");
    }
    if (!fs::is_regular_file(*value, ec) || ::access(value->c_str(), X_OK) != 0) {
      return UsageError(std::string(flag) + " " + *value + ": not an executable file",
                        "give the path of the binary itself (chmod +x if it is one)");
    }
  }
  if (!options.kubeconfig.empty()) {
    if (!fs::exists(options.kubeconfig, ec)) {
      return UsageError("--kubeconfig " + options.kubeconfig + ": no such file",
                        "give the kubeconfig file of the clusters, or leave the flag out");
    }
    if (!fs::is_regular_file(options.kubeconfig, ec)) {
      return UsageError("--kubeconfig " + options.kubeconfig + ": not a file",
                        "give the kubeconfig file itself, not its folder");
    }
  }
  if (!options.releases.empty()) {
    const fs::path repo = options.releases;
    if (!fs::is_directory(repo, ec)) {
      return UsageError("--releases " + options.releases +
                            (fs::exists(repo, ec) ? ": not a folder" : ": no such folder"),
                        "give the release git repository (git init it first for a new one)");
    }
    // A work tree has .git; a bare repository has HEAD and objects/ of its own.
    if (!fs::exists(repo / ".git", ec) &&
        !(fs::is_regular_file(repo / "HEAD", ec) && fs::is_directory(repo / "objects", ec))) {
      return UsageError("--releases " + options.releases + ": not a git repository",
                        "give the release git repository, or `git init` this folder first");
    }
  }
  for (const auto& [flag, value] : {std::pair{"--state-dir", &options.state_dir},
                                    std::pair{"--report-dir", &options.report_dir}}) {
    if (!value->empty() && fs::exists(*value, ec) && !fs::is_directory(*value, ec)) {
      return UsageError(std::string(flag) + " " + *value + ": not a folder",
                        "give a folder (it is created when missing), not a file");
    }
  }
  return Done{};
}

Result<OutputFormat> ParseOutputFormat(const std::string& text) {
  if (text == "text") return OutputFormat::kText;
  if (text == "json") return OutputFormat::kJson;
  return UsageError("--output: expected 'text' or 'json', found '" + text + "'",
                    "use --output text (default) or --output json");
}

// The plan is --plan, else $PROMOTE_PLAN, else plans/promote.yaml, else the only plan in plans/.
Result<fs::path> ResolvePlanPath(const std::string& flag) {
  if (!flag.empty()) return fs::path(flag);
  if (const char* from_env = std::getenv("PROMOTE_PLAN"); from_env && *from_env) {
    return fs::path(from_env);
  }
  const fs::path conventional = "plans/promote.yaml";
  if (fs::exists(conventional)) return conventional;
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("plans", ec)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      candidates.push_back(entry.path());
    }
  }
  if (candidates.size() == 1) return candidates.front();
  return UsageError(candidates.empty() ? "no plan found: plans/promote.yaml does not exist"
                                       : "several plans in plans/ and none is plans/promote.yaml",
                    "name the plan with --plan FILE or the PROMOTE_PLAN environment variable");
}

// The one logger of this invocation: redacted, on stderr, as --log-level/--log-format ask.
Result<std::shared_ptr<spdlog::logger>> MakeCliLogger(const GlobalOptions& options,
                                                      std::shared_ptr<const Redactor> redactor) {
  LogOptions log;
  auto level = ParseLogLevel(options.log_level);
  if (!level) return std::move(level).error();
  auto format = ParseLogFormat(options.log_format);
  if (!format) return std::move(format).error();
  log.level = *level;
  log.format = *format;
  log.color = options.no_color || std::getenv("NO_COLOR") ? LogColor::kNever : LogColor::kAuto;
  return MakeLogger(log, std::move(redactor));
}

Result<plan::Plan> LoadPlanForRun(const fs::path& file, Redactor& redactor,
                                  spdlog::logger& logger) {
  auto plan = plan::LoadPlan(file);
  if (!plan) return std::move(plan).error();
  RegisterPlanSecrets(*plan, redactor);
  logger.debug("loaded plan '{}' from {}: {} services, {} environments", plan->name, file.string(),
               plan->services.size(), plan->environments.size());
  return plan;
}

Result<CommandOutcome> RunPlanCheck(const std::string& file, OutputFormat format,
                                    Redactor& redactor, spdlog::logger& logger, std::ostream& out) {
  auto plan = LoadPlanForRun(file, redactor, logger);
  if (!plan) return std::move(plan).error();
  if (format == OutputFormat::kJson) {
    out << report::PlanSummaryJson(*plan).dump(2) << "\n";
  } else {
    out << report::RenderPlanSummary(*plan);
  }
  return CommandOutcome{};
}

Status RequireEnvironment(const plan::Plan& plan, const std::string& name, const char* role) {
  if (plan.FindEnvironment(name)) return Done{};
  std::string known;
  for (const auto& [env_name, env] : plan.environments) {
    known += (known.empty() ? "" : ", ") + env_name;
  }
  return Error{ErrorKind::kUsage,
               std::string(role) + " environment '" + name + "' is not in the plan",
               plan.source_file, "use one of: " + known};
}

// Loads the plan named by the flags and checks that `env` is in it (as `role`).
Result<plan::Plan> LoadPlanWith(const GlobalOptions& options, const std::string& env,
                                const char* role, Redactor& redactor, spdlog::logger& logger) {
  auto path = ResolvePlanPath(options.plan);
  if (!path) return std::move(path).error();
  auto plan = LoadPlanForRun(*path, redactor, logger);
  if (!plan) return std::move(plan).error();
  if (auto ok = RequireEnvironment(*plan, env, role); !ok) return std::move(ok).error();
  return plan;
}

// Loads the plan named by the flags and checks that both environments are in it.
Result<plan::Plan> LoadPlanFor(const GlobalOptions& options, const std::string& source,
                               const std::string& target, Redactor& redactor,
                               spdlog::logger& logger) {
  auto path = ResolvePlanPath(options.plan);
  if (!path) return std::move(path).error();
  auto plan = LoadPlanForRun(*path, redactor, logger);
  if (!plan) return std::move(plan).error();
  if (auto ok = RequireEnvironment(*plan, source, "source"); !ok) return std::move(ok).error();
  if (auto ok = RequireEnvironment(*plan, target, "target"); !ok) return std::move(ok).error();
  if (source == target) {
    return UsageError("source and target are both '" + source + "'",
                      "promote from one environment into another, e.g. `promote dev prod`");
  }
  return plan;
}

Result<CommandOutcome> RunPromote(const GlobalOptions& options, const std::string& source,
                                  const std::string& target, std::shared_ptr<Redactor> redactor,
                                  std::shared_ptr<spdlog::logger> logger, std::ostream& out) {
  auto plan = LoadPlanFor(options, source, target, *redactor, *logger);
  if (!plan) return std::move(plan).error();
  if (options.dry_run) {
    return RunAuditCommand(options, *plan, source, target, AuditMode::kDryRun, redactor, logger,
                           out);
  }
  return RunPromoteCommand(options, *plan, source, target, redactor, logger, out);
}

Result<CommandOutcome> RunRollback(const GlobalOptions& options, const std::string& target,
                                   const std::string& tag, std::shared_ptr<Redactor> redactor,
                                   std::shared_ptr<spdlog::logger> logger, std::ostream& out) {
  auto plan = LoadPlanWith(options, target, "target", *redactor, *logger);
  if (!plan) return std::move(plan).error();
  if (options.dry_run) {
    return RunAuditCommand(options, *plan, tag, target, AuditMode::kRestoreDryRun, redactor, logger,
                           out);
  }
  return RunRestoreCommand(options, *plan, target, tag, redactor, logger, out);
}

}  // namespace

int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "promote moves the versions proven in one environment into the next: audit, approval "
      "gate, git tag, rollout, probes, automatic rollback.",
      "promote"};
  app.set_version_flag("--version", std::string("promote ") + kVersion);
  app.require_subcommand(0, 1);
  // Global flags may follow a subcommand too (`promote rollback prod --to TAG --dry-run`).
  app.fallthrough();
  app.footer(
      "Main form: promote SRC DST  (e.g. promote dev prod)\n"
      "Exit codes: 0 ok · 1 failed (rolled back) · 2 bad usage or invalid plan · 3 waiting for "
      "approval · 4 locked by another run · 5 rollback failed · 6 promotion pending (audit, dry "
      "run) · 7 target unhealthy or drifted (audit, dry run) · 8 the run would be refused "
      "(audit, dry run) · 9 failed to start: nothing changed · 10 stopped, resumable "
      "(journal or state unwritable): `promote resume RUN`");

  GlobalOptions options;
  app.add_option("--plan", options.plan,
                 "plan file (default: $PROMOTE_PLAN, plans/promote.yaml, or the only plan in "
                 "plans/)");
  app.add_flag("--dry-run", options.dry_run, "plan every step, change nothing");
  app.add_flag("--force", options.force,
               "promote images a bad release failed on (needs --reason; journaled, reported)");
  app.add_option("--output", options.output, "result format: text or json");
  app.add_option("--log-level", options.log_level,
                 "trace, debug, info, warn, error or off (default info)");
  app.add_option("--log-format", options.log_format, "log lines on stderr as text or json");
  app.add_flag("--no-color", options.no_color, "never color the output");
  app.add_option("--kubectl", options.kubectl, "kubectl binary (else $PROMOTE_KUBECTL, PATH)");
  app.add_option("--helm", options.helm, "helm binary (else $PROMOTE_HELM, PATH)");
  app.add_option("--kubeconfig", options.kubeconfig,
                 "kubeconfig for every kubectl/helm call (a plan environment's own wins)");
  app.add_option("--endpoints", options.endpoints,
                 "JSON file of base URLs per environment and service, replacing the plan's");
  app.add_option("--releases", options.releases,
                 "release git repository (default: the plan's releases.repo)");
  app.add_flag("--override-freeze", options.override_freeze,
               "promote although a freeze window of the target is in force (needs --reason)");
  app.add_option("--reason", options.reason,
                 "why --override-freeze or --force is used (journaled, reported)");
  app.add_option("--hooks", options.hooks,
                 "folder of hook executables (default: hooks/ beside the plan)");
  app.add_option("--report-dir", options.report_dir,
                 "where reports go (default: the run's folder under --state-dir)");
  app.add_option("--state-dir", options.state_dir, "runs, journals and locks (default .promote)");

  std::string source;
  std::string target;
  app.add_option("SRC", source, "environment whose versions are proven (e.g. dev)");
  app.add_option("DST", target, "environment to promote into (e.g. prod)");

  std::string audit_source;
  std::string audit_target;
  auto* audit_cmd = app.add_subcommand(
      "audit",
      "read both environments, probe them, report (exit 0 ok, 6 promotion pending, 7 "
      "target unhealthy or drifted)");
  audit_cmd->add_option("SRC", audit_source, "source environment")->required();
  audit_cmd->add_option("DST", audit_target, "target environment")->required();

  std::string status_run;
  auto* status_cmd = app.add_subcommand(
      "status", "where a run stands, from its journal (the newest run when RUN is not given)");
  status_cmd->add_option("RUN", status_run, "run id (a folder under --state-dir/runs)");

  std::string history_env;
  auto* history_cmd = app.add_subcommand(
      "history", "the releases and runs into an environment (release tags and journals)");
  history_cmd->add_option("ENV", history_env, "target environment, e.g. prod")->required();

  std::string baseline_env;
  auto* baseline_cmd = app.add_subcommand(
      "baseline",
      "record what ENV runs now as its first release (a new installation; --dry-run shows it)");
  baseline_cmd->add_option("ENV", baseline_env, "environment, e.g. prod")->required();

  std::string gate_run;
  std::string as_who;
  std::string reason;
  auto* approve_cmd = app.add_subcommand(
      "approve", "approve a run waiting at the gate (exit 0 when enough approvals, else 3)");
  approve_cmd->add_option("RUN", gate_run, "run id")->required();
  approve_cmd->add_option("--as", as_who,
                          "approver (default: $GITHUB_ACTOR, $GITLAB_USER_LOGIN, the OS user)");
  auto* reject_cmd = app.add_subcommand("reject", "end a run waiting at the gate");
  reject_cmd->add_option("RUN", gate_run, "run id")->required();
  reject_cmd->add_option("--reason", reason, "why, for the journal and the report")->required();
  reject_cmd->add_option("--as", as_who, "who rejects (default: the CI's or OS identity)");
  auto* resume_cmd = app.add_subcommand(
      "resume",
      "continue a run: an approved one (refused if the change differs), or one killed mid-run");
  resume_cmd->add_option("RUN", gate_run, "run id")->required();

  std::string rollback_env;
  std::string rollback_tag;
  auto* rollback_cmd = app.add_subcommand(
      "rollback",
      "restore an earlier release of ENV from its tag's manifest: same gates, deploy, validation, "
      "journal and report as a promotion (allowed during a freeze)");
  rollback_cmd->add_option("ENV", rollback_env, "target environment, e.g. prod")->required();
  rollback_cmd->add_option("--to", rollback_tag, "release tag to restore, e.g. prod-2026-11-20")
      ->required();

  auto* plan_cmd = app.add_subcommand("plan", "work with plan files");
  plan_cmd->require_subcommand(1);
  std::string check_file;
  auto* check_cmd =
      plan_cmd->add_subcommand("check", "validate a plan and print what it would promote");
  check_cmd->add_option("FILE", check_file, "plan file (YAML or JSON)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help, --version
    // CLI11 quotes the offending argument whole: a 100 KB one is cut, not echoed back.
    std::ostringstream message;
    app.exit(e, message, message);
    err << CutLongWords(message.str());
    return static_cast<int>(ExitCode::kUsage);
  }

  // Errors are printed through the same redactor as the logs: a secret never reaches stderr.
  auto redactor = std::make_shared<Redactor>();
  auto result = [&]() -> Result<CommandOutcome> {
    auto format = ParseOutputFormat(options.output);
    if (!format) return std::move(format).error();
    auto logger = MakeCliLogger(options, redactor);
    if (!logger) return std::move(logger).error();
    if (options.override_freeze && options.reason.empty()) {
      return UsageError("--override-freeze needs --reason",
                        "say why, e.g. --override-freeze --reason \"INC-4711: login broken\"; "
                        "it is journaled and reported");
    }
    if (options.force && options.reason.empty()) {
      return UsageError("--force needs --reason",
                        "say why the bad images may go, e.g. --force --reason \"INC-4711: the "
                        "failure was PROD's database\"; who, which images and why are journaled "
                        "and reported");
    }
    if (!options.reason.empty() && !options.override_freeze && !options.force) {
      // Said and then ignored, a reason would read as if the run had been allowed something.
      return UsageError("--reason is only for --override-freeze or --force",
                        "add the flag the reason is for, or leave --reason out");
    }
    if (options.state_dir.empty()) {
      return UsageError("--state-dir is empty",
                        "give the folder for runs, journals and locks, or leave the flag out "
                        "(default .promote)");
    }
    if (auto ok = CheckPathFlags(app, options); !ok) return std::move(ok).error();
    if (status_cmd->parsed() && !status_run.empty()) {
      if (auto ok = CheckRunId(status_run); !ok) return std::move(ok).error();
    }
    if (rollback_cmd->parsed()) {
      if (auto ok = CheckReleaseTag(rollback_tag); !ok) return std::move(ok).error();
    }
    if (approve_cmd->parsed() || reject_cmd->parsed() || resume_cmd->parsed()) {
      if (auto ok = CheckRunId(gate_run); !ok) return std::move(ok).error();
    }
    if (check_cmd->parsed()) return RunPlanCheck(check_file, *format, *redactor, **logger, out);
    if (status_cmd->parsed()) return RunStatusCommand(options, status_run, redactor, out);
    if (history_cmd->parsed()) {
      if (options.plan.empty()) {
        if (auto path = ResolvePlanPath(""); path) options.plan = path->string();
      }
      if (!options.plan.empty()) {
        // A misspelt environment would list nothing and look like "no releases yet".
        auto plan = plan::LoadPlan(options.plan);
        if (!plan) return std::move(plan).error();
        if (auto ok = RequireEnvironment(*plan, history_env, "history"); !ok) {
          return std::move(ok).error();
        }
      }
      return RunHistoryCommand(options, history_env, redactor, out);
    }
    if (approve_cmd->parsed()) {
      return RunApproveCommand(options, gate_run, as_who, redactor, **logger, out);
    }
    if (reject_cmd->parsed()) {
      return RunRejectCommand(options, gate_run, as_who, reason, redactor, out);
    }
    if (resume_cmd->parsed()) return RunResumeCommand(options, gate_run, redactor, *logger, out);
    if (baseline_cmd->parsed()) {
      auto plan = LoadPlanWith(options, baseline_env, "baseline", *redactor, **logger);
      if (!plan) return std::move(plan).error();
      return RunBaselineCommand(options, *plan, baseline_env, redactor, *logger, out);
    }
    if (rollback_cmd->parsed()) {
      return RunRollback(options, rollback_env, rollback_tag, redactor, *logger, out);
    }
    if (audit_cmd->parsed()) {
      auto plan = LoadPlanFor(options, audit_source, audit_target, *redactor, **logger);
      if (!plan) return std::move(plan).error();
      return RunAuditCommand(options, *plan, audit_source, audit_target, AuditMode::kAuditOnly,
                             redactor, *logger, out);
    }
    if (!source.empty() && target.empty()) {
      // `promote frobnicate` or `promote dev`: a mistyped command reads as a half promotion.
      return UsageError("'" + source + "' is not a command, and a promotion needs a target too",
                        "run `promote " + source +
                            " DST` (e.g. `promote dev prod`), or "
                            "`promote --help` for the commands");
    }
    if (source.empty() || target.empty()) {
      return UsageError("nothing to do: name a source and a target environment",
                        "run `promote dev prod`, or `promote --help` for the commands");
    }
    return RunPromote(options, source, target, redactor, *logger, out);
  }();

  if (!result) {
    err << "promote: " << CutLongWords(redactor->Redact(result.error().Format())) << "\n";
    return static_cast<int>(ExitCodeFor(result.error()));
  }
  return static_cast<int>(result->code);
}

}  // namespace promote::cli
