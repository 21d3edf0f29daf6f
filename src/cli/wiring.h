// The adapters of one promote invocation, built once from the global flags and the plan, and
// handed to the phases as one Context. Owns everything the Context refers to.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "adapters/kube/cluster.h"
#include "cli/options.h"
#include "core/error.h"
#include "engine/promotion.h"
#include "engine/run_lock.h"
#include "phases/context.h"

namespace promote::adapters::hooks {
class HookRunner;
}

namespace promote::adapters::registry {
class ImageRegistry;
}

namespace promote::adapters::metrics {
class MetricSource;
}

namespace promote::plan {
struct Plan;
}

namespace promote::cli {

/// What the global flags say about reaching the outside world.
struct WiringOptions {
  std::string kubectl;                              ///< --kubectl (else $PROMOTE_KUBECTL, PATH)
  std::string helm;                                 ///< --helm (else $PROMOTE_HELM, PATH)
  std::optional<std::filesystem::path> kubeconfig;  ///< --kubeconfig
  std::optional<std::filesystem::path> endpoints;   ///< --endpoints FILE (env → service → URL)
  std::optional<std::filesystem::path> releases;    ///< --releases DIR, replaces releases.repo
  std::optional<std::filesystem::path> hooks;       ///< --hooks DIR, else hooks/ beside the plan
};

/// Owns the process runner, prober and one Cluster per environment; exposes them as a Context.
class Wiring {
 public:
  static Result<std::unique_ptr<Wiring>> Create(const WiringOptions& options,
                                                const plan::Plan& plan,
                                                std::shared_ptr<const Redactor> redactor,
                                                std::shared_ptr<spdlog::logger> logger);
  ~Wiring();

  phases::Context& context() { return *context_; }
  adapters::kube::Cluster& ClusterFor(const std::string& environment);

 private:
  Wiring() = default;

  std::shared_ptr<const Redactor> redactor_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<adapters::ProcessRunner> runner_;
  std::unique_ptr<adapters::probe::Prober> prober_;
  std::unique_ptr<adapters::hooks::HookRunner> hooks_;
  std::unique_ptr<adapters::registry::ImageRegistry> registry_;
  std::unique_ptr<adapters::metrics::MetricSource> metrics_;
  std::map<std::string, std::unique_ptr<adapters::kube::Cluster>> clusters_;
  std::unique_ptr<phases::Context> context_;
};

/// The values of the plan's secretEnv variables, of the variables its registry.credentials and
/// prometheus.headers name (and $PROMOTE_WEBHOOK_URL) join the redactor:
/// every command that loads a plan calls this before anything else runs.
void RegisterPlanSecrets(const plan::Plan& plan, Redactor& redactor);

/// A run lock taken by a command that is not a run (approve, reject), with the process runner
/// a Lease lock renews itself through; the lock goes first when this is destroyed.
struct CommandLock {
  std::unique_ptr<adapters::ProcessRunner> runner;
  std::optional<engine::RunLock> lock;
};

/// Takes `target`'s run lock (the plan's backend: file or Lease) for run `run_id`.
Result<CommandLock> TakeRunLock(const GlobalOptions& options, const plan::Plan& plan,
                                const std::string& target, const std::string& run_id,
                                std::shared_ptr<const Redactor> redactor);

/// Who holds `target`'s run lock (file or Lease, as the plan says), or nullopt.
Result<std::optional<engine::LockHolder>> InspectRunLockOf(
    const GlobalOptions& options, const plan::Plan& plan, const std::string& target,
    std::shared_ptr<const Redactor> redactor);

/// The wiring options the global flags give.
WiringOptions WiringOptionsFrom(const GlobalOptions& options);

/// `promote` and the global flags of this invocation that say where it reads and writes (plan,
/// binaries, kubeconfig, endpoints, releases, hooks, state): every command a report suggests
/// starts with them, so it reaches the same clusters and repositories when pasted.
std::vector<std::string> CommandPrefix(const GlobalOptions& options, const plan::Plan& plan);

/// What the global flags ask of a run from `source` (a restore: the release tag) into `target`:
/// the request the audit, the dry run and the run all decide on.
engine::RunRequest RequestFrom(const GlobalOptions& options, const plan::Plan& plan,
                               const std::string& source, const std::string& target, bool restore);

/// Reads an endpoints file ({"dev": {"api": "http://127.0.0.1:3001", …}, …}, as the stand-in
/// writes it); entries that are not strings are ignored.
Result<std::map<std::string, std::map<std::string, std::string>>> LoadEndpoints(
    const std::filesystem::path& file);

/// Checks endpoints (LoadEndpoints) against `plan`: every environment it names is one of the
/// plan's, and gives a URL to each of the plan's services (more services, as the stand-in's file
/// lists for its whole world, are fine). A usage error naming `file` otherwise.
Status CheckEndpointsCover(
    const std::map<std::string, std::map<std::string, std::string>>& endpoints,
    const plan::Plan& plan, const std::filesystem::path& file);

/// `error`, met reading a run's journal (damaged, empty, not a promote run), as bad input:
/// exit 2, since the command changed nothing and the fix is the run id or the journal, not a
/// retry (exit 1 would say a promotion failed).
Error UnreadableJournal(Error error);

}  // namespace promote::cli
