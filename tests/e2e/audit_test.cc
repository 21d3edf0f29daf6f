// End to end: the promote binary, the real kubectl, the stand-in seeded with the original
// incident, and a real release repository. The audit must see PROD's missing login route,
// recommend the promotion, change nothing, and never print the planted secret.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/files.h"
#include "support/standin.h"

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

TEST_CASE("audit of the original incident: PROD login 404, promote DEV", "[e2e][audit]") {
  StandIn standin;
  const fs::path state = standin.dir().parent_path() / "state";
  // A release repository with no release yet: bad images can be checked, none is known.
  const fs::path releases = standin.dir().parent_path() / "releases";
  REQUIRE(standin.Run({"git", "init", "-q", releases.string()}).ok());
  const auto run =
      RunPromote(standin, state, {"--releases=" + releases.string(), "audit", "dev", "prod"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 7);  // target not functional

  const std::string markdown = ReadFile(state / "report" / "audit.md");
  CHECK(markdown.find("| ❌ | api | POST | **/auth/login** ★ | 404 |") != std::string::npos);
  CHECK(markdown.find("route missing") != std::string::npos);
  CHECK(markdown.find("**prod is not functional**: login impossible: POST /auth/login → 404") !=
        std::string::npos);
  CHECK(markdown.find("**Recommendation: promote**") != std::string::npos);
  // The suggested command runs as it is: the invocation's plan and kubeconfig come with it.
  CHECK(markdown.find("promote --plan=") != std::string::npos);
  CHECK(markdown.find(" --kubeconfig=" + standin.kubeconfig().string()) != std::string::npos);
  CHECK(markdown.find(" dev prod\n") != std::string::npos);
  CHECK(ReadFile(state / "summary.md").find(markdown) != std::string::npos);

  const auto json = nlohmann::json::parse(ReadFile(state / "report" / "audit.json"));
  CHECK(json["schema"] == "promote/audit/v1");
  CHECK(json["verdicts"]["target"]["environment"] == "prod");
  CHECK(json["verdicts"]["target"]["functional"] == "not-functional");
  CHECK(json["verdicts"]["target"]["reason"].get<std::string>().rfind(
            "login impossible: POST /auth/login → 404", 0) == 0);
  CHECK(json["verdicts"]["source"]["functional"] == "functional");
  CHECK(json["comparisons"][0]["service"] == "api");
  CHECK(json["comparisons"][0]["action"] == "promote");
  CHECK(json["recommendation"]["action"] == "promote");
  bool login_seen = false;
  for (const auto& env : json["environments"]) {
    if (env["name"] != "prod") continue;
    for (const auto& service : env["services"]) {
      for (const auto& probe : service["probes"]) {
        if (probe["path"] == "/auth/login") {
          login_seen = true;
          CHECK(probe["status"] == 404);
          CHECK(probe["outcome"] == "failed");
          CHECK(probe["golden"] == true);
        }
      }
    }
  }
  CHECK(login_seen);

  const std::string junit = ReadFile(state / "report" / "audit.junit.xml");
  CHECK(junit.find("<failure") != std::string::npos);

  CHECK(standin.Writes("dev").empty());
  CHECK(standin.Writes("prod").empty());
  CHECK(EverythingWritten(run, state).find(kPlantedSecret) == std::string::npos);
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
