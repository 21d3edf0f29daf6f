// Test fixture: the local Kubernetes API stand-in (scripts/standin.sh) for one test, with the
// pinned real kubectl/helm, the request log, and a small HTTP client for the service ports.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/kube/cluster.h"
#include "adapters/process/process.h"

namespace promote::testing {

/// The pinned binary `name` (kubectl, helm): $PROMOTE_KUBECTL/$PROMOTE_HELM, else tools/bin.
std::string PinnedTool(const std::string& name);

/// A running stand-in in its own temporary folder; stopped (and checked gone) on destruction.
class StandIn {
 public:
  /// Starts it with `args` passed to `standin.sh up` (e.g. {"--rollout-seconds", "0.5"}).
  explicit StandIn(std::vector<std::string> args = {});
  ~StandIn();
  StandIn(const StandIn&) = delete;
  StandIn& operator=(const StandIn&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path kubeconfig() const { return dir_ / "kubeconfig"; }
  /// Base URL of `service` in `env`, from DIR/endpoints.json.
  std::string Endpoint(const std::string& env, const std::string& service) const;
  /// Every API request logged so far (DIR/requests.jsonl).
  std::vector<nlohmann::json> Requests() const;
  /// Requests of `env` whose verb changes something (create, update, patch, delete…).
  std::vector<nlohmann::json> Writes(const std::string& env) const;
  /// Tooling for the adapters: pinned binaries, this kubeconfig, a private discovery cache and
  /// private helm folders.
  adapters::kube::Tooling Tooling() const;
  /// Runs `argv` (with `env` added) and requires exit 0; returns its stdout.
  std::string RunOk(std::vector<std::string> argv,
                    std::map<std::string, std::string> env = {}) const;
  /// The pinned kubectl against this stand-in in `context`/`ns`, required to succeed; stdout.
  std::string Kubectl(const std::string& context, const std::string& ns,
                      std::vector<std::string> args) const;
  /// POSTs `body` to the stand-in's control API of `env` (/_standin/`what`) and checks the 200.
  void Control(const std::string& env, const std::string& what, const std::string& body) const;
  /// Runs a command through the real process adapter, with `env` added to the environment.
  adapters::ProcessResult Run(std::vector<std::string> argv,
                              std::map<std::string, std::string> env = {}) const;

 private:
  std::filesystem::path root_;
  std::filesystem::path dir_;
  nlohmann::json endpoints_;
  std::unique_ptr<adapters::ProcessRunner> runner_;
};

/// The JSON a `promote --output=json` command printed (its output shown if parsing fails).
nlohmann::json Outcome(const adapters::ProcessResult& run);

/// Checks that a dry run and the run that followed it in the same state decided the same
/// (`decision` of both JSON outputs) and that the dry run's exit code is that decision's class:
/// 6 promote, 0 nothing to do, 8 refused (7, an unhealthy or drifted target, goes with any).
/// A run that ended with an error before deciding (exit 2 or 4, no JSON) is not compared.
void ExpectSameDecision(const adapters::ProcessResult& dry_run, const adapters::ProcessResult& run);

/// Status code of an HTTP request to a loopback URL (-1 when nothing answered).
int HttpStatus(const std::string& method, const std::string& url, const std::string& body = "");

}  // namespace promote::testing
