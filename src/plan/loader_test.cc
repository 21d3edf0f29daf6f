#include "plan/loader.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support/files.h"

namespace promote::plan {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = PROMOTE_SOURCE_DIR;
const fs::path kBadDir = kSourceDir / "tests/plans/bad";
const fs::path kGoodDir = kSourceDir / "tests/plans/good";

/// One row of tests/plans/bad/expected.tsv.
struct Expectation {
  std::string line_col;
  std::vector<std::string> fragments;
};

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, '\t');) cells.push_back(cell);
  return cells;
}

std::map<std::string, Expectation> ReadExpectations() {
  std::ifstream in(kBadDir / "expected.tsv");
  REQUIRE(in.good());
  std::map<std::string, Expectation> rows;
  std::vector<std::string> malformed;  // fewer than 3 cells, or a file listed twice
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> cells = SplitTabs(line);
    if (cells.size() < 3 || rows.count(cells[0]) != 0) {
      malformed.push_back(line);
      continue;
    }
    rows[cells[0]] = Expectation{cells[1], {cells.begin() + 2, cells.end()}};
  }
  CHECK(malformed == std::vector<std::string>{});
  return rows;
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const char* ChartSourceName(HelmTarget::ChartSource source) {
  switch (source) {
    case HelmTarget::ChartSource::kLocalFolder:
      return "local-folder";
    case HelmTarget::ChartSource::kLocalArchive:
      return "local-archive";
    case HelmTarget::ChartSource::kRepository:
      return "repository";
    case HelmTarget::ChartSource::kRemote:
      return "remote";
  }
  return "?";
}

/// Every value of a plan as text (source_file left out), so two plans compare with a readable diff.
std::string Dump(const Plan& plan) {
  std::ostringstream out;
  out << "name=" << plan.name << "\nreleases=" << plan.releases.repo << "|"
      << plan.releases.tag_template << "|" << plan.releases.remote.value_or("-") << "\n";
  for (const auto& name : plan.secret_env) out << "secretEnv " << name << "\n";
  for (const auto& [key, env] : plan.environments) {
    out << "env " << key << " name=" << env.name << " context=" << env.context
        << " kubeconfig=" << env.kubeconfig.value_or("-")
        << " driver=" << (env.driver == Driver::kHelm ? "helm" : "kubectl")
        << " ns=" << env.namespace_template << " url=" << env.url_template << "\n";
    for (const auto& [service, url] : env.urls) out << "  url " << service << "=" << url << "\n";
    for (const auto& secret : env.secrets) out << "  secret " << secret << "\n";
    out << "  approval " << env.approval.required << " " << env.approval.allow_self_approval << " "
        << env.approval.count;
    for (const auto& approver : env.approval.approvers) out << " " << approver;
    out << "\n";
    out << "  lock " << (env.lock.backend == LockPolicy::Backend::kLease ? "lease" : "file") << " "
        << env.lock.lease_namespace << " " << env.lock.lease_name << " "
        << env.lock.lease_duration.count() << "\n";
    out << "  freeze " << env.freeze.time_zone << " requireDigest=" << env.require_digest << "\n";
    for (const FreezeWindow& w : env.freeze.windows) {
      out << "    window " << w.name << " schedule=" << w.schedule
          << " duration=" << w.duration.count()
          << " from=" << (w.from ? w.from->time_since_epoch().count() : -1)
          << " until=" << (w.until ? w.until->time_since_epoch().count() : -1)
          << " reason=" << w.reason << "\n";
    }
  }
  for (const Service& s : plan.services) {
    out << "service " << s.name << " " << s.workload_kind << "/" << s.workload_name
        << " container=" << s.container << " image=" << s.image << " wave=" << s.wave << "\n";
    for (const auto& repository : s.repositories) out << "  repository " << repository << "\n";
    if (s.helm) {
      out << "  helm " << s.helm->release << " " << s.helm->chart << " "
          << ChartSourceName(s.helm->chart_source) << " " << s.helm->values_key << "\n";
    }
    for (const Probe& p : s.probes) {
      out << "  probe " << p.name << ": " << p.method << " " << p.path << " expect "
          << p.expect.Describe() << " body=" << p.body.value_or("-")
          << " contains=" << p.body_contains.value_or("-") << " timeout=" << p.timeout.count()
          << " retries=" << p.retries << " golden=" << p.golden;
      if (p.json) out << " json " << p.json->path << "=" << p.json->equals;
      for (const auto& [header, value] : p.headers) out << " header " << header << "=" << value;
      out << "\n";
    }
  }
  const ValidationPolicy& v = plan.validate;
  out << "validate " << v.initial_delay.count() << " " << v.interval.count() << " "
      << v.soak.count() << " " << v.successes << " " << v.failure_limit << " " << v.error_limit
      << " " << v.rollout_timeout.count() << "\n";
  const RollbackPolicy& r = plan.rollback;
  out << "rollback " << r.soak.count() << " " << r.successes << " " << r.timeout.count() << "\n";
  for (const auto& [boundary, hooks] : plan.hooks) {
    out << "hooks " << boundary;
    for (const auto& hook : hooks) out << " " << hook;
    out << "\n";
  }
  return out.str();
}

const Probe& FindProbe(const Service& service, const std::string& name) {
  for (const Probe& probe : service.probes) {
    if (probe.name == name) return probe;
  }
  FAIL("no probe " << name << " in service " << service.name);
  throw std::logic_error("unreachable");
}

constexpr const char* kMinimalPlan = R"(apiVersion: promote/v1
name: mini
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "mini-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: prod, namespace: "mini-{service}-prod", url: "http://{service}.prod.test" }
services:
  - name: api
    workload: deployment/mini-api
    image: registry.test/mini-api
    probes:
      - get: /health
)";

}  // namespace

TEST_CASE("every bad plan has a row in expected.tsv and every row a file", "[plan]") {
  const std::map<std::string, Expectation> expectations = ReadExpectations();

  // A new file without a row (or a row for a deleted file) fails here, not silently.
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(kBadDir)) {
    const std::string name = entry.path().filename().string();
    if (name != "expected.tsv") files.insert(name);
  }
  for (const std::string& file : files) {
    INFO("file without a row in expected.tsv: " << file);
    CHECK(expectations.count(file) == 1);
  }
  for (const auto& [file, expectation] : expectations) {
    INFO("row in expected.tsv without a file: " << file);
    CHECK(files.count(file) == 1);
  }
  CHECK(expectations.size() >= 35);
}

TEST_CASE("every bad plan fails with its expected location, message and fix", "[plan]") {
  const std::map<std::string, Expectation> expectations = ReadExpectations();
  for (const auto& [file, expectation] : expectations) {
    DYNAMIC_SECTION(file) {
      const Result<Plan> plan = LoadPlan(kBadDir / file);
      REQUIRE_FALSE(plan.ok());
      const Error& error = plan.error();
      INFO(error.Format());
      CHECK(error.kind == ErrorKind::kInvalidPlan);
      // A problem in a file the plan brings in (an AnalysisTemplate) is located in that file.
      const bool elsewhere = expectation.line_col.find('/') != std::string::npos;
      CHECK(EndsWith(error.where,
                     elsewhere ? expectation.line_col : file + ":" + expectation.line_col));
      CHECK_FALSE(error.fix.empty());
      for (const std::string& fragment : expectation.fragments) {
        INFO("expected fragment: " << fragment);
        CHECK(error.Format().find(fragment) != std::string::npos);
      }
    }
  }
}

TEST_CASE("the YAML and JSON forms of one plan load to the same values", "[plan]") {
  const Result<Plan> yaml = LoadPlan(kGoodDir / "shop.yaml");
  INFO((yaml.ok() ? "" : yaml.error().Format()));
  REQUIRE(yaml.ok());
  const Result<Plan> json = LoadPlan(kGoodDir / "shop.json");
  INFO((json.ok() ? "" : json.error().Format()));
  REQUIRE(json.ok());
  CHECK(Dump(*yaml) == Dump(*json));
  CHECK(yaml->source_file == (kGoodDir / "shop.yaml").string());
}

TEST_CASE("the shop plan's values, shorthands and defaults", "[plan]") {
  const Result<Plan> loaded = LoadPlan(kGoodDir / "shop.yaml");
  REQUIRE(loaded.ok());
  const Plan& plan = *loaded;

  CHECK(plan.releases.tag_template == "{env}-{date}-{plan}");
  CHECK(plan.releases.remote == "origin");
  CHECK(plan.secret_env == std::vector<std::string>{"SHOP_API_TOKEN", "_OTHER"});

  const Environment& staging = plan.environments.at("staging");
  CHECK(staging.name == "staging");
  CHECK(staging.context == "gke_shop_europe-west1_staging");
  CHECK(staging.kubeconfig == "~/.kube/staging");
  CHECK(staging.driver == Driver::kKubectl);
  CHECK(staging.UrlFor("web") == "https://web.staging.shop.test");
  CHECK_FALSE(staging.approval.required);

  const Environment& prod = plan.environments.at("prod");
  CHECK(prod.driver == Driver::kHelm);
  CHECK(prod.NamespaceFor("api") == "shop-prod");
  CHECK(prod.UrlFor("web") == "https://shop.test");
  CHECK(prod.secrets == std::vector<std::string>{"shop-db", "registry.creds"});
  CHECK(prod.approval.required);
  CHECK(prod.approval.allow_self_approval);
  CHECK(prod.approval.count == 2);
  CHECK(prod.approval.approvers.size() == 3);

  REQUIRE(plan.services.size() == 3);
  const Service& api = plan.services[0];
  CHECK(api.container == "server");
  CHECK(api.image == "registry.shop.test:5000/shop/api");
  CHECK(api.repositories == std::vector<std::string>{"registry.shop.test:5000/shop/api",
                                                     "registry.shop.test:5000/mirror/*"});
  CHECK(prod.require_digest);
  CHECK_FALSE(plan.environments.at("staging").require_digest);
  REQUIRE(api.helm);
  CHECK(api.helm->values_key == "server.image.tag");

  const Probe& health = FindProbe(api, "health");
  CHECK(health.method == "GET");
  CHECK(health.path == "/health");
  CHECK(health.expect.Accepts(200));
  CHECK_FALSE(health.expect.Accepts(204));
  CHECK(health.body_contains == "\"ok\":true");
  REQUIRE(health.json);
  CHECK(health.json->path == "data.service");
  CHECK(health.json->equals == "shop-api");
  CHECK(health.timeout == std::chrono::seconds(90));
  CHECK(health.retries == 2);
  CHECK(health.golden);

  // A probe without a name is called "METHOD PATH".
  const Probe& login = FindProbe(api, "POST /login");
  CHECK(login.body == "{\"user\":\"probe\"}");
  CHECK(login.headers.at("X-Probe") == "promote");
  CHECK(login.expect.Accepts(401));
  CHECK_FALSE(login.expect.Accepts(500));
  CHECK_FALSE(login.golden);
  CHECK(login.timeout == std::chrono::seconds(5));

  const Probe& cache = FindProbe(api, "DELETE /cache");
  CHECK(cache.expect.Accepts(204));
  CHECK(cache.expect.Accepts(418));
  CHECK_FALSE(cache.expect.Accepts(200));

  // path: without method: is a GET.
  const Probe& ready = FindProbe(api, "GET /ready");
  CHECK(ready.expect.Describe() == "200-399 but not 304");
  CHECK(ready.timeout == std::chrono::milliseconds(500));

  // charts/api names no folder beside the plan: a repository chart, passed to helm as written.
  CHECK(api.helm->chart == "charts/api");
  CHECK(api.helm->chart_source == HelmTarget::ChartSource::kRepository);

  const Service& web = plan.services[1];
  CHECK(web.workload_kind == "statefulset");
  CHECK(web.container == "web");
  REQUIRE(web.helm);
  CHECK(web.helm->release == "web");
  // charts/web is the folder tests/plans/good/charts/web: its absolute path goes to helm.
  CHECK(web.helm->chart == (kGoodDir / "charts/web").lexically_normal().string());
  CHECK(web.helm->chart_source == HelmTarget::ChartSource::kLocalFolder);
  CHECK(web.helm->values_key == "image.tag");
  CHECK(web.probes.at(0).method == "HEAD");
  CHECK(web.probes.at(0).expect.Describe() == "3xx");

  const Service& worker = plan.services[2];
  CHECK(worker.workload_kind == "daemonset");
  CHECK(worker.workload_name == "shop-worker");
  CHECK(worker.probes.empty());
  REQUIRE(worker.helm);
  CHECK(worker.helm->chart == "oci://registry.shop.test/charts/worker");
  CHECK(worker.helm->chart_source == HelmTarget::ChartSource::kRemote);

  CHECK(plan.validate.initial_delay.count() == 0);
  CHECK(plan.validate.interval == std::chrono::milliseconds(250));
  CHECK(plan.validate.soak == std::chrono::hours(1));
  CHECK(plan.validate.failure_limit == 0);
  CHECK(plan.validate.rollout_timeout == std::chrono::minutes(10));
  // rollback: is written before validate:, and its soak still defaults to 3 × 250ms.
  CHECK(plan.rollback.soak == std::chrono::milliseconds(750));
  CHECK(plan.rollback.successes == 4);
  CHECK(plan.rollback.timeout == std::chrono::seconds(90));
  CHECK(plan.hooks.at("on-failure") ==
        std::vector<std::string>{"hooks/notify-webhook", "./hooks/page"});
}

TEST_CASE("a minimal plan gets the documented defaults", "[plan]") {
  const Result<Plan> loaded = ParsePlan(kMinimalPlan, "inline.yaml");
  INFO((loaded.ok() ? "" : loaded.error().Format()));
  REQUIRE(loaded.ok());
  const Plan& plan = *loaded;
  CHECK(plan.source_file == "inline.yaml");
  CHECK(plan.releases.tag_template == "{env}-{date}");
  CHECK_FALSE(plan.releases.remote);
  CHECK(plan.environments.at("dev").driver == Driver::kKubectl);
  CHECK(plan.environments.at("prod").secrets.empty());
  const Service& api = plan.services.at(0);
  CHECK(api.container == "api");
  CHECK(api.wave == 1);
  CHECK_FALSE(api.helm);
  const Probe& probe = api.probes.at(0);
  CHECK(probe.name == "GET /health");
  CHECK(probe.expect.Describe() == "2xx");
  CHECK(probe.timeout == std::chrono::seconds(5));
  const ValidationPolicy defaults;
  CHECK(plan.validate.successes == defaults.successes);
  CHECK(plan.validate.soak == defaults.soak);
  // No rollback block: 3 × the default 10s interval, 2 successes, 5 minutes to restore.
  CHECK(plan.rollback.soak == std::chrono::seconds(30));
  CHECK(plan.rollback.successes == 2);
  CHECK(plan.rollback.timeout == std::chrono::minutes(5));
  CHECK(plan.hooks.empty());
}

/// kMinimalPlan with `blocks` (top-level YAML lines) appended.
Result<Plan> WithTopLevel(const std::string& blocks) {
  return ParsePlan(std::string(kMinimalPlan) + blocks, "inline.yaml");
}

TEST_CASE("a rollback block loads its soak, successes and timeout", "[plan][rollback]") {
  const Result<Plan> given = WithTopLevel("rollback: { soak: 3s, successes: 5, timeout: 2m }\n");
  INFO((given.ok() ? "" : given.error().Format()));
  REQUIRE(given.ok());
  CHECK(given->rollback.soak == std::chrono::seconds(3));
  CHECK(given->rollback.successes == 5);
  CHECK(given->rollback.timeout == std::chrono::minutes(2));

  // The soak follows validate.interval whether rollback comes before or after validate.
  for (const std::string& blocks :
       {std::string("rollback: { successes: 1 }\nvalidate: { interval: 2s }\n"),
        std::string("validate: { interval: 2s }\nrollback: { successes: 1 }\n"),
        std::string("validate: { interval: 2s }\n")}) {
    const Result<Plan> loaded = WithTopLevel(blocks);
    INFO(blocks << (loaded.ok() ? "" : loaded.error().Format()));
    REQUIRE(loaded.ok());
    CHECK(loaded->rollback.soak == std::chrono::seconds(6));
    CHECK(loaded->rollback.timeout == std::chrono::minutes(5));
  }
  // An explicit soak wins over the default, and zero is allowed (only the passing rounds).
  const Result<Plan> zero = WithTopLevel("validate: { interval: 2s }\nrollback: { soak: 0 }\n");
  REQUIRE(zero.ok());
  CHECK(zero->rollback.soak.count() == 0);
  CHECK(zero->rollback.successes == 2);
}

TEST_CASE("rollback errors name the field and say how to fix it", "[plan][rollback]") {
  const auto error_of = [](const std::string& blocks) {
    const Result<Plan> loaded = WithTopLevel(blocks);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::kInvalidPlan);
    CHECK_FALSE(loaded.error().fix.empty());
    return loaded.error().Format();
  };
  CHECK_THAT(error_of("rollback: { timeout: 0s }\n"),
             Catch::Contains("inline.yaml:13:22: rollback.timeout: must be longer than 0") &&
                 Catch::Contains("give a positive duration"));
  CHECK_THAT(error_of("rollback: { successes: two }\n"),
             Catch::Contains("rollback.successes: expected an integer, found 'two'"));
  CHECK_THAT(error_of("rollback: { successes: \"2\" }\n"),
             Catch::Contains("rollback.successes: expected an integer, found the string \"2\""));
  CHECK_THAT(error_of("rollback: 5m\n"),
             Catch::Contains("rollback: expected a map { soak, successes, timeout }, found '5m'"));
  CHECK_THAT(error_of("rollbak: { soak: 3s }\n"),
             Catch::Contains("unknown key 'rollbak' at top level") &&
                 Catch::Contains("did you mean 'rollback'?"));
  CHECK_THAT(error_of("rollback: { soak: 3s }\nrollback: { soak: 4s }\n"),
             Catch::Contains("duplicate key 'rollback' at top level"));
}

/// kMinimalPlan with `settings` (indented for the prod environment's map) added to prod.
Result<Plan> WithProdSettings(const std::string& settings) {
  std::string text = kMinimalPlan;
  const std::string prod =
      "  prod: { context: prod, namespace: \"mini-{service}-prod\", url: "
      "\"http://{service}.prod.test\" }\n";
  const size_t at = text.find(prod);
  REQUIRE(at != std::string::npos);
  text.replace(at, prod.size(),
               "  prod:\n    context: prod\n    namespace: \"mini-{service}-prod\"\n"
               "    url: \"http://{service}.prod.test\"\n" +
                   settings);
  return ParsePlan(text, "inline.yaml");
}

TEST_CASE("freeze windows load with their time zone, schedule, duration and dates",
          "[plan][freeze]") {
  const Result<Plan> loaded = WithProdSettings(R"(    freeze:
      timeZone: Europe/Paris
      windows:
        - name: weekend
          schedule: "0 18 * * FRI"
          duration: 62h
          reason: no deploys over the weekend
        - name: black-friday
          from: "2026-11-26T00:00"
          until: 2026-11-30T23:59
        - { schedule: "@daily", duration: 30m }
        - { from: "2026-12-24 12:00", until: "2026-12-26 00:00" }
)");
  INFO((loaded.ok() ? "" : loaded.error().Format()));
  REQUIRE(loaded.ok());
  const FreezePolicy& freeze = loaded->environments.at("prod").freeze;
  CHECK(freeze.time_zone == "Europe/Paris");
  REQUIRE(freeze.windows.size() == 4);
  const FreezeWindow& weekend = freeze.windows[0];
  CHECK(weekend.name == "weekend");
  CHECK(weekend.schedule == "0 18 * * FRI");
  CHECK(weekend.duration == std::chrono::hours(62));
  CHECK(weekend.reason == "no deploys over the weekend");
  CHECK_FALSE(weekend.from);
  const FreezeWindow& black_friday = freeze.windows[1];
  CHECK(black_friday.schedule.empty());
  CHECK(black_friday.from == std::chrono::local_days(std::chrono::year(2026) / 11 / 26));
  CHECK(black_friday.until == std::chrono::local_days(std::chrono::year(2026) / 11 / 30) +
                                  std::chrono::minutes(23 * 60 + 59));
  CHECK(black_friday.reason.empty());
  // Unnamed windows are called by what they say.
  CHECK(freeze.windows[2].name == "@daily");
  CHECK(freeze.windows[3].name == "2026-12-24 12:00..2026-12-26 00:00");
  // Environments without a freeze have none, in UTC.
  CHECK(loaded->environments.at("dev").freeze.windows.empty());
  CHECK(loaded->environments.at("dev").freeze.time_zone == "UTC");
}

TEST_CASE("freeze and lock errors name the field and say how to fix it", "[plan][freeze]") {
  const auto error_of = [](const std::string& settings) {
    const Result<Plan> loaded = WithProdSettings(settings);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::kInvalidPlan);
    CHECK_FALSE(loaded.error().fix.empty());
    return loaded.error().Format();
  };
  CHECK_THAT(error_of("    freeze: { windows: [ { schedule: \"0 18 * * FRI\" } ] }\n"),
             Catch::Contains("environments.prod.freeze.windows[0]: schedule gives only") &&
                 Catch::Contains("add duration"));
  CHECK_THAT(error_of("    freeze: { windows: [ { duration: 2h } ] }\n"),
             Catch::Contains("found neither"));
  CHECK_THAT(error_of("    freeze: { windows: [ { from: \"2026-11-26T00:00\" } ] }\n"),
             Catch::Contains("missing required field 'until'"));
  CHECK_THAT(error_of("    freeze: { windows: [ { from: \"2026-11-26T00:00\", until: "
                      "\"2026-11-27T00:00\", duration: 1h } ] }\n"),
             Catch::Contains("windows[0].duration: only used with schedule"));
  CHECK_THAT(
      error_of("    freeze: { windows: [ { schedule: \"0 18 * * FRI\", duration: 0s } ] }\n"),
      Catch::Contains("windows[0].duration: must be longer than 0"));
  CHECK_THAT(
      error_of("    freeze: { windows: [ { name: a, schedule: \"@daily\", duration: 1h }, { name: "
               "a, schedule: \"@hourly\", duration: 1m } ] }\n"),
      Catch::Contains("windows[1]: a second window named 'a'"));
  CHECK_THAT(error_of("    freeze: { timeZone: localtime, windows: [] }\n"),
             Catch::Contains("freeze.timeZone: time zone 'localtime' depends on the machine"));
  CHECK_THAT(error_of("    freeze: { timeZone: Mars/Olympus, windows: [] }\n"),
             Catch::Contains("unknown time zone 'Mars/Olympus'") && Catch::Contains("IANA name"));
  CHECK_THAT(error_of("    freeze: { timeZone: UTC }\n"),
             Catch::Contains("freeze: missing required field 'windows'"));
  CHECK_THAT(error_of("    lock: { backend: lease, duration: 1500ms }\n"),
             Catch::Contains("lock.duration: a Lease lasts whole seconds"));
  CHECK_THAT(error_of("    lock: { backend: lease, namespace: Shop_System }\n"),
             Catch::Contains("lock.namespace: 'Shop_System' is not a valid namespace"));
  CHECK_THAT(error_of("    lock: { backend: lease, name: -lease }\n"),
             Catch::Contains("lock.name: '-lease' is not a valid Lease name"));
  CHECK_THAT(error_of("    lock: { backend: file, duration: 30s }\n"),
             Catch::Contains("lock.duration: only used by the lease backend"));
}

TEST_CASE("lock settings load with their defaults", "[plan]") {
  const Result<Plan> lease = WithProdSettings(
      "    lock: { backend: lease, namespace: shop-system, name: promote.prod, duration: 2m }\n");
  INFO((lease.ok() ? "" : lease.error().Format()));
  REQUIRE(lease.ok());
  const LockPolicy& lock = lease->environments.at("prod").lock;
  CHECK(lock.backend == LockPolicy::Backend::kLease);
  CHECK(lock.lease_namespace == "shop-system");
  CHECK(lock.lease_name == "promote.prod");
  CHECK(lock.lease_duration == std::chrono::seconds(120));

  const Result<Plan> lease_defaults = WithProdSettings("    lock: { backend: lease }\n");
  REQUIRE(lease_defaults.ok());
  const LockPolicy& defaults = lease_defaults->environments.at("prod").lock;
  CHECK(defaults.lease_namespace == "default");
  CHECK(defaults.lease_name.empty());
  CHECK(defaults.lease_duration == std::chrono::seconds(60));

  const Result<Plan> file = WithProdSettings("    lock: { backend: file }\n");
  REQUIRE(file.ok());
  CHECK(file->environments.at("prod").lock.backend == LockPolicy::Backend::kFile);
  const Result<Plan> none = WithProdSettings("");
  REQUIRE(none.ok());
  CHECK(none->environments.at("prod").lock.backend == LockPolicy::Backend::kFile);
}

/// A plan with driver helm whose one service `api` has `helm: { chart: CHART }`.
std::string HelmPlan(const std::string& chart) {
  return R"(apiVersion: promote/v1
name: mini
releases: { repo: ../releases }
environments:
  dev: { context: dev, driver: helm, namespace: "mini-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: prod, driver: helm, namespace: "mini-{service}-prod", url: "http://{service}.prod.test" }
services:
  - name: api
    workload: deployment/mini-api
    image: registry.test/mini-api
    helm: { chart: ")" +
         chart + R"(" }
)";
}

/// Writes HelmPlan(chart) to `file` and loads it.
Result<Plan> LoadHelmPlan(const fs::path& file, const std::string& chart) {
  std::ofstream(file) << HelmPlan(chart);
  return LoadPlan(file);
}

TEST_CASE("local helm charts resolve against the plan's folder, not the current directory",
          "[plan][helm]") {
  const testing::TempDir dir("promote-chart");
  const fs::path plans = dir.path() / "plans";
  fs::create_directories(plans / "charts" / "tiny");
  std::ofstream(plans / "charts" / "tiny" / "Chart.yaml") << "apiVersion: v2\nname: tiny\n";
  std::ofstream(plans / "tiny-0.1.0.tgz") << "not really gzip: the loader only checks it exists";
  fs::create_directories(dir.path() / "elsewhere" / "chart");
  const fs::path file = plans / "plan.yaml";
  const auto chart_of = [&](const std::string& chart) {
    const Result<Plan> loaded = LoadHelmPlan(file, chart);
    INFO(chart << " → " << (loaded.ok() ? "ok" : loaded.error().Format()));
    REQUIRE(loaded.ok());
    REQUIRE(loaded->services.at(0).helm);
    return *loaded->services.at(0).helm;
  };
  const std::string tiny = (plans / "charts" / "tiny").string();

  // The current directory (the source tree under CTest) has no charts/tiny: only the plan's does.
  REQUIRE_FALSE(fs::exists("charts/tiny"));
  for (const std::string& written : std::vector<std::string>{
           "charts/tiny", "./charts/tiny", "charts/tiny/", "./charts/../charts/tiny", tiny}) {
    const HelmTarget helm = chart_of(written);
    CHECK(helm.chart == tiny);
    CHECK(helm.chart_source == HelmTarget::ChartSource::kLocalFolder);
  }
  const HelmTarget archive = chart_of("tiny-0.1.0.tgz");
  CHECK(archive.chart == (plans / "tiny-0.1.0.tgz").string());
  CHECK(archive.chart_source == HelmTarget::ChartSource::kLocalArchive);
  const HelmTarget up = chart_of("../elsewhere/chart");
  CHECK(up.chart == (dir.path() / "elsewhere" / "chart").string());
  CHECK(up.chart_source == HelmTarget::ChartSource::kLocalFolder);

  // A plan named by a relative path still gives helm an absolute chart path.
  const fs::path relative = fs::relative(file);
  REQUIRE(relative.is_relative());
  const Result<Plan> via_relative = LoadPlan(relative);
  REQUIRE(via_relative.ok());
  CHECK(via_relative->services.at(0).helm->chart == (dir.path() / "elsewhere" / "chart").string());
}

TEST_CASE("repository and remote helm charts are kept as written", "[plan][helm]") {
  const testing::TempDir dir("promote-chart");
  const fs::path file = dir.path() / "plan.yaml";
  for (const std::string& chart : std::vector<std::string>{
           "bitnami/nginx", "charts/api", "oci://ghcr.io/shop/charts/api",
           "https://charts.shop.test/api-1.0.0.tgz", "http://charts.shop.test/api-1.0.0.tgz"}) {
    const Result<Plan> loaded = LoadHelmPlan(file, chart);
    INFO(chart << " → " << (loaded.ok() ? "ok" : loaded.error().Format()));
    REQUIRE(loaded.ok());
    const HelmTarget& helm = *loaded->services.at(0).helm;
    CHECK(helm.chart == chart);
    CHECK(helm.chart_source == (chart.find("://") == std::string::npos
                                    ? HelmTarget::ChartSource::kRepository
                                    : HelmTarget::ChartSource::kRemote));
  }
}

TEST_CASE("a missing local helm chart is an invalid plan naming the path looked for",
          "[plan][helm]") {
  const testing::TempDir dir("promote-chart");
  const fs::path file = dir.path() / "plan.yaml";
  const std::string folder = dir.path().string();
  for (const auto& [chart, looked_for] : std::vector<std::pair<std::string, std::string>>{
           {"./charts/api", folder + "/charts/api"},
           {"../no-such-chart", dir.path().parent_path().string() + "/no-such-chart"},
           {"/nonexistent/charts/api", "/nonexistent/charts/api"},
           {"api-1.0.0.tgz", folder + "/api-1.0.0.tgz"},
           {"charts/api-1.0.0.TGZ", folder + "/charts/api-1.0.0.TGZ"}}) {
    const Result<Plan> loaded = LoadHelmPlan(file, chart);
    INFO(chart);
    REQUIRE_FALSE(loaded.ok());
    const Error& error = loaded.error();
    INFO(error.Format());
    CHECK(error.kind == ErrorKind::kInvalidPlan);
    CHECK(error.where == file.string() + ":11:20");
    CHECK(error.what == "services[0].helm.chart: local chart '" + chart +
                            "' not found: looked for " + looked_for);
    CHECK(error.fix ==
          "create the chart there, or give a path relative to the plan's folder " + folder);
  }
}

TEST_CASE("an Argo Rollouts AnalysisTemplate becomes the service's metric checks",
          "[plan][metrics]") {
  promote::testing::TempDir dir;
  const fs::path analysis = kSourceDir / "tests/plans/analysis";
  std::ofstream(dir.path() / "shop.yaml") << R"(apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test",
         prometheus: { url: "http://prom.dev.test" } }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          prometheus: { url: "http://prom.prod.test" } }
services:
  - name: api
    image: registry.test/api
    workload: deployment/api
    metrics:
      - analysisTemplate: )" << (analysis / "success-rate.yaml").string()
                                          << R"(
        args: { service-name: "{service}.{namespace}.svc.cluster.local" }
        golden: true
      - analysisTemplate: )" << (analysis / "tolerant.yaml").string()
                                          << R"(
        args: { namespace: "{namespace}" }
)";
  const Result<Plan> loaded = LoadPlan(dir.path() / "shop.yaml");
  INFO((loaded ? "" : loaded.error().Format()));
  REQUIRE(loaded);
  const Plan& plan = *loaded;
  const std::vector<Probe>& checks = plan.services[0].probes;
  REQUIRE(checks.size() == 2);

  // The documented example: its query with the arg filled in, its interval and failure limit,
  // no count (it measures as long as the validation runs), Argo's default error limits.
  const Probe& rate = checks[0];
  CHECK(rate.name == "success-rate");
  CHECK(rate.method == "METRIC");
  CHECK(rate.golden);
  REQUIRE(rate.metric);
  CHECK(rate.metric->template_file == (analysis / "success-rate.yaml").string());
  CHECK(
      rate.metric->query.find(
          R"(destination_service=~"{service}.{namespace}.svc.cluster.local",response_code!~"5.*")") !=
      std::string::npos);
  CHECK(rate.metric->query.find("{{") == std::string::npos);
  CHECK(plan.ExpandQuery(rate, "prod", "api")
            .find(R"(destination_service=~"api.shop-api-prod.svc.cluster.local")") !=
        std::string::npos);
  CHECK(rate.metric->Describe() == "result[0] >= 0.95");
  REQUIRE(rate.metric->limits);
  CHECK(rate.metric->limits->interval == std::chrono::minutes(5));
  CHECK_FALSE(rate.metric->limits->count);
  CHECK(rate.metric->limits->failure_limit == 3);
  CHECK(rate.metric->limits->consecutive_error_limit == 4);
  CHECK(rate.metric->limits->inconclusive_limit == 0);
  CHECK(rate.metric->success->Holds(0.95));
  CHECK_FALSE(rate.metric->success->Holds(0.9499));

  // Every field promote honours, an arg's default, and && binding tighter than ||.
  const Probe& tolerant = checks[1];
  CHECK(tolerant.name == "availability");
  CHECK_FALSE(tolerant.golden);
  CHECK(tolerant.timeout == std::chrono::seconds(3));
  CHECK(tolerant.metric->query == R"(up{namespace="{namespace}",job="web"})");
  const auto& limits = *tolerant.metric->limits;
  CHECK(limits.interval == std::chrono::seconds(1));
  CHECK(limits.count == 3);
  CHECK(limits.failure_limit == 1);
  CHECK(limits.consecutive_error_limit == 2);
  CHECK(limits.inconclusive_limit == 1);
  CHECK(tolerant.metric->Describe() ==
        "result[0] >= 0.95 && result[0] <= 1, failure: result[0] < 0.5");
  CHECK(tolerant.metric->success->Holds(1));
  CHECK_FALSE(tolerant.metric->success->Holds(1.01));
  CHECK(tolerant.metric->failure->Holds(0.49));

  // The templates are part of the plan's identity.
  REQUIRE(plan.included_files.size() == 2);
  const std::string hash = plan.content_hash;
  std::ofstream(dir.path() / "copy.yaml")
      << promote::testing::ReadFile(analysis / "tolerant.yaml") << "# changed\n";
  std::string text = promote::testing::ReadFile(dir.path() / "shop.yaml");
  text.replace(text.find((analysis / "tolerant.yaml").string()),
               (analysis / "tolerant.yaml").string().size(), (dir.path() / "copy.yaml").string());
  std::ofstream(dir.path() / "shop.yaml") << text;
  const Result<Plan> changed = LoadPlan(dir.path() / "shop.yaml");
  REQUIRE(changed);
  CHECK(changed->content_hash != hash);
}

TEST_CASE("conditions: || of && groups, each comparison result[0] OP number", "[plan][metrics]") {
  promote::plan::MetricCondition either;
  either.any_of = {{{promote::plan::MetricComparison::Op::kGreater, 0.9},
                    {promote::plan::MetricComparison::Op::kLessEqual, 1}},
                   {{promote::plan::MetricComparison::Op::kEqual, 0}}};
  CHECK(either.Holds(0.95));
  CHECK(either.Holds(0));
  CHECK_FALSE(either.Holds(0.9));
  CHECK_FALSE(either.Holds(1.5));
  using Op = promote::plan::MetricComparison::Op;
  CHECK(promote::plan::MetricComparison{Op::kNotEqual, 1}.Holds(2));
  CHECK(promote::plan::MetricComparison{Op::kLess, 1}.Holds(0.5));
  CHECK_FALSE(promote::plan::MetricComparison{Op::kGreaterEqual, 1}.Holds(0.5));
}

TEST_CASE("ParsePlan reports errors under the given source name", "[plan]") {
  std::string text = kMinimalPlan;
  text.replace(text.find("get: /health"), 12, "get: /health\n        timeout: 5 s");
  const Result<Plan> loaded = ParsePlan(text, "inline.yaml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().where == "inline.yaml:13:18");
  CHECK(loaded.error().what.rfind("services[0].probes[0].timeout: ", 0) == 0);
}

TEST_CASE("durations accept every documented unit and their sums", "[plan]") {
  const auto timeout_of = [](const std::string& duration) {
    std::string text = kMinimalPlan;
    text.replace(text.find("get: /health"), 12, "get: /health\n        timeout: " + duration);
    const Result<Plan> loaded = ParsePlan(text, "inline.yaml");
    INFO(duration << " → " << (loaded.ok() ? "ok" : loaded.error().Format()));
    REQUIRE(loaded.ok());
    return loaded->services.at(0).probes.at(0).timeout;
  };
  CHECK(timeout_of("500ms") == std::chrono::milliseconds(500));
  CHECK(timeout_of("5s") == std::chrono::seconds(5));
  CHECK(timeout_of("2m") == std::chrono::minutes(2));
  CHECK(timeout_of("1h") == std::chrono::hours(1));
  CHECK(timeout_of("1m30s") == std::chrono::seconds(90));
  CHECK(timeout_of("1s500ms") == std::chrono::milliseconds(1500));
}

TEST_CASE("LoadPlan of a missing file is an invalid-plan error naming the path", "[plan]") {
  const fs::path missing = kGoodDir / "no-such-plan.yaml";
  const Result<Plan> loaded = LoadPlan(missing);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().kind == ErrorKind::kInvalidPlan);
  CHECK(loaded.error().where == missing.string());
  CHECK(loaded.error().what == "no such plan file");
}

TEST_CASE("plans/keybuzz.yaml models the KeyBuzz promotion", "[plan]") {
  const Result<Plan> loaded = LoadPlan(kSourceDir / "plans/keybuzz.yaml");
  INFO((loaded.ok() ? "" : loaded.error().Format()));
  REQUIRE(loaded.ok());
  const Plan& plan = *loaded;
  CHECK(plan.name == "keybuzz");
  CHECK(plan.releases.repo == "../releases");
  CHECK(plan.releases.tag_template == "prod-{date}");

  REQUIRE(plan.services.size() == 3);
  CHECK(plan.services[0].name == "api");
  CHECK(plan.services[0].workload_name == "keybuzz-api");
  CHECK(plan.services[0].container == "api");
  CHECK(plan.services[0].image == "ghcr.io/keybuzz/keybuzz-api");
  const auto waves = plan.Waves();
  REQUIRE(waves.size() == 2);
  CHECK(waves[0].size() == 1);
  CHECK(waves[1].size() == 2);
  CHECK(waves[1][0]->name == "client");
  CHECK(waves[1][1]->name == "website");

  const Service& api = plan.services[0];
  CHECK(FindProbe(api, "health").body_contains == "\"service\":\"keybuzz-api\"");
  CHECK(FindProbe(api, "me").expect.Describe() == "401");
  const Probe& login = FindProbe(api, "login");
  CHECK(login.method == "POST");
  CHECK(login.path == "/auth/login");
  CHECK(login.golden);
  CHECK(login.expect.Describe() == "200-499 but not 404");
  CHECK_FALSE(login.expect.Accepts(404));  // the bug that started the project
  CHECK_FALSE(login.expect.Accepts(500));  // a build that cannot log anyone in
  CHECK(login.expect.Accepts(401));        // a wrong password is a healthy answer
  CHECK(FindProbe(api, "signup").golden);
  CHECK(FindProbe(plan.services[1], "root").expect.Describe() == "307");
  CHECK(FindProbe(plan.services[1], "login-page").golden);
  CHECK(FindProbe(plan.services[2], "home").golden);

  const Environment* prod = plan.FindEnvironment("prod");
  REQUIRE(prod != nullptr);
  CHECK(prod->context == "prod");
  CHECK(prod->NamespaceFor("website") == "keybuzz-website-prod");
  CHECK(prod->secrets == std::vector<std::string>{"keybuzz-api-postgres", "keybuzz-stripe",
                                                  "minio-credentials", "ghcr-cred"});
  CHECK(prod->approval.required);
  CHECK(prod->approval.approvers == std::vector<std::string>{"ops-lead", "cto"});
  CHECK_FALSE(prod->approval.allow_self_approval);
  const Environment* dev = plan.FindEnvironment("dev");
  REQUIRE(dev != nullptr);
  CHECK(dev->NamespaceFor("api") == "keybuzz-api-dev");
  CHECK_FALSE(dev->approval.required);
  CHECK(plan.validate.soak == std::chrono::seconds(5));
  CHECK(plan.validate.successes == 3);
}

}  // namespace promote::plan
