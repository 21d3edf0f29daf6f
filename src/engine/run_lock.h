// The run lock of a target environment, whichever backend its plan chose (`lock:`): the local
// file lock (engine/lock.h) or a Kubernetes Lease shared by several runners
// (adapters/kube/lease.h). Both name their holder, report a holder that is gone as stale, never
// steal, fail with ErrorKind::kLocked (exit 4), and release only what is still theirs.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "engine/lock.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote::plan {
struct Environment;
}  // namespace promote::plan

namespace promote::adapters::kube {
class Cluster;
class KubeLease;
struct LeaseRef;
}  // namespace promote::adapters::kube

namespace promote::engine {

/// A held run lock (move-only RAII): released when it goes out of scope.
class RunLock {
 public:
  explicit RunLock(EnvironmentLock file);
  RunLock(std::unique_ptr<adapters::kube::KubeLease> lease, LockHolder holder);
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

  /// Lets the lock go if it is still ours (anyone else's stays in place). Idempotent.
  Status Release();
  /// For a run that stopped half way: the lock file or the Lease stays, naming this run, until
  /// its resume takes it back (a Lease is no longer renewed; once stale it is still never taken
  /// by another run).
  void Keep();
  const LockHolder& holder() const { return holder_; }
  /// A Lease taken over or deleted while held: the run no longer owns its target and should
  /// stop before its next side effect. Always false for the file lock (flock cannot be lost).
  bool lost() const;
  /// Why it was lost ("" while not lost).
  std::string lost_reason() const;
  /// "lock file …/locks/prod.lock" or "Lease promote-system/promote-prod (context prod)".
  std::string Describe() const;

 private:
  std::optional<EnvironmentLock> file_;
  std::unique_ptr<adapters::kube::KubeLease> lease_;
  LockHolder holder_;
};

/// The Lease an environment's lock policy names: its namespace, its name ("promote-<env>" when
/// unset, lower-cased as Kubernetes names must be), the environment's context and kubeconfig.
adapters::kube::LeaseRef LeaseRefFor(const plan::Environment& env);

/// Takes `env`'s run lock for `me` with the backend of `env.lock`; `cluster` is the environment's
/// cluster adapter (used by the Lease backend only). Fails with ErrorKind::kLocked naming the
/// holder; `logger` (may be null) hears about a lost Lease and failed renewals. A Lease lock
/// keeps a reference to the cluster's ProcessRunner (which must outlive it), not to `cluster`.
Result<RunLock> AcquireRunLock(const plan::Environment& env, const std::filesystem::path& state_dir,
                               const LockHolder& me, adapters::kube::Cluster& cluster,
                               std::shared_ptr<spdlog::logger> logger = nullptr);

/// Who holds `env`'s run lock, or nullopt when nobody does (a released Lease counts as free).
Result<std::optional<LockHolder>> InspectRunLock(const plan::Environment& env,
                                                 const std::filesystem::path& state_dir,
                                                 adapters::kube::Cluster& cluster);

}  // namespace promote::engine
