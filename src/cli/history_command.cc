// Implementation details: read-only. Release tags come through the git adapter (foreign tags
// are skipped there); runs are found by their journals' Planned event. A release repository
// that does not exist yet is an empty history, not an error.
#include "cli/history_command.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "adapters/git/release_repo.h"
#include "adapters/kube/cluster.h"
#include "core/redactor.h"
#include "engine/journal.h"
#include "plan/loader.h"
#include "plan/plan.h"

namespace promote::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// "good", "marked bad", "unverified" or "never deployed": what a later run makes of it.
const char* ReleaseResult(const adapters::git::ReleaseTag& release) {
  if (!release.note) return "good";
  switch (release.note->status) {
    case adapters::git::ReleaseStatus::kBad:
      return "marked bad";
    case adapters::git::ReleaseStatus::kUnverified:
      return "unverified";
    case adapters::git::ReleaseStatus::kNotDeployed:
      return "never deployed";
  }
  return "marked bad";
}

Result<json> Releases(const fs::path& repo_path, const std::string& env) {
  json rows = json::array();
  if (!fs::exists(repo_path)) return rows;
  auto repo = adapters::git::ReleaseRepo::Open(repo_path);
  if (!repo) return std::move(repo).error();
  auto releases = repo->Releases();
  if (!releases) return std::move(releases).error();
  for (const auto& release : *releases) {
    if (release.manifest.target_env != env) continue;
    json services = json::object();
    for (const auto& [service, image] : release.manifest.services) {
      services[service] = image.image;
    }
    rows.push_back(
        {{"tag", release.name},
         {"at", release.manifest.created_at},
         {"by", release.manifest.initiator},
         {"run", release.manifest.run_id},
         {"source", release.manifest.source_env},
         {"services", services},
         {"result", ReleaseResult(release)},
         {"badReason", release.note && release.note->bad() ? json(release.note->reason) : json()},
         {"note", release.note ? json(release.note->reason) : json()}});
  }
  return rows;
}

json Runs(const fs::path& state_dir, const std::string& env,
          std::shared_ptr<const Redactor> redactor) {
  json rows = json::array();
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir / "runs", ec)) {
    if (fs::exists(entry.path() / engine::Journal::kFileName)) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());  // run ids start with their UTC start time
  for (const auto& dir : dirs) {
    auto journal = engine::Journal::Open(dir, redactor);
    if (!journal) continue;
    const auto events = journal->events();  // a copy: events() returns by value
    if (events.empty()) continue;
    const json& planned = events.front().detail;
    if (planned.value("target", "") != env) continue;
    std::string summary;
    for (const auto& event : events) {
      if (event.kind == engine::EventKind::kTransition && event.detail.contains("summary")) {
        summary = event.detail["summary"].get<std::string>();
      }
    }
    rows.push_back({{"run", dir.filename().string()},
                    {"at", events.front().at},
                    {"by", planned.value("initiator", "")},
                    {"source", planned.value("source", "")},
                    {"state", journal->CurrentState()},
                    {"summary", summary}});
  }
  return rows;
}

}  // namespace

Result<CommandOutcome> RunHistoryCommand(const GlobalOptions& options, const std::string& env,
                                         std::shared_ptr<const Redactor> redactor,
                                         std::ostream& out) {
  fs::path repo = options.releases;
  if (repo.empty()) {
    if (options.plan.empty()) {
      return Error{ErrorKind::kUsage, "no release repository to read", "promote history",
                   "pass --releases DIR or --plan FILE"};
    }
    auto plan = plan::LoadPlan(options.plan);
    if (!plan) return std::move(plan).error();
    repo = fs::path(plan->source_file).parent_path() / plan->releases.repo;
  }
  auto releases = Releases(repo, env);
  if (!releases) return std::move(releases).error();
  const json runs = Runs(options.state_dir, env, redactor);
  if (options.output == "json") {
    out << redactor->Redact(
               json{{"environment", env}, {"releases", *releases}, {"runs", runs}}.dump(2))
        << "\n";
    return CommandOutcome{};
  }
  std::string text = "Releases into " + env + " (" + repo.string() + "):\n";
  if (releases->empty()) text += "  none yet\n";
  for (const auto& r : *releases) {
    std::string versions;
    for (const auto& [service, image] : r["services"].items()) {
      versions += (versions.empty() ? "" : ", ") + service + " " +
                  adapters::kube::ImageTag(image.get<std::string>());
    }
    text += "  " + r["tag"].get<std::string>() + "  " + r["at"].get<std::string>() + "  by " +
            r["by"].get<std::string>() + "  " + r["result"].get<std::string>() + "  " + versions +
            "\n";
    if (!r["note"].is_null()) text += "      " + r["note"].get<std::string>() + "\n";
  }
  text += "Runs into " + env + " (" + options.state_dir + "/runs):\n";
  if (runs.empty()) text += "  none\n";
  for (const auto& r : runs) {
    text += "  " + r["run"].get<std::string>() + "  by " + r["by"].get<std::string>() + "  " +
            r["state"].get<std::string>() + "\n";
  }
  out << redactor->Redact(text);
  return CommandOutcome{};
}

}  // namespace promote::cli
