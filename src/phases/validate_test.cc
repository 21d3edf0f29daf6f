// The validate phase's rules on a fake prober and a fake clock (sleep advances it at once), and
// once against the stand-in's real HTTP service ports on 127.0.0.1.
#include "phases/validate.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "adapters/kube/cluster.h"
#include "adapters/metrics/prometheus.h"
#include "adapters/process/process.h"
#include "core/redactor.h"
#include "phases/context.h"
#include "plan/loader.h"
#include "plan/plan.h"
#include "support/standin.h"

namespace {

using namespace promote::phases;
using promote::adapters::probe::ProbeOutcome;
using promote::adapters::probe::ProbeResult;
using promote::adapters::probe::ProbeTarget;
using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

const char* kPlan = R"(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test" }
services:
  - name: api
    workload: deployment/api
    image: registry.test/api
    probes:
      - { name: stats, get: /stats, expect: 200 }
      - { name: login, post: /login, expect: { not: 404 }, golden: true }
  - name: web
    workload: deployment/web
    image: registry.test/web
    probes: [ { name: home, get: /, expect: 200, golden: true } ]
)";

// 2026-01-01T00:00:00Z.
const TimePoint kStart{seconds(1767225600)};

promote::plan::Plan LoadTestPlan() {
  auto plan = promote::plan::ParsePlan(kPlan, "shop.yaml");
  REQUIRE(plan.ok());
  return std::move(plan).value();
}

/// A clock that only moves when slept on (or when the fake prober "takes time").
struct FakeClock {
  TimePoint now = kStart;
  std::vector<milliseconds> sleeps;
};

/// The outcome of probe `target` in round `round` (1-based).
using Script = std::function<ProbeOutcome(int round, const ProbeTarget& target)>;

/// A prober answering from a script; records when each batch started and how big it was.
class FakeProber final : public promote::adapters::probe::Prober {
 public:
  FakeProber(FakeClock& clock, Script script) : clock_(clock), script_(std::move(script)) {}

  std::vector<ProbeResult> Run(const std::vector<ProbeTarget>& targets) override {
    ++calls;
    started.push_back(clock_.now);
    batch_sizes.push_back(targets.size());
    std::vector<ProbeResult> results;
    for (const auto& target : targets) {
      ProbeResult result;
      result.service = target.service;
      result.environment = target.environment;
      result.probe_name = target.probe.name;
      result.method = target.probe.method;
      result.path = target.probe.path;
      result.golden = target.probe.golden;
      result.verdict.outcome = script_(calls, target);
      switch (result.verdict.outcome) {
        case ProbeOutcome::kPassed:
          result.status = 200;
          result.verdict.note = "ok";
          break;
        case ProbeOutcome::kFailed:
          result.status = target.probe.golden ? 404 : 500;
          result.verdict.note = target.probe.golden ? "route missing" : "server error";
          break;
        case ProbeOutcome::kErrored:
          result.verdict.note = "connection refused";
          break;
      }
      if (retried && retried(calls, target)) {
        result.attempts.push_back({ProbeOutcome::kErrored, -1, milliseconds(0), "refused", ""});
      }
      result.attempts.push_back({result.verdict.outcome, result.status, milliseconds(0), "", ""});
      results.push_back(std::move(result));
    }
    clock_.now += probe_time;
    return results;
  }

  int calls = 0;
  std::vector<TimePoint> started;
  std::vector<size_t> batch_sizes;
  milliseconds probe_time{0};  ///< how long a batch "takes" on the fake clock
  /// Probes whose final (passing) attempt came after an errored one.
  std::function<bool(int round, const ProbeTarget& target)> retried;

 private:
  FakeClock& clock_;
  Script script_;
};

/// No phase of this file may run a process.
class NoProcesses final : public promote::adapters::ProcessRunner {
 public:
  promote::Result<promote::adapters::ProcessResult> Run(
      const promote::adapters::Command&) override {
    FAIL("validate ran a process");
    throw std::logic_error("unreachable");
  }
};

/// What a Context refers to, owned by the test.
struct Fixture {
  promote::Redactor redactor;
  spdlog::logger logger{"test"};  // no sinks: logs go nowhere, but are formatted
  NoProcesses processes;

  Context MakeContext(promote::adapters::probe::Prober& prober) {
    Context context{redactor,
                    logger,
                    processes,
                    prober,
                    [](const std::string& env) -> promote::adapters::kube::Cluster& {
                      FAIL("validate asked for the cluster of " << env);
                      throw std::logic_error("unreachable");
                    },
                    {},
                    std::nullopt};
    logger.set_level(spdlog::level::info);
    return context;
  }
};

/// A context on `clock`: now() reads it, sleep() advances it and records the sleep.
Context FakeTimeContext(Fixture& fixture, FakeProber& prober, FakeClock& clock) {
  Context context = fixture.MakeContext(prober);
  context.now = [&clock] { return clock.now; };
  context.sleep = [&clock](milliseconds duration) {
    clock.sleeps.push_back(duration);
    clock.now += duration;
  };
  return context;
}

promote::plan::ValidationPolicy Policy(milliseconds interval, milliseconds soak, int successes,
                                       int failure_limit, int error_limit) {
  promote::plan::ValidationPolicy policy;
  policy.initial_delay = milliseconds(0);
  policy.interval = interval;
  policy.soak = soak;
  policy.successes = successes;
  policy.failure_limit = failure_limit;
  policy.error_limit = error_limit;
  return policy;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

ProbeOutcome AllPass(int, const ProbeTarget&) {
  return ProbeOutcome::kPassed;
}

}  // namespace

TEST_CASE("validate passes only after the soak, with enough consecutive passes", "[validate]") {
  const auto plan = LoadTestPlan();
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);

  SECTION("soak 5s at 1s: six rounds, the last one at 5s") {
    Validate validate(plan, "prod", {"api", "web"}, Policy(seconds(1), seconds(5), 3, 2, 3));
    const ValidationResult result = validate.Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    CHECK(result.rounds == 6);
    CHECK(prober.calls == 6);
    CHECK(result.consecutive_successes == 6);
    CHECK(result.elapsed == seconds(5));
    CHECK(result.failures == 0);
    CHECK(result.errors == 0);
    CHECK(result.reason == "6 consecutive passes after 5s of soak (6 rounds)");
    REQUIRE(result.history.size() == 6);
    for (const auto& round : result.history) {
      CHECK(round.passed);
      CHECK(round.problems.empty());
    }
    CHECK(result.history.back().number == 6);
    CHECK(result.last_round.size() == 3);
    // Every round is one batch with every probe of both services.
    for (size_t size : prober.batch_sizes) CHECK(size == 3);
  }

  SECTION("without a soak, the successes still have to be reached") {
    Validate validate(plan, "prod", {"api"}, Policy(seconds(1), milliseconds(0), 3, 2, 3));
    const ValidationResult result = validate.Run(context);
    CHECK(result.passed);
    CHECK(result.rounds == 3);
    CHECK(result.consecutive_successes == 3);
    CHECK(prober.batch_sizes.front() == 2);
  }
}

TEST_CASE("validate fails at once on a golden probe's wrong answer, whatever the failure limit",
          "[validate]") {
  const auto plan = LoadTestPlan();
  Fixture fixture;
  FakeClock clock;
  // stats answers 500 in rounds 2, 4 and 5; the golden login answers 404 in round 5 only.
  FakeProber prober(clock, [](int round, const ProbeTarget& target) {
    if (target.probe.name == "stats" && (round == 2 || round == 4 || round == 5)) {
      return ProbeOutcome::kFailed;
    }
    if (target.probe.name == "login" && round == 5) return ProbeOutcome::kFailed;
    return ProbeOutcome::kPassed;
  });
  Context context = FakeTimeContext(fixture, prober, clock);
  // A long soak: the verdict must not wait for it.
  Validate validate(plan, "prod", {"api", "web"}, Policy(seconds(1), seconds(60), 3, 2, 3));
  const ValidationResult result = validate.Run(context);
  INFO(result.reason);
  CHECK_FALSE(result.passed);
  CHECK(result.rounds == 5);
  CHECK(prober.calls == 5);
  CHECK(result.failures == 3);
  CHECK(result.errors == 0);
  CHECK(result.elapsed == seconds(4));
  // The golden probe is named although stats was wrong in more rounds: without it the product
  // is down, so its first wrong answer decides.
  CHECK(result.reason ==
        "golden POST /login answered 404 (route missing) on shop-api-prod: a golden check fails "
        "the validation at once");
  CHECK(result.judged);
  REQUIRE(result.history.size() == 5);
  CHECK(result.history[0].passed);
  CHECK_FALSE(result.history[1].passed);
  CHECK(result.history[1].failed == 1);
  CHECK(result.history[2].passed);
  CHECK(result.history[4].failed == 2);
  REQUIRE(result.history[4].problems.size() == 2);
  CHECK(result.history[4].problems[0].probe_name == "stats");
  CHECK(result.history[4].problems[1].probe_name == "login");
  CHECK(result.last_round.size() == 3);
  CHECK(result.consecutive_successes == 0);
}

TEST_CASE("validate counts errors apart from failures, by consecutive rounds", "[validate]") {
  const auto plan = LoadTestPlan();
  Fixture fixture;
  FakeClock clock;

  SECTION("four consecutive errored rounds exceed an error limit of 3") {
    FakeProber prober(clock, [](int, const ProbeTarget& target) {
      return target.service == "web" ? ProbeOutcome::kErrored : ProbeOutcome::kPassed;
    });
    Context context = FakeTimeContext(fixture, prober, clock);
    Validate validate(plan, "prod", {"api", "web"}, Policy(seconds(1), seconds(60), 3, 2, 3));
    const ValidationResult result = validate.Run(context);
    INFO(result.reason);
    CHECK_FALSE(result.passed);
    CHECK(result.rounds == 4);
    CHECK(prober.calls == 4);
    CHECK(result.errors == 4);
    CHECK(result.failures == 0);
    CHECK(result.reason ==
          "golden GET / got no answer (connection refused) on shop-web-prod: 4 consecutive rounds "
          "without an answer (error limit 3)");
    for (const auto& round : result.history) {
      CHECK(round.errored == 1);
      CHECK(round.failed == 0);
    }
  }

  SECTION("errored and passing rounds alternating never fail, and the errors stay visible") {
    FakeProber prober(clock, [](int round, const ProbeTarget& target) {
      return target.service == "web" && round % 2 == 1 ? ProbeOutcome::kErrored
                                                       : ProbeOutcome::kPassed;
    });
    Context context = FakeTimeContext(fixture, prober, clock);
    Validate validate(plan, "prod", {"api", "web"}, Policy(seconds(1), seconds(5), 1, 2, 1));
    const ValidationResult result = validate.Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    CHECK(result.rounds == 6);
    CHECK(result.errors == 3);
    CHECK(result.failures == 0);
    CHECK(Contains(result.reason, "tolerated 0 failed rounds and 3 errored rounds"));
    REQUIRE(result.history.size() == 6);
    for (const auto& round : result.history) {
      const bool odd = round.number % 2 == 1;
      CHECK(round.passed == !odd);
      CHECK(round.errored == (odd ? 1 : 0));
      if (odd) {
        REQUIRE(round.problems.size() == 1);
        CHECK(round.problems[0].verdict.note == "connection refused");
      }
    }
  }

  SECTION("a probe that passed only after a retry is kept as evidence") {
    FakeProber prober(clock, AllPass);
    prober.retried = [](int round, const ProbeTarget& target) {
      return round == 2 && target.probe.name == "stats";
    };
    Context context = FakeTimeContext(fixture, prober, clock);
    Validate validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(2), 2, 2, 3));
    const ValidationResult result = validate.Run(context);
    CHECK(result.passed);
    REQUIRE(result.history.size() == 3);
    CHECK(result.history[1].passed);
    REQUIRE(result.history[1].problems.size() == 1);
    CHECK(result.history[1].problems[0].attempts.size() == 2);
    CHECK(result.history[1].problems[0].attempts[0].outcome == ProbeOutcome::kErrored);
    CHECK(result.history[0].problems.empty());
  }
}

TEST_CASE("validate sleeps the initial delay first, then starts rounds an interval apart",
          "[validate]") {
  const auto plan = LoadTestPlan();
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  prober.probe_time = milliseconds(300);  // only the rest of the interval is slept
  Context context = FakeTimeContext(fixture, prober, clock);
  auto policy = Policy(seconds(10), seconds(20), 2, 2, 3);
  policy.initial_delay = seconds(2);
  Validate validate(plan, "prod", {"api", "web"}, policy);
  const ValidationResult result = validate.Run(context);
  INFO(result.reason);
  CHECK(result.passed);
  REQUIRE(result.rounds == 3);
  REQUIRE(prober.started.size() == 3);
  CHECK(prober.started[0] == kStart + seconds(2));
  CHECK(prober.started[1] == kStart + seconds(12));
  CHECK(prober.started[2] == kStart + seconds(22));
  CHECK(clock.sleeps ==
        std::vector<milliseconds>{seconds(2), milliseconds(9700), milliseconds(9700)});
  CHECK(result.history[0].at == "2026-01-01T00:00:02Z");
  CHECK(result.history[1].at == "2026-01-01T00:00:12Z");
  CHECK(result.history[2].at == "2026-01-01T00:00:22Z");
  CHECK(result.elapsed == milliseconds(20300));
}

TEST_CASE("validate gives up, bounded, when the soak ends without enough passes", "[validate]") {
  const auto plan = LoadTestPlan();
  Fixture fixture;
  FakeClock clock;

  SECTION("errored rounds under the limit never let two passes follow each other") {
    FakeProber prober(clock, [](int round, const ProbeTarget&) {
      return round % 2 == 1 ? ProbeOutcome::kErrored : ProbeOutcome::kPassed;
    });
    Context context = FakeTimeContext(fixture, prober, clock);
    // Gives up once 3s + 2 × 1s + 1s have passed since the first round: at the round at 6s.
    Validate validate(plan, "prod", {"web"}, Policy(seconds(1), seconds(3), 2, 2, 3));
    const ValidationResult result = validate.Run(context);
    INFO(result.reason);
    CHECK_FALSE(result.passed);
    CHECK(result.rounds == 7);
    CHECK(prober.calls == 7);
    CHECK(result.elapsed == seconds(6));
    CHECK(result.reason ==
          "only 0 consecutive passes of 2 needed after soak (3s); gave up after 7 rounds");
  }

  SECTION("a clock that never moves cannot make it loop forever") {
    FakeProber prober(clock, AllPass);
    Context context = fixture.MakeContext(prober);
    context.now = [] { return kStart; };
    context.sleep = [](milliseconds) {};
    Validate validate(plan, "prod", {"web"}, Policy(seconds(1), seconds(5), 3, 2, 3));
    const ValidationResult result = validate.Run(context);
    INFO(result.reason);
    CHECK_FALSE(result.passed);
    CHECK(result.rounds == 14);  // (5s + 4 × 1s) / 1s + 3 + 2
    CHECK(Contains(result.reason, "no verdict after 14 rounds"));
  }
}

TEST_CASE("validate names what it cannot validate", "[validate]") {
  const auto plan = LoadTestPlan();
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  const auto policy = Policy(seconds(1), seconds(5), 3, 2, 3);

  const ValidationResult unknown_env = Validate(plan, "staging", {"api"}, policy).Run(context);
  CHECK_FALSE(unknown_env.passed);
  CHECK(unknown_env.reason == "environment staging is not in plan shop");

  const ValidationResult unknown_service = Validate(plan, "prod", {"db"}, policy).Run(context);
  CHECK_FALSE(unknown_service.passed);
  CHECK(unknown_service.reason == "service db is not in plan shop");
  CHECK(prober.calls == 0);
}

TEST_CASE("validate against the stand-in: PROD api fails on login 404, website passes",
          "[validate][standin]") {
  promote::testing::StandIn standin;
  auto loaded = promote::plan::LoadPlan(std::string(PROMOTE_SOURCE_DIR) + "/plans/keybuzz.yaml");
  REQUIRE(loaded.ok());
  const promote::plan::Plan plan = std::move(loaded).value();

  Fixture fixture;
  promote::adapters::probe::HttpProber prober(nullptr);
  Context context = fixture.MakeContext(prober);
  for (const auto& service : plan.services) {
    context.endpoints["prod"][service.name] = standin.Endpoint("prod", service.name);
  }
  // The website's www probe goes to its `base`, which the stand-in serves on the same port.
  for (const auto& base : plan.ProbeBases()) {
    context.endpoints["prod"][base] = standin.Endpoint("prod", base);
  }
  auto policy = Policy(milliseconds(200), milliseconds(600), 2, 1, 2);

  const ValidationResult api = Validate(plan, "prod", {"api"}, policy).Run(context);
  INFO(api.reason);
  CHECK_FALSE(api.passed);
  CHECK(api.rounds == 1);  // a golden route's wrong answer decides at once
  CHECK(api.failures == 1);
  CHECK(Contains(api.reason,
                 "golden POST /auth/login answered 404 (route missing) on "
                 "keybuzz-api-prod: a golden check fails the validation at once"));
  CHECK(api.last_round.size() == plan.FindService("api")->probes.size());

  const ValidationResult website = Validate(plan, "prod", {"website"}, policy).Run(context);
  INFO(website.reason);
  CHECK(website.passed);
  CHECK(website.rounds >= 2);
  CHECK(website.consecutive_successes >= 2);
  CHECK(website.elapsed >= milliseconds(600));
  CHECK(website.failures == 0);
  REQUIRE(website.last_round.size() == 2);  // keybuzz.test and www.keybuzz.test
  CHECK(website.last_round[0].status == 200);
  CHECK(website.last_round[1].probe_name == "www");
  CHECK(website.last_round[1].status == 200);
}

namespace {

/// Metric values from a script: round (1-based) and check → the value, or nullopt for no data.
class FakeMetrics final : public promote::adapters::metrics::MetricSource {
 public:
  using Values = std::function<std::optional<double>(int round, const ProbeTarget& target)>;
  explicit FakeMetrics(Values values) : values_(std::move(values)) {}

  std::vector<ProbeResult> Run(const std::vector<ProbeTarget>& targets) override {
    ++calls;
    std::vector<ProbeResult> results;
    for (const auto& target : targets) {
      queries.push_back(target.probe.metric->query);
      const auto value = values_(calls, target);
      using Kind = promote::adapters::metrics::QueryAnswer::Kind;
      results.push_back(promote::adapters::metrics::JudgeMetric(
          target, {value ? Kind::kValue : Kind::kNoData, value.value_or(0), "no data"},
          milliseconds(0)));
    }
    return results;
  }

  int calls = 0;
  std::vector<std::string> queries;

 private:
  Values values_;
};

const char* kMetricsPlan = R"(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test",
         prometheus: { url: "http://prometheus.dev.test" } }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          prometheus: { url: "http://prometheus.prod.test" } }
services:
  - name: api
    workload: deployment/api
    image: registry.test/api
    probes: [ { name: login, post: /login, expect: { not: 404 } } ]
    metrics:
      - name: success-rate
        query: 'sum(rate(req{ns="{namespace}",code!~"5.."}[{interval}])) / sum(rate(req{ns="{namespace}"}[{interval}]))'
        min: 0.95
        golden: true
validate: { interval: 1s }
)";

}  // namespace

TEST_CASE("validate judges a metric check like a probe: out of range fails, no data errs",
          "[validate][metrics]") {
  auto loaded = promote::plan::ParsePlan(kMetricsPlan, "shop.yaml");
  REQUIRE(loaded);
  const auto& plan = *loaded;
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);  // every HTTP probe passes throughout
  Context context = FakeTimeContext(fixture, prober, clock);

  SECTION("a success rate below its min fails the wave, judged, although every probe passes") {
    FakeMetrics metrics([](int round, const ProbeTarget&) { return round == 1 ? 0.99 : 0.9; });
    context.metrics = &metrics;
    const ValidationResult result =
        Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(10), 3, 1, 3)).Run(context);
    INFO(result.reason);
    CHECK_FALSE(result.passed);
    CHECK(result.judged);
    CHECK(result.rounds == 2);  // round 2 fails, and a golden check decides at once
    CHECK(result.reason ==
          "golden METRIC success-rate measured 0.9, below min 0.95 on shop-api-prod: a golden "
          "check fails the validation at once");
    CHECK(result.failed_probes.at("api") == std::vector<std::string>{"success-rate"});
    // The query went out with its placeholders filled in.
    CHECK(
        metrics.queries.front() ==
        R"(sum(rate(req{ns="shop-api-prod",code!~"5.."}[1s])) / sum(rate(req{ns="shop-api-prod"}[1s])))");
    CHECK(prober.batch_sizes.front() == 1);  // the prober never sees a metric check
  }
  SECTION("no data counts against the error limit, not as a failure") {
    FakeMetrics metrics([](int, const ProbeTarget&) { return std::nullopt; });
    context.metrics = &metrics;
    const ValidationResult result =
        Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(10), 3, 1, 2)).Run(context);
    CHECK_FALSE(result.passed);
    CHECK_FALSE(result.judged);
    CHECK(result.failures == 0);
    CHECK(result.errors == 3);
    CHECK_THAT(result.reason, Catch::Contains("got no value (no data)"));
  }
  SECTION("without a metric source the check is errored, never passed") {
    const ValidationResult result =
        Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(2), 1, 1, 0)).Run(context);
    CHECK_FALSE(result.passed);
    CHECK_THAT(result.reason, Catch::Contains("Prometheus unreachable"));
  }
  SECTION("after a rollback it is not evaluated, and the verdict says so") {
    // Prometheus still holds the rolled-back build's samples: they would judge the build that
    // is gone. The probes judge the release that is back.
    FakeMetrics metrics([](int, const ProbeTarget&) { return 0.5; });
    context.metrics = &metrics;
    const ValidationResult result =
        Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(2), 2, 1, 1), {},
                 GoldenWaivers::kAllowed, MetricChecks::kSkippedAfterRollback)
            .Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    CHECK(metrics.calls == 0);
    CHECK_THAT(result.reason, Catch::EndsWith("; not evaluated after the rollback, while "
                                              "Prometheus still holds the rolled-back build's "
                                              "samples: api METRIC success-rate"));
  }
  SECTION("in range, it passes with the probes") {
    FakeMetrics metrics([](int, const ProbeTarget&) { return 0.999; });
    context.metrics = &metrics;
    const ValidationResult result =
        Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(2), 2, 1, 1)).Run(context);
    CHECK(result.passed);
    REQUIRE(result.last_round.size() == 2);
    CHECK(result.last_round[1].metric);
    CHECK(result.last_round[1].verdict.note == "0.999 (min 0.95)");
  }
}

namespace {

/// A plan whose api brings its metric checks from an Argo Rollouts AnalysisTemplate of
/// tests/plans/analysis, every HTTP probe left out.
promote::plan::Plan TemplatePlan(const std::string& file, const std::string& args,
                                 const std::string& more = "") {
  const std::string path = std::string(PROMOTE_SOURCE_DIR) + "/tests/plans/analysis/" + file;
  auto loaded = promote::plan::ParsePlan(R"(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test",
         prometheus: { url: "http://prometheus.dev.test" } }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          prometheus: { url: "http://prometheus.prod.test" } }
services:
  - name: api
    workload: deployment/api
    image: registry.test/api
    metrics:
      - { analysisTemplate: )" + path +
                                             ", args: " + args + more + R"( }
    probes: [ { name: health, get: /health } ]
validate: { interval: 1s }
)",
                                         "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  return *std::move(loaded);
}

}  // namespace

TEST_CASE("a template's metric is measured and limited by its own interval, count and limits",
          "[validate][metrics]") {
  // tolerant.yaml: every 1 s, 3 times; pass at ≥ 0.95, fail below 0.5, inconclusive between;
  // failureLimit 1, consecutiveErrorLimit 2, inconclusiveLimit 1.
  const auto plan = TemplatePlan("tolerant.yaml", "{ namespace: \"{namespace}\" }");
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  const auto policy = Policy(seconds(1), seconds(6), 2, 0, 0);  // the plan's own limits: none

  SECTION("three passing measurements, however long the soak") {
    FakeMetrics metrics([](int, const ProbeTarget&) { return 0.99; });
    context.metrics = &metrics;
    const ValidationResult result = Validate(plan, "prod", {"api"}, policy).Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    CHECK(result.rounds >= 7);
    CHECK(metrics.calls == 3);  // count: 3
    CHECK(metrics.queries.front() == R"(up{namespace="shop-api-prod",job="web"})");
  }
  SECTION("one failed measurement is tolerated (failure limit 1), its evidence kept") {
    FakeMetrics metrics([](int n, const ProbeTarget&) { return n == 1 ? 0.3 : 0.99; });
    context.metrics = &metrics;
    const ValidationResult result = Validate(plan, "prod", {"api"}, policy).Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    REQUIRE_FALSE(result.history.empty());
    CHECK(result.history[0].failed == 1);
    CHECK_FALSE(result.history[0].passed);
    REQUIRE(result.history[0].problems.size() == 1);
    CHECK(result.history[0].problems[0].verdict.note == "0.3, failure: result[0] < 0.5");
    CHECK_THAT(result.reason, Catch::EndsWith("; METRIC availability within its limits: 1 failed "
                                              "of 3 measurements"));
  }
  SECTION("a second failed measurement exceeds it: judged, naming the count") {
    FakeMetrics metrics([](int n, const ProbeTarget&) { return n <= 2 ? 0.3 : 0.99; });
    context.metrics = &metrics;
    const ValidationResult result = Validate(plan, "prod", {"api"}, policy).Run(context);
    CHECK_FALSE(result.passed);
    CHECK(result.judged);
    CHECK(result.rounds == 2);
    CHECK(result.reason ==
          "METRIC availability measured 0.3, failure: result[0] < 0.5 in 2 measurements of 2 "
          "(failure limit 1) on shop-api-prod");
    CHECK(result.failed_probes.at("api") == std::vector<std::string>{"availability"});
  }
  SECTION("a value between the conditions is inconclusive: no verdict on the release") {
    FakeMetrics metrics([](int, const ProbeTarget&) { return 0.7; });
    context.metrics = &metrics;
    const ValidationResult result = Validate(plan, "prod", {"api"}, policy).Run(context);
    CHECK_FALSE(result.passed);
    CHECK_FALSE(result.judged);
    CHECK(result.rounds == 2);
    CHECK_THAT(result.reason,
               Catch::Contains("2 inconclusive measurements (inconclusive limit 1)"));
    CHECK(result.last_round.back().verdict.note == "0.7, inconclusive");
  }
  SECTION("no value three times in a row exceeds the consecutive error limit 2") {
    FakeMetrics metrics([](int, const ProbeTarget&) { return std::nullopt; });
    context.metrics = &metrics;
    const ValidationResult result = Validate(plan, "prod", {"api"}, policy).Run(context);
    CHECK_FALSE(result.passed);
    CHECK_FALSE(result.judged);
    CHECK(result.rounds == 3);
    CHECK_THAT(result.reason,
               Catch::Contains("3 consecutive measurements without a value (consecutive error "
                               "limit 2)"));
  }
}

TEST_CASE("a tolerated template measurement is never named as the plan's rounds' reason",
          "[validate][metrics]") {
  // The golden availability check fails its 2nd measurement, within its failure limit 1; the
  // health probe fails rounds 1 and 2, past the plan's failure limit 1.
  const auto plan =
      TemplatePlan("tolerant.yaml", "{ namespace: \"{namespace}\" }", ", golden: true");
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, [](int round, const ProbeTarget&) {
    return round <= 2 ? ProbeOutcome::kFailed : ProbeOutcome::kPassed;
  });
  Context context = FakeTimeContext(fixture, prober, clock);
  FakeMetrics metrics([](int n, const ProbeTarget&) { return n == 2 ? 0.3 : 0.99; });
  context.metrics = &metrics;
  const ValidationResult result =
      Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(6), 2, 1, 3)).Run(context);
  INFO(result.reason);
  CHECK_FALSE(result.passed);
  CHECK(result.rounds == 2);
  CHECK_THAT(result.reason, Catch::StartsWith("GET /health"));
  CHECK(result.failed_probes.at("api") == std::vector<std::string>{"health"});
}

TEST_CASE("Argo's documented success-rate template: one measurement per 5 m interval",
          "[validate][metrics]") {
  const auto plan = TemplatePlan("success-rate.yaml",
                                 "{ service-name: \"{service}.{namespace}.svc.cluster.local\" }");
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  // Below 0.95 every time, but failureLimit 3 tolerates it: a 6 s validation measures once.
  FakeMetrics metrics([](int, const ProbeTarget&) { return 0.9; });
  context.metrics = &metrics;
  const ValidationResult result =
      Validate(plan, "prod", {"api"}, Policy(seconds(1), seconds(6), 2, 0, 0)).Run(context);
  INFO(result.reason);
  CHECK(result.passed);
  CHECK(metrics.calls == 1);
  CHECK(metrics.queries.front().find(
            R"(destination_service=~"api.shop-api-prod.svc.cluster.local")") != std::string::npos);
}

TEST_CASE("a plan's metric check may bring its own limits, and count no data as inconclusive",
          "[validate][metrics]") {
  std::string text = kMetricsPlan;
  text.replace(text.find("        golden: true\n"), 21,
               "        failureLimit: 1\n        count: 4\n        noData: inconclusive\n"
               "        inconclusiveLimit: 1\n");
  auto loaded = promote::plan::ParsePlan(text, "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  const auto& limits = loaded->services[0].probes.back().metric->limits;
  REQUIRE(limits);
  CHECK(limits->count == 4);
  CHECK_FALSE(limits->interval);                // every round of the plan's
  CHECK(limits->consecutive_error_limit == 4);  // Argo's default for what is not given
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  // The plan's rounds tolerate nothing: only the check's own limits can tolerate its misses.
  const auto policy = Policy(seconds(1), seconds(2), 1, 0, 0);

  SECTION("one value out of range and one round without data are both tolerated") {
    FakeMetrics metrics([](int n, const ProbeTarget&) -> std::optional<double> {
      if (n == 2) return std::nullopt;
      return n == 3 ? 0.5 : 0.99;
    });
    context.metrics = &metrics;
    std::ostringstream log;
    fixture.logger.sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_st>(log));
    const ValidationResult result = Validate(*loaded, "prod", {"api"}, policy).Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    // The round log counts a measurement without data apart from the errors.
    CHECK_THAT(log.str(), Catch::Contains("round 2: 1/2 passed, 0 failed, 0 errored, "
                                          "1 inconclusive (METRIC success-rate"));
    CHECK(metrics.calls == 4);  // its count, although the soak needed 3 rounds
    CHECK_THAT(result.reason, Catch::EndsWith("; METRIC success-rate within its limits: 1 failed, "
                                              "1 inconclusive of 4 measurements"));
  }
  SECTION("a second round without data exceeds the inconclusive limit: no verdict") {
    FakeMetrics metrics([](int n, const ProbeTarget&) -> std::optional<double> {
      if (n <= 2) return std::nullopt;
      return 0.99;
    });
    context.metrics = &metrics;
    const ValidationResult result = Validate(*loaded, "prod", {"api"}, policy).Run(context);
    CHECK_FALSE(result.passed);
    CHECK_FALSE(result.judged);
    CHECK(result.rounds == 2);
    CHECK_THAT(result.reason, Catch::Contains("got no value (no data, inconclusive)"));
    CHECK_THAT(result.reason,
               Catch::Contains("2 inconclusive measurements (inconclusive limit 1)"));
  }
  SECTION("a second value out of range exceeds its failure limit: judged") {
    FakeMetrics metrics([](int n, const ProbeTarget&) { return n <= 2 ? 0.5 : 0.99; });
    context.metrics = &metrics;
    const ValidationResult result = Validate(*loaded, "prod", {"api"}, policy).Run(context);
    CHECK_FALSE(result.passed);
    CHECK(result.judged);
    CHECK(result.reason ==
          "METRIC success-rate measured 0.5, below min 0.95 in 2 measurements of 2 (failure "
          "limit 1) on shop-api-prod");
  }
}

TEST_CASE("validate fills {image} with the image each service runs after its wave",
          "[validate][metrics]") {
  std::string text = kMetricsPlan;
  text.replace(text.find(R"(req{ns="{namespace}",code!~"5.."})"), 33,
               R"(req{ns="{namespace}",image="{image}",code!~"5.."})");
  auto loaded = promote::plan::ParsePlan(text, "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  FakeMetrics metrics([](int, const ProbeTarget&) { return 0.99; });
  context.metrics = &metrics;
  const ValidationResult result =
      Validate(*loaded, "prod", {"api"}, Policy(seconds(1), seconds(1), 1, 0, 0), {},
               GoldenWaivers::kNever, MetricChecks::kEvaluated, {{"api", "registry.test/api:2"}})
          .Run(context);
  CHECK(result.passed);
  REQUIRE_FALSE(metrics.queries.empty());
  CHECK_THAT(
      metrics.queries.front(),
      Catch::StartsWith(
          R"(sum(rate(req{ns="shop-api-prod",image="registry.test/api:2",code!~"5.."}[1s])))"));
}

TEST_CASE("validate sends no query whose {image} it does not know", "[validate][metrics]") {
  std::string text = kMetricsPlan;
  text.replace(text.find(R"(req{ns="{namespace}",code!~"5.."})"), 33,
               R"(req{ns="{namespace}",image="{image}",code!~"5.."})");
  auto loaded = promote::plan::ParsePlan(text, "shop.yaml");
  REQUIRE(loaded);
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  FakeMetrics metrics([](int, const ProbeTarget&) { return 0.99; });
  context.metrics = &metrics;
  // No images: a run plan journaled before {image} existed, say.
  const ValidationResult result =
      Validate(*loaded, "prod", {"api"}, Policy(seconds(1), seconds(1), 1, 0, 0)).Run(context);
  CHECK_FALSE(result.passed);
  CHECK_FALSE(result.judged);  // image="" would match series of no image at all: no value
  CHECK(metrics.calls == 0);
  CHECK_THAT(result.reason, Catch::Contains("got no value (image unknown)"));
}

TEST_CASE("the environment's own checks are validated with every wave, and judge no image",
          "[validate][metrics]") {
  const std::string text = std::string(kMetricsPlan) + R"(metrics:
  - { name: error-budget, query: 'sum(rate(errors{env="{env}"}[{interval}]))', max: 0.1 }
)";
  auto loaded = promote::plan::ParsePlan(text, "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  REQUIRE(loaded->environment_checks.size() == 1);
  Fixture fixture;
  FakeClock clock;
  FakeProber prober(clock, AllPass);
  Context context = FakeTimeContext(fixture, prober, clock);
  // The api's success rate is fine; the environment's error budget is spent.
  FakeMetrics metrics([](int, const ProbeTarget& target) -> std::optional<double> {
    return target.service.empty() ? 0.5 : 0.99;
  });
  context.metrics = &metrics;
  const auto policy = Policy(seconds(1), seconds(2), 1, 1, 1);

  SECTION("a value out of range fails the wave, naming the environment, and judges nothing") {
    const ValidationResult result = Validate(*loaded, "prod", {"api"}, policy).Run(context);
    INFO(result.reason);
    CHECK_FALSE(result.passed);
    CHECK_FALSE(result.judged);  // no image to name: the release is unverified, not bad
    CHECK(result.failed_services.empty());
    CHECK(result.reason ==
          "METRIC error-budget measured 0.5, above max 0.1 in 2 rounds (failure limit 1) in prod");
    CHECK(std::find(metrics.queries.begin(), metrics.queries.end(),
                    R"(sum(rate(errors{env="prod"}[1s])))") != metrics.queries.end());
    REQUIRE_FALSE(result.history.empty());
    CHECK(result.history[0].problems.at(0).service.empty());
  }
  SECTION("when it decides, a service's tolerated miss in the same round judges nothing") {
    // The api's login fails once (round 2), within the failure limit 1; the environment's
    // check fails rounds 1 and 2 and decides.
    FakeProber blip(clock, [](int round, const ProbeTarget&) {
      return round == 2 ? ProbeOutcome::kFailed : ProbeOutcome::kPassed;
    });
    Context blipped = FakeTimeContext(fixture, blip, clock);
    blipped.metrics = &metrics;
    const ValidationResult result = Validate(*loaded, "prod", {"api"}, policy).Run(blipped);
    INFO(result.reason);
    CHECK_FALSE(result.passed);
    CHECK_THAT(result.reason, Catch::StartsWith("METRIC error-budget"));
    CHECK_FALSE(result.judged);
    CHECK(result.failed_services.empty());
  }
  SECTION("one the source fails too is waived, like a probe") {
    const ValidationResult result =
        Validate(*loaded, "prod", {"api"}, policy, {{"", {"error-budget"}}}).Run(context);
    INFO(result.reason);
    CHECK(result.passed);
    CHECK(result.waived == std::vector<std::string>{"the environment's METRIC error-budget"});
  }
  SECTION("after a rollback it is not evaluated, as a service's metric") {
    const ValidationResult result =
        Validate(*loaded, "prod", {"api"}, policy, {}, GoldenWaivers::kAllowed,
                 MetricChecks::kSkippedAfterRollback)
            .Run(context);
    CHECK(result.passed);
    CHECK_THAT(result.reason, Catch::EndsWith("the environment's METRIC error-budget"));
  }
}
