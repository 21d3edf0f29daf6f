// Implementation details: read-only. The journal is opened without appending (a torn last line
// of a killed run is reported, not repaired), and the lock of the run's target is inspected to
// say whether the run is still going.
#include "cli/status_command.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/wiring.h"
#include "core/redactor.h"
#include "engine/journal.h"
#include "engine/lock.h"
#include "plan/loader.h"
#include "plan/plan.h"

namespace promote::cli {
namespace {

namespace fs = std::filesystem;

Result<std::string> NewestRun(const fs::path& runs) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(runs, ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / engine::Journal::kFileName)) {
      ids.push_back(entry.path().filename().string());
    }
  }
  if (ids.empty()) {
    return Error{ErrorKind::kUsage, "no run found", runs.string(),
                 "start one with `promote SRC DST`, or point --state-dir at the runs' folder"};
  }
  return *std::max_element(ids.begin(), ids.end());  // ids start with their UTC start time
}

// What a run in `state` waits for, in a sentence.
std::string Waiting(const std::string& state, const std::string& summary) {
  if (state == "AwaitingApproval") return summary;
  if (state == "Promoted" || state == "NothingToDo" || state == "Refused" ||
      state == "RolledBack" || state == "Rejected") {
    return "nothing: the run has ended";
  }
  if (state == "RollbackFailed") return "a person: the rollback failed (see the run report)";
  return "nothing it can do by itself if its process is gone: resume it";
}

// Reads the run's states, what was in flight and its lock, and prints them (throws on a field
// of the wrong type: the caller names the journal).
Result<CommandOutcome> Report(const GlobalOptions& options, const std::string& id,
                              const engine::Journal& journal,
                              std::shared_ptr<const Redactor> redactor, std::ostream& out);

}  // namespace

Result<CommandOutcome> RunStatusCommand(const GlobalOptions& options, const std::string& run_id,
                                        std::shared_ptr<const Redactor> redactor,
                                        std::ostream& out) {
  const fs::path runs = fs::path(options.state_dir) / "runs";
  std::string id = run_id;
  if (id.empty()) {
    auto newest = NewestRun(runs);
    if (!newest) return std::move(newest).error();
    id = *newest;
  }
  if (!fs::exists(runs / id / engine::Journal::kFileName)) {
    return Error{ErrorKind::kUsage, "no run '" + id + "'", (runs / id).string(),
                 "list the runs with `ls " + runs.string() + "`"};
  }
  auto journal = engine::Journal::Open(runs / id, redactor);
  if (!journal) return UnreadableJournal(std::move(journal).error());
  if (journal->events().empty()) {
    return UnreadableJournal(
        Error{ErrorKind::kExternal, "the journal is empty: the run stopped before its first step",
              journal->path().string(), "nothing was done by this run; start a new one"});
  }
  try {
    return Report(options, id, *journal, redactor, out);
  } catch (const nlohmann::json::exception& e) {
    // A hand-edited or damaged line: a field of another type than promote wrote.
    return UnreadableJournal(
        Error{ErrorKind::kExternal,
              std::string("the journal holds a field promote cannot read: ") + e.what(),
              journal->path().string(), "repair the line, or start a new run"});
  }
}

namespace {

Result<CommandOutcome> Report(const GlobalOptions& options, const std::string& id,
                              const engine::Journal& journal,
                              std::shared_ptr<const Redactor> redactor, std::ostream& out) {
  const auto events = journal.events();

  nlohmann::json started = events.empty() ? nlohmann::json::object() : events.front().detail;
  const std::string target = started.value("target", "");
  nlohmann::json states = nlohmann::json::array();
  std::string summary;
  for (const auto& event : events) {
    if (event.kind != engine::EventKind::kTransition) continue;
    states.push_back({{"state", event.state}, {"at", event.at}});
    if (event.detail.contains("summary")) summary = event.detail["summary"].get<std::string>();
  }
  nlohmann::json in_flight = nlohmann::json::array();
  for (const auto& intent : journal.OpenIntents()) {
    in_flight.push_back({{"seq", intent.seq},
                         {"step", intent.step},
                         {"service", intent.service},
                         {"at", intent.at}});
  }
  std::optional<engine::LockHolder> holder;
  if (!target.empty()) {
    // The run's plan says which lock backend to ask (file or Lease); without it, the file.
    auto plan = plan::LoadPlan(started.value("plan", ""));
    auto inspected = plan && plan->FindEnvironment(target)
                         ? InspectRunLockOf(options, *plan, target, redactor)
                         : engine::EnvironmentLock::Inspect(options.state_dir, target);
    if (inspected) holder = *inspected;
  }
  // A run killed outright leaves its lock behind, naming a process that no longer exists.
  const bool running = holder && holder->run_id == id && !engine::ProcessIsGone(*holder);
  const std::string state = journal.CurrentState();
  nlohmann::json doc = {
      {"run", id},
      {"plan", started.value("plan", "")},
      {"source", started.value("source", "")},
      {"target", target},
      {"initiator", started.value("initiator", "")},
      {"state", state},
      {"running", running},
      {"summary", summary},
      {"waitingFor", running ? "its own process (it holds the lock)" : Waiting(state, summary)},
      {"states", states},
      {"inFlight", in_flight},
      {"tornTail", journal.torn_tail().has_value()}};
  if (options.output == "json") {
    out << redactor->Redact(doc.dump(2)) << "\n";
    return CommandOutcome{};
  }
  std::string text = "Run " + id + ": " + state + (running ? " (running)" : "") + "\n  " +
                     doc["source"].get<std::string>() + " → " + target + ", plan " +
                     doc["plan"].get<std::string>() + ", started by " +
                     doc["initiator"].get<std::string>() + "\n";
  for (const auto& s : states) {
    text += "  " + s["at"].get<std::string>() + "  " + s["state"].get<std::string>() + "\n";
  }
  for (const auto& intent : in_flight) {
    // Appends, not one `+` chain: GCC 12 Release warns -Wrestrict on `" " + string` here.
    const std::string service = intent["service"].get<std::string>();
    text += "  in flight when it stopped: ";
    text += intent["step"].get<std::string>();
    if (!service.empty()) text.append(" ").append(service);
    text.append(" (since ").append(intent["at"].get<std::string>()).append(")\n");
  }
  if (!summary.empty()) text += "  " + summary + "\n";
  text += "  waiting for: " + doc["waitingFor"].get<std::string>() + "\n";
  out << redactor->Redact(text);
  return CommandOutcome{};
}

}  // namespace

}  // namespace promote::cli
