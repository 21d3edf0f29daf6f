// The fake world against the contract engine tests rely on: what reads report, what changes and
// faults do, that Plan* match the real adapters, how probes are answered, and that the Context it
// wires works with real phases (deploy, tag). No cluster, no network, no processes.
#include "support/fake_world.h"

#include <spdlog/logger.h>

#include <catch2/catch.hpp>
#include <thread>

#include "adapters/git/release_repo.h"
#include "adapters/kube/cluster.h"
#include "adapters/kube/helm_cluster.h"
#include "adapters/kube/kubectl_cluster.h"
#include "adapters/probe/prober.h"
#include "adapters/process/process.h"
#include "phases/context.h"
#include "phases/deploy.h"
#include "phases/step_log.h"
#include "phases/tag.h"
#include "phases/targets.h"
#include "plan/loader.h"
#include "plan/plan.h"
#include "support/files.h"

namespace promote::testing {
namespace {

using adapters::kube::RollbackTarget;
using adapters::kube::RolloutOutcome;
using adapters::kube::RolloutState;
using adapters::kube::WorkloadRef;
using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeTarget;
using Catch::Matchers::Contains;
using std::chrono::milliseconds;

// dev rolls out with kubectl, prod with helm: every test can see both drivers. In staging all
// services share one namespace.
const char* kPlan = R"(
apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: kind-dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test" }
  prod: { context: kind-prod, driver: helm, namespace: "shop-{service}-prod",
          url: "http://{service}.prod.test", secrets: [db-password, api-token] }
  staging: { context: kind-staging, namespace: shop-staging, url: "http://{service}.staging.test" }
services:
  - name: api
    workload: deployment/shop-api
    image: reg/api
    helm: { release: shop-api, chart: charts/api }
    probes:
      - { name: health, get: /health, expect: 200, golden: true }
      - { name: login, post: /login, expect: { not: 404 } }
  - name: web
    workload: statefulset/shop-web
    image: reg/web
    helm: { chart: charts/web }
    wave: 2
    probes: [ { name: home, get: /, expect: 200, bodyContains: Shop } ]
)";

constexpr milliseconds kTimeout{120000};

plan::Plan LoadTestPlan() {
  auto plan = plan::ParsePlan(kPlan, "shop.yaml");
  REQUIRE(plan.ok());
  return std::move(plan).value();
}

/// The address the engine uses for `service` in `env`.
WorkloadRef Ref(const plan::Plan& plan, const std::string& env, const std::string& service) {
  return phases::WorkloadRefFor(*plan.FindEnvironment(env), *plan.FindService(service));
}

/// `service`'s probe `name` in `env`, aimed where the Context's endpoints say.
ProbeTarget Target(FakeWorld& world, const plan::Plan& plan, const std::string& env,
                   const std::string& service, const std::string& name) {
  ProbeTarget target;
  target.service = service;
  target.environment = env;
  target.base_url = phases::BaseUrlFor(world.Context(), *plan.FindEnvironment(env), service);
  for (const auto& probe : plan.FindService(service)->probes) {
    if (probe.name == name) target.probe = probe;
  }
  REQUIRE(target.probe.name == name);
  return target;
}

/// Refuses to run anything: the real adapters' Plan* are compared without running them.
class RunsNothing final : public adapters::ProcessRunner {
 public:
  Result<adapters::ProcessResult> Run(const adapters::Command&) override {
    return Error{ErrorKind::kInternal, "not run", "test", ""};
  }
};

/// A journal that accepts every record, counting them.
class CountingSteps final : public phases::StepLog {
 public:
  Result<long> Intent(const std::string&, const std::string& step, const std::string&,
                      nlohmann::json) override {
    intents.push_back(step);
    return next++;
  }
  Result<long> Done(long, nlohmann::json) override { return next++; }
  Result<long> Failed(long, nlohmann::json) override { return next++; }
  Result<long> Note(const std::string&, nlohmann::json) override { return next++; }

  std::vector<std::string> intents;

 private:
  long next = 1;
};

TEST_CASE("a fresh world has every service present and rolled out, with no image", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  for (const std::string env : {"dev", "prod"}) {
    for (const std::string service : {"api", "web"}) {
      INFO(env << " " << service);
      auto status = world.ClusterOf(env).ReadWorkload(Ref(plan, env, service));
      REQUIRE(status.ok());
      CHECK(status->namespace_present);
      CHECK(status->workload_present);
      CHECK(status->image.empty());
      CHECK(status->rollout == RolloutState::kComplete);
      CHECK(status->desired == 1);
      CHECK(status->updated == 1);
      CHECK(status->ready == 1);
      CHECK(status->available == 1);
      CHECK(status->generation == status->observed_generation);
      CHECK(world.ImageOf(env, service).empty());
    }
  }
  // Only the helm driver reads a release revision.
  CHECK_FALSE(world.ClusterOf("dev").ReadWorkload(Ref(plan, "dev", "api"))->helm_revision);
  CHECK(world.ClusterOf("prod").ReadWorkload(Ref(plan, "prod", "api"))->helm_revision == 1);
}

TEST_CASE("Run sets what a read of that environment reports", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "api", "reg/api:v2", "sha256:aaa");
  world.Run("prod", "api", "reg/api:v1", std::nullopt, 7);

  auto dev = world.ClusterOf("dev").ReadWorkload(Ref(plan, "dev", "api"));
  REQUIRE(dev.ok());
  CHECK(dev->image == "reg/api:v2");
  CHECK(dev->digest == "sha256:aaa");
  auto prod = world.ClusterOf("prod").ReadWorkload(Ref(plan, "prod", "api"));
  REQUIRE(prod.ok());
  CHECK(prod->image == "reg/api:v1");
  CHECK_FALSE(prod->digest);
  CHECK(prod->helm_revision == 7);
  CHECK(world.ImageOf("dev", "api") == "reg/api:v2");
  CHECK(world.ImageOf("dev", "web").empty());
  CHECK(world.Writes("dev").empty());  // setting up the world is not a change by the engine
  CHECK_THROWS_AS(world.Run("qa", "api", "x"), std::invalid_argument);
  CHECK_THROWS_AS(world.Run("dev", "db", "x"), std::invalid_argument);
}

TEST_CASE("workloads are found by the address the adapters see", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "api", "reg/api:v1");
  auto& dev = world.ClusterOf("dev");

  WorkloadRef other_context = Ref(plan, "dev", "api");
  other_context.context = "kind-elsewhere";
  auto seen = dev.ReadWorkload(other_context);
  REQUIRE(seen.ok());
  CHECK_FALSE(seen->namespace_present);

  WorkloadRef other_name = Ref(plan, "dev", "api");
  other_name.name = "api";
  seen = dev.ReadWorkload(other_name);
  REQUIRE(seen.ok());
  CHECK(seen->namespace_present);
  CHECK_FALSE(seen->workload_present);

  WorkloadRef other_kind = Ref(plan, "dev", "api");
  other_kind.kind = "statefulset";
  CHECK_FALSE(dev.ReadWorkload(other_kind)->workload_present);
  CHECK_FALSE(dev.Deploy(other_kind, "reg/api:v2", kTimeout).ok());

  // The ref names its context, so prod's kubectl given dev's ref reaches dev, as for real.
  seen = world.ClusterOf("prod").ReadWorkload(Ref(plan, "dev", "api"));
  REQUIRE(seen.ok());
  CHECK(seen->image == "reg/api:v1");
  REQUIRE(world.ClusterOf("prod").Deploy(Ref(plan, "dev", "api"), "reg/api:v2", kTimeout).ok());
  CHECK(world.ImageOf("dev", "api") == "reg/api:v2");
  CHECK(world.Writes("dev").size() == 1);  // recorded where it landed
  CHECK(world.Writes("prod").empty());
  CHECK(world.Calls("prod", Call::kDeploy) == 1);  // counted where it was called
}

TEST_CASE("Remove takes the workload and its namespace away", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "api", "reg/api:v1");
  world.Remove("dev", "api");
  auto& dev = world.ClusterOf("dev");
  const auto ref = Ref(plan, "dev", "api");

  auto seen = dev.ReadWorkload(ref);
  REQUIRE(seen.ok());
  CHECK_FALSE(seen->namespace_present);
  CHECK_FALSE(seen->workload_present);
  CHECK(world.ImageOf("dev", "api").empty());

  auto deployed = dev.Deploy(ref, "reg/api:v2", kTimeout);
  REQUIRE_FALSE(deployed.ok());
  CHECK_THAT(deployed.error().what,
             Contains("Error from server (NotFound): deployments.apps \"shop-api\" not found"));
  CHECK(world.Writes("dev").empty());
  auto waited = dev.WaitRollout(ref, kTimeout);
  REQUIRE(waited.ok());
  CHECK(waited->outcome == RolloutOutcome::kFailed);
  auto probed = world.Prober().Run({Target(world, plan, "dev", "api", "health")});
  CHECK(probed[0].verdict.outcome == ProbeOutcome::kErrored);
  CHECK(probed[0].verdict.note == "connection refused");
  CHECK(probed[0].status == -1);

  world.Run("dev", "api", "reg/api:v3");
  CHECK(dev.ReadWorkload(ref)->workload_present);
  CHECK(world.ImageOf("dev", "api") == "reg/api:v3");
}

TEST_CASE("services sharing a namespace go with it", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("staging", "api", "reg/api:v1");
  world.Run("staging", "web", "reg/web:v1");
  world.SetSecrets("staging", {"db-password"});
  auto& staging = world.ClusterOf("staging");
  REQUIRE(Ref(plan, "staging", "api").ns == Ref(plan, "staging", "web").ns);

  world.Remove("staging", "api");
  auto web = staging.ReadWorkload(Ref(plan, "staging", "web"));
  REQUIRE(web.ok());
  CHECK_FALSE(web->namespace_present);
  CHECK_FALSE(web->workload_present);
  CHECK(world.ImageOf("staging", "web").empty());
  CHECK_FALSE((*staging.CheckSecrets(Ref(plan, "staging", "web"), {"db-password"}))[0].present);

  world.Run("staging", "api", "reg/api:v2");  // the namespace is back, web's workload too
  CHECK(world.ImageOf("staging", "web") == "reg/web:v1");
  CHECK((*staging.CheckSecrets(Ref(plan, "staging", "web"), {"db-password"}))[0].present);
}

TEST_CASE("SetSecrets makes Secrets present in every service namespace of the environment",
          "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.SetSecrets("prod", {"db-password"});
  auto& prod = world.ClusterOf("prod");
  for (const std::string service : {"api", "web"}) {
    INFO(service);
    auto found = prod.CheckSecrets(Ref(plan, "prod", service), {"db-password", "api-token"});
    REQUIRE(found.ok());
    REQUIRE(found->size() == 2);
    CHECK((*found)[0].name == "db-password");
    CHECK((*found)[0].present);
    CHECK((*found)[1].name == "api-token");
    CHECK_FALSE((*found)[1].present);
  }
  auto dev = world.ClusterOf("dev").CheckSecrets(Ref(plan, "dev", "api"), {"db-password"});
  REQUIRE(dev.ok());
  CHECK_FALSE((*dev)[0].present);

  world.Remove("prod", "api");  // its namespace goes, and its Secrets with it
  CHECK_FALSE((*prod.CheckSecrets(Ref(plan, "prod", "api"), {"db-password"}))[0].present);
  CHECK((*prod.CheckSecrets(Ref(plan, "prod", "web"), {"db-password"}))[0].present);
  CHECK(world.Calls("prod", Call::kSecrets) == 4);
}

TEST_CASE("Plan argv and budgets are exactly the real adapters'", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  RunsNothing runner;
  adapters::kube::Tooling tooling;
  tooling.kubectl = "kubectl";
  tooling.helm = "helm";
  adapters::kube::KubectlCluster kubectl(tooling, runner);
  adapters::kube::HelmCluster helm(tooling, runner);
  const std::vector<std::pair<std::string, adapters::kube::Cluster*>> reals = {{"dev", &kubectl},
                                                                               {"prod", &helm}};
  for (const auto& [env, real] : reals) {
    for (const std::string service : {"api", "web"}) {
      INFO(env << " " << service);
      const auto ref = Ref(plan, env, service);
      auto& fake = world.ClusterOf(env);
      const auto deploy = fake.PlanDeploy(ref, "reg/x:v2", kTimeout);
      const auto real_deploy = real->PlanDeploy(ref, "reg/x:v2", kTimeout);
      REQUIRE(deploy.size() == real_deploy.size());
      CHECK(deploy[0].argv == real_deploy[0].argv);
      CHECK(deploy[0].timeout == real_deploy[0].timeout);
      CHECK(fake.PlanWait(ref, kTimeout).argv == real->PlanWait(ref, kTimeout).argv);
      for (const RollbackTarget& to :
           {RollbackTarget{"reg/x:v1", 3}, RollbackTarget{"reg/x:v1", std::nullopt}}) {
        CHECK(fake.PlanRollback(ref, to, kTimeout)[0].argv ==
              real->PlanRollback(ref, to, kTimeout)[0].argv);
      }
    }
  }
  // And the driver is the environment's: helm upgrade in prod, kubectl set image in dev.
  CHECK(world.ClusterOf("prod").PlanDeploy(Ref(plan, "prod", "api"), "r:v2", kTimeout)[0].argv[1] ==
        "upgrade");
  CHECK(world.ClusterOf("dev").PlanDeploy(Ref(plan, "dev", "api"), "r:v2", kTimeout)[0].argv[0] ==
        "kubectl");
  CHECK(world.Calls("dev", Call::kDeploy) == 0);  // planning is not calling
}

TEST_CASE("Deploy sets the image with the digest the registry knows, and records a write",
          "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("prod", "api", "reg/api:v2", "sha256:bbb");  // prod's pods told the registry's digest
  world.Run("dev", "api", "reg/api:v1");
  auto& dev = world.ClusterOf("dev");
  const auto ref = Ref(plan, "dev", "api");
  const auto before = dev.ReadWorkload(ref)->generation;

  REQUIRE(dev.Deploy(ref, "reg/api:v2", kTimeout).ok());
  auto seen = dev.ReadWorkload(ref);
  CHECK(seen->image == "reg/api:v2");
  CHECK(seen->digest == "sha256:bbb");
  CHECK(seen->generation > before);
  CHECK_FALSE(seen->helm_revision);

  REQUIRE(dev.Deploy(ref, "reg/api:v3@sha256:ccc", kTimeout).ok());
  CHECK(dev.ReadWorkload(ref)->digest == "sha256:ccc");
  REQUIRE(dev.Deploy(ref, "reg/api:v4", kTimeout).ok());
  CHECK_FALSE(dev.ReadWorkload(ref)->digest);

  const std::vector<FakeWorld::Write> expected = {
      {"dev", "api", Call::kDeploy, "reg/api:v2", std::nullopt},
      {"dev", "api", Call::kDeploy, "reg/api:v3@sha256:ccc", std::nullopt},
      {"dev", "api", Call::kDeploy, "reg/api:v4", std::nullopt}};
  CHECK(world.Writes("dev") == expected);
  CHECK(world.Writes("prod").empty());
  CHECK(world.Calls("dev", Call::kDeploy) == 3);
  CHECK(world.Calls("dev", Call::kRead) == 4);
  CHECK(world.Calls("prod", Call::kDeploy) == 0);
}

TEST_CASE("helm upgrades and rollbacks each write a new release revision", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("prod", "api", "reg/api:v1", std::nullopt, 3);
  auto& prod = world.ClusterOf("prod");
  const auto ref = Ref(plan, "prod", "api");

  REQUIRE(prod.Deploy(ref, "reg/api:v2", kTimeout).ok());
  CHECK(prod.ReadWorkload(ref)->image == "reg/api:v2");
  CHECK(prod.ReadWorkload(ref)->helm_revision == 4);
  // `helm rollback shop-api 3` writes revision 5 with 3's content, as the stand-in's helm does.
  REQUIRE(prod.Rollback(ref, {"reg/api:v1", 3}, kTimeout).ok());
  CHECK(prod.ReadWorkload(ref)->image == "reg/api:v1");
  CHECK(prod.ReadWorkload(ref)->helm_revision == 5);
  // Without a revision the helm driver restores the image with kubectl: no new revision.
  REQUIRE(prod.Rollback(ref, {"reg/api:v2", std::nullopt}, kTimeout).ok());
  CHECK(prod.ReadWorkload(ref)->image == "reg/api:v2");
  CHECK(prod.ReadWorkload(ref)->helm_revision == 5);

  const std::vector<FakeWorld::Write> expected = {
      {"prod", "api", Call::kDeploy, "reg/api:v2", std::nullopt},
      {"prod", "api", Call::kRollback, "reg/api:v1", 3},
      {"prod", "api", Call::kRollback, "reg/api:v2", std::nullopt}};
  CHECK(world.Writes("prod") == expected);
  CHECK(world.Calls("prod", Call::kRollback) == 2);
}

TEST_CASE("helm waits, so an image that does not roll out fails the upgrade after writing it",
          "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.RolloutOf("reg/api:v2", Rollout::kNeverDone);
  world.Run("prod", "api", "reg/api:v1", std::nullopt, 3);

  auto upgraded = world.ClusterOf("prod").Deploy(Ref(plan, "prod", "api"), "reg/api:v2", kTimeout);
  REQUIRE_FALSE(upgraded.ok());
  CHECK(upgraded.error().kind == ErrorKind::kExternal);
  CHECK_THAT(upgraded.error().what,
             Contains("helm upgrade of shop-api: helm exited with code 1: Error: UPGRADE FAILED: "
                      "context deadline exceeded"));
  CHECK(world.ImageOf("prod", "api") == "reg/api:v2");
  CHECK(world.ClusterOf("prod").ReadWorkload(Ref(plan, "prod", "api"))->helm_revision == 4);
  CHECK(world.Writes("prod").size() == 1);

  auto rolled_back =
      world.ClusterOf("prod").Rollback(Ref(plan, "prod", "api"), {"reg/api:v2", 2}, kTimeout);
  CHECK_FALSE(rolled_back.ok());
  // kubectl set image does not wait: the kubectl driver's Deploy succeeds.
  CHECK(world.ClusterOf("dev").Deploy(Ref(plan, "dev", "api"), "reg/api:v2", kTimeout).ok());
}

TEST_CASE("the real adapter's own refusals come through unchanged", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("prod", "api", "reg/api:v1");
  const std::string pinned = "reg/api@sha256:" + std::string(64, 'a');
  auto upgraded = world.ClusterOf("prod").Deploy(Ref(plan, "prod", "api"), pinned, kTimeout);
  REQUIRE_FALSE(upgraded.ok());
  CHECK_THAT(upgraded.error().what, Contains("pinned by digest only"));
  CHECK(world.ImageOf("prod", "api") == "reg/api:v1");
  CHECK(world.Writes("prod").empty());
  CHECK(world.Calls("prod", Call::kDeploy) == 1);
  // kubectl set image takes any reference.
  CHECK(world.ClusterOf("dev").Deploy(Ref(plan, "dev", "api"), pinned, kTimeout).ok());
}

TEST_CASE("RolloutOf decides what reads and waits report for an image", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.RolloutOf("reg/api:slow", Rollout::kNeverDone);
  world.RolloutOf("reg/api:stuck", Rollout::kDeadlineExceeded);
  world.RolloutOf("reg/api:fine", Rollout::kCompletes);
  auto& dev = world.ClusterOf("dev");
  const auto ref = Ref(plan, "dev", "api");

  struct Case {
    std::string image;
    RolloutState state;
    RolloutOutcome outcome;
    std::string detail;
  };
  for (const Case& c : {
           Case{"reg/api:ok", RolloutState::kComplete, RolloutOutcome::kComplete,
                "deployment \"shop-api\" successfully rolled out"},
           Case{"reg/api:fine", RolloutState::kComplete, RolloutOutcome::kComplete,
                "successfully rolled out"},
           Case{"reg/api:stuck", RolloutState::kDeadlineExceeded, RolloutOutcome::kDeadlineExceeded,
                "deployment \"shop-api\" exceeded its progress deadline"},
           Case{"reg/api:slow", RolloutState::kProgressing, RolloutOutcome::kTimedOut,
                "timed out waiting for the condition"},
       }) {
    INFO(c.image);
    REQUIRE(dev.Deploy(ref, c.image, kTimeout).ok());
    CHECK(dev.ReadWorkload(ref)->rollout == c.state);
    auto waited = dev.WaitRollout(ref, kTimeout);
    REQUIRE(waited.ok());
    CHECK(waited->outcome == c.outcome);
    CHECK_THAT(waited->detail, Contains(c.detail));
  }
  CHECK(world.Calls("dev", Call::kWait) == 4);
}

TEST_CASE("a refused call fails with kubectl's words and changes nothing", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "api", "reg/api:v1");
  world.FailNext("dev", Call::kDeploy, "api", Fault::kRefused);
  auto& dev = world.ClusterOf("dev");
  const auto ref = Ref(plan, "dev", "api");

  auto refused = dev.Deploy(ref, "reg/api:v2", kTimeout);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::kExternal);
  CHECK_THAT(refused.error().what,
             Contains("kubectl exited with code 1: error: You must be logged in to the server "
                      "(Unauthorized)"));
  CHECK(world.ImageOf("dev", "api") == "reg/api:v1");
  CHECK(world.Writes("dev").empty());

  // The fault is used up: the next call goes through.
  REQUIRE(dev.Deploy(ref, "reg/api:v2", kTimeout).ok());
  CHECK(world.ImageOf("dev", "api") == "reg/api:v2");
  CHECK(world.Writes("dev").size() == 1);
  CHECK(world.Calls("dev", Call::kDeploy) == 2);
}

TEST_CASE("a timed-out call fails and changes nothing, as many times as asked", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("prod", "web", "reg/web:v2", std::nullopt, 5);
  world.FailNext("prod", Call::kRollback, "web", Fault::kTimeout, 2);
  auto& prod = world.ClusterOf("prod");
  const auto ref = Ref(plan, "prod", "web");

  for (int i = 0; i < 2; ++i) {
    auto timed_out = prod.Rollback(ref, {"reg/web:v1", 4}, kTimeout);
    REQUIRE_FALSE(timed_out.ok());
    CHECK(timed_out.error().kind == ErrorKind::kExternal);
    CHECK_THAT(timed_out.error().what, Contains("helm timed out after"));
  }
  CHECK(world.ImageOf("prod", "web") == "reg/web:v2");
  CHECK(prod.ReadWorkload(ref)->helm_revision == 5);
  CHECK(world.Writes("prod").empty());
  REQUIRE(prod.Rollback(ref, {"reg/web:v1", 4}, kTimeout).ok());
  CHECK(world.ImageOf("prod", "web") == "reg/web:v1");
}

TEST_CASE("a connection dropped after the write leaves the change applied", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "api", "reg/api:v1");
  world.Run("prod", "api", "reg/api:v1", std::nullopt, 2);
  world.FailNext("dev", Call::kDeploy, "api", Fault::kDroppedAfterWrite);
  world.FailNext("prod", Call::kDeploy, "api", Fault::kDroppedAfterWrite);

  auto dropped = world.ClusterOf("dev").Deploy(Ref(plan, "dev", "api"), "reg/api:v2", kTimeout);
  REQUIRE_FALSE(dropped.ok());
  CHECK(dropped.error().kind == ErrorKind::kExternal);
  CHECK_THAT(dropped.error().what, Contains("error: unexpected EOF"));
  CHECK(world.ImageOf("dev", "api") == "reg/api:v2");
  CHECK(world.Writes("dev").size() == 1);

  dropped = world.ClusterOf("prod").Deploy(Ref(plan, "prod", "api"), "reg/api:v2", kTimeout);
  REQUIRE_FALSE(dropped.ok());
  CHECK_THAT(dropped.error().what, Contains("Error: UPGRADE FAILED: unexpected EOF"));
  CHECK(world.ImageOf("prod", "api") == "reg/api:v2");
  CHECK(world.ClusterOf("prod").ReadWorkload(Ref(plan, "prod", "api"))->helm_revision == 3);
}

TEST_CASE("a fault meets only its environment, call and service", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.FailNext("dev", Call::kRead, "api", Fault::kRefused);

  CHECK(world.ClusterOf("prod").ReadWorkload(Ref(plan, "prod", "api")).ok());
  CHECK(world.ClusterOf("dev").ReadWorkload(Ref(plan, "dev", "web")).ok());
  CHECK(world.ClusterOf("dev").Deploy(Ref(plan, "dev", "api"), "reg/api:v2", kTimeout).ok());
  auto refused = world.ClusterOf("dev").ReadWorkload(Ref(plan, "dev", "api"));
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().what, Contains("reading deployment/shop-api in shop-api-dev"));
  CHECK(world.ClusterOf("dev").ReadWorkload(Ref(plan, "dev", "api")).ok());
  CHECK(world.Calls("dev", Call::kRead) == 3);
  CHECK_THROWS_AS(world.FailNext("dev", Call::kRead, "db", Fault::kRefused), std::invalid_argument);
}

TEST_CASE("faulted reads and secret listings are Errors, faulted waits are verdicts", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  auto& dev = world.ClusterOf("dev");
  const auto ref = Ref(plan, "dev", "api");

  world.FailNext("dev", Call::kSecrets, "api", Fault::kTimeout);
  CHECK(dev.CheckSecrets(ref, {}).ok());  // no names: kubectl is not run, nothing can fail
  auto secrets = dev.CheckSecrets(ref, {"db-password"});
  REQUIRE_FALSE(secrets.ok());
  CHECK_THAT(secrets.error().what, Contains("listing secrets in shop-api-dev"));
  CHECK_THAT(secrets.error().what, Contains("timed out after 30000 ms"));
  CHECK(dev.CheckSecrets(ref, {"db-password"}).ok());

  world.FailNext("dev", Call::kRead, "api", Fault::kDroppedAfterWrite);
  CHECK_FALSE(dev.ReadWorkload(ref).ok());

  // `kubectl rollout status` failing is what the real WaitRollout judges, not an Error.
  world.FailNext("dev", Call::kWait, "api", Fault::kRefused);
  world.FailNext("dev", Call::kWait, "api", Fault::kTimeout);
  world.FailNext("dev", Call::kWait, "api", Fault::kDroppedAfterWrite);
  auto waited = dev.WaitRollout(ref, kTimeout);
  REQUIRE(waited.ok());
  CHECK(waited->outcome == RolloutOutcome::kFailed);
  CHECK_THAT(waited->detail, Contains("Unauthorized"));
  waited = dev.WaitRollout(ref, kTimeout);
  REQUIRE(waited.ok());
  CHECK(waited->outcome == RolloutOutcome::kTimedOut);
  waited = dev.WaitRollout(ref, kTimeout);
  REQUIRE(waited.ok());
  CHECK(waited->outcome == RolloutOutcome::kFailed);
  CHECK_THAT(waited->detail, Contains("unexpected EOF"));
  CHECK(dev.WaitRollout(ref, kTimeout)->outcome == RolloutOutcome::kComplete);
}

TEST_CASE("probes are answered from the running image and judged by the real Evaluate", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "api", "reg/api:v1");
  world.Run("prod", "api", "reg/api:v1");
  world.Answer("reg/api:v1", "/health", 200, R"({"ok":true})");
  world.AnswerIn("prod", "reg/api:v1", "/health", 503, "down for maintenance");
  world.Answer("reg/api:v2", "/health", 404);
  world.NoAnswer("reg/api:v2", "/login");

  const std::vector<ProbeTarget> targets = {Target(world, plan, "prod", "api", "health"),
                                            Target(world, plan, "dev", "api", "health"),
                                            Target(world, plan, "dev", "api", "login")};
  auto results = world.Prober().Run(targets);
  REQUIRE(results.size() == 3);
  CHECK(results[0].environment == "prod");
  CHECK(results[0].url == "http://api.prod.fake/health");
  CHECK(results[0].golden);
  CHECK(results[0].status == 503);
  CHECK(results[0].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[0].verdict.note == "server error");
  CHECK(results[0].body_excerpt == "down for maintenance");
  CHECK(results[1].environment == "dev");
  CHECK(results[1].passed());
  CHECK(results[1].body_excerpt == R"({"ok":true})");
  REQUIRE(results[1].attempts.size() == 1);
  CHECK(results[1].attempts[0].status == 200);
  CHECK(results[2].probe_name == "login");
  CHECK(results[2].method == "POST");
  CHECK(results[2].passed());  // nothing said about (v1, /login): 200 "{}"
  CHECK(results[2].body_excerpt == "{}");

  // The answers follow the image: after a deploy dev's api is v2.
  REQUIRE(world.ClusterOf("dev").Deploy(Ref(plan, "dev", "api"), "reg/api:v2", kTimeout).ok());
  results = world.Prober().Run(targets);
  CHECK(results[0].status == 503);  // prod still runs v1
  CHECK(results[1].status == 404);
  CHECK(results[1].verdict.note == "route missing");
  CHECK(results[2].verdict.outcome == ProbeOutcome::kErrored);
  CHECK(results[2].verdict.note == "timeout after 5s");
  CHECK(results[2].status == -1);
  CHECK(world.ProbesSent() == 6);
}

TEST_CASE("a probe sees the whole body and keeps its first 200 bytes as evidence", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  world.Run("dev", "web", "reg/web:v1");
  std::string page(250, 'x');
  page += "Welcome to the Shop";
  world.Answer("reg/web:v1", "/", 200, page);
  world.Run("prod", "web", "reg/web:v2");
  world.Answer("reg/web:v2", "/", 200, "<h1>maintenance</h1>");

  auto results = world.Prober().Run(
      {Target(world, plan, "dev", "web", "home"), Target(world, plan, "prod", "web", "home")});
  CHECK(results[0].passed());
  CHECK(results[0].body_excerpt == std::string(200, 'x'));
  CHECK(results[1].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[1].verdict.note == "unexpected body");
}

TEST_CASE("the Context is wired with the fakes and a fake clock", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  phases::Context& context = world.Context();
  CHECK(&context.cluster("dev") == &world.ClusterOf("dev"));
  CHECK(&context.cluster("prod") == &world.ClusterOf("prod"));
  CHECK_THROWS_AS(context.cluster("qa"), std::out_of_range);
  CHECK(&context.prober == &world.Prober());
  CHECK(context.endpoints.at("prod").at("web") == "http://web.prod.fake");
  CHECK(context.endpoints.at("dev").at("api") == "http://api.dev.fake");
  CHECK_FALSE(context.releases_repo);
  CHECK(context.steps == nullptr);
  CHECK(context.hooks == nullptr);
  adapters::Command command;
  command.argv = {"kubectl", "version"};
  CHECK_FALSE(context.processes.Run(command).ok());
  CHECK_NOTHROW(context.logger.info("{} logs go nowhere", "fake"));

  using namespace std::chrono;
  const system_clock::time_point start = sys_days{year{2026} / 12 / 1} + hours{10};
  CHECK(context.now() == start);
  const auto wall = steady_clock::now();
  context.sleep(minutes(10));
  CHECK(steady_clock::now() - wall < seconds(5));  // advanced, not slept
  CHECK(context.now() == start + minutes(10));
  world.Advance(hours(1));
  CHECK(world.Now() == start + minutes(70));
  CHECK(context.now() == world.Now());
}

TEST_CASE("the world can be used from several threads at once", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  const auto start = world.Now();
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string env = t % 2 == 0 ? "dev" : "prod";
      const auto ref = Ref(plan, env, "api");
      for (int i = 0; i < kRounds; ++i) {
        (void)world.ClusterOf(env).Deploy(ref, "reg/api:" + std::to_string(i), kTimeout);
        (void)world.Prober().Run({Target(world, plan, env, "api", "health")});
        world.Context().sleep(milliseconds(1));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(world.Calls("dev", Call::kDeploy) == kThreads / 2 * kRounds);
  CHECK(world.Writes("dev").size() == kThreads / 2 * kRounds);
  CHECK(world.Writes("prod").size() == kThreads / 2 * kRounds);
  CHECK(world.ClusterOf("prod").ReadWorkload(Ref(plan, "prod", "api"))->helm_revision ==
        1 + kThreads / 2 * kRounds);
  CHECK(world.ProbesSent() == kThreads * kRounds);
  CHECK(world.Now() - start == milliseconds(kThreads * kRounds));
}

TEST_CASE("the deploy phase rolls a wave out through the fakes", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  CountingSteps steps;
  world.Context().steps = &steps;
  world.Run("prod", "api", "reg/api:v1", std::nullopt, 2);
  world.Run("prod", "web", "reg/web:v1", std::nullopt, 6);
  world.FailNext("prod", Call::kDeploy, "web", Fault::kDroppedAfterWrite);

  const phases::Deploy deploy(
      plan, "prod", 1,
      {{"api", "reg/api:v1", 2, "reg/api:v2"}, {"web", "reg/web:v1", 6, "reg/web:v2"}});
  const auto wave = deploy.Run(world.Context());
  CHECK_FALSE(wave.ok);
  REQUIRE(wave.services.size() == 2);
  CHECK(wave.services[0].status == phases::StepStatus::kSucceeded);
  CHECK(wave.services[1].status == phases::StepStatus::kFailed);
  CHECK(wave.services[1].touched);
  CHECK_THAT(wave.services[1].detail, Contains("unexpected EOF"));
  CHECK(world.ImageOf("prod", "api") == "reg/api:v2");
  CHECK(world.ImageOf("prod", "web") == "reg/web:v2");  // the PATCH landed before the drop
  CHECK(world.Calls("prod", Call::kWait) == 1);
  CHECK(world.Writes("prod").size() == 2);
  CHECK(world.Writes("dev").empty());
}

TEST_CASE("InitReleaseRepo makes a repository the tag phase can tag", "[fake]") {
  const auto plan = LoadTestPlan();
  FakeWorld world(plan);
  TempDir dir;
  const auto repo = dir.path() / "releases";
  InitReleaseRepo(repo);
  CountingSteps steps;
  world.Context().steps = &steps;
  world.Context().releases_repo = repo;

  adapters::git::ReleaseManifest manifest;
  manifest.plan = "shop";
  manifest.source_env = "dev";
  manifest.target_env = "prod";
  manifest.run_id = "run-1";
  manifest.initiator = "ops-lead";
  manifest.created_at = "2026-12-01T10:00:00Z";
  manifest.services["api"] = {"reg/api:v2", std::nullopt};
  auto tagged = phases::Tag("prod-2026-12-01", manifest).Run(world.Context());
  REQUIRE(tagged.ok());
  CHECK(tagged->created);
  CHECK(steps.intents == std::vector<std::string>{"create-tag"});

  auto opened = adapters::git::ReleaseRepo::Open(repo);
  REQUIRE(opened.ok());
  auto releases = opened->Releases();
  REQUIRE(releases.ok());
  REQUIRE(releases->size() == 1);
  CHECK((*releases)[0].name == "prod-2026-12-01");
  CHECK((*releases)[0].manifest == manifest);
}

}  // namespace
}  // namespace promote::testing
