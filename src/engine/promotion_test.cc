// The promotion engine with fakes behind its context (tests/support/fake_world): clusters and
// probes in memory, a fake clock, a real journal and a real libgit2 release repository in a
// temporary folder. Each case is one way the record could lie, as a user met it; every case
// also checks that the dry run (AuditAndPrepare) decided what the run then did.
#include "engine/promotion.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "adapters/git/release_repo.h"
#include "adapters/metrics/prometheus.h"
#include "core/redactor.h"
#include "engine/journal.h"
#include "engine/states.h"
#include "phases/context.h"
#include "phases/rollback.h"
#include "plan/loader.h"
#include "plan/plan.h"
#include "support/fake_world.h"
#include "support/files.h"

namespace promote::engine {
namespace {

namespace fs = std::filesystem;
using adapters::git::ReleaseStatus;
using promote::testing::Call;
using promote::testing::FakeWorld;
using promote::testing::Fault;
using promote::testing::TempDir;

// Two waves: billing first, then web and search together. Short timings on the fake clock.
const char* kPlan = R"(
apiVersion: promote/v1
name: acme
releases: { repo: releases, tag: "prod-{date}" }
environments:
  dev: { context: dev, namespace: "acme-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: prod, namespace: "acme-{service}-prod", url: "http://{service}.prod.test" }
services:
  - name: billing
    workload: deployment/billing
    image: registry.test/acme/billing
    wave: 1
    probes:
      - { name: charge, post: /charge, expect: 200, golden: true }
      - { name: metrics, get: /metrics, expect: 200 }
  - name: web
    workload: deployment/web
    image: registry.test/acme/web
    wave: 2
    probes: [ { name: home, get: /, expect: 200, golden: true } ]
  - name: search
    workload: deployment/search
    image: registry.test/acme/search
    wave: 2
    probes: [ { name: health, get: /health, expect: 200 } ]
validate: { initialDelay: 0s, interval: 1s, soak: 2s, successes: 2, failureLimit: 1,
            errorLimit: 1, rolloutTimeout: 1m }
rollback: { soak: 2s, successes: 2, timeout: 1m }
)";

const std::string kBilling = "registry.test/acme/billing";
const std::string kWeb = "registry.test/acme/web";
const std::string kSearch = "registry.test/acme/search";

plan::Plan ParseTestPlan() {
  auto plan = plan::ParsePlan(kPlan, "acme.yaml");
  REQUIRE(plan.ok());
  return std::move(plan).value();
}

/// The acme product in DEV and PROD, a release repository, and runs of the real engine.
class Engine {
 public:
  /// `tweak` changes the plan before anything uses it (a freeze window, say).
  explicit Engine(const std::function<void(plan::Plan&)>& tweak = {})
      : plan_(Tweaked(tweak)), world_(plan_) {
    testing::InitReleaseRepo(dir_.path() / "releases");
    world_.Context().releases_repo = dir_.path() / "releases";
    for (const char* env : {"dev", "prod"}) {
      world_.Run(env, "billing", kBilling + ":v1");
      world_.Run(env, "web", kWeb + ":v5.2.0");
      world_.Run(env, "search", kSearch + ":v3");
    }
  }

  FakeWorld& world() { return world_; }
  const plan::Plan& plan() const { return plan_; }

  /// DEV now runs `image` for `service` (a new build proven there).
  void Ship(const std::string& service, const std::string& image) {
    world_.Run("dev", service, image);
  }

  RunRequest Request() const {
    RunRequest request;
    request.source = "dev";
    request.target = "prod";
    return request;
  }

  /// What the dry run decides for `request`: the same path the audit command takes.
  Prepared DryRun(const RunRequest& request) {
    auto prepared = AuditAndPrepare(plan_, request, world_.Context());
    REQUIRE(prepared.ok());
    return std::move(prepared).value();
  }

  PromotionOptions Options(const RunRequest& request, const std::string& run_id) const {
    PromotionOptions options;
    options.request = request;
    options.run_id = run_id;
    options.state_dir = dir_.path() / "state";
    options.run_dir = options.state_dir / "runs" / options.run_id;
    options.report_dir = options.run_dir;
    options.initiator = "ana";
    options.redactor = std::make_shared<Redactor>();
    return options;
  }

  /// Resumes run `run_id`, waiting at the gate, as approved by `by` for `hash`.
  PromotionResult Resume(const std::string& run_id, const std::string& by,
                         const std::string& hash) {
    auto result = Promotion(plan_, Options(Request(), run_id)).Resume(world_.Context(), {by}, hash);
    REQUIRE(result.ok());
    return std::move(result).value();
  }

  /// A real run; its dry run, taken just before, must have decided the same.
  PromotionResult Run(const RunRequest& request) {
    const Decision planned = DryRun(request).plan.decision;
    const PromotionOptions options = Options(request, "run-" + std::to_string(++runs_));
    auto result = Promotion(plan_, options).Run(world_.Context());
    REQUIRE(result.ok());
    CHECK(result->plan.decision == planned);
    return std::move(result).value();
  }
  PromotionResult Run() { return Run(Request()); }

  std::vector<std::string> States(const PromotionResult& result) const {
    return testing::JournalStates(dir_.path() / "state" / "runs" / result.run_id);
  }

  std::vector<adapters::git::ReleaseTag> Releases() const {
    auto repo = adapters::git::ReleaseRepo::Open(dir_.path() / "releases");
    REQUIRE(repo.ok());
    auto releases = repo->Releases();
    REQUIRE(releases.ok());
    return std::move(releases).value();
  }

  /// The one release a test expects, by tag.
  adapters::git::ReleaseTag Release(const std::string& tag) const {
    for (const auto& release : Releases()) {
      if (release.name == tag) return release;
    }
    FAIL("no release " << tag);
    return {};
  }

  const fs::path& dir() const { return dir_.path(); }

 private:
  static plan::Plan Tweaked(const std::function<void(plan::Plan&)>& tweak) {
    plan::Plan plan = ParseTestPlan();
    if (tweak) tweak(plan);
    return plan;
  }

  TempDir dir_{"promote-engine-test"};
  plan::Plan plan_;
  FakeWorld world_;
  int runs_ = 0;
};

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// billing v0.9.0: fine in DEV, 500 on POST /charge in PROD.
void BadBillingInProd(Engine& engine) {
  engine.world().AnswerIn("prod", kBilling + ":v0.9.0", "/charge", 500, "{\"error\":\"no db\"}");
  engine.Ship("billing", kBilling + ":v0.9.0");
}

}  // namespace

TEST_CASE("a healthy promotion validates every wave, the unchanged one too", "[engine]") {
  Engine engine;
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kPromoted);
  CHECK(engine.world().ImageOf("prod", "billing") == kBilling + ":v2");
  // Wave 2 changes nothing and is validated all the same.
  CHECK(engine.States(result) == std::vector<std::string>{"Planned", "Audited", "Approved",
                                                          "Tagged", "Deploying", "Validating",
                                                          "Validating", "Promoted"});
  REQUIRE(result.validations.size() == 2);
  CHECK(result.validations[1].first == "wave 2");
  CHECK(result.validations[1].second.passed);
  CHECK(result.validations[1].second.rounds >= 2);
  CHECK(engine.world().Writes("dev").empty());
}

TEST_CASE("an image a bad release failed on stays refused whatever else changes", "[engine]") {
  Engine engine;
  BadBillingInProd(engine);
  const PromotionResult failed = engine.Run();
  REQUIRE(failed.state == RunState::kRolledBack);
  CHECK(engine.world().ImageOf("prod", "billing") == kBilling + ":v1");
  // The note names the image that failed, not just the release.
  const auto release = engine.Release(failed.tag);
  REQUIRE(release.note.has_value());
  CHECK(release.note->status == ReleaseStatus::kBad);
  REQUIRE(release.note->images.size() == 1);
  CHECK(release.note->images[0].service == "billing");
  CHECK(release.note->images[0].image.image == kBilling + ":v0.9.0");
  CHECK(Has(failed.release_record, "marked bad"));

  // An unrelated change in DEV: the release as a whole differs, billing v0.9.0 does not.
  engine.Ship("web", kWeb + ":v5.2.1");
  const Prepared nightly = engine.DryRun(engine.Request());
  CHECK(nightly.plan.decision == Decision::kRefused);
  const PromotionResult refused = engine.Run();
  CHECK(refused.state == RunState::kRefused);
  CHECK(Has(refused.summary, "billing " + kBilling + ":v0.9.0 failed in release " + failed.tag));
  CHECK(Has(refused.summary, "--force --reason"));
  CHECK(engine.world().Writes("prod").size() == 2);  // the failed run's set and restore only

  SECTION("--force lets it through, and who, which image and why are recorded") {
    RunRequest forced = engine.Request();
    forced.force_reason = "INC-9: it was PROD's database";
    engine.world().Answer(kBilling + ":v0.9.0", "/charge", 200);  // the database is back
    engine.world().AnswerIn("prod", kBilling + ":v0.9.0", "/charge", 200);
    const PromotionResult promoted = engine.Run(forced);
    CHECK(promoted.state == RunState::kPromoted);
    CHECK(Has(promoted.forced, "--force by ana (INC-9: it was PROD's database)"));
    CHECK(Has(promoted.forced, "billing " + kBilling + ":v0.9.0"));
    auto journal = Journal::Open(engine.dir() / "state" / "runs" / promoted.run_id,
                                 std::make_shared<Redactor>());
    REQUIRE(journal.ok());
    bool noted = false;
    for (const auto& event : journal->events()) {
      noted = noted || (event.detail.value("message", "") == "bad images forced" &&
                        event.detail.value("by", "") == "ana" &&
                        event.detail["images"][0].value("service", "") == "billing");
    }
    CHECK(noted);
  }
}

TEST_CASE("a kept service whose golden probe fails refuses the run instead of promoting",
          "[engine]") {
  Engine engine;
  // A rollback that failed left DEV's bad web build in PROD: both run it, login-like home 500s.
  engine.world().Answer(kWeb + ":v5.3.0", "/", 500);
  engine.Ship("web", kWeb + ":v5.3.0");
  engine.world().Run("prod", "web", kWeb + ":v5.3.0");
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult result = engine.Run();
  // Before: wave 2 was skipped unvalidated and the run ended Promoted with PROD not functional.
  CHECK(result.state == RunState::kRefused);
  CHECK(result.state != RunState::kPromoted);
  CHECK(engine.world().Writes("prod").empty());
  CHECK(engine.Releases().empty());
}

TEST_CASE("a run whose rollback fails marks its release bad", "[engine]") {
  Engine engine;
  BadBillingInProd(engine);
  engine.world().FailNext("prod", Call::kRollback, "billing", Fault::kRefused);
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kRollbackFailed);
  REQUIRE_FALSE(result.next_steps.empty());
  CHECK(Has(result.next_steps[0].command,
            "set image deployment/billing billing=" + kBilling + ":v1"));
  const auto release = engine.Release(result.tag);
  REQUIRE(release.note.has_value());
  CHECK(release.note->status == ReleaseStatus::kBad);
  // The next run does not promote the same build again.
  engine.world().Run("prod", "billing", kBilling + ":v1");  // a person restored it
  CHECK(engine.Run().state == RunState::kRefused);
}

TEST_CASE("a rollback keeps trying within its budget while the API server fails",
          "[engine][faults]") {
  Engine engine;
  BadBillingInProd(engine);
  const auto budget = engine.plan().rollback.timeout;

  SECTION("the restore meets 3 failing tries, then the API server is back") {
    engine.world().FailNext("prod", Call::kRollback, "billing", Fault::kApiFailing, 3);
    const auto began = engine.world().Now();
    const PromotionResult result = engine.Run();
    INFO(result.summary);
    CHECK(result.state == RunState::kRolledBack);
    CHECK(engine.world().ImageOf("prod", "billing") == kBilling + ":v1");
    CHECK(engine.world().Calls("prod", Call::kRollback) == 4);
    // Paused 1 + 2 + 4 s between the tries, on the fake clock, well within the budget.
    CHECK(engine.world().Now() - began >= std::chrono::seconds(7));
    const std::string journal =
        testing::ReadFile(engine.dir() / "state" / "runs" / result.run_id / Journal::kFileName);
    CHECK(Has(journal, "\"tries\":4"));
  }
  SECTION("the API server never comes back: RollbackFailed once the budget is spent") {
    engine.world().FailNext("prod", Call::kRollback, "billing", Fault::kApiFailing, 1000);
    const auto began = engine.world().Now();
    const PromotionResult result = engine.Run();
    CHECK(result.state == RunState::kRollbackFailed);
    CHECK(engine.world().ImageOf("prod", "billing") == kBilling + ":v0.9.0");
    const int tries = engine.world().Calls("prod", Call::kRollback);
    CHECK(tries > 4);
    CHECK(tries <= phases::Rollback::kMaxTries);
    CHECK(Has(result.summary, std::to_string(tries) + " tries of the restore"));
    // It gave up at the budget, not before and not long after (the last pause is cut to fit).
    const auto spent = engine.world().Now() - began;
    CHECK(spent >= budget);
    CHECK(spent < budget + std::chrono::seconds(60));
  }
  SECTION("a refusal (no rights) is not tried again") {
    engine.world().FailNext("prod", Call::kRollback, "billing", Fault::kRefused, 1000);
    CHECK(engine.Run().state == RunState::kRollbackFailed);
    CHECK(engine.world().Calls("prod", Call::kRollback) == 1);
  }
  SECTION("a wait whose reads gave up is waited again") {
    // The deploy's wait cannot read PROD (the run rolls back: it cannot tell the rollout went
    // well), then the restore's wait fails twice more before the API server is back.
    engine.world().FailNext("prod", Call::kWait, "billing", Fault::kApiFailing, 3);
    const PromotionResult result = engine.Run();
    INFO(result.summary);
    CHECK(result.state == RunState::kRolledBack);
    CHECK(engine.world().ImageOf("prod", "billing") == kBilling + ":v1");
    CHECK(engine.world().Calls("prod", Call::kWait) == 4);
  }
}

TEST_CASE("a probe that fails in DEV too does not fail PROD, and it is said", "[engine]") {
  Engine engine;
  // billing v2's /metrics is broken everywhere; its golden /charge works.
  engine.world().Answer(kBilling + ":v2", "/metrics", 500);
  engine.Ship("billing", kBilling + ":v2");
  const Prepared planned = engine.DryRun(engine.Request());
  CHECK(planned.plan.decision == Decision::kPromote);
  REQUIRE(planned.plan.waived.count("billing") == 1);
  CHECK(planned.plan.waived.at("billing") == std::vector<std::string>{"metrics"});
  const PromotionResult result = engine.Run();
  // Before: the audit recommended promoting and validation then required /metrics in PROD.
  CHECK(result.state == RunState::kPromoted);
  CHECK(result.validations[0].second.waived == std::vector<std::string>{"billing GET /metrics"});

  SECTION("but a golden probe failing in DEV blocks the promotion") {
    engine.world().Answer(kBilling + ":v3", "/charge", 500);
    engine.Ship("billing", kBilling + ":v3");
    const PromotionResult blocked = engine.Run();
    CHECK(blocked.state == RunState::kRefused);
    CHECK(Has(blocked.summary, "billing is unhealthy in dev"));
  }
}

TEST_CASE("an infrastructure failure leaves the release unverified, not bad", "[engine]") {
  Engine engine;
  engine.Ship("web", kWeb + ":v5.2.1");
  engine.Ship("search", kSearch + ":v4");

  SECTION("a PATCH whose connection dropped after it landed") {
    engine.world().FailNext("prod", Call::kDeploy, "search", Fault::kDroppedAfterWrite);
  }
  SECTION("a rollout that outlived its wait") {
    engine.world().FailNext("prod", Call::kWait, "search", Fault::kTimeout);
  }
  SECTION("probes that got no answer in PROD") {
    engine.world().NoAnswer(kSearch + ":v4", "/health");
    engine.world().AnswerIn("dev", kSearch + ":v4", "/health", 200);
  }
  const PromotionResult result = engine.Run();
  INFO(result.summary);
  CHECK(result.state == RunState::kRolledBack);
  REQUIRE(result.failure.has_value());
  CHECK(result.failure->blame == phases::Blame::kInfrastructure);
  CHECK(engine.world().ImageOf("prod", "web") == kWeb + ":v5.2.0");
  CHECK(engine.world().ImageOf("prod", "search") == kSearch + ":v3");
  const auto release = engine.Release(result.tag);
  REQUIRE(release.note.has_value());
  CHECK(release.note->status == ReleaseStatus::kUnverified);
  CHECK(Has(result.release_record, "unverified"));
  // An unproven release is not a bad one: the next run may promote it without --force.
  engine.world().Answer(kSearch + ":v4", "/health", 200);
  engine.world().AnswerIn("prod", kSearch + ":v4", "/health", 200);
  CHECK(engine.Run().state == RunState::kPromoted);
}

TEST_CASE("a failure before anything changed ends FailedToStart and marks nothing bad",
          "[engine]") {
  Engine engine;
  engine.Ship("billing", kBilling + ":v2");
  // The first write is refused (a chart not found, an auth error): nothing changed.
  engine.world().FailNext("prod", Call::kDeploy, "billing", Fault::kRefused);
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kFailedToStart);
  CHECK(engine.world().Writes("prod").empty());
  CHECK(engine.world().Calls("prod", Call::kRollback) == 0);
  CHECK(Has(result.summary, "nothing in prod changed"));
  REQUIRE(result.next_steps.size() == 2);
  CHECK(Has(result.next_steps[1].command, "dev prod"));
  const auto release = engine.Release(result.tag);
  REQUIRE(release.note.has_value());
  CHECK(release.note->status == ReleaseStatus::kNotDeployed);
  // Once the setup is fixed, the same images go through without --force.
  const PromotionResult again = engine.Run();
  CHECK(again.state == RunState::kPromoted);
  CHECK(again.tag != result.tag);
}

TEST_CASE("new pods that crash-loop judge the image, pods that cannot be pulled do not",
          "[engine]") {
  Engine engine;
  const bool crash = GENERATE(true, false);
  INFO((crash ? "CrashLoopBackOff" : "ImagePullBackOff"));
  engine.Ship("billing", kBilling + ":v0.9.0");
  engine.world().RolloutOfIn("prod", kBilling + ":v0.9.0",
                             crash ? testing::Rollout::kCrashLoops : testing::Rollout::kCannotPull);
  const PromotionResult result = engine.Run();
  REQUIRE(result.state == RunState::kRolledBack);
  CHECK(engine.world().ImageOf("prod", "billing") == kBilling + ":v1");
  CHECK(Has(result.summary, crash ? "crash-loop" : "cannot start"));
  const auto release = engine.Release(result.tag);
  if (crash) {
    REQUIRE(release.note.has_value());
    CHECK(release.note->status == ReleaseStatus::kBad);
    CHECK(Has(result.release_record, "marked bad"));
  } else {
    CHECK_FALSE(Has(result.release_record, "marked bad"));
  }
}

TEST_CASE("a restore plans no new tag and never claims to mark its release bad", "[engine]") {
  Engine engine;
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult first = engine.Run();
  REQUIRE(first.state == RunState::kPromoted);
  engine.Ship("billing", kBilling + ":v3");
  REQUIRE(engine.Run().state == RunState::kPromoted);

  RunRequest restore = engine.Request();
  restore.source = first.tag;
  restore.restore = true;
  const Prepared planned = engine.DryRun(restore);
  CHECK_FALSE(planned.plan.tag.create);
  for (const auto& step : planned.plan.steps) {
    CHECK_FALSE(Has(step.description, "create annotated tag"));
  }

  // The restored release answers 500 now (its database moved): the restore is rolled back.
  engine.world().AnswerIn("prod", kBilling + ":v2", "/charge", 500);
  const PromotionResult result = engine.Run(restore);
  CHECK(result.state == RunState::kRolledBack);
  CHECK_FALSE(Has(result.summary, "marked bad"));
  CHECK(Has(result.release_record, "left as it was"));
  CHECK_FALSE(engine.Release(first.tag).note.has_value());
  CHECK(engine.Releases().size() == 2);
}

TEST_CASE("a rollback is validated over a soak of its own and can fail", "[engine]") {
  Engine engine;
  BadBillingInProd(engine);

  SECTION("healthy again: rolled back after several rounds, with next steps") {
    const PromotionResult result = engine.Run();
    CHECK(result.state == RunState::kRolledBack);
    REQUIRE(result.validations.back().first == "after rollback");
    CHECK(result.validations.back().second.rounds >= 3);  // 2s soak every 1s
    REQUIRE(result.next_steps.size() >= 2);
    CHECK(Has(result.next_steps[0].command, "history prod"));
  }
  SECTION("still unhealthy after the rollback: RollbackFailed with the commands") {
    // The old build passed at the audit, then broke during the run (its database went away).
    engine.world().AnswerInFrom("prod", kBilling + ":v1", "/charge",
                                engine.world().Now() + std::chrono::seconds(1), 503);
    const PromotionResult result = engine.Run();
    // Before: one round without soak, and a target still unhealthy ended RolledBack (exit 1).
    CHECK(result.state == RunState::kRollbackFailed);
    CHECK(Has(result.summary, "still unhealthy"));
    REQUIRE(result.next_steps.size() >= 2);
    CHECK(Has(result.next_steps[0].command, "set image deployment/billing"));
    CHECK(Has(result.next_steps.back().command, "audit dev prod"));
  }
}

TEST_CASE("a rollback to a target already broken before the run is a rollback, not a failure",
          "[engine]") {
  Engine engine;
  // PROD's billing lost its route before the run (the original incident); DEV's v2 works there
  // in DEV but not in PROD.
  engine.world().AnswerIn("prod", kBilling + ":v1", "/charge", 404);
  engine.world().AnswerIn("prod", kBilling + ":v2", "/charge", 500);
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kRolledBack);
  CHECK(Has(result.summary, "answers as it did before the run"));
}

TEST_CASE("a freeze refuses the run and its dry run alike, and an override is journaled",
          "[engine]") {
  Engine engine([](plan::Plan& plan) {
    plan::FreezeWindow window;  // in force whenever the test runs
    window.name = "always";
    window.schedule = "* * * * *";
    window.duration = std::chrono::hours(2);
    plan.environments["prod"].freeze.windows.push_back(window);
  });
  SECTION("nothing pending: nothing to do, frozen or not") {
    CHECK(engine.Run().state == RunState::kNothingToDo);
  }
  SECTION("a change pending: refused after the audit, nothing written") {
    engine.Ship("billing", kBilling + ":v2");
    const PromotionResult refused = engine.Run();
    CHECK(refused.state == RunState::kRefused);
    CHECK(refused.plan.freeze.refuses());
    CHECK(Has(refused.summary, "prod is frozen by window 'always'"));
    CHECK(engine.States(refused) == std::vector<std::string>{"Planned", "Audited", "Refused"});
    CHECK(engine.world().Writes("prod").empty());

    RunRequest overridden = engine.Request();
    overridden.override_freeze = "INC-1: login is down";
    const PromotionResult promoted = engine.Run(overridden);
    CHECK(promoted.state == RunState::kPromoted);
    CHECK(Has(promoted.freeze_override, "overridden by ana: INC-1: login is down"));
  }
}

TEST_CASE("a wave that fails before any image was set ends FailedToStart, not RolledBack",
          "[engine]") {
  Engine engine;
  engine.Ship("web", kWeb + ":v5.2.1");
  // billing (wave 1, unchanged) passed at the audit, then breaks on its own during the run.
  engine.world().AnswerInFrom("prod", kBilling + ":v1", "/metrics",
                              engine.world().Now() + std::chrono::milliseconds(1), 500);
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kFailedToStart);
  CHECK(engine.world().Writes("prod").empty());
  CHECK(Has(result.summary, "nothing in prod changed"));
  const auto release = engine.Release(result.tag);
  REQUIRE(release.note.has_value());
  CHECK(release.note->status == ReleaseStatus::kNotDeployed);
}

TEST_CASE("an unreadable release repository refuses the run: bad images cannot be checked",
          "[engine]") {
  Engine engine;
  engine.Ship("billing", kBilling + ":v2");
  engine.world().Context().releases_repo = engine.dir() / "no-such-repository";
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kRefused);
  CHECK(Has(result.summary, "could not be read, so no image can be checked"));
  CHECK(engine.world().Writes("prod").empty());
}

TEST_CASE("a probe that failed before the run does not make the new image bad", "[engine]") {
  Engine engine;
  // PROD's billing /metrics fails already (its metrics backend is down); DEV's v2 passes it.
  engine.world().AnswerIn("prod", kBilling + ":v1", "/metrics", 500);
  engine.world().AnswerIn("prod", kBilling + ":v2", "/metrics", 500);
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult result = engine.Run();
  CHECK(result.state == RunState::kRolledBack);
  REQUIRE(result.failure.has_value());
  CHECK(result.failure->blame == phases::Blame::kInfrastructure);
  CHECK(engine.Release(result.tag).note->status == ReleaseStatus::kUnverified);
}

/// Billing's success rate as Prometheus would give it: none while PROD runs v1 (no traffic to
/// compute it from), 0.5 once it runs v2, 0.99 in DEV.
class BillingSuccessRate final : public adapters::metrics::MetricSource {
 public:
  explicit BillingSuccessRate(const testing::FakeWorld& world) : world_(world) {}
  std::vector<adapters::probe::ProbeResult> Run(
      const std::vector<adapters::probe::ProbeTarget>& targets) override {
    using Kind = adapters::metrics::QueryAnswer::Kind;
    std::vector<adapters::probe::ProbeResult> results;
    for (const auto& target : targets) {
      const std::string image = world_.ImageOf(target.environment, "billing");
      adapters::metrics::QueryAnswer answer{Kind::kValue, 0.99, ""};
      if (target.environment == "prod") {
        answer = image.rfind(kBilling + ":v1", 0) == 0
                     ? adapters::metrics::QueryAnswer{Kind::kNoData, 0, "no data"}
                     : adapters::metrics::QueryAnswer{Kind::kValue, 0.5, ""};
      }
      results.push_back(
          adapters::metrics::JudgeMetric(target, answer, std::chrono::milliseconds(1)));
    }
    return results;
  }

 private:
  const testing::FakeWorld& world_;
};

TEST_CASE("a metric without a value before the run excuses nothing: the new image is judged",
          "[engine][metrics]") {
  Engine engine([](plan::Plan& plan) {
    for (auto& [name, env] : plan.environments)
      env.prometheus = plan::PrometheusSource{"http://prom", {}};
    plan::Probe rate;
    rate.name = "success-rate";
    rate.method = "METRIC";
    rate.path = rate.name;
    rate.metric.emplace();
    rate.metric->query = "sum(rate(x[1m]))";
    rate.metric->min = 0.95;
    plan.services[0].probes.push_back(rate);  // billing's, not golden
  });
  BillingSuccessRate metrics(engine.world());
  engine.world().Context().metrics = &metrics;
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult result = engine.Run();
  INFO(result.summary);
  CHECK(result.state == RunState::kRolledBack);
  CHECK(result.plan.failing_before.count("billing") == 0);  // unknown then, not failing
  REQUIRE(result.failure.has_value());
  CHECK(result.failure->blame == phases::Blame::kRelease);
  CHECK(engine.Release(result.tag).note->status == ReleaseStatus::kBad);
}

/// A metric source that remembers every query and finds each in range.
class QueryLog final : public adapters::metrics::MetricSource {
 public:
  std::vector<adapters::probe::ProbeResult> Run(
      const std::vector<adapters::probe::ProbeTarget>& targets) override {
    std::vector<adapters::probe::ProbeResult> results;
    for (const auto& target : targets) {
      queries.push_back(target.environment + ": " + target.probe.metric->query);
      results.push_back(adapters::metrics::JudgeMetric(
          target, {adapters::metrics::QueryAnswer::Kind::kValue, 0.99, ""},
          std::chrono::milliseconds(1)));
    }
    return results;
  }
  std::vector<std::string> queries;
};

TEST_CASE("{image} in a metric query is what the service runs: read in the audit, rolled out after",
          "[engine][metrics]") {
  Engine engine([](plan::Plan& plan) {
    for (auto& [name, env] : plan.environments)
      env.prometheus = plan::PrometheusSource{"http://prom", {}};
    plan::Probe rate;
    rate.name = "success-rate";
    rate.method = "METRIC";
    rate.path = rate.name;
    rate.metric.emplace();
    rate.metric->query = R"(rate(x{image="{image}"}[1m]))";
    rate.metric->min = 0.95;
    plan.services[0].probes.push_back(rate);  // billing's
  });
  QueryLog metrics;
  engine.world().Context().metrics = &metrics;
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult result = engine.Run();
  INFO(result.summary);
  REQUIRE(result.state == RunState::kPromoted);
  const std::string deployed = engine.world().ImageOf("prod", "billing");
  CHECK(deployed.rfind(kBilling + ":v2", 0) == 0);
  // The audit: each environment's running image; the validation: the image the wave set.
  const auto& q = metrics.queries;
  const auto seen = [&](const std::string& query) {
    return std::find(q.begin(), q.end(), query) != q.end();
  };
  INFO(Catch::Detail::stringify(q));
  CHECK(seen("dev: rate(x{image=\"" + kBilling + ":v2\"}[1m])"));
  CHECK(seen("prod: rate(x{image=\"" + kBilling + ":v1\"}[1m])"));
  CHECK(seen("prod: rate(x{image=\"" + deployed + "\"}[1m])"));
  for (const auto& query : q) CHECK(query.find("{image}") == std::string::npos);
}

TEST_CASE("an approved run is refused on resume when the decision changed while it waited",
          "[engine]") {
  Engine engine([](plan::Plan& plan) {
    plan.environments["prod"].approval.required = true;
    plan.environments["prod"].approval.approvers = {"cto"};
  });
  engine.Ship("billing", kBilling + ":v2");
  const PromotionResult waiting = engine.Run();
  REQUIRE(waiting.state == RunState::kAwaitingApproval);
  // Meanwhile web, which the run keeps, lost its home page in PROD.
  engine.world().AnswerIn("prod", kWeb + ":v5.2.0", "/", 500);
  const PromotionResult resumed = engine.Resume(waiting.run_id, "cto", waiting.plan.diff_hash);
  CHECK(resumed.state == RunState::kRefused);
  CHECK(Has(resumed.summary, "changed since it was approved"));
  CHECK(engine.world().Writes("prod").empty());
}

}  // namespace promote::engine

namespace promote::engine {
namespace {

/// Caps the size of every file the process writes from the end of the audit on, the way a
/// full disk or a file size limit would stop the journal; restores the limit when destroyed.
class FileSizeCapAfterAudit final : public RunObserver {
 public:
  FileSizeCapAfterAudit(fs::path journal, std::uintmax_t room)
      : journal_(std::move(journal)), room_(room) {
    std::signal(SIGXFSZ, SIG_IGN);  // as promote's main does: EFBIG instead of death
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
  }
  ~FileSizeCapAfterAudit() override { ::setrlimit(RLIMIT_FSIZE, &saved_); }

  void Audited(const phases::AuditReport&, const RunPlan*, const std::string& stage) override {
    if (stage != "audit") return;
    rlimit cap = saved_;
    cap.rlim_cur = static_cast<rlim_t>(fs::file_size(journal_) + room_);
    ::setrlimit(RLIMIT_FSIZE, &cap);
  }
  void Ended(const PromotionResult&) override {}
  void Lift() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  fs::path journal_;
  std::uintmax_t room_;
  rlimit saved_{};
};

}  // namespace

TEST_CASE("a journal that cannot be written stops the run resumable, at every point",
          "[engine][faults]") {
  // From no room at all to room for the whole run: each cap stops the run at another line.
  int mid_deploy = 0;  // stops after some image was set: the case that must lose nothing
  for (std::uintmax_t room : {0, 300, 600, 1000, 1500, 2000, 3000, 4000, 5000, 6500, 10000}) {
    INFO("room for " << room << " more bytes");
    {
      Engine engine;
      engine.Ship("billing", kBilling + ":v2");
      engine.Ship("web", kWeb + ":v6");
      PromotionOptions options = engine.Options(engine.Request(), "capped");
      std::optional<Result<PromotionResult>> ended;
      {
        FileSizeCapAfterAudit cap(options.run_dir / Journal::kFileName, room);
        ended.emplace(Promotion(engine.plan(), options, &cap).Run(engine.world().Context()));
      }
      if (room == 0) REQUIRE_FALSE(ended->ok());  // not even the Approved line fits
      if (ended->ok()) {
        CHECK((*ended)->state == RunState::kPromoted);  // enough room: nothing to stop it
        continue;
      }
      if (!engine.world().Writes("prod").empty()) ++mid_deploy;
      const Error& error = ended->error();
      INFO(error.Format());
      CHECK(error.kind == ErrorKind::kInterrupted);
      CHECK(Has(error.what, "run capped stopped, nothing lost: "));
      CHECK(Has(error.what, "File too large"));
      CHECK(Has(error.fix, "promote resume capped"));
      // The lock file stays, naming the run: nobody else starts on a half-changed target.
      CHECK(Has(testing::ReadFile(options.state_dir / "locks" / "prod.lock"), "capped"));
      // Every image set in PROD had its intent journaled first.
      auto journal = Journal::Open(options.run_dir, options.redactor);
      REQUIRE(journal.ok());
      for (const auto& write : engine.world().Writes("prod")) {
        bool intended = false;
        for (const auto& event : journal->events()) {
          intended = intended || (event.kind == EventKind::kIntent && event.step == "set-image" &&
                                  event.service == write.service);
        }
        CHECK(intended);
      }
      // Room again: the resume finishes the run, each image set once.
      auto resumed = Promotion(engine.plan(), options).Continue(engine.world().Context());
      REQUIRE(resumed.ok());
      CHECK(resumed->state == RunState::kPromoted);
      CHECK(engine.world().ImageOf("prod", "billing").rfind(kBilling + ":v2", 0) == 0);
      CHECK(engine.world().ImageOf("prod", "web").rfind(kWeb + ":v6", 0) == 0);
      CHECK(engine.world().Writes("prod").size() == 2);
      CHECK_FALSE(fs::exists(options.state_dir / "locks" / "prod.lock"));
    }
  }
  CHECK(mid_deploy >= 2);  // with billing set, and with both set (the caps of 3000-5000 bytes)
}

}  // namespace promote::engine
