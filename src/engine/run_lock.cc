#include "engine/run_lock.h"

#include <cctype>
#include <utility>

#include "adapters/kube/cluster.h"
#include "adapters/kube/lease.h"
#include "plan/plan.h"

namespace promote::engine {
namespace {

namespace kube = adapters::kube;

kube::LeaseHolder ToLeaseHolder(const LockHolder& holder) {
  return kube::LeaseHolder{holder.run_id, holder.pid, holder.host, holder.since};
}

LockHolder ToLockHolder(const kube::LeaseHolder& holder) {
  return LockHolder{holder.run_id, holder.pid, holder.host, holder.since};
}

}  // namespace

RunLock::RunLock(EnvironmentLock file) : file_(std::move(file)), holder_(file_->holder()) {}

RunLock::RunLock(std::unique_ptr<kube::KubeLease> lease, LockHolder holder)
    : lease_(std::move(lease)), holder_(std::move(holder)) {}

RunLock::RunLock(RunLock&& other) noexcept = default;

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    // Replaced by another lock: what is not released here is reported stale, never stolen.
    static_cast<void>(Release());
    file_ = std::move(other.file_);
    other.file_.reset();
    lease_ = std::move(other.lease_);
    holder_ = std::move(other.holder_);
  }
  return *this;
}

RunLock::~RunLock() {
  // A destructor cannot report: what is not released here is reported stale, never stolen.
  static_cast<void>(Release());
}

Status RunLock::Release() {
  if (file_) return file_->Release();
  if (lease_) return lease_->Release();
  return Done{};
}

void RunLock::Keep() {
  if (file_) {
    file_->Keep();
    file_.reset();
    return;
  }
  if (lease_) {
    lease_->Keep();
    lease_.reset();
  }
}

bool RunLock::lost() const {
  return lease_ && lease_->lost();
}

std::string RunLock::lost_reason() const {
  return lease_ ? lease_->lost_reason() : std::string();
}

std::string RunLock::Describe() const {
  if (file_) return "lock file " + file_->path().string();
  if (lease_) return lease_->Describe();
  return "no lock";
}

kube::LeaseRef LeaseRefFor(const plan::Environment& env) {
  kube::LeaseRef ref;
  ref.context = env.context;
  ref.kubeconfig = env.kubeconfig;
  ref.ns = env.lock.lease_namespace.empty() ? "default" : env.lock.lease_namespace;
  ref.name = env.lock.lease_name;
  if (ref.name.empty()) {
    ref.name = "promote-";
    for (char c : env.name) {
      ref.name += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return ref;
}

Result<RunLock> AcquireRunLock(const plan::Environment& env, const std::filesystem::path& state_dir,
                               const LockHolder& me, kube::Cluster& cluster,
                               std::shared_ptr<spdlog::logger> logger) {
  if (env.lock.backend == plan::LockPolicy::Backend::kFile) {
    auto lock = EnvironmentLock::Acquire(state_dir, env.name, me);
    if (!lock) return std::move(lock).error();
    return RunLock(std::move(*lock));
  }
  auto lease = cluster.Lease(LeaseRefFor(env));
  if (!lease) return std::move(lease).error().WithContext("locking " + env.name);
  (*lease)->SetLogger(std::move(logger));
  if (auto taken = (*lease)->Acquire(ToLeaseHolder(me), env.lock.lease_duration); !taken) {
    Error error = std::move(taken).error();
    if (error.kind == ErrorKind::kLocked)
      return std::move(error).WithContext(env.name + " is locked");
    return std::move(error).WithContext("locking " + env.name);
  }
  return RunLock(std::move(*lease), me);
}

Result<std::optional<LockHolder>> InspectRunLock(const plan::Environment& env,
                                                 const std::filesystem::path& state_dir,
                                                 kube::Cluster& cluster) {
  if (env.lock.backend == plan::LockPolicy::Backend::kFile) {
    return EnvironmentLock::Inspect(state_dir, env.name);
  }
  auto lease = cluster.Lease(LeaseRefFor(env));
  if (!lease) return std::move(lease).error();
  auto state = (*lease)->Inspect();
  if (!state) return std::move(state).error();
  if (!*state || (*state)->holder.run_id.empty()) return std::optional<LockHolder>();
  return std::optional<LockHolder>(ToLockHolder((*state)->holder));
}

}  // namespace promote::engine
