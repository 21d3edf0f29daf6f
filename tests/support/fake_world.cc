// Implementation details: one World holds every piece of state behind one mutex, and everything
// the Context refers to, so their addresses never change. Workloads are keyed by the address the
// adapters see (context, namespace, kind, name) and namespaces by (context, namespace); an
// environment × service pair is only a name for one such key, so a ref built wrongly by the
// engine finds nothing, as it would in a real cluster. Each fake cluster keeps a real
// KubectlCluster or HelmCluster for the Plan* argv, and asks a real one first in Deploy and
// Rollback so that the adapter's own refusals (helm cannot take a digest-only image as a tag)
// happen here too. Errors are worded as RunChecked words them around kubectl's and helm's output.
#include "support/fake_world.h"

#include <git2.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "adapters/kube/cluster.h"
#include "adapters/kube/helm_cluster.h"
#include "adapters/kube/kubectl_cluster.h"
#include "adapters/probe/evaluate.h"
#include "adapters/probe/prober.h"
#include "adapters/process/process.h"
#include "core/redactor.h"
#include "phases/context.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::testing {
namespace {

using adapters::Command;
using adapters::ProcessResult;
using adapters::kube::RolloutOutcome;
using adapters::kube::RolloutResult;
using adapters::kube::RolloutState;
using adapters::kube::WorkloadRef;
using adapters::probe::ProbeResult;
using adapters::probe::ProbeTarget;
using std::chrono::milliseconds;

/// Where a workload lives, as the adapters address it: context, namespace, kind, name.
using WorkloadKey = std::tuple<std::string, std::string, std::string, std::string>;
/// Where a namespace lives: context, namespace.
using NamespaceKey = std::pair<std::string, std::string>;

WorkloadKey KeyOf(const WorkloadRef& ref) {
  return {ref.context, ref.ns, ref.kind, ref.name};
}

NamespaceKey NamespaceOf(const WorkloadRef& ref) {
  return {ref.context, ref.ns};
}

/// An HTTP answer a probe meets.
struct Reply {
  int status = 200;
  std::string body;
};

/// HttpProberOptions' default: the fake's evidence looks like the real prober's.
constexpr std::size_t kBodyExcerptBytes = 200;

/// Where the fake clock starts: 2026-12-01T10:00:00Z.
constexpr std::chrono::system_clock::time_point kStart{
    std::chrono::sys_days{std::chrono::year{2026} / 12 / 1} + std::chrono::hours{10}};

constexpr char kFix[] = "run the command by hand to see the cluster's answer";

/// The binaries the real adapters are built with, so their argv reads like the brief's.
adapters::kube::Tooling RealTooling() {
  adapters::kube::Tooling tooling;
  tooling.kubectl = "kubectl";
  tooling.helm = "helm";
  return tooling;
}

std::unique_ptr<adapters::kube::Cluster> RealAdapter(plan::Driver driver,
                                                     adapters::ProcessRunner& runner) {
  if (driver == plan::Driver::kHelm) {
    return std::make_unique<adapters::kube::HelmCluster>(RealTooling(), runner);
  }
  return std::make_unique<adapters::kube::KubectlCluster>(RealTooling(), runner);
}

/// Runs nothing, and remembers whether anything was asked to run.
class RecordingRefusal final : public adapters::ProcessRunner {
 public:
  Result<ProcessResult> Run(const Command& command) override {
    asked = true;
    return Error{ErrorKind::kInternal, "not run: " + command.argv.front(), "fake world", ""};
  }
  bool asked = false;
};

/// The Error a real adapter returns for `change` before it runs anything (its own validation);
/// nullopt when it would have gone on to run kubectl or helm. A fresh adapter per call keeps
/// concurrent calls from seeing each other's runner.
std::optional<Error> RefusedByAdapter(
    plan::Driver driver, const std::function<Status(adapters::kube::Cluster&)>& change) {
  RecordingRefusal runner;
  auto real = RealAdapter(driver, runner);
  Status status = change(*real);
  if (status || runner.asked) return std::nullopt;
  return std::move(status).error();
}

/// "deployment/api", as the adapters name a workload in their messages.
std::string WorkloadArg(const WorkloadRef& ref) {
  return ref.kind + "/" + ref.name;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// The first `limit` bytes of `body`, never cutting a UTF-8 sequence in half (as the prober).
std::string Excerpt(const std::string& body, std::size_t limit) {
  if (body.size() <= limit) return body;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;
  return body.substr(0, cut);
}

/// One call as the real adapter would run it: which binary, what it was doing (the Error's
/// prefix), its time budget, and what helm prefixes its errors with for this verb.
struct Doing {
  std::string binary;
  std::string what;
  milliseconds timeout{0};
  std::string helm_prefix;  ///< "UPGRADE FAILED: " for helm upgrade
};

/// What the binary prints on stderr for `text` (kubectl: "error: …", helm: "Error: …").
std::string Said(const Doing& doing, const std::string& text) {
  if (doing.binary == "helm") return "Error: " + doing.helm_prefix + text;
  return "error: " + text;
}

/// RunChecked's Error for a binary that exited with code 1 after printing `said`.
Error Exited(const Doing& doing, const std::string& said) {
  return Error{ErrorKind::kExternal,
               doing.what + ": " + doing.binary + " exited with code 1: " + said, "", kFix};
}

std::string Unauthorized(const Doing& doing) {
  return doing.binary == "helm"
             ? Said(doing,
                    "Kubernetes cluster unreachable: the server has asked for the client to "
                    "provide credentials")
             : Said(doing, "You must be logged in to the server (Unauthorized)");
}

/// The Error a faulted call returns; transient but for a refusal, as the real adapter says.
Error FaultError(Fault fault, const Doing& doing) {
  Error error;
  switch (fault) {
    case Fault::kRefused:
      return Exited(doing, Unauthorized(doing));
    case Fault::kTimeout:
      error = Error{ErrorKind::kExternal,
                    doing.what + ": " + doing.binary + " timed out after " +
                        std::to_string(doing.timeout.count()) + " ms (process group killed)",
                    "", kFix};
      break;
    case Fault::kDroppedAfterWrite:
      error = Exited(doing, Said(doing, "unexpected EOF"));
      break;
    case Fault::kApiFailing:
      error = Exited(doing, Said(doing,
                                 "an error on the server (\"etcdserver: leader changed\") has "
                                 "prevented the request from succeeding (4 tries)"));
      break;
  }
  error.transient = true;
  return error;
}

/// kubectl's answer about a workload that is not there.
std::string NotFound(const WorkloadRef& ref) {
  return "Error from server (NotFound): " + Lower(ref.kind) + "s.apps \"" + ref.name +
         "\" not found";
}

}  // namespace

const char* CallName(Call call) {
  switch (call) {
    case Call::kRead:
      return "read";
    case Call::kSecrets:
      return "secrets";
    case Call::kDeploy:
      return "deploy";
    case Call::kWait:
      return "wait";
    case Call::kRollback:
      return "rollback";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, const FakeWorld::Write& write) {
  out << "{" << write.env << " " << write.service << " " << CallName(write.call) << " "
      << write.image;
  if (write.to_revision) out << " to revision " << *write.to_revision;
  return out << "}";
}

/// Fails every call: nothing behind a FakeWorld's Context may run a process.
class FakeWorld::NoProcesses final : public adapters::ProcessRunner {
 public:
  Result<ProcessResult> Run(const Command& command) override {
    return Error{ErrorKind::kInternal,
                 "the fake world runs no processes, but was asked to run " +
                     (command.argv.empty() ? std::string("an empty argv") : command.argv.front()),
                 "fake world", "give the code under test a fake for what it runs"};
  }
};

/// Everything a FakeWorld knows, behind one mutex, and everything its Context refers to.
struct FakeWorld::World {
  /// One workload's state.
  struct Workload {
    bool present = true;
    std::string image;
    std::optional<std::string> digest;
    std::optional<int> helm_revision;
    long long generation = 1;  ///< bumped by every applied change, like the template's
  };
  /// One namespace's state.
  struct Namespace {
    bool present = true;
    std::set<std::string> secrets;
  };
  /// An environment × service pair.
  using Owner = std::pair<std::string, std::string>;

  explicit World(const plan::Plan& plan);

  // Everything below runs with `mutex` held.

  const WorkloadRef& RefOf(const std::string& env, const std::string& service) const {
    auto e = refs.find(env);
    if (e == refs.end()) throw std::invalid_argument("FakeWorld: no environment '" + env + "'");
    auto s = e->second.find(service);
    if (s == e->second.end()) {
      throw std::invalid_argument("FakeWorld: no service '" + service + "' in environment '" + env +
                                  "'");
    }
    return s->second;
  }

  /// Which env × service lives at `ref`, preferring `env` (the cluster the call went to) when
  /// two environments share an address; nullopt for an address no plan service has.
  std::optional<Owner> OwnerOf(const std::string& env, const WorkloadRef& ref) const {
    const WorkloadKey key = KeyOf(ref);
    std::optional<Owner> found;
    for (const auto& [e, services] : refs) {
      for (const auto& [service, at] : services) {
        if (KeyOf(at) != key) continue;
        if (e == env) return Owner{e, service};
        if (!found) found = Owner{e, service};
      }
    }
    return found;
  }

  /// The workload at `ref` when it and its namespace are present.
  Workload* PresentAt(const WorkloadRef& ref) {
    auto ns = namespaces.find(NamespaceOf(ref));
    if (ns == namespaces.end() || !ns->second.present) return nullptr;
    auto w = workloads.find(KeyOf(ref));
    return w == workloads.end() || !w->second.present ? nullptr : &w->second;
  }

  void Count(const std::string& env, Call call) { ++calls[{env, call}]; }

  std::optional<Fault> TakeFault(const std::string& env, Call call, const std::string& service) {
    auto it = faults.find({env, call, service});
    if (it == faults.end() || it->second.empty()) return std::nullopt;
    const Fault fault = it->second.front();
    it->second.pop_front();
    return fault;
  }

  std::optional<Fault> TakeFault(Call call, const std::optional<Owner>& owner) {
    if (!owner) return std::nullopt;
    return TakeFault(owner->first, call, owner->second);
  }

  /// How rollouts of `image` end in `env`: RolloutOfIn, else RolloutOf, else they complete.
  Rollout RolloutFor(const std::string& env, const std::string& image) const {
    if (auto in = rollouts_in.find({env, image}); in != rollouts_in.end()) return in->second;
    auto it = rollouts.find(image);
    return it == rollouts.end() ? Rollout::kCompletes : it->second;
  }

  /// The digest pods would report after `image` is set: its own pin, else what the registry
  /// (every digest given to Run) knows of it.
  std::optional<std::string> DigestFor(const std::string& image) const {
    if (const auto at = image.find("@sha256:"); at != std::string::npos) {
      return image.substr(at + 1);
    }
    auto it = digests.find(image);
    if (it == digests.end()) return std::nullopt;
    return it->second;
  }

  /// What a probe of `path` meets while `image` runs in `env`; nullopt = no answer.
  std::optional<Reply> ReplyFor(const std::string& env, const std::string& image,
                                const std::string& path) const {
    for (auto it = answers_later.rbegin(); it != answers_later.rend(); ++it) {
      if (it->env == env && it->image == image && it->path == path && now >= it->since) {
        return it->reply;
      }
    }
    if (auto in = answers_in.find({env, image, path}); in != answers_in.end()) return in->second;
    if (auto any = answers.find({image, path}); any != answers.end()) return any->second;
    // A pinned reference answers as its tag does (promote deploys "repo:tag@sha256:…").
    if (const auto at = image.find('@'); at != std::string::npos) {
      return ReplyFor(env, image.substr(0, at), path);
    }
    return Reply{200, "{}"};
  }

  mutable std::mutex mutex;

  std::map<std::string, std::map<std::string, WorkloadRef>> refs;  ///< env → service → address
  std::map<WorkloadKey, Workload> workloads;
  std::map<NamespaceKey, Namespace> namespaces;
  std::map<std::string, std::string> digests;  ///< image → digest, from Run
  std::map<std::pair<std::string, std::string>, std::optional<Reply>> answers;
  std::map<std::tuple<std::string, std::string, std::string>, std::optional<Reply>> answers_in;
  /// An answer that starts at a time of the fake clock (a service that breaks during a run).
  struct LaterAnswer {
    std::string env, image, path;
    std::chrono::system_clock::time_point since;
    Reply reply;
  };
  std::map<std::pair<std::string, std::string>, Rollout> rollouts_in;  ///< (env, image)
  std::vector<LaterAnswer> answers_later;
  std::map<std::string, Rollout> rollouts;
  std::map<std::tuple<std::string, Call, std::string>, std::deque<Fault>> faults;
  std::vector<Write> writes;
  std::map<std::pair<std::string, Call>, int> calls;
  int probes_sent = 0;
  std::chrono::system_clock::time_point now;

  Redactor redactor;
  spdlog::logger logger;
  NoProcesses processes;
  std::map<std::string, std::unique_ptr<FakeCluster>> clusters;
  std::unique_ptr<FakeProber> prober;
  std::unique_ptr<phases::Context> context;
};

/// One environment's cluster: the state of the World, reached through the Cluster interface.
class FakeWorld::FakeCluster final : public adapters::kube::Cluster {
 public:
  FakeCluster(World& world, std::string env, plan::Driver driver)
      : world_(world),
        env_(std::move(env)),
        driver_(driver),
        real_(RealAdapter(driver, world.processes)) {}

  Result<adapters::kube::WorkloadStatus> ReadWorkload(const WorkloadRef& ref) override {
    const Doing doing{"kubectl",
                      "reading " + WorkloadArg(ref) + " in " + ref.ns + " (" + ref.context + ")",
                      RealTooling().read_timeout, ""};
    std::lock_guard lock(world_.mutex);
    world_.Count(env_, Call::kRead);
    if (auto fault = world_.TakeFault(Call::kRead, world_.OwnerOf(env_, ref))) {
      return FaultError(*fault, doing);
    }
    adapters::kube::WorkloadStatus status;
    auto ns = world_.namespaces.find(NamespaceOf(ref));
    status.namespace_present = ns != world_.namespaces.end() && ns->second.present;
    const World::Workload* workload = world_.PresentAt(ref);
    if (workload == nullptr) return status;
    status.workload_present = true;
    status.image = workload->image;
    status.digest = workload->digest;
    status.desired = status.updated = status.ready = status.available = 1;
    status.generation = status.observed_generation = workload->generation;
    status.revision = static_cast<int>(workload->generation);
    // helm status is only asked by the helm driver: kubectl knows nothing of releases.
    if (driver_ == plan::Driver::kHelm) status.helm_revision = workload->helm_revision;
    status.created = "2026-11-01T10:00:00Z";
    switch (world_.RolloutFor(env_, workload->image)) {
      case Rollout::kCompletes:
        status.rollout = RolloutState::kComplete;
        status.message = "ReplicaSet \"" + ref.name + "\" has successfully progressed.";
        break;
      case Rollout::kDeadlineExceeded:
        status.rollout = RolloutState::kDeadlineExceeded;
        status.message = "ReplicaSet \"" + ref.name + "\" has timed out progressing.";
        break;
      case Rollout::kNeverDone:
        status.rollout = RolloutState::kProgressing;
        status.message = "ReplicaSet \"" + ref.name + "\" is progressing.";
        break;
      case Rollout::kCrashLoops:
      case Rollout::kCannotPull: {
        const bool crash = world_.RolloutFor(env_, workload->image) == Rollout::kCrashLoops;
        status.rollout = RolloutState::kProgressing;
        status.message = "ReplicaSet \"" + ref.name + "\" is progressing.";
        status.stuck = "pod " + ref.name + "-7d9f-x2x4q: " +
                       (crash ? "CrashLoopBackOff: back-off restarting failed container"
                              : "ImagePullBackOff: Back-off pulling image");
        status.crash_looping = crash;
        break;
      }
    }
    return status;
  }

  Result<std::vector<adapters::kube::NamespaceStatus>> ReadNamespaces(
      const WorkloadRef& where, const std::vector<std::string>& names) override {
    std::lock_guard lock(world_.mutex);
    std::vector<adapters::kube::NamespaceStatus> statuses;
    for (const auto& name : names) {
      WorkloadRef in = where;
      in.ns = name;
      auto ns = world_.namespaces.find(NamespaceOf(in));
      const bool present = ns != world_.namespaces.end() && ns->second.present;
      statuses.push_back(
          {name, present, present ? "Active" : "", present ? "2026-11-01T10:00:00Z" : ""});
    }
    return statuses;
  }

  Result<std::vector<adapters::kube::SecretPresence>> CheckSecrets(
      const WorkloadRef& where, const std::vector<std::string>& names) override {
    const Doing doing{"kubectl", "listing secrets in " + where.ns + " (" + where.context + ")",
                      RealTooling().read_timeout, ""};
    std::lock_guard lock(world_.mutex);
    world_.Count(env_, Call::kSecrets);
    std::vector<adapters::kube::SecretPresence> found;
    // The real adapter runs nothing for no names, so nothing can fail.
    if (names.empty()) return found;
    for (const auto& [service, ref] : world_.refs.at(env_)) {
      if (NamespaceOf(ref) != NamespaceOf(where)) continue;
      if (auto fault = world_.TakeFault(env_, Call::kSecrets, service)) {
        return FaultError(*fault, doing);
      }
    }
    // `kubectl get secrets` in a missing namespace says "No resources found" and exits 0.
    auto ns = world_.namespaces.find(NamespaceOf(where));
    const bool present = ns != world_.namespaces.end() && ns->second.present;
    for (const auto& name : names) {
      found.push_back({name, present && ns->second.secrets.count(name) > 0});
    }
    return found;
  }

  std::vector<Command> PlanDeploy(const WorkloadRef& ref, const std::string& image,
                                  milliseconds timeout) const override {
    return real_->PlanDeploy(ref, image, timeout);
  }

  Status Deploy(const WorkloadRef& ref, const std::string& image, milliseconds timeout) override {
    const auto refusal = RefusedByAdapter(
        driver_, [&](adapters::kube::Cluster& real) { return real.Deploy(ref, image, timeout); });
    const auto commands = PlanDeploy(ref, image, timeout);
    const bool helm = driver_ == plan::Driver::kHelm;
    const Doing doing{commands.front().argv.front(),
                      helm ? "helm upgrade of " + ref.helm_release
                           : "setting the image of " + WorkloadArg(ref) + " in " + ref.ns,
                      commands.front().timeout, "UPGRADE FAILED: "};
    std::lock_guard lock(world_.mutex);
    world_.Count(env_, Call::kDeploy);
    if (refusal) return *refusal;
    const auto owner = world_.OwnerOf(env_, ref);
    const auto fault = world_.TakeFault(Call::kDeploy, owner);
    if (fault && *fault != Fault::kDroppedAfterWrite) return FaultError(*fault, doing);
    World::Workload* workload = world_.PresentAt(ref);
    if (workload == nullptr) {
      return Exited(doing,
                    helm ? Said(doing, "\"" + ref.helm_release + "\" has no deployed releases")
                         : NotFound(ref));
    }
    Apply(*workload, image);
    if (helm) workload->helm_revision = workload->helm_revision.value_or(0) + 1;
    world_.writes.push_back({owner->first, owner->second, Call::kDeploy, image, std::nullopt});
    if (fault) return FaultError(*fault, doing);
    return AfterHelmWait(helm, doing, image);
  }

  Command PlanWait(const WorkloadRef& ref, milliseconds deadline) const override {
    return real_->PlanWait(ref, deadline);
  }

  Result<RolloutResult> WaitRollout(const WorkloadRef& ref, milliseconds) override {
    std::lock_guard lock(world_.mutex);
    world_.Count(env_, Call::kWait);
    // `kubectl rollout status` failing is a verdict, not an Error: the real adapter judges
    // its exit and output, and returns an Error only when kubectl could not run at all.
    const Doing doing{"kubectl", "", milliseconds(0), ""};
    if (auto fault = world_.TakeFault(Call::kWait, world_.OwnerOf(env_, ref))) {
      switch (*fault) {
        case Fault::kRefused:
          return RolloutResult{RolloutOutcome::kFailed, Unauthorized(doing)};
        case Fault::kTimeout:
          return RolloutResult{RolloutOutcome::kTimedOut, ""};
        case Fault::kDroppedAfterWrite:
          return RolloutResult{RolloutOutcome::kFailed, Said(doing, "unexpected EOF")};
        case Fault::kApiFailing:
          return FaultError(*fault,
                            Doing{"kubectl", "waiting for " + WorkloadArg(ref) + " in " + ref.ns,
                                  milliseconds(0), ""});
      }
    }
    const World::Workload* workload = world_.PresentAt(ref);
    if (workload == nullptr) return RolloutResult{RolloutOutcome::kFailed, NotFound(ref)};
    const std::string named = Lower(ref.kind) + " \"" + ref.name + "\"";
    switch (world_.RolloutFor(env_, workload->image)) {
      case Rollout::kCompletes:
        return RolloutResult{RolloutOutcome::kComplete, named + " successfully rolled out"};
      case Rollout::kDeadlineExceeded:
        return RolloutResult{RolloutOutcome::kDeadlineExceeded,
                             Said(doing, named + " exceeded its progress deadline")};
      case Rollout::kNeverDone:
        return RolloutResult{RolloutOutcome::kTimedOut,
                             Said(doing, "timed out waiting for the condition")};
      case Rollout::kCrashLoops:
        return RolloutResult{RolloutOutcome::kCrashLoop,
                             named + ": pod " + ref.name + "-7d9f-x2x4q: CrashLoopBackOff"};
      case Rollout::kCannotPull:
        return RolloutResult{RolloutOutcome::kPodsCannotStart,
                             named + ": pod " + ref.name + "-7d9f-x2x4q: ImagePullBackOff"};
    }
    return RolloutResult{RolloutOutcome::kFailed, "unknown rollout"};
  }

  std::vector<Command> PlanRollback(const WorkloadRef& ref,
                                    const adapters::kube::RollbackTarget& target,
                                    milliseconds timeout) const override {
    return real_->PlanRollback(ref, target, timeout);
  }

  Status Rollback(const WorkloadRef& ref, const adapters::kube::RollbackTarget& target,
                  milliseconds timeout) override {
    const auto refusal = RefusedByAdapter(driver_, [&](adapters::kube::Cluster& real) {
      return real.Rollback(ref, target, timeout);
    });
    const auto commands = PlanRollback(ref, target, timeout);
    const bool helm = driver_ == plan::Driver::kHelm;
    // Without a revision the helm driver restores the image with kubectl, as the real one does.
    const bool helm_rollback = helm && target.helm_revision.has_value();
    const Doing doing{commands.front().argv.front(),
                      helm ? "rolling back helm release " + ref.helm_release
                           : "restoring " + target.image + " on " + WorkloadArg(ref),
                      commands.front().timeout, ""};
    std::lock_guard lock(world_.mutex);
    world_.Count(env_, Call::kRollback);
    if (refusal) return *refusal;
    const auto owner = world_.OwnerOf(env_, ref);
    const auto fault = world_.TakeFault(Call::kRollback, owner);
    if (fault && *fault != Fault::kDroppedAfterWrite) return FaultError(*fault, doing);
    World::Workload* workload = world_.PresentAt(ref);
    if (workload == nullptr) {
      return Exited(doing, helm_rollback ? Said(doing, "release: not found") : NotFound(ref));
    }
    Apply(*workload, target.image);
    // `helm rollback N` writes a new revision (a copy of N), it does not go back to N.
    if (helm_rollback) workload->helm_revision = workload->helm_revision.value_or(0) + 1;
    world_.writes.push_back({owner->first, owner->second, Call::kRollback, target.image,
                             helm_rollback ? target.helm_revision : std::nullopt});
    if (fault) return FaultError(*fault, doing);
    return AfterHelmWait(helm_rollback, doing, target.image);
  }

 private:
  void Apply(World::Workload& workload, const std::string& image) {
    workload.image = image;
    workload.digest = world_.DigestFor(image);
    ++workload.generation;
  }

  /// helm upgrade and rollback run with --wait: an image that does not roll out fails the call
  /// after the release was written (the stand-in's helm says "context deadline exceeded").
  Status AfterHelmWait(bool waited, const Doing& doing, const std::string& image) const {
    if (!waited || world_.RolloutFor(env_, image) == Rollout::kCompletes) return Done{};
    return Exited(doing, Said(doing, "context deadline exceeded"));
  }

  World& world_;
  const std::string env_;
  const plan::Driver driver_;
  /// The real adapter of this environment's driver, for the argv it would run; never runs any.
  const std::unique_ptr<adapters::kube::Cluster> real_;
};

/// Answers probes from the image running at each target, judged by the real Evaluate.
class FakeWorld::FakeProber final : public adapters::probe::Prober {
 public:
  explicit FakeProber(World& world) : world_(world) {}

  std::vector<ProbeResult> Run(const std::vector<ProbeTarget>& targets) override {
    std::lock_guard lock(world_.mutex);
    std::vector<ProbeResult> results;
    results.reserve(targets.size());
    for (const auto& target : targets) results.push_back(Answer(target));
    return results;
  }

 private:
  ProbeResult Answer(const ProbeTarget& target) {
    using adapters::probe::TransportFailure;
    ++world_.probes_sent;
    ProbeResult result = adapters::probe::ResultFor(target);
    const World::Workload* workload = nullptr;
    if (auto e = world_.refs.find(target.environment); e != world_.refs.end()) {
      if (auto s = e->second.find(target.service); s != e->second.end()) {
        workload = world_.PresentAt(s->second);
      }
    }
    std::optional<Reply> reply;
    if (workload == nullptr) {
      result.verdict =
          adapters::probe::EvaluateFailure(target.probe, TransportFailure::kConnectionRefused, "");
    } else if (reply = world_.ReplyFor(target.environment, workload->image, target.probe.path);
               !reply) {
      result.verdict =
          adapters::probe::EvaluateFailure(target.probe, TransportFailure::kTimeout, "");
    } else {
      adapters::probe::HttpResponse response;
      response.status = reply->status;
      response.body = reply->body.substr(0, adapters::probe::kMaxBodyBytes);
      result.verdict = adapters::probe::Evaluate(target.probe, response);
      result.status = response.status;
      result.body_excerpt = Excerpt(response.body, kBodyExcerptBytes);
    }
    result.attempts.push_back({result.verdict.outcome, result.status, milliseconds(0),
                               result.verdict.reason, result.verdict.note});
    return result;
  }

  World& world_;
};

FakeWorld::World::World(const plan::Plan& plan)
    : now(kStart), logger("fake-world", std::make_shared<spdlog::sinks::null_sink_mt>()) {
  // Every message is formatted though none is written, so a bad format string still shows.
  logger.set_level(spdlog::level::trace);
  std::map<std::string, std::map<std::string, std::string>> endpoints;
  for (const auto& [name, env] : plan.environments) {
    for (const auto& service : plan.services) {
      const WorkloadRef ref = phases::WorkloadRefFor(env, service);
      refs[name][service.name] = ref;
      World::Workload& workload = workloads[KeyOf(ref)];
      if (env.driver == plan::Driver::kHelm) workload.helm_revision = 1;
      namespaces[NamespaceOf(ref)];
      endpoints[name][service.name] = "http://" + service.name + "." + name + ".fake";
    }
    clusters[name] = std::make_unique<FakeCluster>(*this, name, env.driver);
  }
  prober = std::make_unique<FakeProber>(*this);
  context = std::make_unique<phases::Context>(phases::Context{
      .redactor = redactor,
      .logger = logger,
      .processes = processes,
      .prober = *prober,
      .cluster = [this](const std::string& env) -> adapters::kube::Cluster& {
        auto it = clusters.find(env);
        if (it == clusters.end()) {
          throw std::out_of_range("FakeWorld: no environment '" + env + "'");
        }
        return *it->second;
      },
      .endpoints = std::move(endpoints),
      .now =
          [this] {
            std::lock_guard lock(mutex);
            return now;
          },
      .sleep =
          [this](milliseconds duration) {
            std::lock_guard lock(mutex);
            now += duration;
          },
  });
}

FakeWorld::FakeWorld(const plan::Plan& plan) : world_(std::make_unique<World>(plan)) {}

FakeWorld::~FakeWorld() = default;

void FakeWorld::Run(const std::string& env, const std::string& service, const std::string& image,
                    std::optional<std::string> digest, std::optional<int> helm_revision) {
  std::lock_guard lock(world_->mutex);
  const WorkloadRef& ref = world_->RefOf(env, service);
  World::Workload& workload = world_->workloads[KeyOf(ref)];
  workload.present = true;
  workload.image = image;
  workload.digest = digest;
  if (digest) world_->digests[image] = *digest;
  if (helm_revision) workload.helm_revision = helm_revision;
  world_->namespaces[NamespaceOf(ref)].present = true;
}

void FakeWorld::Remove(const std::string& env, const std::string& service) {
  std::lock_guard lock(world_->mutex);
  const WorkloadRef& ref = world_->RefOf(env, service);
  world_->workloads[KeyOf(ref)].present = false;
  world_->namespaces[NamespaceOf(ref)].present = false;
}

void FakeWorld::SetSecrets(const std::string& env, std::vector<std::string> names) {
  std::lock_guard lock(world_->mutex);
  auto e = world_->refs.find(env);
  if (e == world_->refs.end()) {
    throw std::invalid_argument("FakeWorld: no environment '" + env + "'");
  }
  const std::set<std::string> present(names.begin(), names.end());
  for (const auto& [service, ref] : e->second) {
    world_->namespaces[NamespaceOf(ref)].secrets = present;
  }
}

std::string FakeWorld::ImageOf(const std::string& env, const std::string& service) const {
  std::lock_guard lock(world_->mutex);
  const WorkloadRef& ref = world_->RefOf(env, service);
  const World::Workload* workload = world_->PresentAt(ref);
  return workload == nullptr ? "" : workload->image;
}

void FakeWorld::Answer(const std::string& image, const std::string& path, int status,
                       std::string body) {
  std::lock_guard lock(world_->mutex);
  world_->answers[{image, path}] = Reply{status, std::move(body)};
}

void FakeWorld::AnswerIn(const std::string& env, const std::string& image, const std::string& path,
                         int status, std::string body) {
  std::lock_guard lock(world_->mutex);
  if (world_->refs.count(env) == 0) {
    throw std::invalid_argument("FakeWorld: no environment '" + env + "'");
  }
  world_->answers_in[{env, image, path}] = Reply{status, std::move(body)};
}

void FakeWorld::AnswerInFrom(const std::string& env, const std::string& image,
                             const std::string& path, std::chrono::system_clock::time_point since,
                             int status, std::string body) {
  std::lock_guard lock(world_->mutex);
  if (world_->refs.count(env) == 0) {
    throw std::invalid_argument("FakeWorld: no environment '" + env + "'");
  }
  world_->answers_later.push_back({env, image, path, since, Reply{status, std::move(body)}});
}

void FakeWorld::NoAnswer(const std::string& image, const std::string& path) {
  std::lock_guard lock(world_->mutex);
  world_->answers[{image, path}] = std::nullopt;
}

void FakeWorld::RolloutOf(const std::string& image, Rollout rollout) {
  std::lock_guard lock(world_->mutex);
  world_->rollouts[image] = rollout;
}

void FakeWorld::RolloutOfIn(const std::string& env, const std::string& image, Rollout rollout) {
  std::lock_guard lock(world_->mutex);
  world_->rollouts_in[{env, image}] = rollout;
}

void FakeWorld::FailNext(const std::string& env, Call call, const std::string& service, Fault fault,
                         int times) {
  std::lock_guard lock(world_->mutex);
  world_->RefOf(env, service);  // a fault nobody can meet is a mistake in the test
  auto& queue = world_->faults[{env, call, service}];
  for (int i = 0; i < times; ++i) queue.push_back(fault);
}

std::vector<FakeWorld::Write> FakeWorld::Writes(const std::string& env) const {
  std::lock_guard lock(world_->mutex);
  std::vector<Write> writes;
  for (const auto& write : world_->writes) {
    if (write.env == env) writes.push_back(write);
  }
  return writes;
}

int FakeWorld::Calls(const std::string& env, Call call) const {
  std::lock_guard lock(world_->mutex);
  auto it = world_->calls.find({env, call});
  return it == world_->calls.end() ? 0 : it->second;
}

int FakeWorld::ProbesSent() const {
  std::lock_guard lock(world_->mutex);
  return world_->probes_sent;
}

adapters::kube::Cluster& FakeWorld::ClusterOf(const std::string& env) {
  return world_->context->cluster(env);
}

adapters::probe::Prober& FakeWorld::Prober() {
  return *world_->prober;
}

phases::Context& FakeWorld::Context() {
  return *world_->context;
}

std::chrono::system_clock::time_point FakeWorld::Now() const {
  return world_->context->now();
}

void FakeWorld::Advance(milliseconds by) {
  world_->context->sleep(by);
}

void InitReleaseRepo(const std::filesystem::path& dir) {
  // As ReleaseRepo does: once for the life of the process (shutdown is optional at exit).
  static const int initialised = git_libgit2_init();
  (void)initialised;
  auto check = [](int rc) {
    if (rc < 0) {
      const git_error* error = git_error_last();
      FAIL("libgit2: " << (error != nullptr ? error->message : "unknown error"));
    }
  };
  std::unique_ptr<git_repository, decltype(&git_repository_free)> repo(nullptr,
                                                                       git_repository_free);
  git_repository* opened = nullptr;
  check(git_repository_init(&opened, dir.c_str(), 0));
  repo.reset(opened);
  git_index* index_raw = nullptr;
  check(git_repository_index(&index_raw, repo.get()));
  std::unique_ptr<git_index, decltype(&git_index_free)> index(index_raw, git_index_free);
  git_oid tree_id;
  check(git_index_write_tree(&tree_id, index.get()));
  git_tree* tree_raw = nullptr;
  check(git_tree_lookup(&tree_raw, repo.get(), &tree_id));
  std::unique_ptr<git_tree, decltype(&git_tree_free)> tree(tree_raw, git_tree_free);
  git_signature* sig_raw = nullptr;
  check(git_signature_now(&sig_raw, "Fake World", "fake-world@promote.test"));
  std::unique_ptr<git_signature, decltype(&git_signature_free)> sig(sig_raw, git_signature_free);
  git_oid commit_id;
  check(git_commit_create(&commit_id, repo.get(), "HEAD", sig.get(), sig.get(), nullptr, "releases",
                          tree.get(), 0, nullptr));
}

}  // namespace promote::testing
