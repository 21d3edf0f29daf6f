// Implementation details:
// - A hook runs with an explicit environment built here (EnvMode::kExplicit): promote's own
//   variables minus the reserved PROMOTE_* names, then options.env, then the PROMOTE_* values of
//   this run. Inheriting and overlaying would let a stale PROMOTE_TAG from the caller's shell
//   reach a hook that was promised "set only when known".
// - Output is redacted whole, then made valid UTF-8, then cut to its last output_limit bytes at a
//   character boundary: redacting first means a cut can never expose half a secret, and valid
//   UTF-8 means nlohmann::json can dump the result into the journal without throwing.
#include "adapters/hooks/hooks.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>
#include <system_error>
#include <utility>

namespace promote::adapters::hooks {
namespace {

namespace fs = std::filesystem;

/// Names and points side by side; the order is the order a run meets them.
constexpr std::array<std::pair<HookPoint, std::string_view>, 8> kPointNames = {{
    {HookPoint::kPreAudit, "pre-audit"},
    {HookPoint::kPostAudit, "post-audit"},
    {HookPoint::kPreDeploy, "pre-deploy"},
    {HookPoint::kPostDeploy, "post-deploy"},
    {HookPoint::kPostValidate, "post-validate"},
    {HookPoint::kOnRollback, "on-rollback"},
    {HookPoint::kOnSuccess, "on-success"},
    {HookPoint::kOnFailure, "on-failure"},
}};

/// Variables promote sets itself; never inherited from the caller.
const std::set<std::string>& ReservedNames() {
  static const std::set<std::string> names = {
      "PROMOTE_HOOK",  "PROMOTE_HOOK_API", "PROMOTE_RUN_ID", "PROMOTE_SOURCE", "PROMOTE_TARGET",
      "PROMOTE_STATE", "PROMOTE_RUN_DIR",  "PROMOTE_TAG",    "PROMOTE_DRY_RUN"};
  return names;
}

/// Names in a `<point>.d/` folder that are not hooks: hidden files, editor backups, and the
/// conventional ways of switching one off.
bool SkippedName(const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return name.empty() || name.front() == '.' || ends_with("~") || ends_with(".sample") ||
         ends_with(".disabled");
}

/// Whether `path` is a hook to run; when it is not, why (a warning for the report).
std::optional<std::string> WhyNotRunnable(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      return path.string() + " is a broken symlink: not run";
    }
    return path.string() + " does not exist: not run";
  }
  if (fs::is_directory(status)) return path.string() + " is a directory: not run";
  if (!fs::is_regular_file(status)) return path.string() + " is not a regular file: not run";
  if (::access(path.c_str(), X_OK) != 0) {
    return path.string() + " is not executable: not run (chmod +x " + path.string() + ")";
  }
  return std::nullopt;
}

/// A key that is the same for two spellings of one file, so nothing runs twice.
std::string Identity(const fs::path& path) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  return ec ? fs::absolute(path, ec).lexically_normal().string() : canonical.string();
}

/// Length of the valid UTF-8 sequence at `text[i]`, or 0 when the bytes there are not one.
std::size_t Utf8Length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

/// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string ValidUtf8(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = Utf8Length(text, i);
    if (length == 0) {
      clean += "\xEF\xBF\xBD";
      ++i;
    } else {
      clean.append(text.substr(i, length));
      i += length;
    }
  }
  return clean;
}

/// What a hook printed, fit for the journal; sets `truncated` when the beginning was cut.
std::string ForJournal(const Redactor& redactor, const std::string& raw, std::size_t limit,
                       bool& truncated) {
  std::string clean = ValidUtf8(redactor.Redact(raw));
  if (clean.size() <= limit) return clean;
  std::size_t start = clean.size() - limit;
  while (start < clean.size() && (static_cast<unsigned char>(clean[start]) & 0xC0) == 0x80) {
    ++start;  // never start in the middle of a character
  }
  truncated = true;
  return clean.substr(start);
}

/// The last non-blank line of `text`, shortened for a one-line summary.
std::string LastLine(const std::string& text) {
  constexpr std::size_t kMaxLength = 300;
  std::size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  std::size_t begin = text.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  std::string line = text.substr(begin, end + 1 - begin);
  if (line.size() > kMaxLength) line = line.substr(0, kMaxLength) + "…";
  return ValidUtf8(line);
}

const char* StatusName(ExitStatus status) {
  switch (status) {
    case ExitStatus::kExited:
      return "exited";
    case ExitStatus::kSignaled:
      return "signaled";
    case ExitStatus::kTimedOut:
      return "timed-out";
  }
  return "unknown";
}

}  // namespace

const std::vector<HookPoint>& AllHookPoints() {
  static const std::vector<HookPoint> points = [] {
    std::vector<HookPoint> all;
    for (const auto& [point, name] : kPointNames) all.push_back(point);
    return all;
  }();
  return points;
}

std::string_view HookPointName(HookPoint point) {
  for (const auto& [candidate, name] : kPointNames) {
    if (candidate == point) return name;
  }
  return "unknown";
}

std::optional<HookPoint> ParseHookPoint(std::string_view name) {
  for (const auto& [point, candidate] : kPointNames) {
    if (candidate == name) return point;
  }
  return std::nullopt;
}

bool IsGate(HookPoint point) {
  return point == HookPoint::kPreAudit || point == HookPoint::kPreDeploy;
}

std::string HookExecution::Describe() const {
  if (launch_error) return "cannot be run: " + *launch_error;
  ProcessResult result;
  result.status = status;
  result.exit_code = exit_code;
  result.signal = signal;
  result.elapsed = elapsed;
  return result.Describe();
}

nlohmann::json HookExecution::ToJson() const {
  nlohmann::json json = {
      {"path", path.string()},   {"status", StatusName(status)},
      {"exitCode", exit_code},   {"signal", signal},
      {"timedOut", timed_out()}, {"elapsedMs", elapsed.count()},
      {"stdout", out},           {"stderr", err},
      {"truncated", truncated},  {"ok", ok()},
  };
  if (launch_error) json["launchError"] = *launch_error;
  return json;
}

bool HookReport::Passed() const {
  return FirstFailure() == nullptr;
}

const HookExecution* HookReport::FirstFailure() const {
  for (const HookExecution& execution : executions) {
    if (!execution.ok()) return &execution;
  }
  return nullptr;
}

std::string HookReport::Summary() const {
  const HookExecution* failed = FirstFailure();
  if (failed == nullptr) return "";
  std::string summary = std::string(HookPointName(point)) + " hook " + failed->path.string() + " " +
                        failed->Describe();
  std::string said = LastLine(failed->err);
  if (said.empty()) said = LastLine(failed->out);
  if (!said.empty()) summary += ": " + said;
  return summary;
}

nlohmann::json HookReport::ToJson() const {
  nlohmann::json runs = nlohmann::json::array();
  for (const HookExecution& execution : executions) runs.push_back(execution.ToJson());
  return {{"hook", std::string(HookPointName(point))},
          {"passed", Passed()},
          {"stopsRun", StopsRun()},
          {"executions", std::move(runs)},
          {"warnings", warnings}};
}

HookRunner::HookRunner(ProcessRunner& processes, const Redactor& redactor, HookOptions options)
    : processes_(processes), redactor_(redactor), options_(std::move(options)) {
  for (const std::string& name : options_.secret_env) {
    if (auto it = options_.env.find(name); it != options_.env.end()) {
      redactor_.AddSecret(name, it->second);
    } else if (const char* value = std::getenv(name.c_str())) {
      redactor_.AddSecret(name, value);
    }
  }
}

FoundHooks HookRunner::Find(HookPoint point) const {
  FoundHooks found;
  std::set<std::string> seen;
  auto add = [&](const fs::path& path) {
    if (auto why = WhyNotRunnable(path)) {
      found.warnings.push_back(*why);
    } else if (seen.insert(Identity(path)).second) {
      found.executables.push_back(path);
    }
  };
  const std::string name(HookPointName(point));
  std::error_code ec;

  if (!options_.dir.empty()) {
    const fs::path single = options_.dir / name;
    if (fs::exists(fs::symlink_status(single, ec))) add(single);

    const fs::path folder = options_.dir / (name + ".d");
    if (fs::is_directory(folder, ec)) {
      std::vector<fs::path> entries;
      for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        if (!SkippedName(it->path().filename().string())) entries.push_back(it->path());
      }
      if (ec) found.warnings.push_back("cannot list " + folder.string() + ": " + ec.message());
      std::sort(entries.begin(), entries.end(), [](const fs::path& a, const fs::path& b) {
        return a.filename().string() < b.filename().string();
      });
      for (const fs::path& entry : entries) add(entry);
    }
  }

  if (auto it = options_.listed.find(name); it != options_.listed.end()) {
    for (const std::string& listed : it->second) {
      fs::path path = listed;
      if (path.is_relative()) path = options_.base_dir / path;
      if (auto why = WhyNotRunnable(path)) found.unrunnable_listed.emplace_back(path, *why);
      add(path);
    }
  }
  return found;
}

nlohmann::json HookRunner::Envelope(HookPoint point, const HookRun& run,
                                    const nlohmann::json& context) {
  nlohmann::json document = nlohmann::json::object();
  if (context.is_object()) {
    document = context;
  } else if (!context.is_null()) {
    document["context"] = context;
  }
  document["apiVersion"] = kApiVersion;
  document["hook"] = std::string(HookPointName(point));
  document["run"] = {
      {"id", run.id},
      {"source", run.source},
      {"target", run.target},
      {"state", run.state},
      {"dryRun", run.mode == RunMode::kDryRun},
      {"runDir", run.run_dir ? nlohmann::json(run.run_dir->string()) : nlohmann::json(nullptr)},
      {"tag", run.tag ? nlohmann::json(*run.tag) : nlohmann::json(nullptr)},
  };
  return document;
}

std::map<std::string, std::string> HookRunner::Environment(HookPoint point,
                                                           const HookRun& run) const {
  std::map<std::string, std::string> env = options_.env;
  env["PROMOTE_HOOK"] = std::string(HookPointName(point));
  env["PROMOTE_HOOK_API"] = kApiVersion;
  env["PROMOTE_RUN_ID"] = run.id;
  env["PROMOTE_SOURCE"] = run.source;
  env["PROMOTE_TARGET"] = run.target;
  env["PROMOTE_STATE"] = run.state;
  env["PROMOTE_DRY_RUN"] = run.mode == RunMode::kDryRun ? "1" : "0";
  if (run.run_dir) {
    env["PROMOTE_RUN_DIR"] = run.run_dir->string();
  } else {
    env.erase("PROMOTE_RUN_DIR");
  }
  if (run.tag) {
    env["PROMOTE_TAG"] = *run.tag;
  } else {
    env.erase("PROMOTE_TAG");
  }
  return env;
}

HookReport HookRunner::Run(HookPoint point, const HookRun& run,
                           const nlohmann::json& context) const {
  HookReport report;
  report.point = point;
  FoundHooks found = Find(point);
  report.warnings = std::move(found.warnings);
  if (IsGate(point) && !found.unrunnable_listed.empty()) {
    HookExecution missing;
    missing.path = found.unrunnable_listed.front().first;
    missing.launch_error = found.unrunnable_listed.front().second;
    report.executions.push_back(std::move(missing));
    return report;
  }
  if (found.executables.empty()) return report;

  // error_handler::replace: a context string that is not UTF-8 must not stop the hooks.
  const std::string input =
      Envelope(point, run, context).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
      "\n";
  // Promote's environment without the reserved names, then this run's variables.
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    std::string name(text.substr(0, equals));
    if (ReservedNames().count(name) == 0) env[name] = std::string(text.substr(equals + 1));
  }
  for (auto& [name, value] : Environment(point, run)) env[name] = value;

  for (const fs::path& path : found.executables) {
    report.executions.push_back(RunOne(path, input, env));
    if (IsGate(point) && !report.executions.back().ok()) break;
  }
  return report;
}

HookExecution HookRunner::RunOne(const fs::path& path, const std::string& input,
                                 const std::map<std::string, std::string>& env) const {
  HookExecution execution;
  execution.path = path;
  Command command;
  std::error_code ec;
  fs::path program = fs::absolute(path, ec);  // argv[0] with a `/`: never looked up on PATH
  command.argv = {ec ? path.string() : program.string()};
  command.env = env;
  command.env_mode = EnvMode::kExplicit;
  command.stdin_data = input;
  command.timeout = options_.timeout;
  command.kill_grace = options_.kill_grace;

  auto result = processes_.Run(command);
  if (!result) {
    execution.launch_error = redactor_.Redact(result.error().what);
    return execution;
  }
  execution.status = result->status;
  execution.exit_code = result->exit_code;
  execution.signal = result->signal;
  execution.elapsed = result->elapsed;
  execution.out = ForJournal(redactor_, result->out, options_.output_limit, execution.truncated);
  execution.err = ForJournal(redactor_, result->err, options_.output_limit, execution.truncated);
  return execution;
}

}  // namespace promote::adapters::hooks
