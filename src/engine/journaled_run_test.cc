#include "engine/journaled_run.h"

#include <catch2/catch.hpp>

#include "core/redactor.h"
#include "engine/journal.h"
#include "support/files.h"

namespace promote::engine {
namespace {

using nlohmann::json;
using promote::testing::TempDir;

/// A journal of a run killed while its second wave rolled out, written through the real Journal.
struct KilledRun {
  TempDir dir;
  Journal journal =
      Journal::Create(dir.path() / "run", "run-1", std::make_shared<Redactor>()).value();

  KilledRun() {
    REQUIRE(journal.Transition("Planned", {{"target", "prod"}}).ok());
    RunPlan plan;
    plan.source = "dev";
    plan.target = "prod";
    plan.decision = Decision::kPromote;
    plan.tag = {"prod-x", true};
    plan.waves = {
        {1, {{"api", "api:1", 3, "api:2"}}, {"api", "web"}, {{"api", "api:2"}, {"web", "w:1"}}},
        {2, {{"client", "c:1", std::nullopt, "c:2"}}, {"client"}, {{"client", "c:2"}}}};
    plan.waived = {{"web", {"metrics"}}};
    plan.diff = json::array({{{"service", "api"}, {"action", "promote"}}});
    plan.diff_hash = "h1";
    REQUIRE(journal
                .Transition("Audited", {{"diff", plan.diff},
                                        {"diffHash", plan.diff_hash},
                                        {"plan", RunPlanJson(plan)}})
                .ok());
    REQUIRE(journal.Transition("Approved").ok());
    const long tag = *journal.Intent("Approved", "create-tag", "", {{"tag", "prod-x"}});
    REQUIRE(journal.Done(tag).ok());
    REQUIRE(journal.Transition("Tagged", {{"tag", "prod-x"}}).ok());
    REQUIRE(journal.Transition("Deploying", {{"wave", 1}}).ok());
    const long api =
        *journal.Intent("Deploying", "set-image", "api", {{"from", "api:1"}, {"to", "api:2"}});
    REQUIRE(journal.Done(api).ok());
    REQUIRE(journal.Transition("Validating", {{"wave", 1}}).ok());
    REQUIRE(journal.Note("validation of wave 1", {{"wave", 1}, {"passed", true}, {"reason", "ok"}})
                .ok());
    REQUIRE(journal.Transition("Deploying", {{"wave", 2}}).ok());
    // Killed here: the intent is open, the image may or may not be set.
    REQUIRE(
        journal.Intent("Deploying", "set-image", "client", {{"from", "c:1"}, {"to", "c:2"}}).ok());
  }
};

}  // namespace

TEST_CASE("a killed run's journal reads back as what it decided and what it did", "[resume]") {
  KilledRun run;
  const JournaledRun read = ReadJournaledRun(run.journal);
  // The plan it decided reads back whole: what a resumed run performs.
  REQUIRE(read.plan.has_value());
  CHECK(read.plan->diff_hash == "h1");
  CHECK(read.plan->tag.name == "prod-x");
  REQUIRE(read.plan->waves.size() == 2);
  CHECK(read.plan->waves[0].services == std::vector<std::string>{"api", "web"});
  CHECK(read.plan->waves[0].changes[0].from_helm_revision == 3);
  CHECK(read.plan->waves[1].changes[0].to_image == "c:2");
  // What each service runs once its wave is out: the {image} of its metric checks on resume.
  CHECK(read.plan->waves[0].images ==
        std::map<std::string, std::string>{{"api", "api:2"}, {"web", "w:1"}});
  CHECK(read.plan->waived.at("web") == std::vector<std::string>{"metrics"});
  CHECK(read.tag == "prod-x");
  CHECK(read.tag_intent == "prod-x");
  CHECK_FALSE(read.tag_pushed);
  CHECK(read.current_wave == 2);
  CHECK(read.validated_waves == std::set<int>{1});
  CHECK(read.failed_validation.empty());
  // Touched from the moment an intent is written, with the helm revision to go back to.
  REQUIRE(read.touched.size() == 2);
  CHECK(read.touched[0].service == "api");
  CHECK(read.touched[0].from_image == "api:1");
  CHECK(read.touched[0].from_helm_revision == 3);
  CHECK(read.touched[1].service == "client");
  CHECK_FALSE(read.touched[1].from_helm_revision.has_value());
}

TEST_CASE("a journaled failed validation without a rollback yet is read as failed", "[resume]") {
  KilledRun run;
  REQUIRE(run.journal.Transition("Validating", {{"wave", 2}}).ok());
  REQUIRE(run.journal
              .Note("validation of wave 2",
                    {{"wave", 2}, {"passed", false}, {"reason", "POST /auth/login answered 500"}})
              .ok());
  JournaledRun read = ReadJournaledRun(run.journal);
  CHECK(read.failed_validation == "POST /auth/login answered 500");
  CHECK(read.validated_waves == std::set<int>{1});

  // Once the rollback began, its list reads back exactly (revisions included).
  const std::vector<phases::ServiceChange> rolling = {{"api", "api:1", 3, "api:2"},
                                                      {"client", "c:1", std::nullopt, "c:2"}};
  const RunFailure failure{
      "wave 2 failed", phases::Blame::kRelease, {{"client", {"c:2", std::nullopt}, "GET / → 500"}}};
  json detail = FailureJson(failure);
  detail["services"] = ChangesJson(rolling);
  REQUIRE(run.journal.Transition("RollingBack", detail).ok());
  read = ReadJournaledRun(run.journal);
  CHECK(read.failure.reason == "wave 2 failed");
  CHECK(read.failure.blame == phases::Blame::kRelease);
  REQUIRE(read.failure.images.size() == 1);
  CHECK(read.failure.images[0].image.image == "c:2");
  REQUIRE(read.rolling_back.size() == 2);
  CHECK(read.rolling_back[0].from_helm_revision == 3);
  CHECK(read.rolling_back[1].to_image == "c:2");
  CHECK_FALSE(read.rolling_back[1].from_helm_revision.has_value());
}

TEST_CASE("a journal field of another type than promote writes throws for the engine to report",
          "[resume]") {
  KilledRun run;
  REQUIRE(run.journal.Note("validation of wave 2", {{"wave", "two"}, {"passed", true}}).ok());
  CHECK_THROWS_AS(ReadJournaledRun(run.journal), nlohmann::json::exception);
}

}  // namespace promote::engine
