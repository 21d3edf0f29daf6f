// The CI and schedule files users copy (scripts/ci, scripts/schedule): the Kubernetes CronJob
// applied with the real kubectl against the stand-in, the systemd units through systemd-analyze,
// and the CI workflows parsed as YAML for the parts a gated promotion depends on.
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/process/process.h"
#include "support/files.h"
#include "support/standin.h"

namespace {

namespace fs = std::filesystem;
using promote::testing::PinnedTool;
using promote::testing::ReadFile;
using promote::testing::StandIn;
using promote::testing::TempDir;

const fs::path kRoot = PROMOTE_SOURCE_DIR;
const fs::path kSchedule = kRoot / "scripts" / "schedule";
const fs::path kCi = kRoot / "scripts" / "ci";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  REQUIRE(out.good());
}

/// `text` with every `from` replaced by `to`; requires at least one occurrence.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  for (; at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

/// Runs `argv` (argv[0] looked up on PATH) in `cwd`; a command that cannot start fails the test.
promote::adapters::ProcessResult Run(std::vector<std::string> argv, const fs::path& cwd) {
  promote::adapters::SystemProcessRunner runner(nullptr, nullptr);
  promote::adapters::Command command;
  command.argv = std::move(argv);
  command.cwd = cwd;
  command.timeout = std::chrono::seconds(120);
  auto result = runner.Run(command);
  REQUIRE(result.ok());
  return *result;
}

/// The first executable `name` on PATH, if any.
std::optional<fs::path> OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

/// Every `run:` (GitHub) script of a job's steps, in order.
std::vector<std::string> StepScripts(const YAML::Node& job) {
  std::vector<std::string> scripts;
  for (const auto& step : job["steps"]) {
    scripts.push_back(step["run"] ? step["run"].as<std::string>() : "");
  }
  return scripts;
}

/// Index of the first step whose run script contains `part`, or -1.
int StepWith(const std::vector<std::string>& scripts, const std::string& part) {
  for (std::size_t i = 0; i < scripts.size(); ++i) {
    if (Contains(scripts[i], part)) return static_cast<int>(i);
  }
  return -1;
}

/// A GitLab job's `script:` lines joined.
std::string GitLabScript(const YAML::Node& job) {
  std::string all;
  for (const auto& line : job["script"]) all += line.as<std::string>() + "\n";
  return all;
}

/// The lines of `text` that are neither empty nor comments.
std::vector<std::string> ActiveLines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] != '#') lines.push_back(line);
  }
  return lines;
}

/// The value of `Key=` in a unit file ("" when absent; the last one wins, as in systemd).
std::string UnitValue(const std::string& unit, const std::string& key) {
  std::string value;
  for (const auto& line : ActiveLines(unit)) {
    if (line.rfind(key + "=", 0) == 0) value = line.substr(key.size() + 1);
  }
  return value;
}

}  // namespace

TEST_CASE("the nightly CronJob is applied by the real kubectl and a broken copy is refused",
          "[schedules][e2e]") {
  const fs::path manifest = kSchedule / "cronjob.yaml";
  StandIn standin;
  const fs::path work = standin.dir().parent_path() / "schedules";
  fs::create_directories(work);
  const auto kubectl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {
        PinnedTool("kubectl"), "--kubeconfig=" + standin.kubeconfig().string(),
        "--cache-dir=" + (work / "kube-cache").string(), "--context=prod"};
    argv.insert(argv.end(), args.begin(), args.end());
    return standin.Run(argv);
  };
  WriteFile(work / "namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: promote\n");
  const auto namespaced = kubectl({"apply", "-f", (work / "namespace.yaml").string()});
  INFO(namespaced.out << namespaced.err);
  REQUIRE(namespaced.exit_code == 0);

  SECTION("client-side dry run") {
    const auto applied =
        kubectl({"apply", "--dry-run=client", "-n", "promote", "-f", manifest.string()});
    INFO(applied.out << applied.err);
    CHECK(applied.exit_code == 0);
    CHECK(Contains(applied.out, "cronjob.batch/promote-nightly created (dry run)"));
  }

  SECTION("server-side dry run: the stand-in accepts it and stores nothing") {
    const auto applied =
        kubectl({"apply", "--dry-run=server", "-n", "promote", "-f", manifest.string()});
    INFO(applied.out << applied.err);
    CHECK(applied.exit_code == 0);
    CHECK(Contains(applied.out, "cronjob.batch/promote-nightly created (server dry run)"));
    bool dry_create_seen = false;
    for (const auto& request : standin.Requests()) {
      if (request.value("resource", "") == "cronjobs" && request.value("verb", "") == "create") {
        CHECK(Contains(request.value("query", ""), "dryRun=All"));
        dry_create_seen = true;
      }
    }
    CHECK(dry_create_seen);
    const auto listed = kubectl({"get", "cronjobs", "-n", "promote", "-o", "name"});
    CHECK(listed.exit_code == 0);
    CHECK(listed.out.empty());
  }

  SECTION("a copy with an apiVersion the server does not serve is refused") {
    const fs::path broken = work / "cronjob-broken.yaml";
    WriteFile(broken,
              ReplaceAll(ReadFile(manifest), "apiVersion: batch/v1", "apiVersion: batch/v9"));
    const auto applied =
        kubectl({"apply", "--dry-run=client", "-n", "promote", "-f", broken.string()});
    INFO(applied.out << applied.err);
    CHECK(applied.exit_code != 0);
    CHECK_FALSE(Contains(applied.out, "created"));
  }
}

TEST_CASE(
    "the nightly CronJob: one dry run at a time, non-root, read-only, plan and kubeconfig mounted",
    "[schedules]") {
  const YAML::Node cron = YAML::LoadFile((kSchedule / "cronjob.yaml").string());
  REQUIRE(cron["kind"].as<std::string>() == "CronJob");
  CHECK(cron["apiVersion"].as<std::string>() == "batch/v1");
  const YAML::Node spec = cron["spec"];
  CHECK(spec["concurrencyPolicy"].as<std::string>() == "Forbid");
  CHECK(spec["jobTemplate"]["spec"]["backoffLimit"].as<int>() == 0);
  const YAML::Node pod = spec["jobTemplate"]["spec"]["template"]["spec"];
  CHECK(pod["securityContext"]["runAsNonRoot"].as<bool>());
  REQUIRE(pod["containers"].size() == 1);
  const YAML::Node container = pod["containers"][0];
  CHECK(container["securityContext"]["readOnlyRootFilesystem"].as<bool>());
  CHECK_FALSE(container["securityContext"]["allowPrivilegeEscalation"].as<bool>());

  std::string command;
  for (const auto& part : container["command"]) command += part.as<std::string>() + " ";
  for (const auto& part : container["args"]) command += part.as<std::string>() + " ";
  CHECK(Contains(command, "promote --dry-run"));
  CHECK(Contains(command, " dev prod"));

  // Which volume each mount is, by kind: the plan from a ConfigMap, the kubeconfig from a Secret
  // (by name), the state on an emptyDir (the root filesystem is read-only).
  std::map<std::string, std::string> kind_of;
  for (const auto& volume : pod["volumes"]) {
    const auto name = volume["name"].as<std::string>();
    if (volume["configMap"]) kind_of[name] = "configMap";
    if (volume["secret"])
      kind_of[name] = "secret:" + volume["secret"]["secretName"].as<std::string>();
    if (volume["emptyDir"]) kind_of[name] = "emptyDir";
  }
  std::map<std::string, std::string> mounted;  // path → volume kind
  for (const auto& mount : container["volumeMounts"]) {
    mounted[mount["mountPath"].as<std::string>()] = kind_of[mount["name"].as<std::string>()];
  }
  CHECK(mounted["/etc/promote/plan"] == "configMap");
  CHECK(mounted["/etc/promote/kubeconfig"] == "secret:promote-kubeconfig");
  CHECK(mounted["/var/lib/promote"] == "emptyDir");
  CHECK(Contains(command, "--plan /etc/promote/plan/"));
  CHECK(Contains(command, "--kubeconfig /etc/promote/kubeconfig/"));
  CHECK(Contains(command, "--state-dir /var/lib/promote"));
}

TEST_CASE("the nightly systemd units pass systemd-analyze verify", "[schedules]") {
  const auto analyze = OnPath("systemd-analyze");
  if (!analyze) {
    WARN("SKIPPED: systemd-analyze is not installed; the systemd units were not verified");
    return;
  }
  TempDir dir("promote-units");
  const std::vector<std::string> units = {"promote-nightly.service", "promote-nightly.timer",
                                          "promote-alert@.service"};
  // verify checks that ExecStart's binary exists: point it at the promote this build made.
  for (const auto& unit : units) {
    std::string text = ReadFile(kSchedule / unit);
    if (Contains(text, "/usr/local/bin/promote")) {
      text = ReplaceAll(text, "/usr/local/bin/promote", PROMOTE_BINARY);
    }
    WriteFile(dir.path() / unit, text);
  }
  const auto verify = [&] {
    std::vector<std::string> argv = {analyze->string(), "verify"};
    for (const auto& unit : units) argv.push_back((dir.path() / unit).string());
    return Run(argv, dir.path());
  };

  const auto clean = verify();
  INFO(clean.out << clean.err);
  CHECK(clean.exit_code == 0);
  CHECK_FALSE(Contains(clean.err, "Unknown"));
  CHECK_FALSE(Contains(clean.err, "Failed"));
  CHECK_FALSE(Contains(clean.err, "not executable"));

  // The same check catches a misspelt key (systemd only warns and ignores it).
  WriteFile(
      dir.path() / "promote-nightly.timer",
      ReplaceAll(ReadFile(dir.path() / "promote-nightly.timer"), "OnCalendar=", "OnCalender="));
  const auto broken = verify();
  CHECK(Contains(broken.err, "Unknown key 'OnCalender'"));

  const auto calendar =
      Run({analyze->string(), "calendar",
           UnitValue(ReadFile(kSchedule / "promote-nightly.timer"), "OnCalendar")},
          dir.path());
  INFO(calendar.out << calendar.err);
  CHECK(calendar.exit_code == 0);
}

TEST_CASE("the nightly schedules run a dry run and alert on the exit code", "[schedules]") {
  const std::string service = ReadFile(kSchedule / "promote-nightly.service");
  REQUIRE_FALSE(service.empty());
  CHECK(UnitValue(service, "Type") == "oneshot");
  const std::string exec = UnitValue(service, "ExecStart");
  CHECK(Contains(exec, "promote --dry-run"));
  CHECK(Contains(exec, "--report-dir "));
  CHECK(Contains(exec, " dev prod"));
  CHECK(Contains(UnitValue(service, "OnFailure"), "promote-alert@"));
  CHECK(UnitValue(service, "SuccessExitStatus") == "6");  // pending promotion: no alert

  const std::string timer = ReadFile(kSchedule / "promote-nightly.timer");
  CHECK(UnitValue(timer, "Persistent") == "true");
  CHECK_FALSE(UnitValue(timer, "OnCalendar").empty());
  CHECK(UnitValue(timer, "Unit") == "promote-nightly.service");

  const auto lines = ActiveLines(ReadFile(kSchedule / "crontab"));
  REQUIRE(lines.size() == 1);
  std::stringstream fields(lines[0]);
  std::string minute, hour, day, month, weekday;
  fields >> minute >> hour >> day >> month >> weekday;
  CHECK(minute == "15");
  CHECK(hour == "2");
  CHECK(Contains(lines[0], "promote --dry-run"));
  CHECK(Contains(lines[0], " dev prod"));
  CHECK(Contains(lines[0], "code=$?"));  // the alert is decided by the exit code
  CHECK(Contains(lines[0], "-eq 6"));    // …where 6 (promotion pending) is quiet
  CHECK_FALSE(Contains(lines[0], "%"));  // cron would turn % into a newline
}

TEST_CASE("the GitHub Actions workflow: gated audit, the environment's reviewer approves, resume",
          "[schedules]") {
  const YAML::Node workflow = YAML::LoadFile((kCi / "github-actions.yml").string());
  REQUIRE(workflow["jobs"]);
  CHECK(Contains(workflow["concurrency"]["group"].as<std::string>(), "prod"));
  CHECK_FALSE(workflow["concurrency"]["cancel-in-progress"].as<bool>());

  const YAML::Node audit = workflow["jobs"]["audit"];
  REQUIRE(audit);
  const auto audit_runs = StepScripts(audit);
  const int audit_step = StepWith(audit_runs, " audit \"$SOURCE_ENV\" \"$TARGET_ENV\"");
  const int gate_step = StepWith(audit_runs, "--output json \"$SOURCE_ENV\" \"$TARGET_ENV\"");
  REQUIRE(audit_step >= 0);
  REQUIRE(gate_step > audit_step);
  CHECK(Contains(audit_runs[gate_step], "3) echo \"gated=true\""));  // 3 = waiting: success
  CHECK(Contains(audit_runs[gate_step], "GITHUB_STEP_SUMMARY"));
  CHECK(Contains(audit["outputs"]["run"].as<std::string>(), "steps.gate.outputs.run"));
  bool state_uploaded = false;
  for (const auto& step : audit["steps"]) {
    if (step["uses"] && Contains(step["uses"].as<std::string>(), "actions/upload-artifact") &&
        step["with"]["name"].as<std::string>() == "promote-state") {
      state_uploaded = true;
    }
  }
  CHECK(state_uploaded);

  const YAML::Node promote = workflow["jobs"]["promote"];
  REQUIRE(promote);
  CHECK(promote["needs"].as<std::string>() == "audit");
  CHECK(promote["environment"].as<std::string>() == "production");
  CHECK(promote["permissions"]["actions"].as<std::string>() == "read");  // the approvals API
  const auto runs = StepScripts(promote);
  const int approve = StepWith(runs, "approve \"$RUN\" --as \"$reviewer\"");
  const int resume = StepWith(runs, "resume \"$RUN\"");
  REQUIRE(approve >= 0);
  REQUIRE(resume > approve);
  // The identity is the environment's reviewer, not whoever started the workflow.
  CHECK(Contains(runs[approve], "/actions/runs/$GITHUB_RUN_ID/approvals"));
  CHECK(Contains(runs[approve], ".name == \"production\""));
  CHECK_FALSE(Contains(runs[approve], "triggering_actor"));
  CHECK(Contains(runs[resume], "5) echo"));  // the rollback-failed code is named
  CHECK(Contains(runs[resume], "exit \"$code\""));
  bool junit = false;
  for (const auto& step : promote["steps"]) {
    if (step["with"] && step["with"]["report_paths"] &&
        Contains(step["with"]["report_paths"].as<std::string>(), "audit.junit.xml")) {
      junit = step["if"] && step["if"].as<std::string>() == "always()";
    }
  }
  CHECK(junit);
}

TEST_CASE("the GitLab CI file: audit, a manual approval in protected production, resume",
          "[schedules]") {
  const YAML::Node ci = YAML::LoadFile((kCi / "gitlab-ci.yml").string());
  REQUIRE(ci["stages"].size() == 3);
  CHECK(ci["stages"][0].as<std::string>() == "audit");
  CHECK(ci["stages"][1].as<std::string>() == "approve");
  CHECK(ci["stages"][2].as<std::string>() == "resume");
  CHECK(Contains(ci[".promote"]["resource_group"].as<std::string>(), "prod"));

  const YAML::Node audit = ci["audit"];
  CHECK(Contains(GitLabScript(audit), "--output json \"$SOURCE_ENV\" \"$TARGET_ENV\""));
  CHECK(Contains(GitLabScript(audit), "3) echo"));
  CHECK(Contains(audit["artifacts"]["reports"]["junit"].as<std::string>(), "audit.junit.xml"));
  CHECK(audit["artifacts"]["reports"]["dotenv"].as<std::string>() == "promote.env");

  const YAML::Node approve = ci["approve"];
  CHECK(approve["when"].as<std::string>() == "manual");
  CHECK_FALSE(approve["allow_failure"].as<bool>());  // the pipeline waits for it
  CHECK(approve["environment"]["name"].as<std::string>() == "production");
  CHECK(Contains(GitLabScript(approve), "approve \"$PROMOTE_RUN\" --as \"$GITLAB_USER_LOGIN\""));

  const YAML::Node resume = ci["resume"];
  CHECK(resume["needs"][0].as<std::string>() == "approve");
  CHECK(Contains(GitLabScript(resume), "resume \"$PROMOTE_RUN\""));
  CHECK(Contains(resume["artifacts"]["reports"]["junit"].as<std::string>(), "audit.junit.xml"));
}
