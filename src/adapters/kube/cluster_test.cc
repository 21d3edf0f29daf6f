// The Cluster adapters with the real kubectl and helm against the local stand-in: read, deploy,
// wait, fail on a progress deadline, roll back.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>

#include "adapters/kube/helm_cluster.h"
#include "adapters/kube/kubectl_cluster.h"
#include "support/standin.h"

namespace {

using promote::adapters::SystemProcessRunner;
using namespace promote::adapters::kube;
using promote::testing::HttpStatus;
using promote::testing::StandIn;
using std::chrono::seconds;

const std::string kApiRepo = "ghcr.io/keybuzz/keybuzz-api";

WorkloadRef ProdApi() {
  WorkloadRef ref;
  ref.context = "prod";
  ref.ns = "keybuzz-api-prod";
  ref.name = "keybuzz-api";
  ref.container = "api";
  return ref;
}

size_t PatchesOf(const StandIn& standin, const std::string& name) {
  size_t patches = 0;
  for (const auto& write : standin.Writes("prod")) {
    if (write["verb"] == "patch" &&
        write["path"].get<std::string>().find("/deployments/" + name) != std::string::npos) {
      ++patches;
    }
  }
  return patches;
}

}  // namespace

TEST_CASE("ImageTag finds the tag or digest of an image reference", "[kube]") {
  CHECK(ImageTag("ghcr.io/keybuzz/keybuzz-api:v1") == "v1");
  CHECK(ImageTag("localhost:5000/api:v2") == "v2");
  CHECK(ImageTag("localhost:5000/api") == "latest");
  CHECK(ImageTag("repo/api@sha256:abc") == "sha256:abc");
  CHECK(ImageTag("repo/api:v3@sha256:abc") == "v3");
}

TEST_CASE("kubectl and helm come from the flag, else PROMOTE_KUBECTL/PROMOTE_HELM, else PATH",
          "[kube]") {
  const char* was = std::getenv("PROMOTE_KUBECTL");
  const std::string saved = was ? was : "";
  ::setenv("PROMOTE_KUBECTL", "/env/kubectl", 1);
  ::unsetenv("PROMOTE_HELM");
  CHECK(ResolveTooling("", "").kubectl == "/env/kubectl");
  CHECK(ResolveTooling("", "").helm == "helm");
  CHECK(ResolveTooling("/flag/kubectl", "/flag/helm").kubectl == "/flag/kubectl");
  CHECK(ResolveTooling("/flag/kubectl", "/flag/helm").helm == "/flag/helm");
  ::unsetenv("PROMOTE_KUBECTL");
  CHECK(ResolveTooling("", "").kubectl == "kubectl");
  if (was) ::setenv("PROMOTE_KUBECTL", saved.c_str(), 1);
}

TEST_CASE("KubectlCluster builds argv with explicit context, namespace and kubeconfig", "[kube]") {
  SystemProcessRunner runner(nullptr, nullptr);
  Tooling tooling;
  tooling.kubectl = "/opt/kubectl";
  tooling.kubeconfig = "/tmp/kc";
  KubectlCluster cluster(tooling, runner);
  const auto plan = cluster.PlanDeploy(ProdApi(), kApiRepo + ":v2", seconds(60));
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].argv == std::vector<std::string>{"/opt/kubectl", "--kubeconfig=/tmp/kc",
                                                 "--context=prod", "--namespace=keybuzz-api-prod",
                                                 "set", "image", "deployment/keybuzz-api",
                                                 "api=" + kApiRepo + ":v2"});
}

TEST_CASE("KubectlCluster reads, deploys, waits, fails and rolls back", "[kube][standin]") {
  StandIn standin({"--rollout-seconds", "0.5", "--deadline-seconds", "3"});
  SystemProcessRunner runner(nullptr, nullptr);
  KubectlCluster cluster(standin.Tooling(), runner);
  const auto login = standin.Endpoint("prod", "api") + "/auth/login";

  auto before = cluster.ReadWorkload(ProdApi());
  REQUIRE(before.ok());
  CHECK(before->namespace_present);
  CHECK(before->workload_present);
  CHECK(before->image == kApiRepo + ":v0.9.29-contact-fix");
  REQUIRE(before->digest.has_value());
  CHECK(before->digest->rfind("sha256:", 0) == 0);
  CHECK(before->rollout == RolloutState::kComplete);
  CHECK(before->desired >= 1);
  CHECK(before->available == before->desired);
  CHECK(HttpStatus("POST", login, "{}") == 404);
  CHECK(standin.Writes("prod").empty());

  SECTION("absent namespaces and workloads are facts, not errors") {
    auto ref = ProdApi();
    ref.ns = "no-such-namespace";
    auto missing_ns = cluster.ReadWorkload(ref);
    REQUIRE(missing_ns.ok());
    CHECK_FALSE(missing_ns->namespace_present);
    ref = ProdApi();
    ref.name = "no-such-deployment";
    auto missing = cluster.ReadWorkload(ref);
    REQUIRE(missing.ok());
    CHECK(missing->namespace_present);
    CHECK_FALSE(missing->workload_present);
    CHECK(missing->rollout == RolloutState::kMissing);
  }

  SECTION("secrets are checked by name") {
    auto secrets =
        cluster.CheckSecrets(ProdApi(), {"keybuzz-api-postgres", "keybuzz-stripe",
                                         "minio-credentials", "ghcr-cred", "keybuzz-stripe-old"});
    REQUIRE(secrets.ok());
    REQUIRE(secrets->size() == 5);
    for (size_t i = 0; i < 4; ++i) CHECK((*secrets)[i].present);
    CHECK_FALSE((*secrets)[4].present);
  }

  SECTION("deploy, wait, then a never-ready image fails and rollback restores") {
    REQUIRE(cluster.Deploy(ProdApi(), kApiRepo + ":v0.4.31-replacement", seconds(30)).ok());
    CHECK(PatchesOf(standin, "keybuzz-api") == 1);
    auto waited = cluster.WaitRollout(ProdApi(), seconds(60));
    REQUIRE(waited.ok());
    CHECK(waited->outcome == RolloutOutcome::kComplete);
    CHECK(HttpStatus("POST", login, "{}") == 200);
    auto after = cluster.ReadWorkload(ProdApi());
    REQUIRE(after.ok());
    CHECK(after->image == kApiRepo + ":v0.4.31-replacement");
    CHECK(after->digest != before->digest);
    CHECK(after->revision > before->revision);

    REQUIRE(cluster.Deploy(ProdApi(), kApiRepo + ":v0.4.40-never-ready", seconds(30)).ok());
    auto stuck = cluster.WaitRollout(ProdApi(), seconds(60));
    REQUIRE(stuck.ok());
    CHECK(stuck->outcome == RolloutOutcome::kDeadlineExceeded);
    CHECK(stuck->detail.find("progress deadline") != std::string::npos);
    auto stuck_state = cluster.ReadWorkload(ProdApi());
    REQUIRE(stuck_state.ok());
    CHECK(stuck_state->rollout == RolloutState::kDeadlineExceeded);
    // The old pods still serve while the new ones never become ready.
    CHECK(HttpStatus("POST", login, "{}") == 200);

    REQUIRE(cluster.Rollback(ProdApi(), {after->image, std::nullopt}, seconds(30)).ok());
    auto restored = cluster.WaitRollout(ProdApi(), seconds(60));
    REQUIRE(restored.ok());
    CHECK(restored->outcome == RolloutOutcome::kComplete);
    auto final_state = cluster.ReadWorkload(ProdApi());
    REQUIRE(final_state.ok());
    CHECK(final_state->image == kApiRepo + ":v0.4.31-replacement");
    CHECK(final_state->digest == after->digest);
    CHECK(PatchesOf(standin, "keybuzz-api") == 3);
  }
}

namespace {

/// The prod service `name` of the stand-in's default world (keybuzz-NAME in keybuzz-NAME-prod).
WorkloadRef ProdService(const std::string& name) {
  WorkloadRef ref = ProdApi();
  ref.ns = "keybuzz-" + name + "-prod";
  ref.name = "keybuzz-" + name;
  ref.container = name;
  return ref;
}

/// The API requests prod's stand-in logged after the first `mark`, as "verb path".
std::vector<std::string> RequestsSince(const StandIn& standin, size_t mark) {
  std::vector<std::string> seen;
  const auto all = standin.Requests();
  for (size_t i = mark; i < all.size(); ++i) {
    if (all[i].value("env", "") != "prod") continue;
    seen.push_back(all[i].value("verb", "") + " " + all[i].value("path", ""));
  }
  return seen;
}

size_t Count(const std::vector<std::string>& requests, const std::string& prefix) {
  return std::count_if(requests.begin(), requests.end(),
                       [&](const std::string& r) { return r.rfind(prefix, 0) == 0; });
}

}  // namespace

TEST_CASE("KubectlCluster reads and waits for a batch with a fixed number of lists",
          "[kube][standin]") {
  StandIn standin({"--rollout-seconds", "0.5", "--deadline-seconds", "3"});
  SystemProcessRunner runner(nullptr, nullptr);
  auto tooling = standin.Tooling();
  // Pages of one object: every list below is followed through its continue tokens.
  const bool paged = GENERATE(false, true);
  if (paged) tooling.list_page_size = 1;
  KubectlCluster cluster(tooling, runner);
  std::vector<WorkloadRef> refs = {ProdService("api"), ProdService("client"),
                                   ProdService("website"), ProdService("api"), ProdService("api")};
  refs[3].name = "no-such-deployment";
  refs[4].ns = "no-such-namespace";
  const bool forbidden = GENERATE(false, true);
  if (forbidden) {
    // RBAC that grants the namespaces but not the cluster: lists go namespace by namespace.
    standin.Control("prod", "faults",
                    R"({"mode":"403","pathRegex":"^/(apis/apps/v1/deployments|api/v1/pods|)"
                    R"(api/v1/secrets)$"})");
  }
  INFO("paged " << paged << ", cluster-wide lists forbidden " << forbidden);

  auto warm = cluster.ReadWorkload(refs[0]);  // starts the proxy: its requests are not counted
  REQUIRE(warm.ok());
  const size_t mark = standin.Requests().size();
  const auto batch = cluster.ReadWorkloads(refs);
  const auto requests = RequestsSince(standin, mark);
  REQUIRE(batch.size() == refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    INFO(refs[i].ns << "/" << refs[i].name);
    REQUIRE(batch[i].ok());
    auto one = cluster.ReadWorkload(refs[i]);
    REQUIRE(one.ok());
    CHECK(batch[i]->namespace_present == one->namespace_present);
    CHECK(batch[i]->workload_present == one->workload_present);
    CHECK(batch[i]->image == one->image);
    CHECK(batch[i]->digest == one->digest);
    CHECK(batch[i]->rollout == one->rollout);
    CHECK(batch[i]->revision == one->revision);
  }
  CHECK(batch[0]->digest.has_value());
  CHECK_FALSE(batch[3]->workload_present);
  CHECK(batch[3]->namespace_present);
  CHECK_FALSE(batch[4]->namespace_present);
  INFO(requests.size() << " requests");
  CHECK(Count(requests, "get /apis/apps/v1/namespaces/") == 0);  // no GET a workload
  // Two namespace GETs for the two missing workloads; the lists themselves do not depend on
  // the number of services unless the cluster-wide list is forbidden.
  CHECK(Count(requests, "get /api/v1/namespaces/") == 2);
  if (!forbidden && !paged) CHECK(requests.size() == 4);
  if (forbidden) CHECK(Count(requests, "list /apis/apps/v1/namespaces/") == 4);

  const std::vector<WorkloadRef> three(refs.begin(), refs.begin() + 3);
  auto secrets = cluster.CheckSecretsIn(three, {"keybuzz-api-postgres", "no-such-secret"});
  REQUIRE(secrets.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(secrets[i].ok());
    auto one = cluster.CheckSecrets(three[i], {"keybuzz-api-postgres", "no-such-secret"});
    REQUIRE(one.ok());
    CHECK((*secrets[i])[0].present == (*one)[0].present);
    CHECK_FALSE((*secrets[i])[1].present);
  }
  CHECK((*secrets[0])[0].present);

  // A wave of three: two roll out, one never becomes ready; one loop judges all three.
  REQUIRE(cluster.Deploy(three[0], kApiRepo + ":v0.4.31-replacement", seconds(30)).ok());
  REQUIRE(
      cluster.Deploy(three[1], "ghcr.io/keybuzz/keybuzz-client:v0.5.33-replacement", seconds(30))
          .ok());
  REQUIRE(cluster.Deploy(three[2], kApiRepo + ":v0.4.40-never-ready", seconds(30)).ok());
  const size_t before_wait = standin.Requests().size();
  auto waited = cluster.WaitRollouts(three, seconds(60));
  const auto wait_requests = RequestsSince(standin, before_wait);
  REQUIRE(waited.size() == 3);
  REQUIRE(waited[0].ok());
  REQUIRE(waited[1].ok());
  REQUIRE(waited[2].ok());
  CHECK(waited[0]->outcome == RolloutOutcome::kComplete);
  CHECK(waited[1]->outcome == RolloutOutcome::kComplete);
  CHECK(waited[2]->outcome == RolloutOutcome::kDeadlineExceeded);
  CHECK(Count(wait_requests, "get ") == 0);  // lists only, never one GET a workload
}

TEST_CASE("a wait ends when new pods crash-loop or cannot be pulled, not at the deadline",
          "[kube][standin]") {
  // A progress deadline far beyond the test: only the pods can end these waits early.
  StandIn standin({"--rollout-seconds", "0.5", "--deadline-seconds", "120"});
  SystemProcessRunner runner(nullptr, nullptr);
  KubectlCluster cluster(standin.Tooling(), runner);
  const std::string crash = kApiRepo + ":v0.4.41-crash";
  const std::string unpullable = kApiRepo + ":v0.4.99-not-in-any-registry";

  SECTION("one workload") {
    REQUIRE(cluster.Deploy(ProdApi(), crash, seconds(30)).ok());
    auto crashed = cluster.WaitRollout(ProdApi(), seconds(60));
    REQUIRE(crashed.ok());
    CHECK(crashed->outcome == RolloutOutcome::kCrashLoop);
    CHECK(crashed->detail.find("CrashLoopBackOff") != std::string::npos);
    auto seen = cluster.ReadWorkload(ProdApi());
    REQUIRE(seen.ok());
    CHECK(seen->crash_looping);
    CHECK(seen->stuck.rfind("pod keybuzz-api-", 0) == 0);

    REQUIRE(cluster.Deploy(ProdApi(), unpullable, seconds(30)).ok());
    auto unpulled = cluster.WaitRollout(ProdApi(), seconds(60));
    REQUIRE(unpulled.ok());
    CHECK(unpulled->outcome == RolloutOutcome::kPodsCannotStart);
    CHECK(unpulled->detail.find("ImagePullBackOff") != std::string::npos);
  }

  SECTION("a batch: each workload has its own outcome") {
    const std::vector<WorkloadRef> three = {ProdService("api"), ProdService("client"),
                                            ProdService("website")};
    REQUIRE(cluster.Deploy(three[0], crash, seconds(30)).ok());
    REQUIRE(
        cluster.Deploy(three[1], "ghcr.io/keybuzz/keybuzz-client:v0.5.33-replacement", seconds(30))
            .ok());
    REQUIRE(
        cluster.Deploy(three[2], "ghcr.io/keybuzz/keybuzz-website:v0.0.0-unpullable", seconds(30))
            .ok());
    auto waited = cluster.WaitRollouts(three, seconds(60));
    REQUIRE(waited.size() == 3);
    for (const auto& one : waited) REQUIRE(one.ok());
    CHECK(waited[0]->outcome == RolloutOutcome::kCrashLoop);
    CHECK(waited[1]->outcome == RolloutOutcome::kComplete);
    CHECK(waited[2]->outcome == RolloutOutcome::kPodsCannotStart);
  }
}

TEST_CASE("a kubectl that cannot reach the cluster is an error naming what was read",
          "[kube][standin]") {
  SystemProcessRunner runner(nullptr, nullptr);
  StandIn standin;
  auto tooling = standin.Tooling();
  tooling.kubectl = "/nonexistent/kubectl";
  KubectlCluster cluster(tooling, runner);
  auto read = cluster.ReadWorkload(ProdApi());
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().what.find("reading deployment/keybuzz-api") != std::string::npos);
  CHECK(read.error().what.find("/nonexistent/kubectl") != std::string::npos);
}

TEST_CASE("HelmCluster upgrades, fails on a never-ready image and rolls back, waiting itself",
          "[kube][standin][helm]") {
  StandIn standin({"--rollout-seconds", "0.5", "--deadline-seconds", "3"});
  SystemProcessRunner runner(nullptr, nullptr);
  const auto tooling = standin.Tooling();
  HelmCluster cluster(tooling, runner);
  const std::string chart = std::string(PROMOTE_SOURCE_DIR) + "/tests/standin/charts/tiny";

  WorkloadRef ref = ProdApi();
  ref.ns = "tiny-prod";
  ref.name = "tiny";
  ref.helm_release = "tiny";
  ref.helm_chart = chart;
  // The release starts life as a person would install it.
  const auto installed =
      standin.Run({tooling.helm, "install", "tiny", chart, "--kube-context=prod",
                   "--namespace=tiny-prod", "--create-namespace",
                   "--kubeconfig=" + tooling.kubeconfig->string(), "--wait", "--timeout=60s"},
                  tooling.env);
  INFO(installed.err);
  REQUIRE(installed.ok());

  auto before = cluster.ReadWorkload(ref);
  REQUIRE(before.ok());
  CHECK(before->image == kApiRepo + ":v0.9.29-contact-fix");
  CHECK(before->helm_revision == 1);
  {
    // A batch reads the revisions from one list of helm's release Secrets: the same answer,
    // and a workload without a release is an error of its own, not of the batch.
    std::vector<WorkloadRef> batch = {ref, ProdApi(), ref};
    batch[1].helm_release = "no-such-release";
    batch[2].ns = "keybuzz-website-prod";
    batch[2].name = "keybuzz-website";
    batch[2].container = "website";
    auto read = cluster.ReadWorkloads(batch);
    REQUIRE(read.size() == 3);
    REQUIRE(read[0].ok());
    CHECK(read[0]->helm_revision == 1);
    CHECK(read[0]->image == before->image);
    REQUIRE_FALSE(read[1].ok());
    CHECK(read[1].error().what.find("no helm release named no-such-release") != std::string::npos);
    CHECK_FALSE(read[2].ok());
  }

  // helm returns once the release is recorded; the waiting is promote's own.
  REQUIRE(cluster.Deploy(ref, kApiRepo + ":v0.4.31-replacement", seconds(60)).ok());
  for (const auto& command : cluster.PlanDeploy(ref, kApiRepo + ":v1", seconds(60))) {
    CHECK(std::find(command.argv.begin(), command.argv.end(), "--wait") == command.argv.end());
  }
  auto rolled = cluster.WaitRollout(ref, seconds(30));
  REQUIRE(rolled.ok());
  CHECK(rolled->outcome == RolloutOutcome::kComplete);
  auto upgraded = cluster.ReadWorkload(ref);
  REQUIRE(upgraded.ok());
  CHECK(upgraded->image == kApiRepo + ":v0.4.31-replacement");
  CHECK(upgraded->helm_revision == 2);
  CHECK(upgraded->rollout == RolloutState::kComplete);

  REQUIRE(cluster.Deploy(ref, kApiRepo + ":v0.4.40-never-ready", seconds(4)).ok());
  auto failed = cluster.WaitRollout(ref, seconds(30));
  REQUIRE(failed.ok());
  CHECK(failed->outcome == RolloutOutcome::kDeadlineExceeded);

  REQUIRE(cluster.Rollback(ref, {upgraded->image, upgraded->helm_revision}, seconds(60)).ok());
  auto back = cluster.WaitRollout(ref, seconds(30));
  REQUIRE(back.ok());
  CHECK(back->outcome == RolloutOutcome::kComplete);
  auto restored = cluster.ReadWorkload(ref);
  REQUIRE(restored.ok());
  CHECK(restored->image == kApiRepo + ":v0.4.31-replacement");
  CHECK(restored->helm_revision == 4);
  CHECK(restored->rollout == RolloutState::kComplete);
}

// The same read/deploy/wait/fail/roll back cycle against a real cluster, when one is given:
// PROMOTE_TEST_KUBECONFIG (and optionally PROMOTE_TEST_CONTEXT). It works in a namespace of its
// own, promote-test-<pid>, with registry.k8s.io/pause images, and deletes it afterwards. CTest
// runs it as `kube.real_cluster` (label real-cluster) and reports it skipped when unset.
TEST_CASE("KubectlCluster against a real cluster", "[real-cluster]") {
  const char* kubeconfig = std::getenv("PROMOTE_TEST_KUBECONFIG");
  if (!kubeconfig || !*kubeconfig) {
    WARN("PROMOTE_TEST_KUBECONFIG is not set: real-cluster test skipped");
    return;
  }
  SystemProcessRunner runner(nullptr, nullptr);
  Tooling tooling = ResolveTooling("", "");
  tooling.kubeconfig = kubeconfig;
  auto run = [&](std::vector<std::string> args, std::string stdin_data) {
    promote::adapters::Command command;
    command.stdin_data = std::move(stdin_data);
    command.argv = {tooling.kubectl, std::string("--kubeconfig=") + kubeconfig};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.timeout = seconds(120);
    auto result = runner.Run(command);
    REQUIRE(result.ok());
    INFO(result->err);
    REQUIRE(result->ok());
    return result->out;
  };
  std::string context;
  if (const char* set = std::getenv("PROMOTE_TEST_CONTEXT"); set && *set) {
    context = set;
  } else {
    context = run({"config", "current-context"}, "");
    context.erase(context.find_last_not_of("\n ") + 1);
  }
  WorkloadRef ref;
  ref.context = context;
  ref.ns = "promote-test-" + std::to_string(::getpid());
  ref.name = "pause";
  ref.container = "pause";
  const std::string ctx = "--context=" + context;
  const std::string labels = R"({"app":"promote-test"})";
  // --validate=false: the stand-in's OpenAPI covers only what promote itself sends.
  run({ctx, "create", "--validate=false", "-f", "-"},
      R"({"apiVersion":"v1","kind":"List","items":[)"
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" +
          ref.ns +
          R"("}},)"
          R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"pause","namespace":")" +
          ref.ns +
          R"("},"spec":{"replicas":1,"progressDeadlineSeconds":20,)"
          R"("selector":{"matchLabels":)" +
          labels +
          R"(},"template":{"metadata":)"
          R"({"labels":)" +
          labels +
          R"(},"spec":{"containers":[{"name":"pause",)"
          R"("image":"registry.k8s.io/pause:3.9"}]}}}}]})");
  struct Cleanup {
    std::function<void()> done;
    ~Cleanup() { done(); }
  } cleanup{[&] { run({ctx, "delete", "namespace", ref.ns, "--wait=false"}, ""); }};

  KubectlCluster cluster(tooling, runner);
  REQUIRE(cluster.WaitRollout(ref, seconds(120))->outcome == RolloutOutcome::kComplete);
  auto before = cluster.ReadWorkload(ref);
  REQUIRE(before.ok());
  CHECK(before->image == "registry.k8s.io/pause:3.9");

  REQUIRE(cluster.Deploy(ref, "registry.k8s.io/pause:3.10", seconds(30)).ok());
  CHECK(cluster.WaitRollout(ref, seconds(120))->outcome == RolloutOutcome::kComplete);
  REQUIRE(cluster.Deploy(ref, "registry.k8s.io/pause:promote-no-such-tag", seconds(30)).ok());
  CHECK(cluster.WaitRollout(ref, seconds(120))->outcome == RolloutOutcome::kDeadlineExceeded);
  REQUIRE(cluster.Rollback(ref, {"registry.k8s.io/pause:3.10", std::nullopt}, seconds(30)).ok());
  CHECK(cluster.WaitRollout(ref, seconds(120))->outcome == RolloutOutcome::kComplete);
  CHECK(cluster.ReadWorkload(ref)->image == "registry.k8s.io/pause:3.10");
}
