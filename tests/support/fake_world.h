// An in-memory world for unit tests of the promotion engine: every environment of a plan as a
// fake cluster, and its services' HTTP answers as a fake prober, all behind a phases::Context.
// A test says what runs where and how images behave, runs the engine, then asks what happened.
//
// The fakes stand in for the real adapters, not for an idealised cluster: Plan* return the real
// adapters' argv, errors read like kubectl's and helm's, probes are judged by the real Evaluate,
// and where the real adapter reports a failure as a value rather than an Error (WaitRollout) or
// fails after the change (helm's --wait), so does the fake. Everything is guarded by one mutex:
// the engine deploys and probes from several threads at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace promote::plan {
struct Plan;
}  // namespace promote::plan

namespace promote::adapters::kube {
class Cluster;
}  // namespace promote::adapters::kube

namespace promote::adapters::probe {
class Prober;
}  // namespace promote::adapters::probe

namespace promote::phases {
struct Context;
}  // namespace promote::phases

namespace promote::testing {

/// How a workload's rollout ends once an image is set on it.
enum class Rollout {
  kCompletes,
  kDeadlineExceeded,  ///< Progressing=False, ProgressDeadlineExceeded
  kNeverDone,         ///< still progressing: WaitRollout reports RolloutOutcome::kTimedOut
  kCrashLoops,        ///< its new pod in CrashLoopBackOff: RolloutOutcome::kCrashLoop
  kCannotPull,        ///< its new pod in ImagePullBackOff: RolloutOutcome::kPodsCannotStart
};

/// Which adapter call a fault applies to.
enum class Call { kRead, kSecrets, kDeploy, kWait, kRollback };

/// "read", "secrets", "deploy", "wait", "rollback".
const char* CallName(Call call);

/// What the next matching call meets. Deploy, Rollback, ReadWorkload and CheckSecrets return an
/// Error (ErrorKind::kExternal; transient, as the real adapter marks them, unless kRefused);
/// WaitRollout, like the real adapter (which judges kubectl's exit rather than failing),
/// returns a RolloutResult: kFailed, or kTimedOut for kTimeout; kApiFailing is an Error.
enum class Fault {
  /// The call fails and nothing changes (an auth error, a chart not found, a 4xx).
  kRefused,
  /// The call fails as a kubectl/helm timeout would; nothing changes.
  kTimeout,
  /// The change is applied, then the call fails (a connection dropped after the PATCH).
  kDroppedAfterWrite,
  /// The API server answered 5xx to every try the real adapter makes: a transient Error and
  /// nothing changes. WaitRollout returns it as an Error too (its reads gave up).
  kApiFailing,
};

/// An in-memory world of environments (clusters and their services' HTTP answers) built from a
/// plan. Setting up a name the plan does not have (environment, service) throws
/// std::invalid_argument.
class FakeWorld {
 public:
  /// Every environment × service of `plan` is present and rolled out, with image "" until Run;
  /// in helm environments the release is at revision 1. The world copies what it needs of `plan`.
  explicit FakeWorld(const plan::Plan& plan);
  ~FakeWorld();
  FakeWorld(const FakeWorld&) = delete;
  FakeWorld& operator=(const FakeWorld&) = delete;

  // What runs where.

  /// `image` runs (workload and namespace present) with the digest its pods report. The helm
  /// revision is kept when not given. A digest given here is also what Deploy and Rollback find
  /// for that image in other environments (they share one registry).
  void Run(const std::string& env, const std::string& service, const std::string& image,
           std::optional<std::string> digest = std::nullopt,
           std::optional<int> helm_revision = std::nullopt);
  /// The workload and its namespace are absent (so is any other service in that namespace).
  void Remove(const std::string& env, const std::string& service);
  /// These Secrets exist in every service namespace of `env` (replacing any set before).
  void SetSecrets(const std::string& env, std::vector<std::string> names);
  /// The image running there; "" when absent or never set.
  std::string ImageOf(const std::string& env, const std::string& service) const;

  // How images behave.

  /// What a probe of `path` answers while `image` runs, in any environment. Unknown
  /// (image, path) pairs answer 200 with body "{}". A pinned "repo:tag@sha256:…" that has no
  /// answer of its own answers as "repo:tag" does.
  void Answer(const std::string& image, const std::string& path, int status, std::string body = "");
  /// Like AnswerIn, from `since` on the fake clock (a service that breaks during a run); wins
  /// over every other answer once that time has come.
  void AnswerInFrom(const std::string& env, const std::string& image, const std::string& path,
                    std::chrono::system_clock::time_point since, int status, std::string body = "");
  /// Like Answer, in `env` only; wins over Answer and NoAnswer.
  void AnswerIn(const std::string& env, const std::string& image, const std::string& path,
                int status, std::string body = "");
  /// Probes of `path` get no answer while `image` runs (a timeout). Replaces an Answer.
  void NoAnswer(const std::string& image, const std::string& path);
  /// How rollouts of `image` end; kCompletes unless said otherwise.
  void RolloutOf(const std::string& image, Rollout rollout);
  /// The same in `env` only (an image that crash-loops in PROD and ran fine in DEV).
  void RolloutOfIn(const std::string& env, const std::string& image, Rollout rollout);
  /// The next `times` calls of `call` on `service` in `env` meet `fault`. Faults queue up in the
  /// order given. A kSecrets fault applies to CheckSecrets in the service's namespace.
  void FailNext(const std::string& env, Call call, const std::string& service, Fault fault,
                int times = 1);

  // What happened.

  /// One change a cluster applied (also one whose call then failed with kDroppedAfterWrite).
  struct Write {
    /// Whose workload changed. A ref names its context, so a ref of dev given to prod's cluster
    /// changes dev, and is recorded there: a test of "never touches the source" sees it.
    std::string env;
    std::string service;
    Call call = Call::kDeploy;  ///< kDeploy or kRollback
    std::string image;
    std::optional<int> to_revision;  ///< `helm rollback REVISION`; unset for set image / upgrade

    bool operator==(const Write&) const = default;
  };
  /// Every change applied in `env`, in order.
  std::vector<Write> Writes(const std::string& env) const;
  /// How many times `call` reached the cluster of `env` (faulted calls included, Plan* never).
  int Calls(const std::string& env, Call call) const;
  /// How many probes were answered (or not), across all environments.
  int ProbesSent() const;

  // The adapters, and a Context wired with them.

  /// The fake cluster of `env` (throws std::out_of_range for an environment not in the plan).
  adapters::kube::Cluster& ClusterOf(const std::string& env);
  adapters::probe::Prober& Prober();
  /// A logger that writes nowhere, a ProcessRunner that fails every call, cluster(env) =
  /// ClusterOf(env), Prober(), endpoints "http://SERVICE.ENV.fake" for every environment ×
  /// service, now()/sleep() on the fake clock. releases_repo, steps and hooks are unset.
  phases::Context& Context();
  /// The fake clock: starts at 2026-12-01T10:00:00Z and moves only by Context().sleep() and
  /// Advance() (never by itself, not even when a rollout or probe "times out").
  std::chrono::system_clock::time_point Now() const;
  void Advance(std::chrono::milliseconds by);

 private:
  struct World;
  class FakeCluster;
  class FakeProber;
  class NoProcesses;

  std::unique_ptr<World> world_;  ///< on the heap: the adapters and the Context point into it
};

/// Catch prints a Write that fails a comparison.
std::ostream& operator<<(std::ostream& out, const FakeWorld::Write& write);

/// A fresh release repository at `dir` (libgit2: init and one empty commit on HEAD), ready for
/// promote's tag phase. Fails the current test when libgit2 does.
void InitReleaseRepo(const std::filesystem::path& dir);

}  // namespace promote::testing
