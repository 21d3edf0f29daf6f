#include "cli/cli.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/exit_code.h"

namespace {

/// The result of one in-process `promote …` invocation.
struct Invocation {
  int code;
  std::string out;
  std::string err;
};

Invocation RunPromote(std::vector<std::string> args) {
  args.insert(args.begin(), "promote");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = promote::cli::Main(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

std::string KeybuzzPlan() {
  return (std::filesystem::path(PROMOTE_SOURCE_DIR) / "plans" / "keybuzz.yaml").string();
}

}  // namespace

TEST_CASE("promote --help lists the commands and the exit codes", "[cli]") {
  const auto run = RunPromote({"--help"});
  CHECK(run.code == 0);
  CHECK(run.out.find("plan") != std::string::npos);
  CHECK(run.out.find("SRC") != std::string::npos);
  CHECK(run.out.find("Exit codes") != std::string::npos);
}

TEST_CASE("promote --version prints the version", "[cli]") {
  const auto run = RunPromote({"--version"});
  CHECK(run.code == 0);
  CHECK(run.out.rfind("promote 0.", 0) == 0);
}

TEST_CASE("plan check names the three keybuzz services", "[cli]") {
  const auto run = RunPromote({"plan", "check", KeybuzzPlan()});
  INFO(run.err);
  REQUIRE(run.code == 0);
  for (const char* service : {"api", "client", "website"}) {
    CHECK(run.out.find(std::string("    ") + service + ":") != std::string::npos);
  }
  CHECK(run.out.find("keybuzz-api-prod") != std::string::npos);
}

TEST_CASE("plan check --output json is machine-readable", "[cli]") {
  const auto run = RunPromote({"--output", "json", "plan", "check", KeybuzzPlan()});
  REQUIRE(run.code == 0);
  CHECK(run.out.find("\"schema\": \"promote/plan-summary/v1\"") != std::string::npos);
}

TEST_CASE("a misspelt key exits 2 naming the file, the line and the fix", "[cli]") {
  const auto dir = std::filesystem::temp_directory_path() / "promote-cli-test";
  std::filesystem::create_directories(dir);
  const auto file = dir / "typo.yaml";
  std::ofstream(file) << "apiVersion: promote/v1\nname: typo\nservces: []\n";
  const auto run = RunPromote({"plan", "check", file.string()});
  CHECK(run.code == 2);
  CHECK(run.err.find(file.string() + ":3:") != std::string::npos);
  CHECK(run.err.find("services") != std::string::npos);
  CHECK(run.out.empty());
}

TEST_CASE("an unknown environment is a usage error naming the known ones", "[cli]") {
  const auto run = RunPromote({"--plan", KeybuzzPlan(), "dev", "staging"});
  CHECK(run.code == 2);
  CHECK(run.err.find("'staging'") != std::string::npos);
  CHECK(run.err.find("dev, prod") != std::string::npos);
}

TEST_CASE("bad flags and a missing plan file exit 2", "[cli]") {
  CHECK(RunPromote({"--output", "xml", "plan", "check", KeybuzzPlan()}).code == 2);
  CHECK(RunPromote({"--no-such-flag"}).code == 2);
  const auto missing = RunPromote({"plan", "check", "/nonexistent/plan.yaml"});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("/nonexistent/plan.yaml") != std::string::npos);
}

TEST_CASE("a --hooks folder that is not there is a usage error, not a run without hooks",
          "[cli][hooks]") {
  for (const std::vector<std::string>& command : {std::vector<std::string>{"dev", "prod"},
                                                  {"--dry-run", "dev", "prod"},
                                                  {"audit", "dev", "prod"}}) {
    std::vector<std::string> args = {"--plan",      KeybuzzPlan(),
                                     "--hooks",     "/nonexistent/hooks",
                                     "--state-dir", "/nonexistent/state"};
    args.insert(args.end(), command.begin(), command.end());
    const auto run = RunPromote(args);
    INFO(run.err);
    CHECK(run.code == 2);
    CHECK(run.err.find("--hooks /nonexistent/hooks: no such folder") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists("/nonexistent/state"));
}

TEST_CASE("lenient command lines are usage errors that change nothing", "[cli][bad-input]") {
  const std::string plan = KeybuzzPlan();
  const auto check = [](const Invocation& run, const std::string& fragment) {
    INFO(run.err);
    CHECK(run.code == 2);
    CHECK(run.err.find(fragment) != std::string::npos);
    CHECK(run.err.size() < 2000);
  };
  check(RunPromote({"--plan", plan, "--reason", "INC-1", "--dry-run", "dev", "prod"}),
        "--reason is only for --override-freeze or --force");
  check(RunPromote({"--plan", plan, "--state-dir", "", "--dry-run", "dev", "prod"}),
        "--state-dir is empty");
  check(RunPromote({"--plan", plan, "history", "staging"}),
        "history environment 'staging' is not in the plan");
  // A 100 KB argument is cut in the message, whichever way it is wrong.
  const std::string huge(100 * 1024, 'x');
  check(RunPromote({"--no-such-flag=" + huge}), "…");
  check(RunPromote({"--plan", plan, "--dry-run", "dev", huge}), "…");

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("promote-cli-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "endpoints.json") << R"({"prod": {"api": "file:///etc/passwd"}})";
  check(RunPromote({"--plan", plan, "--endpoints", (dir / "endpoints.json").string(), "--state-dir",
                    (dir / "state").string(), "--dry-run", "dev", "prod"}),
        "'prod.api' is not an http:// or https:// URL: 'file:///etc/passwd'");
  {
    std::ofstream binary(dir / "plan.yaml", std::ios::binary);
    for (int i = 0; i < 4096; ++i) binary.put(static_cast<char>(i % 7 == 0 ? 0 : 'a' + i % 26));
  }
  check(RunPromote({"plan", "check", (dir / "plan.yaml").string()}), "not a text file");
  CHECK_FALSE(std::filesystem::exists(dir / "state"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("every way a run or a dry run ends has its documented exit code", "[cli]") {
  using promote::cli::ExitCode;
  using promote::cli::ExitCodeForAudit;
  using promote::cli::ExitCodeForRun;
  using promote::engine::Decision;
  using promote::engine::RunState;
  CHECK(ExitCodeForRun(RunState::kPromoted) == ExitCode::kOk);
  CHECK(ExitCodeForRun(RunState::kNothingToDo) == ExitCode::kOk);
  CHECK(ExitCodeForRun(RunState::kRolledBack) == ExitCode::kFailed);
  CHECK(ExitCodeForRun(RunState::kRefused) == ExitCode::kFailed);
  CHECK(ExitCodeForRun(RunState::kAwaitingApproval) == ExitCode::kAwaitingApproval);
  CHECK(ExitCodeForRun(RunState::kRollbackFailed) == ExitCode::kRollbackFailed);
  CHECK(static_cast<int>(ExitCodeForRun(RunState::kFailedToStart)) == 9);

  // A dry run's code is the run's outcome class; an unhealthy target comes first.
  promote::phases::AuditReport healthy;
  healthy.target_verdict.functional = promote::phases::Functional::kFunctional;
  promote::engine::RunPlan plan;
  plan.decision = Decision::kRefused;
  CHECK(static_cast<int>(ExitCodeForAudit(healthy, plan)) == 8);
  plan.decision = Decision::kPromote;
  CHECK(ExitCodeForAudit(healthy, plan) == ExitCode::kPromotionPending);
  plan.decision = Decision::kNothingToDo;
  CHECK(ExitCodeForAudit(healthy, plan) == ExitCode::kOk);
  healthy.drift = {"registry.test/api:hand-made"};
  CHECK(ExitCodeForAudit(healthy, plan) == ExitCode::kTargetUnhealthy);
}
