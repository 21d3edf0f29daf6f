// End to end, "kill at every step" (issue 12): promote is SIGKILLed right after each journal
// line in turn, then resumed until the run ends, and what it left behind is checked from outside
// (the stand-in's request log, PROD's Deployments, the release repository's tags, the lock file,
// the journal, `promote status` and the last exit code).
//
// Each scenario runs once uninterrupted to count its journal lines L and to see how it ends.
// Then, in a fresh world per point N of 1..L, promote runs with
// PROMOTE_TEST_KILL_AFTER_JOURNAL_LINE=N (src/engine/journal.cc raises SIGKILL once its N-th line
// is durable), and `promote resume RUN` follows until the run ends; at one point a scenario's
// first resume is killed as well. PROMOTE_KILL_POINTS=all takes every point (scripts/bench.sh
// --kill-harness), a number takes that many; by default (CI) a fixed sample of kDefaultSample:
// the first, the last and evenly spaced ones between. Each scenario prints one line,
// `kill-points {"scenario":…,"lines":L,"exercised":…,"survived":…,"resumeKilled":…}`.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/files.h"
#include "support/observe.h"
#include "support/standin.h"
#include "support/worlds.h"

namespace {

namespace fs = std::filesystem;
using promote::adapters::ExitStatus;
using promote::adapters::ProcessResult;
using promote::testing::DeploymentPatches;
using promote::testing::HelmWorld;
using promote::testing::JournalLines;
using promote::testing::KeybuzzWorld;
using promote::testing::Outcome;
using promote::testing::ProdImages;
using promote::testing::ReadFile;
using promote::testing::Runs;
using promote::testing::StandIn;
using promote::testing::Tags;

using Env = std::map<std::string, std::string>;

const char* const kFailpoint = "PROMOTE_TEST_KILL_AFTER_JOURNAL_LINE";
const std::string kApi = promote::testing::kKeybuzzApi;
/// Points a scenario is killed at in CI: 6 points took 6.6 min for the 6 scenarios one after
/// the other (3.3 min on ctest's 2 workers); 5 keep it near 2.8 min.
constexpr int kDefaultSample = 5;
/// Resumes after one kill: the killed resume, one that ends, and one to spare.
constexpr int kMaxResumes = 3;

/// A fresh world of one scenario, its killed command not yet started.
struct Trial {
  std::shared_ptr<void> world;  ///< keeps the world (and its stand-in) alive
  StandIn* standin = nullptr;
  fs::path releases;
  fs::path state;
  std::function<ProcessResult(std::vector<std::string>, Env)> cli;
  std::vector<std::string> start;  ///< the command killed: {"dev", "prod"}, {"resume", RUN}, …
  std::string run;                 ///< the run `start` continues, or "" when it starts one
};

/// One kind of run the harness kills at every journal line.
struct Scenario {
  std::string name;
  std::function<Trial()> make;
};

Trial FromKeybuzz(std::shared_ptr<KeybuzzWorld> world, std::vector<std::string> start,
                  std::string run = "") {
  Trial trial;
  trial.standin = &world->standin();
  trial.releases = world->releases();
  trial.state = world->state();
  trial.cli = [raw = world.get()](std::vector<std::string> args, Env env) {
    return raw->Cli(std::move(args), "ci-bot", std::move(env));
  };
  trial.start = std::move(start);
  trial.run = std::move(run);
  trial.world = std::move(world);
  return trial;
}

Trial FromHelm(std::shared_ptr<HelmWorld> world) {
  Trial trial;
  trial.standin = &world->standin();
  trial.releases = world->releases();
  trial.state = world->state();
  trial.cli = [raw = world.get()](std::vector<std::string> args, Env env) {
    return raw->Cli(std::move(args), std::move(env));
  };
  trial.start = {"dev", "prod"};
  trial.world = std::move(world);
  return trial;
}

/// What a trial's end is compared with, taken before its killed command starts.
struct Before {
  std::map<std::string, std::string> prod;
  std::size_t requests = 0;
  std::size_t tags = 0;
  std::set<std::string> runs;
  std::size_t lines = 0;  ///< lines of Trial::run's journal (0 for a new run)
};

Before Snapshot(const Trial& trial) {
  Before before;
  before.prod = ProdImages(*trial.standin);
  before.requests = trial.standin->Requests().size();
  before.tags = Tags(*trial.standin, trial.releases).size();
  before.runs = Runs(trial.state);
  if (!trial.run.empty()) before.lines = JournalLines(trial.state, trial.run).size();
  return before;
}

/// How a run ended, and what it left behind.
struct Ending {
  std::string run;
  std::string state;   ///< the journal's last transition
  int exit_code = -1;  ///< of the last command, the one that ended the run
  std::map<std::string, std::string> prod;
  std::map<std::string, int> patches;
  std::size_t tags_added = 0;
  std::vector<std::string> problems;  ///< journal, lock and status findings
};

/// Reads the end of `trial`'s run; `last` is the command that ended it.
Ending Observe(const Trial& trial, const Before& before, const std::string& run,
               const ProcessResult& last) {
  Ending end;
  end.run = run;
  end.exit_code = last.status == ExitStatus::kExited ? last.exit_code : -1;
  end.prod = ProdImages(*trial.standin);
  end.patches = DeploymentPatches(*trial.standin, before.requests);
  end.tags_added = Tags(*trial.standin, trial.releases).size() - before.tags;
  const auto lines = JournalLines(trial.state, run);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& line = lines[i];
    if (!line.is_object() || line.value("seq", 0L) != static_cast<long>(i + 1) ||
        line.value("run", "") != run) {
      end.problems.push_back("journal line " + std::to_string(i + 1) + " is not seq " +
                             std::to_string(i + 1) + " of run " + run);
      continue;
    }
    if (line["kind"] == "transition") end.state = line["state"].get<std::string>();
  }
  if (fs::exists(trial.state / "locks" / "prod.lock")) {
    end.problems.push_back("the lock is left: " + ReadFile(trial.state / "locks" / "prod.lock"));
  }
  // promote's own reader of the journal agrees.
  const auto status = trial.standin->Run(
      {PROMOTE_BINARY, "--state-dir=" + trial.state.string(), "--output=json", "status", run});
  const auto doc = nlohmann::json::parse(status.out, nullptr, false);
  if (status.exit_code != 0 || !doc.is_object() || doc.value("state", "") != end.state) {
    end.problems.push_back("promote status says: " + status.out + status.err);
  }
  return end;
}

/// Everything the invariants find wrong in `end`, against the uninterrupted run `baseline`.
std::vector<std::string> Violations(const Ending& end, const Before& before,
                                    const Ending& baseline) {
  std::vector<std::string> wrong = end.problems;
  if (end.state != baseline.state) {
    wrong.push_back("ended " + end.state + ", uninterrupted it ends " + baseline.state);
  }
  const int code = end.state == "Promoted" ? 0 : end.state == "RolledBack" ? 1 : -2;
  if (end.exit_code != code) {
    wrong.push_back("the last command exited " + std::to_string(end.exit_code) + " for " +
                    end.state);
  }
  // Fully promoted (as the uninterrupted run left PROD) or fully back (as PROD was before).
  const auto& expected = end.state == "Promoted" ? baseline.prod : before.prod;
  if (end.prod != expected) {
    std::string diff;
    for (const auto& [where, image] : end.prod) {
      const auto found = expected.find(where);
      if (found == expected.end() || found->second != image) {
        diff += " " + where + "=" + image + " (expected " +
                (found == expected.end() ? "none" : found->second) + ")";
      }
    }
    wrong.push_back("PROD is neither all new nor all old:" + diff);
  }
  if (end.tags_added != baseline.tags_added) {
    wrong.push_back(std::to_string(end.tags_added) + " release tag(s) made, uninterrupted " +
                    std::to_string(baseline.tags_added));
  }
  // A Deployment patched more often than without the kill had an image set again.
  if (end.patches != baseline.patches) {
    std::string counts;
    for (const auto& [name, count] : end.patches) {
      const auto found = baseline.patches.find(name);
      counts += " " + name + " " + std::to_string(count) + " (uninterrupted " +
                std::to_string(found == baseline.patches.end() ? 0 : found->second) + ")";
    }
    wrong.push_back("Deployment PATCHes differ:" + counts);
  }
  return wrong;
}

/// The run `trial.start` made or continued: Trial::run, else the run folder that is new.
std::string RunOf(const Trial& trial, const Before& before) {
  if (!trial.run.empty()) return trial.run;
  for (const auto& run : Runs(trial.state)) {
    if (!before.runs.count(run)) return run;
  }
  return "";
}

/// The points to kill a run of `lines` journal lines at (see the file comment).
std::vector<int> KillPoints(int lines) {
  const char* chosen = std::getenv("PROMOTE_KILL_POINTS");
  const std::string mode = chosen ? chosen : "";
  int sample = kDefaultSample;
  if (mode == "all") sample = lines;
  if (!mode.empty() && mode != "all") sample = std::max(2, std::atoi(mode.c_str()));
  std::set<int> points;
  if (sample >= lines) {
    for (int n = 1; n <= lines; ++n) points.insert(n);
  } else {
    for (int i = 0; i < sample; ++i) points.insert(1 + i * (lines - 1) / (sample - 1));
  }
  return {points.begin(), points.end()};
}

/// One trial of `scenario` killed after line `point`; `resume_kill` > 0 kills its first resume
/// after that many lines too. Returns the violations found ({} when it survived).
std::vector<std::string> KillAt(const Scenario& scenario, int point, int resume_kill,
                                const Ending& baseline, bool& resume_killed) {
  Trial trial = scenario.make();
  const Before before = Snapshot(trial);
  std::vector<std::string> wrong;
  auto last = trial.cli(trial.start, {{kFailpoint, std::to_string(point)}});
  const std::string run = RunOf(trial, before);
  if (run.empty()) return {"no run folder after the killed command: " + last.Describe()};
  const bool killed = last.status == ExitStatus::kSignaled && last.signal == SIGKILL;
  if (killed) {
    // Exactly N lines of this life: the failpoint hits the boundary, not near it.
    const std::size_t lines = JournalLines(trial.state, run).size() - before.lines;
    if (lines != static_cast<std::size_t>(point)) {
      wrong.push_back("killed after line " + std::to_string(point) + ", but " +
                      std::to_string(lines) + " lines were written");
    }
    for (int resume = 0; resume < kMaxResumes; ++resume) {
      Env env;
      if (resume == 0 && resume_kill > 0) env[kFailpoint] = std::to_string(resume_kill);
      last = trial.cli({"resume", run}, env);
      if (last.status != ExitStatus::kSignaled) break;
      resume_killed = resume_killed || (resume == 0 && resume_kill > 0);
    }
  } else if (last.status != ExitStatus::kExited) {
    wrong.push_back("the killed command " + last.Describe());
  }
  const Ending end = Observe(trial, before, run, last);
  for (auto& problem : Violations(end, before, baseline)) wrong.push_back(std::move(problem));
  if (!wrong.empty()) wrong.push_back("last output: " + last.out + last.err);
  return wrong;
}

/// Runs `scenario` uninterrupted, then killed at each chosen point, checking every invariant.
void KillAtEveryLine(const Scenario& scenario) {
  const auto started = std::chrono::steady_clock::now();
  Ending baseline;
  int lines = 0;
  {
    Trial trial = scenario.make();
    const Before before = Snapshot(trial);
    const auto run = trial.cli(trial.start, {});
    INFO(run.out << run.err);
    const std::string id = RunOf(trial, before);
    REQUIRE_FALSE(id.empty());
    baseline = Observe(trial, before, id, run);
    INFO(baseline.state);
    REQUIRE(baseline.problems.empty());
    REQUIRE((baseline.state == "Promoted" || baseline.state == "RolledBack"));
    REQUIRE(baseline.exit_code == (baseline.state == "Promoted" ? 0 : 1));
    REQUIRE(baseline.tags_added <= 1);
    lines = static_cast<int>(JournalLines(trial.state, id).size() - before.lines);
  }
  REQUIRE(lines > 2);
  const std::vector<int> points = KillPoints(lines);
  // The first resume is killed once, after a point in the middle, half way through what is left.
  const int middle = points[points.size() / 2];
  int survived = 0;
  bool resume_killed = false;
  for (const int point : points) {
    const int resume_kill = point == middle ? std::max(2, (lines - point) / 2) : 0;
    const auto wrong = KillAt(scenario, point, resume_kill, baseline, resume_killed);
    std::string why;
    for (const auto& line : wrong) why += line + "\n";
    INFO(scenario.name << ": killed after journal line " << point << " of " << lines
                       << (resume_kill ? ", its first resume after line " : "")
                       << (resume_kill ? std::to_string(resume_kill) : "") << "\n"
                       << why);
    CHECK(wrong.empty());
    survived += wrong.empty();
  }
  CHECK(resume_killed);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const nlohmann::json summary = {{"scenario", scenario.name},
                                  {"ends", baseline.state},
                                  {"lines", lines},
                                  {"exercised", points.size()},
                                  {"survived", survived},
                                  {"resumeKilled", resume_killed},
                                  {"seconds", static_cast<int>(seconds * 10) / 10.0}};
  std::cout << "kill-points " << summary.dump() << std::endl;
}

}  // namespace

TEST_CASE("a kubectl promotion killed at any journal line and resumed ends promoted",
          "[e2e][kill]") {
  KillAtEveryLine({"kubectl promoted", [] {
                     return FromKeybuzz(std::make_shared<KeybuzzWorld>(), {"dev", "prod"});
                   }});
}

TEST_CASE("a kubectl promotion failing validation, killed at any line, ends rolled back",
          "[e2e][kill]") {
  KillAtEveryLine({"kubectl rolled back", [] {
                     auto world = std::make_shared<KeybuzzWorld>();
                     // Healthy in DEV, answers 500 on POST /auth/login in PROD.
                     world->ShipToDev(kApi + ":v0.4.32-needs-env");
                     return FromKeybuzz(world, {"dev", "prod"});
                   }});
}

TEST_CASE("a helm promotion killed at any journal line and resumed ends promoted",
          "[e2e][kill][helm]") {
  KillAtEveryLine({"helm promoted", [] { return FromHelm(std::make_shared<HelmWorld>()); }});
}

TEST_CASE("a helm promotion failing validation, killed at any line, ends rolled back",
          "[e2e][kill][helm]") {
  KillAtEveryLine({"helm rolled back", [] {
                     auto world = std::make_shared<HelmWorld>();
                     // DEV's release moves to a build that answers 500 on login in PROD only.
                     world->Helm("dev",
                                 {"upgrade", "shop", world->chart(), "--reuse-values", "--set",
                                  "image.tag=v0.4.32-needs-env", "--wait", "--timeout=60s"});
                     return FromHelm(world);
                   }});
}

TEST_CASE("rollback --to killed at any journal line and resumed restores the release",
          "[e2e][kill][restore]") {
  KillAtEveryLine({"rollback --to", [] {
                     auto world = std::make_shared<KeybuzzWorld>();
                     const auto first = world->TwoReleases(kApi + ":v0.4.33-good");
                     return FromKeybuzz(world, {"rollback", "prod", "--to", first.tag});
                   }});
}

TEST_CASE("an approved run's resume killed at any journal line ends promoted",
          "[e2e][kill][gate]") {
  KillAtEveryLine({"approved gate", [] {
                     auto world = std::make_shared<KeybuzzWorld>(KeybuzzWorld::Gate::kKept);
                     const auto waiting = world->Cli({"dev", "prod"});
                     INFO(waiting.out << waiting.err);
                     REQUIRE(waiting.exit_code == 3);
                     const std::string run = Outcome(waiting)["run"];
                     REQUIRE(world->Cli({"approve", run, "--as", "cto"}).exit_code == 0);
                     return FromKeybuzz(world, {"resume", run}, run);
                   }});
}
