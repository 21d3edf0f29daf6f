// ApiProxy with the real `kubectl proxy` in front of the stand-in: one process for many reads,
// a private socket, a restart when the proxy dies, and nothing left behind.
#include "adapters/kube/api_proxy.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "adapters/kube/kubectl_cluster.h"
#include "support/standin.h"

namespace {

using promote::adapters::Command;
using promote::adapters::SystemProcessRunner;
using namespace promote::adapters::kube;
using promote::testing::StandIn;
using std::chrono::milliseconds;

/// The kubectl prefix ApiProxy takes: binary, kubeconfig and context.
Command KubectlFor(const StandIn& standin, const std::string& context) {
  const Tooling tooling = standin.Tooling();
  Command command;
  command.argv = {tooling.kubectl, "--kubeconfig=" + tooling.kubeconfig->string(),
                  "--context=" + context};
  return command;
}

/// Pids of this process's children whose command line contains `needle`.
std::vector<pid_t> ChildrenRunning(const std::string& needle) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid != ::getpid() || state == 'Z') continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find(needle) != std::string::npos) found.push_back(std::stoi(name));
  }
  return found;
}

/// Distinct kubectl processes (Kubectl-Session values) the stand-in saw for `env`.
std::set<std::string> SessionsOf(const StandIn& standin, const std::string& env) {
  std::set<std::string> sessions;
  for (const auto& request : standin.Requests()) {
    if (request.value("env", "") == env && request["kubectlSession"].is_string()) {
      sessions.insert(request["kubectlSession"].get<std::string>());
    }
  }
  return sessions;
}

}  // namespace

TEST_CASE("ApiProxy serves many reads from one kubectl proxy on a private socket",
          "[kube][standin]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  std::filesystem::path socket_folder;
  {
    ApiProxy proxy(runner, KubectlFor(standin, "prod"), milliseconds(10000));
    for (int i = 0; i < 20; ++i) {
      auto ns = proxy.Get("/api/v1/namespaces/keybuzz-api-prod");
      REQUIRE(ns.ok());
      CHECK(ns->status == 200);
    }
    auto missing = proxy.Get("/apis/apps/v1/namespaces/keybuzz-api-prod/deployments/nope");
    REQUIRE(missing.ok());
    CHECK(missing->status == 404);
    CHECK(proxy.starts() == 1);
    const auto proxies = ChildrenRunning("--unix-socket=");
    REQUIRE(proxies.size() == 1);
    // The socket sits in a folder only this user may enter.
    std::ifstream cmdline("/proc/" + std::to_string(proxies[0]) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    const auto at = args.find("--unix-socket=") + std::string("--unix-socket=").size();
    socket_folder = std::filesystem::path(args.substr(at, args.find('\0', at) - at)).parent_path();
    struct stat info {};
    REQUIRE(::stat(socket_folder.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0700);
  }
  // 21 GETs, one kubectl process: the stand-in saw one session.
  CHECK(SessionsOf(standin, "prod").size() == 1);
  CHECK(ChildrenRunning("--unix-socket=").empty());
  CHECK_FALSE(std::filesystem::exists(socket_folder));
}

TEST_CASE("ApiProxy repeats a read that met a transient 5xx, a bounded number of times",
          "[kube][standin][faults]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  ApiProxy proxy(runner, KubectlFor(standin, "prod"), milliseconds(10000));
  const std::string path = "/api/v1/namespaces/keybuzz-api-prod";
  // Two 500s, then the server is fine again: the read succeeds on its third try.
  standin.Control(
      "prod", "faults",
      R"({"mode":"500","pathRegex":"^/api/v1/namespaces/keybuzz-api-prod$","times":2})");
  auto read = proxy.Get(path);
  REQUIRE(read.ok());
  CHECK(read->status == 200);
  // A server that keeps failing: 1 try and 3 retries, then its answer is the caller's to judge.
  standin.Control(
      "prod", "faults",
      R"({"mode":"500","pathRegex":"^/api/v1/namespaces/keybuzz-api-prod$","times":10})");
  auto failing = proxy.Get(path);
  REQUIRE(failing.ok());
  CHECK(failing->status == 500);
  standin.Control("prod", "faults", R"({"mode":"off"})");
  int faulted = 0;
  for (const auto& request : standin.Requests()) {
    faulted += request.value("path", "") == path && request.contains("fault") &&
               !request["fault"].is_null();
  }
  CHECK(faulted == 2 + 4);
}

TEST_CASE("ApiProxy starts kubectl proxy again when it dies, a bounded number of times",
          "[kube][standin]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  ApiProxy proxy(runner, KubectlFor(standin, "prod"), milliseconds(10000));
  REQUIRE(proxy.Get("/api/v1/namespaces/keybuzz-api-prod").ok());
  for (int killed = 1; killed < ApiProxy::kMaxStarts; ++killed) {
    for (pid_t pid : ChildrenRunning("--unix-socket=")) ::kill(pid, SIGKILL);
    // Bounded: the background thread notices the exit within its poll tick.
    for (int i = 0; i < 100 && !ChildrenRunning("--unix-socket=").empty(); ++i) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    auto again = proxy.Get("/api/v1/namespaces/keybuzz-api-prod");
    if (!again) FAIL(again.error().Format());
    CHECK(again->status == 200);
    CHECK(proxy.starts() == killed + 1);
  }
  for (pid_t pid : ChildrenRunning("--unix-socket=")) ::kill(pid, SIGKILL);
  for (int i = 0; i < 100 && !ChildrenRunning("--unix-socket=").empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  auto given_up = proxy.Get("/api/v1/namespaces/keybuzz-api-prod");
  REQUIRE_FALSE(given_up.ok());
  CHECK(given_up.error().what.find("kubectl proxy stopped 3 times") != std::string::npos);
}

TEST_CASE("a cluster's reads cost one kubectl process, however many services are read",
          "[kube][standin]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  KubectlCluster cluster(standin.Tooling(), runner);
  for (const std::string service : {"api", "client", "website", "api", "client"}) {
    WorkloadRef ref;
    ref.context = "prod";
    ref.ns = "keybuzz-" + service + "-prod";
    ref.name = "keybuzz-" + service;
    ref.container = service;
    auto read = cluster.ReadWorkload(ref);
    REQUIRE(read.ok());
    CHECK(read->workload_present);
    REQUIRE(cluster.CheckSecrets(ref, {"ghcr-cred"}).ok());
  }
  CHECK(SessionsOf(standin, "prod").size() == 1);
}
