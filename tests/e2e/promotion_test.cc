// End to end: `promote dev prod` with the real kubectl against the stand-in and a real release
// repository: a promotion that succeeds, one whose validation fails and is rolled back, one whose
// rollback fails, and a lock conflict.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/files.h"
#include "support/standin.h"
#include "support/webhook_server.h"
#include "support/worlds.h"

namespace {

namespace fs = std::filesystem;
using promote::testing::HttpStatus;
using promote::testing::Outcome;
using promote::testing::PinnedTool;
using promote::testing::ReadFile;
using promote::testing::ReplaceFirst;
using World = promote::testing::KeybuzzWorld;

const std::string kApi = promote::testing::kKeybuzzApi;

}  // namespace

TEST_CASE("a promotion tags the release, rolls out DEV's images and validates PROD",
          "[e2e][promotion]") {
  World world;
  const std::string dev_api = world.Image("dev", "api");
  const auto run = world.Promote();
  INFO(run.err);
  CHECK(run.exit_code == 0);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "Promoted");
  const std::string tag = outcome["tag"];
  CHECK(tag.rfind("prod-20", 0) == 0);

  // PROD runs DEV's api, pinned by digest; the website (same in both) was not touched.
  CHECK(world.Image("prod", "api").rfind(dev_api + "@sha256:", 0) == 0);
  CHECK(world.Image("prod", "website") == world.Image("dev", "website"));
  CHECK(HttpStatus("POST", world.standin().Endpoint("prod", "api") + "/auth/login", "{}") == 200);

  // The tag carries the manifest; the report after the run is all green.
  const std::string tag_object =
      world.Git({"-C", world.releases().string(), "cat-file", "-p", tag});
  CHECK(tag_object.find("promote/release/v1") != std::string::npos);
  CHECK(tag_object.find(dev_api) != std::string::npos);
  const std::string after =
      ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() / "after" / "audit.md");
  CHECK(after.find("**prod is functional**") != std::string::npos);
  CHECK(after.find("| ❌ |") == std::string::npos);
  const auto run_report = nlohmann::json::parse(
      ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() / "promotion.json"));
  CHECK(run_report["schema"] == "promote/promotion/v2");
  CHECK(run_report["state"] == "Promoted");
  CHECK(run_report["tag"] == tag);

  CHECK(world.States(outcome["run"]) ==
        std::vector<std::string>{"Planned", "Audited", "Approved", "Tagged", "Deploying",
                                 "Validating", "Deploying", "Validating", "Promoted"});
  // The report's timeline is the journal's: a Mermaid gantt, and an SVG in the HTML page.
  const fs::path run_dir = world.state() / "runs" / outcome["run"].get<std::string>();
  const std::string markdown = ReadFile(run_dir / "promotion.md");
  CHECK(markdown.find("## Timeline\n\n```mermaid\ngantt\n") != std::string::npos);
  CHECK(markdown.find("    section wave 1\n") != std::string::npos);
  CHECK(markdown.find("    set-image api :done, ") != std::string::npos);
  CHECK(markdown.find("    Promoted :milestone, ") != std::string::npos);
  const std::string html = ReadFile(run_dir / "promotion.html");
  CHECK(html.find("<svg xmlns=") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);

  // A second run finds nothing to do; --report-dir sends a run's reports where it says.
  const fs::path reports = world.state().parent_path() / "reports";
  const auto again = Outcome(world.Promote({"--report-dir=" + reports.string()}));
  CHECK(again["state"] == "NothingToDo");
  CHECK(ReadFile(reports / "promotion.md").find("NothingToDo") != std::string::npos);
  CHECK(fs::exists(reports / "audit" / "audit.md"));

  // The planted secret of PROD's keybuzz-api-postgres is in no byte promote wrote.
  std::string written = run.out + run.err;
  for (const auto& entry : fs::recursive_directory_iterator(world.state())) {
    if (entry.is_regular_file()) written += ReadFile(entry.path());
  }
  CHECK(written.find("events.jsonl") != std::string::npos);
  CHECK(written.find("PLANTED-SECRET-7f3a9c") == std::string::npos);
}

TEST_CASE("a build that fails validation in PROD is rolled back and marked bad",
          "[e2e][promotion]") {
  World world;
  const std::string prod_api = world.Image("prod", "api");
  // Healthy in DEV, answers 500 on POST /auth/login in PROD (it lacks something PROD needs).
  world.ShipToDev(kApi + ":v0.4.32-needs-env");
  const auto run = world.Promote();
  CHECK(run.exit_code == 1);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "RolledBack");
  CHECK(outcome["summary"].get<std::string>().find("POST /auth/login answered 500") !=
        std::string::npos);
  CHECK(world.Image("prod", "api") == prod_api);
  const std::string report =
      ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() / "promotion.md");
  CHECK(report.find("RolledBack") != std::string::npos);
  CHECK(report.find("POST /auth/login → 500") != std::string::npos);
  // The timeline shows the failed validation as critical, then the rollback.
  CHECK(report.find("    validation :crit, ") != std::string::npos);
  CHECK(report.find("    section rollback\n    restore api :done, ") != std::string::npos);
  CHECK(report.find("    RolledBack :milestone, ") != std::string::npos);

  // The failed attempt's tag is marked bad, not left looking like a good release.
  const std::string tag = outcome["tag"];
  const std::string note =
      world.Git({"-C", world.releases().string(), "notes", "--ref=promote", "show", tag});
  CHECK(note.find("failed") != std::string::npos);
  CHECK(note.find("\"service\":\"api\"") != std::string::npos);  // which image failed
  CHECK(world.States(outcome["run"]).back() == "RolledBack");

  // Promoting the same images again is refused, unless forced.
  const auto refused = world.Promote();
  CHECK(refused.exit_code == 1);
  // The refusal names the service, the image and the release it failed in.
  const std::string refusal = Outcome(refused)["summary"];
  CHECK(refusal.find("api " + kApi + ":v0.4.32-needs-env") != std::string::npos);
  CHECK(refusal.find("failed in release " + tag) != std::string::npos);
  CHECK(refusal.find("--force --reason") != std::string::npos);
  // The nightly dry run decides the same, with an exit code a scheduler alerts on (7: PROD is
  // back on its old build, which fails login, and that outranks the refusal's 8).
  const auto nightly = world.Promote({"--dry-run"});
  CHECK(nightly.exit_code == 7);
  CHECK(Outcome(nightly)["decision"] == "refused");

  // history lists the release as marked bad and both runs with how they ended.
  const auto history = world.Cli({"history", "prod"});
  INFO(history.err);
  REQUIRE(history.exit_code == 0);
  const auto doc = nlohmann::json::parse(history.out);
  REQUIRE(doc["releases"].size() == 1);
  CHECK(doc["releases"][0]["tag"] == tag);
  CHECK(doc["releases"][0]["result"] == "marked bad");
  CHECK(doc["releases"][0]["services"]["api"] == kApi + ":v0.4.32-needs-env");
  REQUIRE(doc["runs"].size() == 2);
  CHECK(doc["runs"][0]["state"] == "RolledBack");
  CHECK(doc["runs"][1]["state"] == "Refused");
}

TEST_CASE("a gated run stops after the audit with its state saved and exit 3", "[e2e][promotion]") {
  World world(World::Gate::kKept);
  const auto run = world.Promote();
  CHECK(run.exit_code == 3);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "AwaitingApproval");
  CHECK(outcome["summary"].get<std::string>().find("ops-lead, cto") != std::string::npos);
  CHECK(world.States(outcome["run"]) ==
        std::vector<std::string>{"Planned", "Audited", "AwaitingApproval"});
  CHECK(world.standin().Writes("prod").empty());
  CHECK(world.Git({"-C", world.releases().string(), "tag"}).empty());
  CHECK_FALSE(fs::exists(world.state() / "locks" / "prod.lock"));

  // `promote status` reads the saved state back: the newest run, waiting for its approvers.
  const auto status = world.standin().Run(
      {PROMOTE_BINARY, "--state-dir=" + world.state().string(), "--output=json", "status"});
  INFO(status.err);
  REQUIRE(status.exit_code == 0);
  const auto doc = nlohmann::json::parse(status.out);
  CHECK(doc["run"] == outcome["run"]);
  CHECK(doc["state"] == "AwaitingApproval");
  CHECK(doc["running"] == false);
  CHECK(doc["waitingFor"].get<std::string>().find("ops-lead, cto") != std::string::npos);
  CHECK(doc["states"].size() == 3);
  const auto missing = world.standin().Run(
      {PROMOTE_BINARY, "--state-dir=" + world.state().string(), "status", "no-such-run"});
  CHECK(missing.exit_code == 2);
}

TEST_CASE("an approved run resumes and promotes, and the initiator cannot approve it",
          "[e2e][promotion][gate]") {
  World world(World::Gate::kKept);
  const auto waiting = Outcome(world.Promote({}, "ops-lead"));
  REQUIRE(waiting["state"] == "AwaitingApproval");
  const std::string run = waiting["run"];

  const auto self = world.Cli({"approve", run, "--as", "ops-lead"});
  CHECK(self.exit_code == 2);
  CHECK(self.err.find("started this run") != std::string::npos);
  const auto stranger = world.Cli({"approve", run, "--as", "mallory"});
  CHECK(stranger.exit_code == 2);
  CHECK(world.Cli({"resume", run}).exit_code == 3);  // nobody approved yet

  const auto approved = world.Cli({"approve", run}, "cto");  // identity from GITHUB_ACTOR
  CHECK(approved.exit_code == 0);
  const auto resumed = world.Cli({"resume", run});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(Outcome(resumed)["state"] == "Promoted");
  CHECK(world.States(run) ==
        std::vector<std::string>{"Planned", "Audited", "AwaitingApproval", "Approved", "Tagged",
                                 "Deploying", "Validating", "Deploying", "Validating", "Promoted"});
  CHECK(world.Image("prod", "api").rfind(kApi + ":v0.4.31-replacement@sha256:", 0) == 0);
}

TEST_CASE("a run whose change differs from what was approved is refused, naming the change",
          "[e2e][promotion][gate]") {
  World world(World::Gate::kKept);
  const std::string run = Outcome(world.Promote())["run"];
  REQUIRE(world.Cli({"approve", run, "--as", "cto"}).exit_code == 0);
  // After the approval, DEV moves on: resuming would deploy something nobody approved.
  world.ShipToDev(kApi + ":v0.4.32-needs-env");
  const auto resumed = world.Cli({"resume", run});
  CHECK(resumed.exit_code == 1);
  const auto outcome = Outcome(resumed);
  CHECK(outcome["state"] == "Refused");
  const std::string summary = outcome["summary"];
  CHECK(summary.find("changed since it was approved") != std::string::npos);
  CHECK(summary.find("api: approved promote to " + kApi + ":v0.4.31-replacement") !=
        std::string::npos);
  CHECK(summary.find("now promote to " + kApi + ":v0.4.32-needs-env") != std::string::npos);
  CHECK(world.standin().Writes("prod").empty());
}

TEST_CASE(
    "a waiting run is approved and resumed with its plan at another path, never a changed one",
    "[e2e][promotion][gate]") {
  World world(World::Gate::kKept);
  const std::string run = Outcome(world.Promote())["run"];
  // A plan loosened after the run started (here: self-approval allowed) is refused, where it was
  // and at another path alike.
  for (int moved = 0; moved < 2; ++moved) {
    if (moved) world.MovePlan(world.state().parent_path() / "elsewhere" / "plan.yaml");
    world.EditPlan("allowSelfApproval: false", "allowSelfApproval: true");
    const auto loosened = world.Cli({"approve", run, "--as", "ci-bot"});
    CHECK(loosened.exit_code == 2);
    CHECK(loosened.err.find("is not the plan run " + run + " started with") != std::string::npos);
    world.EditPlan("allowSelfApproval: true", "allowSelfApproval: false");
  }
  // The same bytes at another path (the approval job checked out elsewhere) are the same plan.
  CHECK(world.Cli({"approve", run, "--as", "cto"}).exit_code == 0);
  const auto resumed = world.Cli({"resume", run});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(Outcome(resumed)["state"] == "Promoted");
}

TEST_CASE("a rejected run ends cleanly and cannot be resumed", "[e2e][promotion][gate]") {
  World world(World::Gate::kKept);
  const std::string run = Outcome(world.Promote())["run"];
  CHECK(world.Cli({"reject", run, "--reason", "change freeze"}, "cto").exit_code == 0);
  CHECK(world.States(run).back() == "Rejected");
  CHECK(world.Cli({"resume", run}).exit_code == 2);
  CHECK(world.standin().Writes("prod").empty());
}

TEST_CASE("a second run on a locked target exits 4 naming the holder", "[e2e][promotion]") {
  World world;
  fs::create_directories(world.state() / "locks");
  // A holder that is alive: this test process.
  std::ofstream(world.state() / "locks" / "prod.lock") << nlohmann::json{
      {"run", "20260201T000000Z-dev-prod-beef"},
      {"pid", static_cast<int>(::getpid())},
      {"host", "elsewhere.example"},
      {"since", "2026-02-01T00:00:00Z"},
      {"env", "prod"}}.dump();
  const auto run = world.Promote();
  CHECK(run.exit_code == 4);
  CHECK(run.err.find("20260201T000000Z-dev-prod-beef") != std::string::npos);
  // A dry run is not refused (it takes no lock), but it says whose run may be changing PROD.
  const auto dry = world.Cli({"dev", "prod", "--dry-run"});
  CHECK(dry.exit_code == 7);  // PROD's login is broken (404) in this world
  CHECK_THAT(dry.err, Catch::Contains("prod is locked by run 20260201T000000Z-dev-prod-beef"));
  CHECK_THAT(dry.err, Catch::Contains("this dry run takes no lock"));
  CHECK(world.standin().Writes("prod").empty());
}

TEST_CASE("a run killed while a wave rolls out resumes without setting an image twice",
          "[e2e][promotion][resume]") {
  World world;
  world.Control("prod", "settings", R"({"rolloutSeconds": 3})");  // time to be killed in
  const std::string run = world.PromoteAndKillWhen([](const nlohmann::json& event) {
    return event["kind"] == "intent" && event["step"] == "wait-rollout";
  });
  CHECK(world.States(run).back() == "Deploying");
  // The dead run's lock stays (stale): another run is refused, the run itself takes it back.
  CHECK(world.Promote().exit_code == 4);
  world.Control("prod", "settings", R"({"rolloutSeconds": 0.3})");

  const auto resumed = world.Cli({"resume", run});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(Outcome(resumed)["state"] == "Promoted");
  CHECK(world.Image("prod", "api").rfind(kApi + ":v0.4.31-replacement@sha256:", 0) == 0);
  CHECK(world.States(run) == std::vector<std::string>{"Planned", "Audited", "Approved", "Tagged",
                                                      "Deploying", "Validating", "Deploying",
                                                      "Validating", "Promoted"});
  // Each deployment was patched once: the resumed run found the image set and only waited.
  std::map<std::string, int> patches;
  for (const auto& write : world.standin().Writes("prod")) {
    if (write["verb"] == "patch" && write["resource"] == "deployments") {
      ++patches[write["name"].get<std::string>()];
    }
  }
  CHECK(patches["keybuzz-api"] == 1);
  for (const auto& [name, count] : patches) CHECK(count == 1);
  // One release tag: the resumed run kept the tag of its first life.
  CHECK(world.Git({"-C", world.releases().string(), "tag"}) ==
        Outcome(resumed)["tag"].get<std::string>() + "\n");
  const std::string journal = ReadFile(world.state() / "runs" / run / "events.jsonl");
  CHECK(journal.find("resumed after the run stopped in Deploying") != std::string::npos);
  CHECK_FALSE(fs::exists(world.state() / "locks" / "prod.lock"));
  // A finished run cannot be resumed again.
  CHECK(world.Cli({"resume", run}).exit_code == 2);
}

TEST_CASE("a run killed while a wave is validated validates it again and goes on",
          "[e2e][promotion][resume]") {
  World world;
  world.EditPlan("soak: 600ms", "soak: 4s");  // time to be killed in
  const std::string run = world.PromoteAndKillWhen([](const nlohmann::json& event) {
    return event["kind"] == "transition" && event["state"] == "Validating";
  });
  CHECK(world.States(run).back() == "Validating");

  const auto resumed = world.Cli({"resume", run});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(Outcome(resumed)["state"] == "Promoted");
  // Wave 1 went back through Deploying (its image found set, only awaited) and was validated.
  CHECK(world.States(run) == std::vector<std::string>{"Planned", "Audited", "Approved", "Tagged",
                                                      "Deploying", "Validating", "Deploying",
                                                      "Validating", "Deploying", "Validating",
                                                      "Promoted"});
  int patches = 0;
  for (const auto& write : world.standin().Writes("prod")) {
    patches += write["verb"] == "patch" && write["name"] == "keybuzz-api";
  }
  CHECK(patches == 1);
}

TEST_CASE("a run killed while rolling back finishes its rollback on resume",
          "[e2e][promotion][resume]") {
  World world;
  const std::string prod_api = world.Image("prod", "api");
  world.ShipToDev(kApi + ":v0.4.32-needs-env");
  world.Control("prod", "settings", R"({"rolloutSeconds": 0.3})");
  const std::string run = world.PromoteAndKillWhen([&](const nlohmann::json& event) {
    const bool rolling_back = event["kind"] == "transition" && event["state"] == "RollingBack";
    // Slow the restore's rollout down so the kill lands inside the rollback.
    if (rolling_back) world.Control("prod", "settings", R"({"rolloutSeconds": 3})");
    return rolling_back;
  });
  CHECK(world.States(run).back() == "RollingBack");
  world.Control("prod", "settings", R"({"rolloutSeconds": 0.3})");

  const auto resumed = world.Cli({"resume", run});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 1);
  const auto outcome = Outcome(resumed);
  CHECK(outcome["state"] == "RolledBack");
  CHECK(world.Image("prod", "api") == prod_api);
  CHECK(world.States(run).back() == "RolledBack");
  const std::string note = world.Git(
      {"-C", world.releases().string(), "notes", "--ref=promote", "show", outcome["tag"]});
  CHECK(note.find("failed") != std::string::npos);
}

TEST_CASE("an image DEV runs from outside the plan's repositories is never promoted",
          "[e2e][promotion][supply-chain]") {
  World world;
  // A healthy image in DEV, so nothing but its origin is wrong with it.
  const std::string evil = "evil.example/cryptominer:1.0";
  world.Control("dev", "images",
                R"({"image":")" + evil +
                    R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"]}})");
  world.ShipToDev(evil);
  const auto refused = world.Promote();
  INFO(refused.err);
  const auto outcome = Outcome(refused);
  CHECK(outcome["state"] == "Refused");
  CHECK(refused.exit_code == 1);  // refused before changing anything
  const std::string summary = outcome["summary"];
  CHECK_THAT(summary, Catch::Contains("api: dev runs evil.example/cryptominer:1.0, which is not "
                                      "from the repositories the plan allows for api "
                                      "(ghcr.io/keybuzz/keybuzz-api)"));
  CHECK(world.standin().Writes("prod").empty());
  CHECK(world.Git({"-C", world.releases().string(), "tag"}).empty());
}

TEST_CASE("a failing pre-deploy hook stops the run with nothing changed",
          "[e2e][promotion][hooks]") {
  World world;
  world.InstallHook("pre-deploy", "require-change-ticket");
  const auto refused = world.Promote();
  INFO(refused.err);
  CHECK(refused.exit_code == 1);
  const auto outcome = Outcome(refused);
  CHECK(outcome["state"] == "Refused");
  const std::string summary = outcome["summary"];
  CHECK(summary.find("stopped before any change: pre-deploy hook") != std::string::npos);
  CHECK(summary.find("change ticket") != std::string::npos);
  CHECK(world.standin().Writes("prod").empty());
  CHECK(world.Git({"-C", world.releases().string(), "tag"}).empty());
  CHECK(world.States(outcome["run"]) ==
        std::vector<std::string>{"Planned", "Audited", "Approved", "Refused"});
  // The hook's verdict and output are in the journal.
  const std::string journal =
      ReadFile(world.state() / "runs" / outcome["run"].get<std::string>() / "events.jsonl");
  CHECK(journal.find(R"("message":"hook pre-deploy")") != std::string::npos);

  // With a ticket the same hook lets the run through.
  const auto promoted = world.Promote({}, "ci-bot", {{"PROMOTE_CHANGE_TICKET", "CHG-1234"}});
  INFO(promoted.err);
  CHECK(promoted.exit_code == 0);
  CHECK(Outcome(promoted)["state"] == "Promoted");
}

TEST_CASE("the webhook hook tells a local server that a run was rolled back",
          "[e2e][promotion][hooks]") {
  World world;
  promote::testing::WebhookServer server;
  world.InstallHook("on-failure", "notify-webhook");
  world.ShipToDev(kApi + ":v0.4.32-needs-env");
  // Straight to the run: its dry run would call on-failure too.
  const auto run =
      world.Cli({"dev", "prod"}, "ci-bot", {{"PROMOTE_WEBHOOK_URL", server.url("/hooks/T1")}});
  INFO(run.err);
  CHECK(run.exit_code == 1);
  const auto outcome = Outcome(run);
  CHECK(outcome["state"] == "RolledBack");
  const auto received = server.received();
  REQUIRE(received.size() == 1);
  CHECK(received[0].path == "/hooks/T1");
  CHECK(received[0].content_type.find("application/json") != std::string::npos);
  const auto message = nlohmann::json::parse(received[0].body);
  const std::string text = message["text"];
  CHECK(text.find(outcome["run"].get<std::string>()) != std::string::npos);
  CHECK(text.find("prod") != std::string::npos);
  CHECK(text.find("RolledBack") != std::string::npos);
  // The URL is a credential: it is in no byte promote wrote.
  const fs::path dir = world.state() / "runs" / outcome["run"].get<std::string>();
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file())
      CHECK(ReadFile(entry.path()).find("/hooks/T1") == std::string::npos);
  }
  CHECK(run.err.find("/hooks/T1") == std::string::npos);
}

TEST_CASE("rollback --to restores an older release's images and validates them",
          "[e2e][promotion][restore]") {
  World world;
  const std::string newer = kApi + ":v0.4.33-good";
  const auto [first_tag, first_api] = world.TwoReleases(newer);

  // Its dry run plans exactly that restore and changes nothing.
  const auto before = world.standin().Writes("prod").size();
  const auto planned = world.Cli({"rollback", "prod", "--to", first_tag, "--dry-run"});
  INFO(planned.err);
  CHECK(planned.exit_code == 6);  // a change is pending
  CHECK(planned.out.find("\"api=" + first_api + "\"") != std::string::npos);
  CHECK(world.standin().Writes("prod").size() == before);

  const auto restored = world.Cli({"rollback", "prod", "--to", first_tag});
  INFO(restored.err);
  promote::testing::ExpectSameDecision(planned, restored);
  CHECK(restored.exit_code == 0);
  const auto outcome = Outcome(restored);
  CHECK(outcome["state"] == "Promoted");
  CHECK(outcome["tag"] == first_tag);
  CHECK(world.Image("prod", "api") == first_api);
  CHECK(HttpStatus("POST", world.standin().Endpoint("prod", "api") + "/auth/login", "{}") == 200);
  const std::string run = outcome["run"];
  // Wave 2 is unchanged and validated all the same: an image already there is not proven.
  CHECK(world.States(run) == std::vector<std::string>{"Planned", "Audited", "Approved", "Tagged",
                                                      "Deploying", "Validating", "Validating",
                                                      "Promoted"});
  // No new release tag: the restored release is its own record.
  std::istringstream tags(world.Git({"-C", world.releases().string(), "tag"}));
  int count = 0;
  for (std::string line; std::getline(tags, line);) ++count;
  CHECK(count == 2);
  const std::string report = ReadFile(world.state() / "runs" / run / "promotion.md");
  CHECK(report.find(first_tag) != std::string::npos);

  // A tag that is no release of prod is bad input: exit 2, nothing written.
  const auto writes = world.standin().Writes("prod").size();
  const auto unknown = world.Cli({"rollback", "prod", "--to", "prod-1999-01-01"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("no release tag 'prod-1999-01-01'") != std::string::npos);
  CHECK(world.standin().Writes("prod").size() == writes);
}

TEST_CASE("a freeze window refuses a promotion, allows a rollback, and can be overridden",
          "[e2e][promotion][freeze]") {
  World world;
  const std::string newer = kApi + ":v0.4.33-good";
  const auto [first_tag, first_api] = world.TwoReleases(newer);

  // From now on PROD is frozen (a date range around now, in a real time zone).
  world.EditPlan("    approval: { required: false",
                 "    freeze:\n"
                 "      timeZone: Europe/Paris\n"
                 "      windows:\n"
                 "        - name: year-end\n"
                 "          from: \"2000-01-01T00:00\"\n"
                 "          until: \"2099-12-31T23:59\"\n"
                 "          reason: no changes over the holidays\n"
                 "    approval: { required: false");
  // A rollback is not a promotion: it goes through the freeze.
  const auto rolled = world.Cli({"rollback", "prod", "--to", first_tag});
  INFO(rolled.err);
  CHECK(rolled.exit_code == 0);
  CHECK(Outcome(rolled)["state"] == "Promoted");
  CHECK(world.Image("prod", "api") == first_api);

  // DEV's newer api is pending again, and the freeze refuses it (its dry run says the same).
  const auto writes = world.standin().Writes("prod").size();
  const auto frozen = world.Promote();
  CHECK(frozen.exit_code == 1);
  const auto refused = Outcome(frozen);
  CHECK(refused["state"] == "Refused");
  const std::string why = refused["summary"];
  CHECK(why.find("prod is frozen by window 'year-end' (no changes over the holidays) until "
                 "2099-12-31 23:59 Europe/Paris (2099-12-31T22:59:00Z)") != std::string::npos);
  CHECK(why.find("--override-freeze") != std::string::npos);
  CHECK(world.States(refused["run"]) == std::vector<std::string>{"Planned", "Audited", "Refused"});
  CHECK(world.standin().Writes("prod").size() == writes);

  // An override needs a reason, and is recorded in the journal and the report.
  CHECK(world.Promote({"--override-freeze"}).exit_code == 2);
  const auto forced = world.Promote({"--override-freeze", "--reason", "INC-4711 login broken"});
  INFO(forced.err);
  CHECK(forced.exit_code == 0);
  const auto outcome = Outcome(forced);
  CHECK(outcome["state"] == "Promoted");
  CHECK(world.Image("prod", "api").rfind(newer, 0) == 0);
  const fs::path dir = world.state() / "runs" / outcome["run"].get<std::string>();
  CHECK(ReadFile(dir / "events.jsonl").find(R"("reason":"INC-4711 login broken")") !=
        std::string::npos);
  CHECK(ReadFile(dir / "promotion.md").find("Freeze overridden") != std::string::npos);
}

TEST_CASE("runners sharing a cluster lock PROD with a Lease through the real kubectl",
          "[e2e][promotion][lease]") {
  World world;
  world.EditPlan("    approval: { required: false",
                 "    lock: { backend: lease, namespace: keybuzz-api-prod, name: promote-prod, "
                 "duration: 30s }\n"
                 "    approval: { required: false");
  // Another runner holds the Lease (and keeps renewing it: its renewTime is ahead).
  const fs::path lease = world.standin().dir() / "lease.yaml";
  std::ofstream(lease) << "apiVersion: coordination.k8s.io/v1\n"
                          "kind: Lease\n"
                          "metadata: { name: promote-prod, namespace: keybuzz-api-prod }\n"
                          "spec:\n"
                          "  holderIdentity: run-of-another-runner\n"
                          "  leaseDurationSeconds: 30\n"
                          "  renewTime: \"2099-01-01T00:00:00.000000Z\"\n";
  world.Kubectl("prod", "keybuzz-api-prod", {"apply", "-f", lease.string()});
  auto deployment_writes = [&] {
    int count = 0;
    for (const auto& write : world.standin().Writes("prod"))
      count += write["resource"] == "deployments";
    return count;
  };
  const auto locked = world.Promote();
  CHECK(locked.exit_code == 4);
  CHECK(locked.err.find("run-of-another-runner") != std::string::npos);
  CHECK(deployment_writes() == 0);
  CHECK(world.Kubectl("prod", "keybuzz-api-prod",
                      {"get", "lease", "promote-prod", "-o", "jsonpath={.spec.holderIdentity}"}) ==
        "run-of-another-runner");

  // Once it is gone, the run takes the Lease, promotes, and deletes its own Lease at the end.
  world.Kubectl("prod", "keybuzz-api-prod", {"delete", "lease", "promote-prod"});
  const auto run = world.Promote();
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(Outcome(run)["state"] == "Promoted");
  int created = 0;
  int deleted = 0;
  for (const auto& write : world.standin().Writes("prod")) {
    if (write["resource"] != "leases") continue;
    created += write["verb"] == "create";
    deleted += write["verb"] == "delete";
  }
  CHECK(created == 3);  // the test's apply, the refused attempt, the run's own Lease
  CHECK(deleted == 2);  // the test's delete above, and the run's release of its own Lease
  const auto left = world.standin().Run(
      {PinnedTool("kubectl"), "--kubeconfig=" + world.standin().kubeconfig().string(),
       "--context=prod", "--namespace=keybuzz-api-prod", "get", "lease", "promote-prod"});
  CHECK(left.exit_code != 0);
  CHECK(left.err.find("NotFound") != std::string::npos);
}

TEST_CASE("a damaged journal is an error naming the journal, not a crash",
          "[e2e][promotion][gate]") {
  World world(World::Gate::kKept);
  const std::string run = Outcome(world.Promote())["run"];
  const fs::path journal = world.state() / "runs" / run / "events.jsonl";
  // A hand edit gives a field another type than promote wrote.
  std::string text = ReadFile(journal);
  text = ReplaceFirst(text, R"("restore":false)", R"("restore":"no")");
  std::ofstream(journal) << text;
  const auto approved = world.Cli({"approve", run, "--as", "cto"});
  CHECK(approved.status == promote::adapters::ExitStatus::kExited);
  CHECK(approved.exit_code == 2);  // bad input, nothing changed (1 would say a run failed)
  CHECK(approved.err.find("the journal holds a field promote cannot read") != std::string::npos);
  CHECK(approved.err.find(journal.string()) != std::string::npos);
}
