#include "engine/run_lock.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adapters/kube/helm_cluster.h"
#include "adapters/kube/kubectl_cluster.h"
#include "adapters/kube/lease.h"
#include "plan/plan.h"
#include "support/files.h"
#include "support/standin.h"

namespace promote::engine {
namespace {

using nlohmann::json;
using promote::testing::StandIn;
using promote::testing::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

LockHolder Me(const std::string& run) {
  return LockHolder::Current(run, std::chrono::system_clock::time_point(
                                      std::chrono::seconds(1769940000)));  // 2026-02-01T10:00Z
}

plan::Environment Prod(plan::LockPolicy::Backend backend) {
  plan::Environment env;
  env.name = "prod";
  env.context = "prod";
  env.lock.backend = backend;
  env.lock.lease_namespace = "promote-system";
  return env;
}

TEST_CASE("LeaseRefFor names the Lease after the environment unless the plan names it", "[lease]") {
  plan::Environment env = Prod(plan::LockPolicy::Backend::kLease);
  env.name = "Prod_EU";
  env.kubeconfig = "/etc/kube/config";
  auto ref = LeaseRefFor(env);
  CHECK(ref.name == "promote-prod-eu");
  CHECK(ref.ns == "promote-system");
  CHECK(ref.context == "prod");
  CHECK(ref.kubeconfig == std::filesystem::path("/etc/kube/config"));
  env.lock.lease_name = "shared-lock";
  CHECK(LeaseRefFor(env).name == "shared-lock");
}

TEST_CASE("The file backend of the run lock is the environment's lock file", "[lease]") {
  TempDir state;
  adapters::SystemProcessRunner runner(nullptr, nullptr);
  adapters::kube::KubectlCluster cluster(adapters::kube::Tooling{}, runner);  // never called
  const plan::Environment env = Prod(plan::LockPolicy::Backend::kFile);

  auto lock = AcquireRunLock(env, state.path(), Me("run-1"), cluster);
  REQUIRE(lock);
  CHECK(lock->holder().run_id == "run-1");
  CHECK_FALSE(lock->lost());
  CHECK(std::filesystem::exists(EnvironmentLock::PathFor(state.path(), "prod")));
  CHECK(Contains(lock->Describe(), "prod.lock"));

  auto refused = AcquireRunLock(env, state.path(), Me("run-2"), cluster);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kLocked);
  CHECK(Contains(refused.error().what, "run-1"));

  auto held = InspectRunLock(env, state.path(), cluster);
  REQUIRE(held);
  REQUIRE(*held);
  CHECK((*held)->run_id == "run-1");

  RunLock moved = std::move(*lock);
  REQUIRE(moved.Release());
  REQUIRE(moved.Release());
  auto free = InspectRunLock(env, state.path(), cluster);
  REQUIRE(free);
  CHECK_FALSE(*free);
}

TEST_CASE("The lease backend of the run lock holds a Lease in the environment's cluster",
          "[lease]") {
  StandIn standin;
  TempDir state;
  // (`kubectl create namespace` sends protobuf, which the stand-in decodes for Secrets only.)
  const auto namespace_file = state.path() / "namespace.json";
  std::ofstream(namespace_file)
      << R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"promote-system"}})";
  standin.Kubectl("prod", "default", {"create", "-f", namespace_file.string()});
  adapters::SystemProcessRunner runner(nullptr, nullptr);
  adapters::kube::KubectlCluster kubectl(standin.Tooling(), runner);
  adapters::kube::HelmCluster helm(standin.Tooling(), runner);
  const plan::Environment env = Prod(plan::LockPolicy::Backend::kLease);
  auto read = [&] {
    const std::string out =
        standin.Kubectl("prod", "promote-system",
                        {"get", "lease", "promote-prod", "--ignore-not-found", "-o", "json"});
    return out.empty() ? json() : json::parse(out);
  };

  {
    auto lock = AcquireRunLock(env, state.path(), Me("run-1"), kubectl);
    REQUIRE(lock);
    CHECK(read()["spec"]["holderIdentity"] == "run-1");
    CHECK(read()["spec"]["leaseDurationSeconds"] == 60);
    CHECK(Contains(lock->Describe(), "Lease promote-system/promote-prod"));
    CHECK_FALSE(lock->lost());
    // No lock file: the Lease is the lock.
    CHECK_FALSE(std::filesystem::exists(EnvironmentLock::PathFor(state.path(), "prod")));

    // Another runner, through the helm driver's cluster, is refused with the holder named.
    auto refused = AcquireRunLock(env, state.path(), Me("run-2"), helm);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::kLocked);
    CHECK(Contains(refused.error().what, "prod is locked: held by run run-1"));

    auto held = InspectRunLock(env, state.path(), helm);
    REQUIRE(held);
    REQUIRE(*held);
    CHECK((*held)->run_id == "run-1");
    CHECK((*held)->pid == Me("run-1").pid);

    RunLock moved = std::move(*lock);
    CHECK(read()["spec"]["holderIdentity"] == "run-1");  // a move releases nothing
  }  // released when the moved-to lock goes out of scope
  CHECK(read().is_null());
  auto free = InspectRunLock(env, state.path(), kubectl);
  REQUIRE(free);
  CHECK_FALSE(*free);

  auto next = AcquireRunLock(env, state.path(), Me("run-2"), helm);
  REQUIRE(next);
  CHECK(read()["spec"]["holderIdentity"] == "run-2");
  REQUIRE(next->Release());
  CHECK(read().is_null());
}

}  // namespace
}  // namespace promote::engine
