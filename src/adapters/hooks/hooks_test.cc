// HookRunner with real hook scripts written into a temporary folder and run by the real
// SystemProcessRunner; the shipped examples in hooks/examples against a local HTTP server.
#include "adapters/hooks/hooks.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <thread>

#include "support/files.h"
#include "support/webhook_server.h"

namespace promote::adapters::hooks {
namespace {

namespace fs = std::filesystem;
using promote::testing::ReadFile;
using promote::testing::TempDir;
using promote::testing::WebhookServer;
using std::chrono::milliseconds;

/// Whether a written script gets the executable bits.
enum class Mode { kExecutable, kPlain };

fs::path WriteScript(const fs::path& path, const std::string& text, Mode mode = Mode::kExecutable) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
  fs::permissions(path, mode == Mode::kExecutable
                            ? fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec
                            : fs::perms::owner_read | fs::perms::owner_write);
  return path;
}

HookRun SampleRun() {
  HookRun run;
  run.id = "20260201-101500-ab12";
  run.source = "dev";
  run.target = "prod";
  run.state = "Approved";
  return run;
}

/// The real process runner and a HookRunner over a hooks folder, with options to adjust first.
struct Fixture {
  TempDir temp{"promote-hooks"};
  SystemProcessRunner processes{nullptr, nullptr};
  Redactor redactor;
  HookOptions options;

  Fixture() {
    options.dir = temp.path() / "hooks";
    options.env["OUT_DIR"] = temp.path().string();
    fs::create_directories(options.dir);
  }
  fs::path hooks() const { return options.dir; }
  HookReport Run(HookPoint point, const nlohmann::json& context = nlohmann::json::object(),
                 const HookRun& run = SampleRun()) {
    return HookRunner(processes, redactor, options).Run(point, run, context);
  }
};

fs::path Example(const std::string& name) {
  return fs::path(PROMOTE_SOURCE_DIR) / "hooks" / "examples" / name;
}

}  // namespace

TEST_CASE("hook points have stable names and only pre-* points are gates", "[hooks]") {
  CHECK(AllHookPoints().size() == 8);
  for (HookPoint point : AllHookPoints()) {
    CHECK(ParseHookPoint(HookPointName(point)) == point);
  }
  CHECK(HookPointName(HookPoint::kPostValidate) == "post-validate");
  CHECK(HookPointName(HookPoint::kOnRollback) == "on-rollback");
  CHECK_FALSE(ParseHookPoint("pre-tag"));
  CHECK(IsGate(HookPoint::kPreAudit));
  CHECK(IsGate(HookPoint::kPreDeploy));
  CHECK_FALSE(IsGate(HookPoint::kPostDeploy));
  CHECK_FALSE(IsGate(HookPoint::kOnFailure));
}

TEST_CASE("a missing hook or hooks folder is not an error", "[hooks]") {
  Fixture f;
  SECTION("no hook of that name") {}
  SECTION("no hooks folder at all") {
    f.options.dir = f.temp.path() / "absent";
  }
  HookReport report = f.Run(HookPoint::kPreDeploy);
  CHECK(report.executions.empty());
  CHECK(report.warnings.empty());
  CHECK(report.Passed());
  CHECK_FALSE(report.StopsRun());
  CHECK(report.Summary().empty());
}

TEST_CASE("a hook gets the run context as JSON on stdin and PROMOTE_* variables", "[hooks]") {
  Fixture f;
  WriteScript(f.hooks() / "post-deploy",
              "#!/bin/sh\ncat > \"$OUT_DIR/stdin.json\"\nenv > \"$OUT_DIR/env.txt\"\n");
  f.options.env["PROMOTE_TAG"] = "stale-from-caller";  // must not reach the hook: tag unknown
  HookRun run = SampleRun();
  run.state = "Deploying";
  run.run_dir = f.temp.path() / "runs" / run.id;
  nlohmann::json context = {{"services", {{{"name", "api"}, {"from", "v1"}, {"to", "v2"}}}},
                            {"hook", "overwritten by the envelope"}};

  HookReport report = f.Run(HookPoint::kPostDeploy, context, run);
  REQUIRE(report.executions.size() == 1);
  CHECK(report.executions[0].ok());
  CHECK(report.Passed());

  auto stdin_doc = nlohmann::json::parse(ReadFile(f.temp.path() / "stdin.json"));
  CHECK(stdin_doc["apiVersion"] == "promote/hook/v1");
  CHECK(stdin_doc["hook"] == "post-deploy");
  CHECK(stdin_doc["run"]["id"] == run.id);
  CHECK(stdin_doc["run"]["source"] == "dev");
  CHECK(stdin_doc["run"]["target"] == "prod");
  CHECK(stdin_doc["run"]["state"] == "Deploying");
  CHECK(stdin_doc["run"]["dryRun"] == false);
  CHECK(stdin_doc["run"]["runDir"] == run.run_dir->string());
  CHECK(stdin_doc["run"]["tag"].is_null());
  CHECK(stdin_doc["services"][0]["to"] == "v2");

  const std::string env = ReadFile(f.temp.path() / "env.txt");
  CHECK_THAT(env, Catch::Contains("PROMOTE_HOOK=post-deploy\n"));
  CHECK_THAT(env, Catch::Contains("PROMOTE_RUN_ID=" + run.id + "\n"));
  CHECK_THAT(env, Catch::Contains("PROMOTE_SOURCE=dev\n"));
  CHECK_THAT(env, Catch::Contains("PROMOTE_TARGET=prod\n"));
  CHECK_THAT(env, Catch::Contains("PROMOTE_STATE=Deploying\n"));
  CHECK_THAT(env, Catch::Contains("PROMOTE_DRY_RUN=0\n"));
  CHECK_THAT(env, Catch::Contains("PROMOTE_RUN_DIR=" + run.run_dir->string() + "\n"));
  CHECK_THAT(env, !Catch::Contains("PROMOTE_TAG="));
  CHECK_THAT(env, Catch::Contains("\nPATH="));  // the caller's environment is passed through

  SECTION("the tag and dry-run mode, once known") {
    run.tag = "prod-2026-02-01";
    run.mode = RunMode::kDryRun;
    REQUIRE(f.Run(HookPoint::kPostDeploy, context, run).Passed());
    const std::string env2 = ReadFile(f.temp.path() / "env.txt");
    CHECK_THAT(env2, Catch::Contains("PROMOTE_TAG=prod-2026-02-01\n"));
    CHECK_THAT(env2, Catch::Contains("PROMOTE_DRY_RUN=1\n"));
    auto doc2 = nlohmann::json::parse(ReadFile(f.temp.path() / "stdin.json"));
    CHECK(doc2["run"]["tag"] == "prod-2026-02-01");
    CHECK(doc2["run"]["dryRun"] == true);
  }
}

TEST_CASE("a failing pre-* hook stops the run, a failing post hook does not", "[hooks]") {
  Fixture f;
  WriteScript(f.hooks() / "pre-deploy", "#!/bin/sh\necho checking\necho 'no ticket' >&2\nexit 3\n");
  WriteScript(f.hooks() / "post-deploy", "#!/bin/sh\nexit 1\n");

  HookReport pre = f.Run(HookPoint::kPreDeploy);
  REQUIRE(pre.executions.size() == 1);
  CHECK(pre.executions[0].status == ExitStatus::kExited);
  CHECK(pre.executions[0].exit_code == 3);
  CHECK(pre.executions[0].out == "checking\n");
  CHECK(pre.executions[0].err == "no ticket\n");
  CHECK_FALSE(pre.Passed());
  CHECK(pre.StopsRun());
  CHECK_THAT(pre.Summary(), Catch::Contains("pre-deploy hook") &&
                                Catch::Contains("exited with code 3") &&
                                Catch::Contains(": no ticket"));
  nlohmann::json journal = pre.ToJson();
  CHECK(journal["stopsRun"] == true);
  CHECK(journal["executions"][0]["exitCode"] == 3);

  HookReport post = f.Run(HookPoint::kPostDeploy);
  CHECK_FALSE(post.Passed());
  CHECK_FALSE(post.StopsRun());
}

TEST_CASE("hooks in <point>.d run in lexical order after the single hook", "[hooks]") {
  Fixture f;
  const std::string append = "#!/bin/sh\nbasename \"$0\" >> \"$OUT_DIR/order.txt\"\n";
  WriteScript(f.hooks() / "on-success", append);
  WriteScript(f.hooks() / "on-success.d" / "20-second", append);
  WriteScript(f.hooks() / "on-success.d" / "10-first", append);
  WriteScript(f.hooks() / "on-success.d" / ".hidden", append);
  WriteScript(f.hooks() / "on-success.d" / "30-off.disabled", append);
  WriteScript(f.hooks() / "on-success.d" / "40-backup~", append);

  HookReport report = f.Run(HookPoint::kOnSuccess);
  CHECK(report.executions.size() == 3);
  CHECK(report.Passed());
  CHECK(ReadFile(f.temp.path() / "order.txt") == "on-success\n10-first\n20-second\n");

  SECTION("at a pre-* point the first failure stops the rest") {
    WriteScript(f.hooks() / "pre-audit.d" / "10-refuse", "#!/bin/sh\nexit 1\n");
    WriteScript(f.hooks() / "pre-audit.d" / "20-never", append);
    HookReport pre = f.Run(HookPoint::kPreAudit);
    CHECK(pre.executions.size() == 1);
    CHECK(pre.StopsRun());
    CHECK_THAT(ReadFile(f.temp.path() / "order.txt"), !Catch::Contains("20-never"));
  }
  SECTION("at other points every hook runs despite a failure") {
    WriteScript(f.hooks() / "on-failure.d" / "10-broken", "#!/bin/sh\nexit 1\n");
    WriteScript(f.hooks() / "on-failure.d" / "20-still-runs", append);
    HookReport post = f.Run(HookPoint::kOnFailure);
    CHECK(post.executions.size() == 2);
    CHECK_FALSE(post.Passed());
    CHECK_THAT(ReadFile(f.temp.path() / "order.txt"), Catch::Contains("20-still-runs"));
  }
}

TEST_CASE("a non-executable file with a hook name is reported, not run", "[hooks]") {
  Fixture f;
  WriteScript(f.hooks() / "pre-deploy", "#!/bin/sh\ntouch \"$OUT_DIR/ran\"\nexit 1\n",
              Mode::kPlain);
  HookReport report = f.Run(HookPoint::kPreDeploy);
  CHECK(report.executions.empty());
  REQUIRE(report.warnings.size() == 1);
  CHECK_THAT(report.warnings[0], Catch::Contains("pre-deploy is not executable"));
  CHECK(report.Passed());
  CHECK_FALSE(fs::exists(f.temp.path() / "ran"));
  CHECK(report.ToJson()["warnings"].size() == 1);
}

TEST_CASE("a hook that outlives its timeout has its process group killed", "[hooks]") {
  Fixture f;
  // The hook's child holds nothing back: killing the group ends the sleep too.
  WriteScript(f.hooks() / "pre-deploy", "#!/bin/sh\necho started\nsleep 30\necho never\n");
  f.options.timeout = milliseconds(1000);
  f.options.kill_grace = milliseconds(1000);
  HookReport report = f.Run(HookPoint::kPreDeploy);
  REQUIRE(report.executions.size() == 1);
  const HookExecution& run = report.executions[0];
  CHECK(run.timed_out());
  CHECK_FALSE(run.ok());
  CHECK(run.out == "started\n");
  CHECK(report.StopsRun());
  CHECK_THAT(report.Summary(), Catch::Contains("timed out"));
  CHECK(report.ToJson()["executions"][0]["timedOut"] == true);
}

TEST_CASE("hook output is redacted, cut to its end and valid UTF-8", "[hooks]") {
  Fixture f;
  f.redactor.AddSecret("DB_PASSWORD", "s3cr3t-value");
  f.options.env["PROMOTE_WEBHOOK_URL"] = "http://127.0.0.1:9/services/T000/B000/XXXXSECRET";

  SECTION("registered secrets, the webhook URL and credential patterns") {
    WriteScript(f.hooks() / "post-audit",
                "#!/bin/sh\necho 'password is s3cr3t-value'\necho \"url $PROMOTE_WEBHOOK_URL\"\n"
                "echo 'kubectl --token=abcdef123' >&2\n");
    HookReport report = f.Run(HookPoint::kPostAudit);
    REQUIRE(report.executions.size() == 1);
    const HookExecution& run = report.executions[0];
    CHECK_THAT(run.out, Catch::Contains("<redacted:DB_PASSWORD>") &&
                            Catch::Contains("<redacted:PROMOTE_WEBHOOK_URL>"));
    CHECK_THAT(run.out, !Catch::Contains("s3cr3t-value") && !Catch::Contains("XXXXSECRET"));
    CHECK_THAT(run.err, !Catch::Contains("abcdef123"));
    CHECK_THAT(report.ToJson().dump(), !Catch::Contains("s3cr3t-value"));
  }
  SECTION("a long output keeps its last bytes") {
    WriteScript(f.hooks() / "post-audit",
                "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do echo \"line $i of the hook\"; "
                "i=$((i+1)); done\necho 'the end'\n");
    f.options.output_limit = 1024;
    HookReport report = f.Run(HookPoint::kPostAudit);
    REQUIRE(report.executions.size() == 1);
    const HookExecution& run = report.executions[0];
    CHECK(run.truncated);
    CHECK(run.out.size() <= 1024);
    CHECK_THAT(run.out, Catch::EndsWith("the end\n") && !Catch::Contains("line 0 of"));
  }
  SECTION("bytes that are not UTF-8 become U+FFFD, so the journal can hold them") {
    WriteScript(f.hooks() / "post-audit", "#!/bin/sh\nprintf 'bad \\377\\376 bytes'\n");
    HookReport report = f.Run(HookPoint::kPostAudit);
    REQUIRE(report.executions.size() == 1);
    CHECK(report.executions[0].out == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
    CHECK_NOTHROW(report.ToJson().dump());
  }
}

TEST_CASE("hooks listed explicitly run once, relative to the base folder", "[hooks]") {
  Fixture f;
  const std::string append = "#!/bin/sh\nbasename \"$0\" >> \"$OUT_DIR/order.txt\"\n";
  WriteScript(f.hooks() / "on-failure", append);
  WriteScript(f.temp.path() / "extra" / "page-oncall", append);
  f.options.base_dir = f.temp.path();
  f.options.listed["on-failure"] = {"extra/page-oncall", "hooks/on-failure", "extra/missing"};

  HookReport report = f.Run(HookPoint::kOnFailure);
  CHECK(report.executions.size() == 2);  // hooks/on-failure once, though found twice
  CHECK(ReadFile(f.temp.path() / "order.txt") == "on-failure\npage-oncall\n");
  REQUIRE(report.warnings.size() == 1);
  CHECK_THAT(report.warnings[0], Catch::Contains("extra/missing does not exist"));
}

TEST_CASE("a gate hook the plan lists but that cannot be run stops the run", "[hooks]") {
  Fixture f;
  const std::string append = "#!/bin/sh\nbasename \"$0\" >> \"$OUT_DIR/order.txt\"\n";
  WriteScript(f.hooks() / "pre-deploy", append);
  WriteScript(f.temp.path() / "extra" / "check-ticket", append, Mode::kPlain);
  f.options.base_dir = f.temp.path();
  f.options.listed["pre-deploy"] = {"extra/check-ticket"};

  HookReport report = f.Run(HookPoint::kPreDeploy);
  CHECK(report.StopsRun());
  CHECK_THAT(report.Summary(), Catch::Contains("check-ticket"));
  CHECK_FALSE(fs::exists(f.temp.path() / "order.txt"));  // nothing ran: the gate is closed
  // The same listed hook at a point that is no gate is only a warning.
  f.options.listed["post-deploy"] = {"extra/check-ticket"};
  CHECK_FALSE(f.Run(HookPoint::kPostDeploy).StopsRun());
}

TEST_CASE("a hook that cannot be started is a failed execution", "[hooks]") {
  Fixture f;
  WriteScript(f.hooks() / "pre-audit", "#!/nonexistent/interpreter\n");
  HookReport report = f.Run(HookPoint::kPreAudit);
  REQUIRE(report.executions.size() == 1);
  CHECK(report.executions[0].launch_error.has_value());
  CHECK_FALSE(report.executions[0].ok());
  CHECK(report.StopsRun());
  CHECK_THAT(report.Summary(), Catch::Contains("cannot be run"));
}

TEST_CASE("the shipped notify-webhook posts a Slack-compatible JSON message", "[hooks]") {
  REQUIRE(fs::exists(Example("notify-webhook")));
  Fixture f;
  // Installed the documented way: a symlink named after the point.
  fs::create_symlink(Example("notify-webhook"), f.hooks() / "on-failure");
  f.options.env["no_proxy"] = "127.0.0.1";  // a proxy configured on the machine must not intercept
  f.options.env["NO_PROXY"] = "127.0.0.1";
  WebhookServer server;

  SECTION("delivers the run summary") {
    f.options.env["PROMOTE_WEBHOOK_URL"] = server.url("/services/T0/B0/secret-token");
    HookRun run = SampleRun();
    run.state = "RolledBack";
    run.tag = "prod-2026-02-01";
    nlohmann::json context = {
        {"services", {{{"name", "api"}, {"from", "v0.9.29"}, {"to", "v0.4.31"}}}},
        {"error", "probe login failed"}};
    HookReport report = f.Run(HookPoint::kOnFailure, context, run);
    REQUIRE(report.executions.size() == 1);
    INFO(report.executions[0].Describe() << " " << report.executions[0].err);
    CHECK(report.executions[0].ok());
    CHECK_THAT(report.executions[0].out + report.executions[0].err,
               !Catch::Contains("secret-token"));

    auto received = server.received();
    REQUIRE(received.size() == 1);
    CHECK(received[0].path == "/services/T0/B0/secret-token");
    CHECK_THAT(received[0].content_type, Catch::StartsWith("application/json"));
    auto body = nlohmann::json::parse(received[0].body);
    REQUIRE(body["text"].is_string());
    const std::string text = body["text"];
    CHECK_THAT(text, Catch::Contains(run.id) && Catch::Contains("dev -> prod") &&
                         Catch::Contains("on-failure") && Catch::Contains("RolledBack") &&
                         Catch::Contains("prod-2026-02-01") &&
                         Catch::Contains("api v0.9.29 -> v0.4.31") &&
                         Catch::Contains("probe login failed"));
  }
  SECTION("does nothing and succeeds when no URL is configured") {
    f.options.env["PROMOTE_WEBHOOK_URL"] = "";
    HookReport report = f.Run(HookPoint::kOnFailure);
    REQUIRE(report.executions.size() == 1);
    CHECK(report.executions[0].ok());
    CHECK(server.received().empty());
  }
  SECTION("fails without printing the URL when the server cannot be reached") {
    f.options.env["PROMOTE_WEBHOOK_URL"] = "http://127.0.0.1:1/hooks/unreachable-secret";
    HookReport report = f.Run(HookPoint::kOnFailure);
    REQUIRE(report.executions.size() == 1);
    CHECK(report.executions[0].exit_code == 1);
    CHECK_THAT(report.executions[0].err, !Catch::Contains("unreachable-secret"));
    CHECK_FALSE(report.StopsRun());  // on-failure is not a gate
  }
}

TEST_CASE("the shipped require-change-ticket refuses a run without a valid ticket", "[hooks]") {
  REQUIRE(fs::exists(Example("require-change-ticket")));
  Fixture f;
  fs::create_symlink(Example("require-change-ticket"), f.hooks() / "pre-deploy");
  f.options.env["PROMOTE_CHANGE_TICKET"] = "";  // whatever the machine has set
  f.options.env["PROMOTE_CHANGE_TICKET_PATTERN"] = "";
  f.options.env["PROMOTE_CHANGE_TICKET_TARGETS"] = "";

  SECTION("no ticket: refused") {
    HookReport report = f.Run(HookPoint::kPreDeploy);
    CHECK(report.StopsRun());
    CHECK_THAT(report.Summary(), Catch::Contains("needs a change ticket"));
  }
  SECTION("a malformed ticket: refused") {
    f.options.env["PROMOTE_CHANGE_TICKET"] = "fix it please";
    HookReport report = f.Run(HookPoint::kPreDeploy);
    CHECK(report.StopsRun());
    CHECK_THAT(report.Summary(), Catch::Contains("does not match"));
  }
  SECTION("a ticket in the environment: passes") {
    f.options.env["PROMOTE_CHANGE_TICKET"] = "CHG-1234";
    HookReport report = f.Run(HookPoint::kPreDeploy);
    CHECK(report.Passed());
    REQUIRE(report.executions.size() == 1);
    CHECK_THAT(report.executions[0].out, Catch::Contains("CHG-1234 accepted"));
  }
  SECTION("a ticket in the run context: passes") {
    HookReport report = f.Run(HookPoint::kPreDeploy, {{"changeTicket", "OPS-42"}});
    CHECK(report.Passed());
  }
  SECTION("a custom pattern") {
    f.options.env["PROMOTE_CHANGE_TICKET_PATTERN"] = "^CR[0-9]{6}$";
    f.options.env["PROMOTE_CHANGE_TICKET"] = "CHG-1234";
    CHECK(f.Run(HookPoint::kPreDeploy).StopsRun());
    f.options.env["PROMOTE_CHANGE_TICKET"] = "CR001234";
    CHECK(f.Run(HookPoint::kPreDeploy).Passed());
  }
  SECTION("a target that does not need one: passes") {
    f.options.env["PROMOTE_CHANGE_TICKET_TARGETS"] = "staging";
    CHECK(f.Run(HookPoint::kPreDeploy).Passed());
  }
}

}  // namespace promote::adapters::hooks
