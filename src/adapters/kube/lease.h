// KubeLease: a run lock held as a coordination.k8s.io/v1 Lease, for several runners that share a
// cluster, through the real kubectl (argv only, every call through the ProcessRunner). Same
// semantics as the file lock (engine/lock.h): the holder is named, a lease its holder stopped
// renewing is reported as stale, and promote never steals a lease, stale or not.
//
// Edge cases, stated once:
//  - Acquire is `kubectl create -f -`, which fails with AlreadyExists when the Lease is there: the
//    server, not promote, decides the race. A Lease left with an empty holderIdentity (released
//    by a client that does not delete) is taken with `kubectl replace` carrying the
//    resourceVersion read, so of two contenders exactly one wins; the other gets 409 Conflict
//    and reports the winner. Like the file lock, only the same run (a resume of a killed run,
//    same run id) takes its own stale Lease back, the same way.
//  - While held, a thread renews spec.renewTime every duration/3 (replace with the
//    resourceVersion last written). A 409 whose re-read shows another holder, or a Lease that
//    vanished, means the lease is lost: recorded, logged, reported by lost(); renewal stops.
//    A failed kubectl call (timeout, unreachable server) is retried at the next tick.
//  - Release deletes the Lease only while it is still ours (see Release in lease.cc for how).
//    It is idempotent, and the destructor releases.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adapters/kube/cluster.h"
#include "adapters/process/process.h"
#include "core/error.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote::adapters::kube {

/// Which Lease: the kube context (always explicit), an optional kubeconfig, namespace and name.
struct LeaseRef {
  std::string context;
  std::optional<std::filesystem::path> kubeconfig;  ///< overrides Tooling::kubeconfig
  std::string ns = "default";
  std::string name;
};

/// Who holds a Lease: spec.holderIdentity (the run id) plus promote's `promote.dev/holder`
/// annotation (pid, host, since), which a Lease made by another tool may lack.
struct LeaseHolder {
  std::string run_id;  ///< spec.holderIdentity; empty = released
  int pid = 0;
  std::string host;
  std::string since;  ///< RFC 3339 UTC
};

/// A Lease as read from the cluster.
struct LeaseState {
  LeaseHolder holder;
  std::string resource_version;
  std::string uid;
  std::chrono::seconds duration{0};  ///< spec.leaseDurationSeconds
  std::string renew_time;            ///< spec.renewTime as the server wrote it ("" when unset)
  /// renewTime + duration is in the past: the holder stopped renewing (it is likely gone).
  bool stale = false;
};

/// One Lease used as a lock; not copyable or movable (a renewal thread points at it), so it is
/// handed around as a unique_ptr. Safe to query (lost, state) from any thread.
class KubeLease {
 public:
  KubeLease(ProcessRunner& runner, Tooling tooling, LeaseRef ref);
  KubeLease(const KubeLease&) = delete;
  KubeLease& operator=(const KubeLease&) = delete;
  /// Stops renewing and releases the Lease if it is still ours.
  ~KubeLease();

  /// Logs renewal failures and a lost lease (warn level); null = record only.
  void SetLogger(std::shared_ptr<spdlog::logger> logger) { logger_ = std::move(logger); }

  /// Takes the Lease for `me` for `duration` and starts renewing it every duration/3. Fails with
  /// ErrorKind::kLocked naming the holder (stale or not, with the fix) when someone holds it;
  /// other failures (kubectl missing, no such namespace, forbidden) are kExternal.
  Status Acquire(const LeaseHolder& me, std::chrono::seconds duration);

  /// Stops renewing, then deletes the Lease if it is still ours; leaves anyone else's in place.
  /// Idempotent.
  Status Release();

  /// Stops renewing and leaves the Lease in place, naming its holder: for a run that stopped
  /// half way, so no other run starts on top of it; its resume takes it back (Acquire of the
  /// same run once this process is gone). Idempotent.
  void Keep();

  /// The Lease as it is now in the cluster, or nullopt when there is none.
  Result<std::optional<LeaseState>> Inspect();

  /// Acquired and not released yet (even if lost since).
  bool held() const;
  /// The lease was taken over or deleted while we held it: the run no longer owns the target.
  bool lost() const;
  /// Why it was lost ("" while not lost).
  std::string lost_reason() const;
  /// How many renewals succeeded (a test and status aid).
  int renewals() const;
  /// The resourceVersion we last wrote ("" when not held).
  std::string resource_version() const;

  const LeaseRef& ref() const { return ref_; }
  /// "Lease promote-system/promote-prod (context prod)".
  std::string Describe() const;
  /// The command an operator runs to remove the Lease by hand.
  std::string DeleteCommand() const;

 private:
  /// How a write (create/replace) ended when kubectl ran.
  enum class WriteOutcome { kWritten, kAlreadyExists, kConflict, kNotFound, kFailed };
  struct Written {
    WriteOutcome outcome = WriteOutcome::kFailed;
    std::optional<LeaseState> state;  ///< kWritten: the server's copy
    std::string detail;               ///< kFailed: what kubectl said
  };

  /// Whether a kubectl call names the namespace (--namespace) or a raw API path that holds it.
  enum class Scope { kNamespace, kRawPath };
  Command KubectlCommand(std::vector<std::string> args, std::chrono::milliseconds timeout,
                         Scope scope = Scope::kNamespace) const;
  /// `kubectl create|replace -f - -o json` of our Lease carrying `resource_version` (replace).
  Result<Written> Write(const std::string& verb, const LeaseHolder& me,
                        const std::string& acquire_time, const std::string& resource_version,
                        std::chrono::milliseconds timeout);
  Error LockedError(const LeaseState& state) const;
  void RenewLoop();
  /// Stops the renewer and marks the Lease not held; the holder it was held for, if it was.
  std::optional<LeaseHolder> StopRenewing();
  void MarkLost(const std::string& reason);

  ProcessRunner& runner_;
  Tooling tooling_;
  LeaseRef ref_;
  std::shared_ptr<spdlog::logger> logger_;

  mutable std::mutex mutex_;  ///< guards everything below
  std::condition_variable wake_;
  bool held_ = false;
  bool stopping_ = false;
  bool lost_ = false;
  std::string lost_reason_;
  int renewals_ = 0;
  LeaseHolder me_;
  std::chrono::seconds duration_{0};
  std::string acquire_time_;
  std::string resource_version_;
  std::string uid_;
  std::thread renewer_;
};

/// Parses a Lease's `kubectl get -o json` document (nullopt when it is not a Lease), judging
/// staleness against `now`.
std::optional<LeaseState> ParseLease(const std::string& json_text,
                                     std::chrono::system_clock::time_point now);

/// RFC 3339 with microseconds, as Kubernetes writes MicroTime: "2026-02-01T10:00:00.123456Z".
std::string MicroTime(std::chrono::system_clock::time_point at);

/// Parses "2026-02-01T10:00:00Z" or with a fraction of a second ("….123456Z"); UTC only.
std::optional<std::chrono::system_clock::time_point> ParseMicroTime(const std::string& text);

}  // namespace promote::adapters::kube
