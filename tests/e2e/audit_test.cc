// End to end: the promote binary, the real kubectl, the stand-in seeded with the original
// incident, and a real release repository. The audit must see PROD's missing login route,
// recommend the promotion, change nothing, and never print the planted secret.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/files.h"
#include "support/standin.h"
#include "support/worlds.h"

namespace {

namespace fs = std::filesystem;
using promote::testing::PinnedTool;
using promote::testing::ReadFile;
using promote::testing::StandIn;

// The marker the stand-in's world stores in PROD's keybuzz-api-postgres Secret.
const std::string kPlantedSecret = "PLANTED-SECRET-7f3a9c";

/// Runs the promote binary against `standin` with a fresh state folder under its directory.
promote::adapters::ProcessResult RunPromote(const StandIn& standin, const fs::path& state,
                                            std::vector<std::string> args) {
  std::vector<std::string> argv = {
      PROMOTE_BINARY,
      "--plan=" + std::string(PROMOTE_SOURCE_DIR) + "/plans/keybuzz.yaml",
      "--kubectl=" + PinnedTool("kubectl"),
      "--helm=" + PinnedTool("helm"),
      "--kubeconfig=" + standin.kubeconfig().string(),
      "--endpoints=" + (standin.dir() / "endpoints.json").string(),
      "--state-dir=" + state.string(),
      "--report-dir=" + (state / "report").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return standin.Run(argv, {{"GITHUB_STEP_SUMMARY", (state / "summary.md").string()}});
}

// Every byte promote wrote: its output and every file under the state folder.
std::string EverythingWritten(const promote::adapters::ProcessResult& run, const fs::path& state) {
  std::string all = run.out + run.err;
  for (const auto& entry : fs::recursive_directory_iterator(state)) {
    if (entry.is_regular_file()) all += ReadFile(entry.path());
  }
  return all;
}

}  // namespace

TEST_CASE("audit of the original incident: the hand-written audit's tables and conclusion",
          "[e2e][audit]") {
  StandIn standin;
  const fs::path state = standin.dir().parent_path() / "state";
  // A release repository with no release yet: bad images can be checked, none is known.
  const fs::path releases = standin.dir().parent_path() / "releases";
  REQUIRE(standin.Run({"git", "init", "-q", releases.string()}).ok());
  const auto run =
      RunPromote(standin, state, {"--releases=" + releases.string(), "audit", "dev", "prod"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 7);  // target not functional

  // The incident's endpoint table, row by row: PROD's API answers only /health, /tenants and
  // /auth/me; every business route is 404. DEV's answers them all (401 without a token).
  const std::map<std::string, std::pair<int, int>> table = {{"api/health", {200, 200}},
                                                            {"api/tenants", {200, 200}},
                                                            {"api/me", {401, 401}},
                                                            {"api/login", {200, 404}},
                                                            {"api/signup", {422, 404}},
                                                            {"api/spaces", {401, 404}},
                                                            {"api/users", {401, 404}},
                                                            {"api/conversations", {401, 404}},
                                                            {"api/messages", {401, 404}},
                                                            {"api/attachments", {401, 404}},
                                                            {"api/dashboard-stats", {401, 404}},
                                                            {"api/platform-stats", {401, 404}},
                                                            {"api/amazon-webhook", {401, 404}},
                                                            {"client/root", {307, 307}},
                                                            {"client/login-page", {200, 200}},
                                                            {"website/home", {200, 200}},
                                                            {"website/www", {200, 200}}};
  const auto json = nlohmann::json::parse(ReadFile(state / "report" / "audit.json"));
  CHECK(json["schema"] == "promote/audit/v2");
  std::map<std::string, std::pair<int, int>> seen;
  for (const auto& env : json["environments"]) {
    for (const auto& service : env["services"]) {
      for (const auto& probe : service["probes"]) {
        auto& row =
            seen[service["service"].get<std::string>() + "/" + probe["name"].get<std::string>()];
        (env["name"] == "dev" ? row.first : row.second) = probe["status"].get<int>();
      }
    }
  }
  CHECK(seen == table);

  // The conclusion: what works, what does not, why, and the options.
  const auto capabilities = [&](const std::string& env, bool works) {
    std::vector<std::string> names;
    for (const auto& e : json["environments"]) {
      if (e["name"] != env) continue;
      for (const auto& c : e["capabilities"]) {
        if (c["works"] == works) names.push_back(c["name"]);
      }
    }
    return names;
  };
  CHECK(capabilities("prod", true) ==
        std::vector<std::string>{"health", "database", "login-page", "website"});
  CHECK(capabilities("prod", false) ==
        std::vector<std::string>{"login", "signup", "inbox", "dashboard", "webhooks"});
  CHECK(capabilities("dev", false).empty());
  CHECK(json["verdicts"]["target"]["functional"] == "not-functional");
  CHECK(json["verdicts"]["target"]["reason"] ==
        "login impossible: POST /auth/login → 404 (route missing) on keybuzz-api-prod; "
        "signup impossible: POST /auth/signup → 404 (route missing) on keybuzz-api-prod; "
        "also not working: inbox, dashboard, webhooks");
  REQUIRE(json["causes"].size() == 1);
  const std::string cause = json["causes"][0]["sentence"];
  CHECK(json["causes"][0]["kind"] == "image");
  CHECK_THAT(cause, Catch::StartsWith("prod's api image v0.9.29-contact-fix (sha256:"));
  CHECK_THAT(
      cause,
      Catch::Contains(") lacks POST /auth/login, POST /auth/signup, GET /spaces, GET /users, "
                      "GET /conversations, GET /messages, GET /attachments, GET /dashboard/stats, "
                      "GET /stats/platform, POST /webhooks/amazon that dev's "
                      "v0.4.31-replacement (sha256:"));
  REQUIRE_FALSE(json["options"].empty());
  CHECK(json["options"][0]["kind"] == "promote");
  CHECK(json["options"][0]["recommended"] == true);
  CHECK(json["recommendation"]["action"] == "promote");

  const std::string markdown = ReadFile(state / "report" / "audit.md");
  CHECK(markdown.find("| ❌ | api | POST | **/auth/login** ★ | 404 |") != std::string::npos);
  CHECK(markdown.find("**What works in prod**: health (api/health, api/me), database") !=
        std::string::npos);
  CHECK(markdown.find("- ❌ **inbox**: GET /conversations → 404") != std::string::npos);
  CHECK(markdown.find("**Root cause**:") != std::string::npos);
  CHECK(markdown.find("1. **promote the stable dev to prod** (recommended)") != std::string::npos);
  CHECK(markdown.find("**Recommendation: promote**") != std::string::npos);
  // The suggested command runs as it is: the invocation's plan and kubeconfig come with it.
  CHECK(markdown.find("promote --plan=") != std::string::npos);
  CHECK(markdown.find(" --kubeconfig=" + standin.kubeconfig().string()) != std::string::npos);
  CHECK(markdown.find(" dev prod\n") != std::string::npos);
  CHECK(ReadFile(state / "summary.md").find(markdown) != std::string::npos);
  CHECK_THAT(run.out, Catch::Contains("    does not work: login, signup, inbox, dashboard, "
                                      "webhooks"));

  // A capability is a JUnit test suite.
  const std::string junit = ReadFile(state / "report" / "audit.junit.xml");
  CHECK(junit.find("<testsuite name=\"audit.prod.inbox\" tests=\"3\" failures=\"3\"") !=
        std::string::npos);
  CHECK(junit.find("<testsuite name=\"audit.prod.health\" tests=\"2\" failures=\"0\"") !=
        std::string::npos);

  CHECK(standin.Writes("dev").empty());
  CHECK(standin.Writes("prod").empty());
  CHECK(EverythingWritten(run, state).find(kPlantedSecret) == std::string::npos);
}

TEST_CASE("PROD and DEV both broken: the audit recommends PROD's last good release, which works",
          "[e2e][audit][root-cause]") {
  promote::testing::KeybuzzWorld world;
  const std::string api = promote::testing::kKeybuzzApi;
  const auto first = world.Promote();
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const std::string good = promote::testing::Outcome(first)["tag"];
  // PROD is broken again by hand (the incident's image, outside promote), and DEV's new build
  // answers 500 on login: nothing in DEV can be promoted.
  world.Kubectl("prod", "keybuzz-api-prod",
                {"set", "image", "deployment/keybuzz-api", "api=" + api + ":v0.9.29-contact-fix"});
  world.Kubectl("prod", "keybuzz-api-prod", {"rollout", "status", "deployment/keybuzz-api"});
  world.Control("dev", "images",
                R"({"image":")" + api +
                    R"(:v0.5.0-login-500","spec":{"routes":["api-login-broken","api-common",)"
                    R"("api-auth-ok","api-fallback"]}})");
  world.ShipToDev(api + ":v0.5.0-login-500");

  const auto audit = world.Cli({"audit", "dev", "prod"});
  INFO(audit.out << audit.err);
  CHECK(audit.exit_code == 7);  // PROD is not functional: the nightly alert stays the same
  const auto doc = promote::testing::Outcome(audit)["audit"];
  CHECK(doc["recommendation"]["action"] == "do-not-promote");
  REQUIRE(doc["options"].size() >= 2);
  CHECK(doc["options"][0]["kind"] == "restore");
  CHECK(doc["options"][0]["recommended"] == true);
  CHECK(doc["options"][0]["title"] ==
        "restore " + good + ", the last release of prod validated good");
  const std::string command = doc["options"][0]["command"];
  CHECK_THAT(command, Catch::EndsWith(" rollback prod --to " + good));
  CHECK_THAT(doc["options"][0]["why"].get<std::string>(),
             Catch::Contains("api is unhealthy in dev"));
  // Login fails in both: the audit says no promotion fixes that; the rest is PROD's image.
  bool everywhere = false;
  bool image = false;
  for (const auto& cause : doc["causes"]) {
    everywhere |= cause["kind"] == "everywhere" &&
                  cause["sentence"].get<std::string>().rfind(
                      "POST /auth/login (500 in dev, 404 in prod) fails in dev's api "
                      "v0.5.0-login-500",
                      0) == 0;
    image |= cause["kind"] == "image";
  }
  CHECK(everywhere);
  CHECK(image);

  // The recommended command does what it says.
  const auto restored = world.Cli({"rollback", "prod", "--to", good});
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  CHECK(world.Image("prod", "api").rfind(api + ":v0.4.31-replacement", 0) == 0);
}

TEST_CASE("the same image in both and a Secret missing in PROD: the difference is PROD's",
          "[e2e][audit][root-cause]") {
  promote::testing::KeybuzzWorld world;
  const std::string api = promote::testing::kKeybuzzApi;
  // v0.4.32-needs-env answers 500 on login in PROD only (its secret is not there).
  world.ShipToDev(api + ":v0.4.32-needs-env");
  world.Kubectl("prod", "keybuzz-api-prod",
                {"set", "image", "deployment/keybuzz-api", "api=" + api + ":v0.4.32-needs-env"});
  world.Kubectl("prod", "keybuzz-api-prod", {"rollout", "status", "deployment/keybuzz-api"});
  world.Kubectl("prod", "keybuzz-api-prod", {"delete", "secret", "keybuzz-stripe"});

  const auto audit = world.Cli({"audit", "dev", "prod"});
  INFO(audit.out << audit.err);
  CHECK(audit.exit_code == 7);
  const auto doc = promote::testing::Outcome(audit)["audit"];
  REQUIRE(doc["causes"].size() == 1);
  CHECK(doc["causes"][0]["kind"] == "environment");
  const std::string sentence = doc["causes"][0]["sentence"];
  CHECK_THAT(sentence, Catch::StartsWith("api runs the same image, v0.4.32-needs-env (sha256:"));
  CHECK_THAT(sentence, Catch::Contains("yet POST /auth/login (500) fails only in prod: the "
                                       "difference is in prod's environment"));
  CHECK_THAT(sentence, Catch::Contains("prod lacks required secrets keybuzz-stripe"));
  REQUIRE_FALSE(doc["options"].empty());
  CHECK(doc["options"][0]["kind"] == "fix-target");
  for (const auto& option : doc["options"]) CHECK(option["kind"] != "restore");
}

TEST_CASE("a dry run plans every step with exact argv and changes nothing", "[e2e][audit]") {
  StandIn standin;
  const fs::path state = standin.dir().parent_path() / "state";
  // A real release repository (git is only a witness here; promote uses libgit2).
  const fs::path releases = standin.dir().parent_path() / "releases";
  const std::string git = "git";
  REQUIRE(standin.Run({git, "init", "-q", releases.string()}).ok());
  REQUIRE(standin
              .Run({git, "-C", releases.string(), "-c", "user.name=t", "-c",
                    "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "releases"})
              .ok());
  auto refs = [&] {
    return standin
               .Run({git, "-C", releases.string(), "for-each-ref",
                     "--format=%(refname) %(objectname)"})
               .out +
           standin.Run({git, "-C", releases.string(), "rev-parse", "HEAD"}).out;
  };
  const std::string refs_before = refs();
  const auto run = RunPromote(standin, state,
                              {"--output=json", "--log-level=trace",
                               "--releases=" + releases.string(), "dev", "prod", "--dry-run"});
  INFO(run.err);
  CHECK(run.exit_code == 7);
  const auto doc = nlohmann::json::parse(run.out);
  CHECK(doc["exitCode"] == 7);
  const auto& steps = doc["promotionPlan"]["steps"];
  std::vector<std::string> kinds;
  for (const auto& step : steps) kinds.push_back(step["kind"]);
  CHECK(kinds == std::vector<std::string>{"approval", "tag", "deploy", "wait", "validate", "deploy",
                                          "wait", "validate", "after-audit"});
  const auto& deploy_api = steps[2];
  CHECK(deploy_api["service"] == "api");
  const auto argv = deploy_api["commands"][0].get<std::vector<std::string>>();
  REQUIRE(argv.size() == 8);
  CHECK(argv[0] == PinnedTool("kubectl"));
  CHECK(argv[2] == "--context=prod");
  CHECK(argv[3] == "--namespace=keybuzz-api-prod");
  CHECK(argv[6] == "deployment/keybuzz-api");
  CHECK(argv[7].rfind("api=ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement@sha256:", 0) == 0);
  CHECK(fs::exists(state / "report" / "promotion-plan.json"));

  // Read-only by construction: no write reached either API server, no release repo appeared,
  // and even trace-level logs never carry the secret's value.
  CHECK(standin.Writes("dev").empty());
  CHECK(standin.Writes("prod").empty());
  CHECK(refs() == refs_before);
  CHECK(doc["promotionPlan"]["tag"].get<std::string>().rfind("prod-20", 0) == 0);
  CHECK(EverythingWritten(run, state).find(kPlantedSecret) == std::string::npos);
}

TEST_CASE("a credential in a container's env that a service echoes is redacted everywhere",
          "[e2e][audit][secrets]") {
  StandIn standin;
  const fs::path state = standin.dir().parent_path() / "state";
  const std::string echoed = "sk_live_ECHOED_5e1f0c77";
  // PROD's api runs with a plain env credential (not a Secret), set with the real kubectl...
  standin.Kubectl("prod", "keybuzz-api-prod",
                  {"set", "env", "deployment/keybuzz-api", "-c", "api", "STRIPE_API_KEY=" + echoed,
                   "LOG_LEVEL=debug"});
  // ...and its error page prints it, as a careless framework's debug page would.
  standin.Control(
      "prod", "routes",
      nlohmann::json{
          {"name", "api-auth-missing"},
          {"routes",
           {{{"method", "POST"},
             {"path", "/auth/login"},
             {"status", 404},
             {"body", {{"error", "Not Found"}, {"debug", "stripe key in use: " + echoed}}}}}}}
          .dump());
  const auto run = RunPromote(standin, state, {"--log-level=trace", "audit", "dev", "prod"});
  INFO(run.err.substr(0, 4000));
  CHECK(run.exit_code == 7);
  const std::string all = EverythingWritten(run, state);
  CHECK(all.find(echoed) == std::string::npos);
  // The excerpt is still there, with the credential named instead of shown.
  CHECK(ReadFile(state / "report" / "audit.json")
            .find("stripe key in use: <redacted:prod/api env STRIPE_API_KEY>") !=
        std::string::npos);
}
