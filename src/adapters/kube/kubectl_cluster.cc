// Implementation details: reads are GETs through the context's ApiProxy (a 404 means "absent", so
// a missing workload is a fact, not an error); the rollout verdict follows the rules of `kubectl
// rollout status` for Deployments, polled every kRolloutPollTick; secrets are listed metadata-only,
// so their values never reach promote's memory.
#include "adapters/kube/kubectl_cluster.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "adapters/kube/answers.h"
#include "adapters/kube/json_fields.h"
#include "adapters/kube/lease.h"
#include "adapters/kube/retry.h"
#include "core/parallel.h"
#include "core/redactor.h"

namespace promote::adapters::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// kubectl gets a little longer than the wait it is asked for, so its own message wins the race.
constexpr milliseconds kWaitGrace{10000};
// How often a rollout's status is read while waiting for it.
constexpr milliseconds kRolloutPollTick{200};

std::string Seconds(milliseconds duration) {
  const long long seconds = (duration.count() + 999) / 1000;
  return std::to_string(seconds < 1 ? 1 : seconds) + "s";
}

std::string WorkloadArg(const WorkloadRef& ref) {
  return ref.kind + "/" + ref.name;
}

Error ExternalError(std::string what, const WorkloadRef& ref, std::string fix) {
  return Error{ErrorKind::kExternal, std::move(what),
               "context " + ref.context + ", namespace " + ref.ns, std::move(fix)};
}

/// An API answer (through `kubectl proxy`) that is not JSON: what sits at the kubeconfig's server
/// URL is not (only) a Kubernetes API server, e.g. a login page or a load balancer's 502 page.
Error NotJsonAnswer(const std::string& doing, const WorkloadRef& ref) {
  return ExternalError(doing + ": the API server's answer is not JSON", ref,
                       "check that the server of context " + ref.context +
                           " is a Kubernetes API server, not a proxy or login page in front of "
                           "it: `kubectl --context " +
                           ref.context + " get --raw /version`");
}

Result<json> ParseJson(const std::string& text, const std::string& doing, const WorkloadRef& ref) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return NotJsonAnswer(doing, ref);
  return parsed;
}

// Readers of the API's answers that never throw (with json_fields.h): a field of another type
// than Kubernetes writes reads as absent, and the caller judges the object by what is missing.
int IntAt(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() ? IntegerIn<int>(*it).value_or(0) : 0;
}

std::string StringAt(const json& object, const char* key) {
  if (!object.is_object()) return std::string();
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// What `container` is configured with, by name only (never a value): its env variables, and
// the Secrets and ConfigMaps it reads through env, envFrom or the pod's volumes it mounts.
std::vector<std::string> ConfigNames(const json& container, const json& pod_spec) {
  std::set<std::string> names;
  const auto add = [&](const char* kind, const std::string& name) {
    if (!name.empty()) names.insert(std::string(kind) + " " + name);
  };
  for (const auto& entry : ArrayAt(container, "env")) {
    add("env", StringAt(entry, "name"));
    const json& from = ObjectAt(entry, "valueFrom");
    add("secret", StringAt(ObjectAt(from, "secretKeyRef"), "name"));
    add("configmap", StringAt(ObjectAt(from, "configMapKeyRef"), "name"));
  }
  for (const auto& source : ArrayAt(container, "envFrom")) {
    add("secret", StringAt(ObjectAt(source, "secretRef"), "name"));
    add("configmap", StringAt(ObjectAt(source, "configMapRef"), "name"));
  }
  std::set<std::string> mounted;
  for (const auto& mount : ArrayAt(container, "volumeMounts")) {
    mounted.insert(StringAt(mount, "name"));
  }
  for (const auto& volume : ArrayAt(pod_spec, "volumes")) {
    if (!mounted.count(StringAt(volume, "name"))) continue;
    add("secret", StringAt(ObjectAt(volume, "secret"), "secretName"));
    add("configmap", StringAt(ObjectAt(volume, "configMap"), "name"));
  }
  return {names.begin(), names.end()};
}

// The rules of `kubectl rollout status` for a Deployment (and close enough for the others),
// in its order: a spec change the controller has not observed yet is progressing, whatever the
// conditions still say about the previous one (a stale ProgressDeadlineExceeded, right after a
// rollback's write, would otherwise fail the rollback at once).
RolloutState JudgeRollout(const json& workload, WorkloadStatus& status) {
  const json& st = ObjectAt(workload, "status");
  const bool observed = status.observed_generation >= status.generation;
  for (const auto& condition : ArrayAt(st, "conditions")) {
    const std::string type = StringAt(condition, "type");
    if (type == "Progressing" || (type == "Available" && status.message.empty())) {
      status.message = StringAt(condition, "message");
    }
    if (observed && type == "Progressing" &&
        StringAt(condition, "reason") == "ProgressDeadlineExceeded") {
      return RolloutState::kDeadlineExceeded;
    }
  }
  if (!observed) return RolloutState::kProgressing;
  if (status.updated < status.desired) return RolloutState::kProgressing;
  if (IntAt(st, "replicas") > status.updated) return RolloutState::kProgressing;
  if (status.available < status.updated) return RolloutState::kProgressing;
  return RolloutState::kComplete;
}

}  // namespace

Cluster::~Cluster() = default;

namespace {

/// The answers of a batch, once every slot has one.
template <typename T>
std::vector<Result<T>> Unwrap(std::vector<std::optional<Result<T>>>& slots) {
  std::vector<Result<T>> answers;
  answers.reserve(slots.size());
  for (auto& slot : slots) answers.push_back(std::move(*slot));
  return answers;
}

/// `call(i)` for i in [0, count), `workers` at a time, as one answer each in order.
template <typename T, typename Call>
std::vector<Result<T>> EachConcurrently(std::size_t count, std::size_t workers, const Call& call) {
  std::vector<std::optional<Result<T>>> slots(count);
  ForEachConcurrently(count, workers, [&](std::size_t i) { slots[i].emplace(call(i)); });
  return Unwrap(slots);
}

}  // namespace

std::vector<Result<WorkloadStatus>> Cluster::ReadWorkloads(const std::vector<WorkloadRef>& refs) {
  return EachConcurrently<WorkloadStatus>(refs.size(), kConcurrentCalls,
                                          [&](std::size_t i) { return ReadWorkload(refs[i]); });
}

std::vector<Result<std::vector<SecretPresence>>> Cluster::CheckSecretsIn(
    const std::vector<WorkloadRef>& wheres, const std::vector<std::string>& names) {
  return EachConcurrently<std::vector<SecretPresence>>(
      wheres.size(), kConcurrentCalls,
      [&](std::size_t i) { return CheckSecrets(wheres[i], names); });
}

std::vector<Result<RolloutResult>> Cluster::WaitRollouts(const std::vector<WorkloadRef>& refs,
                                                         milliseconds deadline) {
  // All at once: each wait mostly sleeps, and a wave must cost its slowest rollout.
  return EachConcurrently<RolloutResult>(
      refs.size(), refs.size(), [&](std::size_t i) { return WaitRollout(refs[i], deadline); });
}

Result<std::unique_ptr<KubeLease>> Cluster::Lease(const LeaseRef& ref) {
  return Error{ErrorKind::kInternal, "this cluster adapter cannot hold a Lease",
               "context " + ref.context, "use the kubectl or helm driver"};
}

Result<std::vector<NamespaceStatus>> Cluster::ReadNamespaces(const WorkloadRef& where,
                                                             const std::vector<std::string>&) {
  return Error{ErrorKind::kInternal, "this cluster adapter does not read namespaces",
               "context " + where.context, "use the kubectl or helm driver"};
}

Tooling ResolveTooling(const std::string& kubectl_flag, const std::string& helm_flag) {
  auto pick = [](const std::string& flag, const char* variable, const char* fallback) {
    if (!flag.empty()) return flag;
    const char* set = std::getenv(variable);
    return std::string(set && *set ? set : fallback);
  };
  Tooling tooling;
  tooling.kubectl = pick(kubectl_flag, "PROMOTE_KUBECTL", "kubectl");
  tooling.helm = pick(helm_flag, "PROMOTE_HELM", "helm");
  return tooling;
}

std::string ImageTag(const std::string& image) {
  const auto at = image.find('@');
  const std::string name = image.substr(0, at);
  const auto slash = name.rfind('/');
  const auto colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return name.substr(colon + 1);
  }
  if (at != std::string::npos) return image.substr(at + 1);
  return "latest";
}

namespace {

/// Which proxy serves `ref`: one per (kubeconfig, context).
std::pair<std::string, std::string> ProxyKey(const Tooling& tooling, const WorkloadRef& ref) {
  const std::string kubeconfig =
      ref.kubeconfig ? ref.kubeconfig->string()
                     : (tooling.kubeconfig ? tooling.kubeconfig->string() : std::string());
  return {kubeconfig, ref.context};
}

/// The indices of `refs` by the proxy that serves them, in order of first appearance.
std::vector<std::vector<std::size_t>> GroupByProxy(const Tooling& tooling,
                                                   const std::vector<WorkloadRef>& refs) {
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    auto [it, added] = index.emplace(ProxyKey(tooling, refs[i]), groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

}  // namespace

KubectlCluster::KubectlCluster(Tooling tooling, ProcessRunner& runner)
    : tooling_(std::move(tooling)), runner_(runner) {}

Result<std::unique_ptr<KubeLease>> KubectlCluster::Lease(const LeaseRef& ref) {
  return std::make_unique<KubeLease>(runner_, tooling_, ref);
}

Command KubectlCluster::KubectlCommand(const WorkloadRef& ref, std::vector<std::string> args,
                                       milliseconds timeout) const {
  Command command;
  command.argv = {tooling_.kubectl};
  const auto kubeconfig = ref.kubeconfig ? ref.kubeconfig : tooling_.kubeconfig;
  if (kubeconfig) command.argv.push_back("--kubeconfig=" + kubeconfig->string());
  if (tooling_.cache_dir) command.argv.push_back("--cache-dir=" + tooling_.cache_dir->string());
  command.argv.push_back("--context=" + ref.context);
  if (!ref.ns.empty()) command.argv.push_back("--namespace=" + ref.ns);
  command.argv.insert(command.argv.end(), std::make_move_iterator(args.begin()),
                      std::make_move_iterator(args.end()));
  command.env = tooling_.env;
  command.timeout = timeout;
  return command;
}

Result<ProcessResult> KubectlCluster::RunChecked(const Command& command, const std::string& doing) {
  auto run = runner_.Run(command);
  if (!run) return std::move(run).error().WithContext(doing);
  if (!run->ok()) {
    std::string said = run->err.empty() ? run->out : run->err;
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
    Error failed{ErrorKind::kExternal,
                 doing + ": " + command.argv.front() + " " + run->Describe() +
                     (said.empty() ? "" : ": " + said),
                 "", "run the command by hand to see the cluster's answer"};
    failed.transient = !PermanentCommandFailure(said);
    return failed;
  }
  return run;
}

Result<ProcessResult> KubectlCluster::RunRepeated(const Command& command,
                                                  const std::string& doing) {
  for (int retry = 0;; ++retry) {
    auto run = RunChecked(command, doing);
    if (run || !run.error().transient || retry == kTransientRetries) {
      if (!run && retry > 0) {
        Error failed = std::move(run).error();
        failed.what += " (" + std::to_string(retry + 1) + " tries)";
        return failed;
      }
      return run;
    }
    std::this_thread::sleep_for(RetryPause(retry));
  }
}

Result<ApiResponse> KubectlCluster::ApiGet(const WorkloadRef& ref, const std::string& path,
                                           const std::string& doing, const std::string& accept,
                                           std::initializer_list<long> answers) {
  ApiProxy* proxy = nullptr;
  {
    std::lock_guard lock(proxies_mutex_);
    auto& slot = proxies_[ProxyKey(tooling_, ref)];
    if (!slot) {
      WorkloadRef cluster_scope = ref;
      cluster_scope.ns.clear();
      slot = std::make_unique<ApiProxy>(runner_, KubectlCommand(cluster_scope, {}, milliseconds(0)),
                                        tooling_.read_timeout);
    }
    proxy = slot.get();
  }
  auto got = proxy->Get(path, accept);
  if (!got) return std::move(got).error().WithContext(doing);
  if (got->status < 400 ||
      std::find(answers.begin(), answers.end(), got->status) != answers.end()) {
    return got;
  }
  // The API server's Status object says why; its message is what kubectl would print.
  json status = json::parse(got->body, nullptr, /*allow_exceptions=*/false);
  std::string said = status.is_object() ? StringAt(status, "message") : std::string();
  if (said.empty()) said = got->body.substr(0, 200);
  std::string fix = "check the cluster with `kubectl get --raw " + path + "`";
  if (got->status == 401)
    fix = "kubectl's credentials for context " + ref.context + " were refused";
  if (got->status == 403) {
    fix = "grant get and list on deployments, pods, namespaces and secrets in " +
          (ref.ns.empty() ? std::string("the plan's namespaces") : ref.ns) + " (RBAC)";
  }
  const std::string tries =
      got->tries > 1 ? " on " + std::to_string(got->tries) + " tries in a row" : "";
  Error failed = ExternalError(doing + ": the API server answered " + std::to_string(got->status) +
                                   tries + (said.empty() ? "" : ": " + said),
                               ref, fix);
  failed.transient = TransientStatus(got->status);
  return failed;
}

namespace {

/// The REST path of `ref`'s workload (deployment, statefulset, daemonset: all apps/v1).
std::string WorkloadPath(const WorkloadRef& ref) {
  return "/apis/apps/v1/namespaces/" + EscapeUrl(ref.ns) + "/" + ref.kind + "s/" +
         EscapeUrl(ref.name);
}

/// What one workload object says: image, replicas, generations, revision and rollout verdict.
Status ParseWorkload(const json& workload, const WorkloadRef& ref, const std::string& doing,
                     WorkloadStatus& status) {
  status.workload_present = true;
  if (!workload.is_object() || !workload.contains("metadata") ||
      !workload["metadata"].is_object() || !workload.contains("spec") ||
      !workload["spec"].is_object()) {
    return ExternalError(doing + ": the API answered something that is not a workload object", ref,
                         "check the object with `kubectl get " + WorkloadArg(ref) + " -o json`");
  }
  // The counts decide whether the rollout is done: one that is not a count cannot be judged, and
  // a workload that cannot be judged is not healthy.
  for (const auto& [object, path, key] :
       {std::tuple{&workload["metadata"], "metadata", "generation"},
        std::tuple{&workload["spec"], "spec", "replicas"},
        std::tuple{workload.contains("status") ? &workload["status"] : nullptr, "status",
                   "observedGeneration"},
        std::tuple{workload.contains("status") ? &workload["status"] : nullptr, "status",
                   "updatedReplicas"},
        std::tuple{workload.contains("status") ? &workload["status"] : nullptr, "status",
                   "readyReplicas"},
        std::tuple{workload.contains("status") ? &workload["status"] : nullptr, "status",
                   "availableReplicas"}}) {
    if (object == nullptr || !object->is_object() || !object->contains(key)) continue;
    const json& value = (*object)[key];
    if (const auto count = IntegerIn<int>(value); !count || *count < 0) {
      return ExternalError(
          doing + ": " + path + "." + key + " is not a count: " + value.dump().substr(0, 64), ref,
          "check the object with `kubectl get " + WorkloadArg(ref) + " -o json`");
    }
  }
  const json& meta = ObjectAt(workload, "metadata");
  const json& spec = ObjectAt(workload, "spec");
  const json& st = ObjectAt(workload, "status");
  status.created = StringAt(meta, "creationTimestamp");
  status.generation = IntegerIn<long long>(meta.value("generation", json())).value_or(0);
  status.observed_generation =
      IntegerIn<long long>(st.value("observedGeneration", json())).value_or(0);
  status.desired = spec.contains("replicas") ? IntAt(spec, "replicas") : 1;
  status.updated = IntAt(st, "updatedReplicas");
  status.ready = IntAt(st, "readyReplicas");
  status.available = IntAt(st, "availableReplicas");
  const json& annotations = ObjectAt(meta, "annotations");
  if (auto rev = StringAt(annotations, "deployment.kubernetes.io/revision"); !rev.empty()) {
    status.revision = IntegerText(rev);
  }
  const json& pod_spec = ObjectAt(ObjectAt(spec, "template"), "spec");
  const json& containers = ArrayAt(pod_spec, "containers");
  bool named = false;
  for (const auto& container : containers) {
    if (StringAt(container, "name") == ref.container) {
      named = true;
      status.image = StringAt(container, "image");
      status.config = ConfigNames(container, pod_spec);
    }
    // Every container's: a sidecar's token echoed by the service is as secret as its own.
    const json& env = container.is_object() ? container.value("env", json::array()) : json();
    for (const auto& entry : env.is_array() ? env : json::array()) {
      const std::string name = StringAt(entry, "name");
      if (Redactor::SecretLookingName(name) && entry.contains("value")) {
        status.secret_env.emplace_back(name, StringAt(entry, "value"));
      }
    }
  }
  if (!named) {
    return ExternalError(doing + ": no container named '" + ref.container + "'", ref,
                         "set the service's container: in the plan to one of the workload's "
                         "containers");
  }
  if (status.image.empty()) {
    return ExternalError(doing + ": container '" + ref.container + "' has no image", ref,
                         "the API answered a workload without an image for it; check the "
                         "object with `kubectl get " +
                             WorkloadArg(ref) + " -o json`");
  }
  status.message.clear();
  status.rollout = JudgeRollout(workload, status);
  return Done{};
}

/// The selector of a workload's pods ("app=api,tier=web"), empty when it has none.
std::string PodSelector(const json& workload) {
  std::string selector;
  const json& labels = ObjectAt(ObjectAt(ObjectAt(workload, "spec"), "selector"), "matchLabels");
  for (const auto& [key, value] : labels.items()) {
    if (!value.is_string()) continue;
    if (!selector.empty()) selector += ",";
    selector += key + "=" + value.get<std::string>();
  }
  return selector;
}

/// What a read keeps of a pod: its name, labels and, per container, image, imageID and why it
/// is waiting (if it is).
struct PodFacts {
  /// One container's status.
  struct Container {
    std::string name, image, image_id, waiting_reason, waiting_message;
  };
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<Container> containers;
};

PodFacts ReadPod(const json& pod) {
  PodFacts kept;
  const json& meta = ObjectAt(pod, "metadata");
  kept.name = StringAt(meta, "name");
  const json& labels = ObjectAt(meta, "labels");
  for (const auto& [key, value] : labels.items()) {
    if (value.is_string()) kept.labels[key] = value.get<std::string>();
  }
  for (const auto& cs : ArrayAt(ObjectAt(pod, "status"), "containerStatuses")) {
    const json& waiting = ObjectAt(ObjectAt(cs, "state"), "waiting");
    kept.containers.push_back({StringAt(cs, "name"), StringAt(cs, "image"), StringAt(cs, "imageID"),
                               StringAt(waiting, "reason"), StringAt(waiting, "message")});
  }
  return kept;
}

/// Whether `pod` carries every label of `selector` ("app=api,tier=web").
bool Selects(const std::string& selector, const PodFacts& pod) {
  std::istringstream terms(selector);
  for (std::string term; std::getline(terms, term, ',');) {
    const auto eq = term.find('=');
    auto it = pod.labels.find(term.substr(0, eq));
    if (it == pod.labels.end() || it->second != term.substr(eq + 1)) return false;
  }
  return true;
}

/// Waiting reasons a container does not leave without a change to the pod or its environment.
/// ErrImagePull is not one: it is the first failed pull, retried (ImagePullBackOff follows).
bool StuckReason(const std::string& reason) {
  return reason == "CrashLoopBackOff" || reason == "ImagePullBackOff" ||
         reason == "InvalidImageName" || reason == "ErrImageNeverPull" ||
         reason == "CreateContainerConfigError" || reason == "CreateContainerError";
}

/// What the pods of `selector` that run the template's image say of it: the digest, when they
/// all agree, and the first that is stuck (status.image and status.rollout already read).
void JudgePods(const std::vector<PodFacts>& pods, const std::string& selector,
               const std::string& container, WorkloadStatus& status) {
  std::set<std::string> digests;
  for (const auto& pod : pods) {
    if (!Selects(selector, pod)) continue;
    for (const auto& cs : pod.containers) {
      if (cs.name != container || cs.image != status.image) continue;
      if (const auto at = cs.image_id.find("@sha256:"); at != std::string::npos) {
        digests.insert(cs.image_id.substr(at + 1));
      }
      if (status.stuck.empty() && StuckReason(cs.waiting_reason)) {
        status.stuck = "pod " + pod.name + ": " + cs.waiting_reason +
                       (cs.waiting_message.empty() ? "" : ": " + cs.waiting_message);
        status.crash_looping = cs.waiting_reason == "CrashLoopBackOff";
      }
    }
  }
  if (digests.size() == 1) status.digest = *digests.begin();
}

/// A PodList answer of `selector`'s pods judged into `status` (JudgePods); an Error when it is
/// not JSON or not a list of pod objects, since a digest cannot be trusted from half a list.
Status ReadPods(const std::string& answer, const std::string& selector, const std::string& doing,
                const WorkloadRef& ref, WorkloadStatus& status) {
  auto pod_list = ParseJson(answer, doing, ref);
  if (!pod_list) return std::move(pod_list).error();
  const std::string fix = "check the pods with `kubectl get pods -l " + selector + " -o json`";
  if (!pod_list->is_object() || !pod_list->contains("items") || !(*pod_list)["items"].is_array()) {
    return ExternalError(doing + ": the API answered a pod list without a list of items", ref, fix);
  }
  std::vector<PodFacts> facts;
  for (const auto& pod : (*pod_list)["items"]) {
    if (!pod.is_object()) {
      return ExternalError(doing + ": the API answered a pod list with an item that is not a pod",
                           ref, fix);
    }
    facts.push_back(ReadPod(pod));
  }
  JudgePods(facts, selector, ref.container, status);
  return Done{};
}

/// kubectl rollout status's words for where a rollout stands.
std::string RolloutWords(const WorkloadRef& ref, const WorkloadStatus& status) {
  const std::string name = ref.kind + " \"" + ref.name + "\"";
  switch (status.rollout) {
    case RolloutState::kComplete:
      return name + " successfully rolled out";
    case RolloutState::kDeadlineExceeded:
      return name + " exceeded its progress deadline";
    case RolloutState::kMissing:
      return name + " not found";
    case RolloutState::kProgressing:
      break;
  }
  return "Waiting for " + name + " rollout to finish: " + std::to_string(status.available) +
         " of " + std::to_string(status.desired) + " updated replicas are available";
}

/// How a wait ends on what was just read of the workload, or nothing while it is still rolling
/// and no new pod is stuck. `words` is RolloutWords of the same read.
std::optional<RolloutResult> EndOfWait(const WorkloadStatus& status, const std::string& words) {
  RolloutResult result;
  result.detail = words;
  switch (status.rollout) {
    case RolloutState::kComplete:
      result.outcome = RolloutOutcome::kComplete;
      return result;
    case RolloutState::kDeadlineExceeded:
      result.outcome = RolloutOutcome::kDeadlineExceeded;
      if (!status.message.empty()) result.detail += ": " + status.message;
      return result;
    case RolloutState::kMissing:
      result.outcome = RolloutOutcome::kFailed;
      return result;
    case RolloutState::kProgressing:
      break;
  }
  if (status.stuck.empty()) return std::nullopt;
  result.outcome =
      status.crash_looping ? RolloutOutcome::kCrashLoop : RolloutOutcome::kPodsCannotStart;
  // kubectl's "N of M updated replicas are available" counts the old pods here: the pod says it.
  result.detail = status.stuck;
  return result;
}

}  // namespace

Result<WorkloadStatus> KubectlCluster::ReadWorkload(const WorkloadRef& ref) {
  WorkloadStatus status;
  const std::string doing =
      "reading " + WorkloadArg(ref) + " in " + ref.ns + " (" + ref.context + ")";
  // The workload first: when it is there, so is its namespace, and that is one GET saved.
  auto got = ApiGet(ref, WorkloadPath(ref), doing);
  if (!got) return std::move(got).error();
  if (got->status == 404) {
    auto ns = ApiGet(ref, "/api/v1/namespaces/" + EscapeUrl(ref.ns), doing);
    if (!ns) return std::move(ns).error();
    status.namespace_present = ns->status != 404;
    return status;
  }
  status.namespace_present = true;
  auto workload = ParseJson(got->body, doing, ref);
  if (!workload) return std::move(workload).error();
  if (auto parsed = ParseWorkload(*workload, ref, doing, status); !parsed) {
    return std::move(parsed).error();
  }

  // The digest comes from the pods that run the template's image: only when they all agree.
  const std::string selector = PodSelector(*workload);
  if (selector.empty()) return status;
  auto pods = ApiGet(
      ref, "/api/v1/namespaces/" + EscapeUrl(ref.ns) + "/pods?labelSelector=" + EscapeUrl(selector),
      doing);
  if (!pods) return std::move(pods).error();
  if (auto read = ReadPods(pods->body, selector, doing, ref, status); !read) {
    return std::move(read).error();
  }
  return status;
}

Result<WorkloadStatus> WorkloadFromAnswers(const std::string& workload, const std::string& pods,
                                           const WorkloadRef& ref) {
  // ReadWorkload's reading, in its order, without its GETs.
  const std::string doing = "reading " + WorkloadArg(ref);
  WorkloadStatus status;
  status.namespace_present = true;
  auto object = ParseJson(workload, doing, ref);
  if (!object) return std::move(object).error();
  if (auto parsed = ParseWorkload(*object, ref, doing, status); !parsed) {
    return std::move(parsed).error();
  }
  const std::string selector = PodSelector(*object);
  if (selector.empty()) return status;
  if (auto read = ReadPods(pods, selector, doing, ref, status); !read) {
    return std::move(read).error();
  }
  return status;
}

std::optional<std::set<std::string>> SecretNamesFromAnswer(const std::string& secret_list) {
  const json list = json::parse(secret_list, nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded()) return std::nullopt;
  std::set<std::string> names;
  for (const auto& item : ArrayAt(list, "items")) {
    names.insert(StringAt(ObjectAt(item, "metadata"), "name"));
  }
  return names;
}

Result<std::vector<SecretPresence>> KubectlCluster::CheckSecrets(
    const WorkloadRef& where, const std::vector<std::string>& names) {
  std::vector<SecretPresence> found;
  if (names.empty()) return found;
  const std::string doing = "listing secrets in " + where.ns + " (" + where.context + ")";
  // Metadata only: the answer carries names, never data. Annotations are not kept either: one
  // written by `kubectl apply` (last-applied-configuration) holds the values.
  auto listed = ApiGet(where, "/api/v1/namespaces/" + EscapeUrl(where.ns) + "/secrets", doing,
                       kMetadataListAccept);
  if (!listed) return std::move(listed).error();
  auto present = SecretNamesFromAnswer(listed->body);
  std::fill(listed->body.begin(), listed->body.end(), '\0');
  if (!present) {
    return NotJsonAnswer(doing, where);
  }
  for (const auto& name : names) found.push_back({name, present->count(name) > 0});
  return found;
}

std::vector<Command> KubectlCluster::PlanDeploy(const WorkloadRef& ref, const std::string& image,
                                                milliseconds timeout) const {
  return {KubectlCommand(ref, {"set", "image", WorkloadArg(ref), ref.container + "=" + image},
                         std::min(timeout, tooling_.read_timeout))};
}

Status KubectlCluster::Deploy(const WorkloadRef& ref, const std::string& image,
                              milliseconds timeout) {
  for (const auto& command : PlanDeploy(ref, image, timeout)) {
    auto run = RunRepeated(command, "setting the image of " + WorkloadArg(ref) + " in " + ref.ns);
    if (!run) return std::move(run).error();
  }
  return Done{};
}

Command KubectlCluster::PlanWait(const WorkloadRef& ref, milliseconds deadline) const {
  return KubectlCommand(ref,
                        {"rollout", "status", WorkloadArg(ref), "--timeout=" + Seconds(deadline)},
                        deadline + kWaitGrace);
}

Result<RolloutResult> KubectlCluster::WaitRollout(const WorkloadRef& ref, milliseconds deadline) {
  const std::string doing = "waiting for " + WorkloadArg(ref) + " in " + ref.ns;
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  // Bounded by the deadline: the workload and its pods each tick (the pods say at once when a
  // new one crash-loops or cannot be pulled), and a controller's status moves in steps of a few
  // hundred milliseconds at best.
  for (;;) {
    auto read = ReadWorkload(ref);
    if (!read) return Error(read.error()).WithContext(doing);
    const std::string words = RolloutWords(ref, *read);
    if (auto ended = EndOfWait(*read, words)) return *ended;
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up) {
      return RolloutResult{RolloutOutcome::kTimedOut,
                           "timed out waiting " + Seconds(deadline) + ": " + words};
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(kRolloutPollTick, give_up - now));
  }
}

std::vector<Command> KubectlCluster::PlanRollback(const WorkloadRef& ref,
                                                  const RollbackTarget& target,
                                                  milliseconds timeout) const {
  // Restoring the recorded image is exact and idempotent; `rollout undo` would only go back one
  // revision, whatever that revision was.
  return PlanDeploy(ref, target.image, timeout);
}

Status KubectlCluster::Rollback(const WorkloadRef& ref, const RollbackTarget& target,
                                milliseconds timeout) {
  for (const auto& command : PlanRollback(ref, target, timeout)) {
    auto run = RunRepeated(command, "restoring " + target.image + " on " + WorkloadArg(ref));
    if (!run) return std::move(run).error();
  }
  return Done{};
}

namespace {

// The most pages of one list followed: a bound, far beyond any real cluster at 500 a page.
constexpr int kMaxListPages = 2000;

/// "deployment", "ns", "name" → one key of ListWorkloads' map.
std::string ObjectKey(const std::string& kind, const std::string& ns, const std::string& name) {
  return kind + '/' + ns + '/' + name;
}

}  // namespace

Result<std::vector<NamespaceStatus>> KubectlCluster::ReadNamespaces(
    const WorkloadRef& where, const std::vector<std::string>& names) {
  const std::string doing =
      "reading " + std::to_string(names.size()) + " namespace(s) (" + where.context + ")";
  WorkloadRef scope = where;
  scope.ns.clear();
  std::map<std::string, NamespaceStatus> found;
  const auto read = [&](const json& item) {
    const json& meta = ObjectAt(item, "metadata");
    NamespaceStatus ns;
    ns.name = StringAt(meta, "name");
    ns.present = true;
    ns.phase = StringAt(ObjectAt(item, "status"), "phase");
    ns.created = StringAt(meta, "creationTimestamp");
    found[ns.name] = std::move(ns);
  };
  bool listed = false;
  if (names.size() > kNamespaceListsUpTo) {
    const std::set<std::string> wanted(names.begin(), names.end());
    std::string token;
    for (int page = 0; page < kMaxListPages; ++page) {
      std::string url =
          "/api/v1/namespaces?limit=" + std::to_string(std::max(1, tooling_.list_page_size));
      if (!token.empty()) url += "&continue=" + EscapeUrl(token);
      auto got = ApiGet(scope, url, doing, "application/json", {403});
      if (!got) return std::move(got).error();
      if (got->status == 403) break;  // RBAC may grant `get` on the plan's namespaces only
      const json list = json::parse(got->body, nullptr, /*allow_exceptions=*/false);
      for (const auto& item : ArrayAt(list, "items")) {
        if (wanted.count(StringAt(ObjectAt(item, "metadata"), "name"))) read(item);
      }
      token = StringAt(ObjectAt(list, "metadata"), "continue");
      if (token.empty()) {
        listed = true;
        break;
      }
    }
  }
  if (!listed) {
    std::vector<std::optional<Result<ApiResponse>>> answers(names.size());
    ForEachConcurrently(names.size(), kConcurrentCalls, [&](std::size_t i) {
      answers[i].emplace(ApiGet(scope, "/api/v1/namespaces/" + EscapeUrl(names[i]), doing));
    });
    for (auto& answer : answers) {
      if (!*answer) return std::move(*answer).error();
      if ((*answer)->status == 404) continue;
      read(json::parse((*answer)->body, nullptr, /*allow_exceptions=*/false));
    }
  }
  std::vector<NamespaceStatus> statuses;
  for (const auto& name : names) {
    auto it = found.find(name);
    statuses.push_back(it != found.end() ? it->second : NamespaceStatus{name, false, "", ""});
  }
  return statuses;
}

Status KubectlCluster::List(const WorkloadRef& scope, const ListQuery& query,
                            const std::set<std::string>& namespaces,
                            const std::function<void(json&)>& visit, const std::string& doing) {
  std::mutex visiting;
  // One collection, page by page; a cluster-wide list's 403 is returned as an answer (RBAC may
  // grant the namespaces only), a namespace's is an Error with the RBAC fix.
  auto pages = [&](const WorkloadRef& where, const std::string& path) -> Result<long> {
    std::string token;
    for (int page = 0; page < kMaxListPages; ++page) {
      std::string url = path + "?limit=" + std::to_string(std::max(1, tooling_.list_page_size));
      if (!query.label_selector.empty()) url += "&labelSelector=" + EscapeUrl(query.label_selector);
      if (!token.empty()) url += "&continue=" + EscapeUrl(token);
      auto got = where.ns.empty() ? ApiGet(where, url, doing, query.accept, {403, 404})
                                  : ApiGet(where, url, doing, query.accept);
      if (!got) return std::move(got).error();
      if (got->status == 403 || got->status == 404) return got->status;  // 404: no such API
      const auto keep = [&](int, json::parse_event_t event, json& parsed) {
        if (event != json::parse_event_t::key) return true;
        const auto& key = parsed.get_ref<const std::string&>();
        return key != "managedFields" && std::find(query.drop_keys.begin(), query.drop_keys.end(),
                                                   key) == query.drop_keys.end();
      };
      json list = json::parse(got->body, keep, /*allow_exceptions=*/false);
      std::fill(got->body.begin(), got->body.end(), '\0');  // it may be a Secret list
      if (!list.is_object()) {
        return ExternalError(doing + ": the API server answered something that is not a list",
                             where, "check the cluster with `kubectl get --raw " + path + "`");
      }
      {
        std::lock_guard lock(visiting);
        // visit may take the item (move it out): the page is dropped right after.
        auto items = list.find("items");
        if (items != list.end() && items->is_array()) {
          for (auto& item : *items) {
            const json& meta = ObjectAt(item, "metadata");
            if (namespaces.count(StringAt(meta, "namespace"))) visit(item);
          }
        }
      }
      token = StringAt(ObjectAt(list, "metadata"), "continue");
      if (token.empty()) return 200L;
    }
    return ExternalError(
        doing + ": the list did not end after " + std::to_string(kMaxListPages) + " pages", where,
        "check the API server's paging (continue tokens)");
  };
  if (namespaces.size() > kNamespaceListsUpTo) {
    WorkloadRef cluster_scope = scope;
    cluster_scope.ns.clear();
    auto all = pages(cluster_scope, query.api + "/" + query.resource);
    if (!all) return std::move(all).error();
    if (*all != 403) return Done{};
  }
  const std::vector<std::string> each(namespaces.begin(), namespaces.end());
  std::vector<std::optional<Result<long>>> listed(each.size());
  ForEachConcurrently(each.size(), kConcurrentCalls, [&](std::size_t i) {
    WorkloadRef where = scope;
    where.ns = each[i];
    listed[i].emplace(
        pages(where, query.api + "/namespaces/" + EscapeUrl(each[i]) + "/" + query.resource));
  });
  for (auto& answer : listed) {
    if (!*answer) return std::move(*answer).error();
  }
  return Done{};
}

Status KubectlCluster::ListWorkloads(const std::vector<const WorkloadRef*>& refs,
                                     std::map<std::string, json>& found) {
  if (refs.empty()) return Done{};
  std::map<std::string, std::set<std::string>> namespaces_of_kind;
  for (const WorkloadRef* ref : refs) namespaces_of_kind[ref->kind].insert(ref->ns);
  for (const auto& [kind, namespaces] : namespaces_of_kind) {
    const std::string doing = "listing " + kind + "s in " + std::to_string(namespaces.size()) +
                              " namespace(s) (" + refs.front()->context + ")";
    auto listed = List(
        *refs.front(), {"/apis/apps/v1", kind + "s", "", "application/json"}, namespaces,
        [&, kind = kind](json& item) {
          const json& meta = ObjectAt(item, "metadata");
          found[ObjectKey(kind, StringAt(meta, "namespace"), StringAt(meta, "name"))] =
              std::move(item);
        },
        doing);
    if (!listed) return std::move(listed).error();
  }
  return Done{};
}

std::vector<Result<WorkloadStatus>> KubectlCluster::ReadWorkloads(
    const std::vector<WorkloadRef>& refs) {
  if (refs.size() <= kObjectReadsUpTo) return Cluster::ReadWorkloads(refs);
  return ListedWorkloads(refs);
}

std::vector<Result<WorkloadStatus>> KubectlCluster::ListedWorkloads(
    const std::vector<WorkloadRef>& refs) {
  std::vector<std::optional<Result<WorkloadStatus>>> answers(refs.size());
  for (const auto& group : GroupByProxy(tooling_, refs)) {
    std::vector<const WorkloadRef*> members;
    for (std::size_t i : group) members.push_back(&refs[i]);
    std::map<std::string, json> workloads;
    if (auto listed = ListWorkloads(members, workloads); !listed) {
      for (std::size_t i : group) answers[i].emplace(listed.error());
      continue;
    }
    // What each workload says; the pods' digests and missing namespaces come after.
    std::vector<WorkloadStatus> statuses(refs.size());
    std::map<std::size_t, std::string> selectors;
    std::set<std::string> pod_namespaces, missing_namespaces;
    for (std::size_t i : group) {
      const WorkloadRef& ref = refs[i];
      auto it = workloads.find(ObjectKey(ref.kind, ref.ns, ref.name));
      if (it == workloads.end()) {
        missing_namespaces.insert(ref.ns);
        continue;
      }
      statuses[i].namespace_present = true;
      const std::string doing =
          "reading " + WorkloadArg(ref) + " in " + ref.ns + " (" + ref.context + ")";
      if (auto parsed = ParseWorkload(it->second, ref, doing, statuses[i]); !parsed) {
        answers[i].emplace(std::move(parsed).error());
        continue;
      }
      if (auto selector = PodSelector(it->second); !selector.empty()) {
        selectors[i] = selector;
        pod_namespaces.insert(ref.ns);
      }
    }
    workloads.clear();
    std::map<std::string, std::vector<PodFacts>> pods;  // by namespace
    auto pods_listed = List(
        *members.front(), {"/api/v1", "pods", "", "application/json", {"spec"}}, pod_namespaces,
        [&](json& pod) {
          pods[StringAt(ObjectAt(pod, "metadata"), "namespace")].push_back(ReadPod(pod));
        },
        "listing pods in " + std::to_string(pod_namespaces.size()) + " namespace(s) (" +
            members.front()->context + ")");
    // A workload's namespace exists; a missing workload's may not (GET, few and rare).
    const std::vector<std::string> missing(missing_namespaces.begin(), missing_namespaces.end());
    std::vector<std::optional<Result<ApiResponse>>> namespace_answers(missing.size());
    ForEachConcurrently(missing.size(), kConcurrentCalls, [&](std::size_t m) {
      namespace_answers[m].emplace(ApiGet(*members.front(),
                                          "/api/v1/namespaces/" + EscapeUrl(missing[m]),
                                          "reading namespace " + missing[m]));
    });
    for (std::size_t i : group) {
      if (answers[i]) continue;
      const WorkloadRef& ref = refs[i];
      WorkloadStatus& status = statuses[i];
      if (!status.workload_present) {
        const auto m = std::find(missing.begin(), missing.end(), ref.ns) - missing.begin();
        auto& ns = *namespace_answers[m];
        if (!ns) {
          answers[i].emplace(ns.error());
          continue;
        }
        status.namespace_present = ns->status != 404;
      } else if (auto selector = selectors.find(i); selector != selectors.end()) {
        if (!pods_listed) {
          answers[i].emplace(pods_listed.error());
          continue;
        }
        JudgePods(pods[ref.ns], selector->second, ref.container, status);
      }
      answers[i].emplace(std::move(status));
    }
  }
  return Unwrap(answers);
}

std::vector<Result<std::vector<SecretPresence>>> KubectlCluster::CheckSecretsIn(
    const std::vector<WorkloadRef>& wheres, const std::vector<std::string>& names) {
  if (wheres.size() <= kObjectReadsUpTo || names.empty()) {
    return Cluster::CheckSecretsIn(wheres, names);
  }
  std::vector<std::optional<Result<std::vector<SecretPresence>>>> answers(wheres.size());
  for (const auto& group : GroupByProxy(tooling_, wheres)) {
    std::set<std::string> namespaces;
    for (std::size_t i : group) namespaces.insert(wheres[i].ns);
    std::set<std::pair<std::string, std::string>> present;  // namespace, name
    // Metadata only, and only the name is kept (see CheckSecrets).
    auto listed = List(
        wheres[group.front()], {"/api/v1", "secrets", "", kMetadataListAccept}, namespaces,
        [&](json& secret) {
          const json& meta = ObjectAt(secret, "metadata");
          present.emplace(StringAt(meta, "namespace"), StringAt(meta, "name"));
        },
        "listing secrets in " + std::to_string(namespaces.size()) + " namespace(s) (" +
            wheres[group.front()].context + ")");
    for (std::size_t i : group) {
      if (!listed) {
        answers[i].emplace(listed.error());
        continue;
      }
      std::vector<SecretPresence> found;
      for (const auto& name : names) {
        found.push_back({name, present.count({wheres[i].ns, name}) > 0});
      }
      answers[i].emplace(std::move(found));
    }
  }
  return Unwrap(answers);
}

std::vector<Result<RolloutResult>> KubectlCluster::WaitRollouts(
    const std::vector<WorkloadRef>& refs, milliseconds deadline) {
  if (refs.size() <= kObjectReadsUpTo) return Cluster::WaitRollouts(refs, deadline);
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  std::vector<std::optional<Result<RolloutResult>>> answers(refs.size());
  std::vector<std::string> last_words(refs.size());  // what a timeout reports
  // One loop for the batch: each tick reads the workloads still rolling and their pods (a fixed
  // number of lists), until each has an outcome or the deadline passes. Bounded by the deadline.
  for (;;) {
    std::vector<std::size_t> rolling;
    std::vector<WorkloadRef> rolling_refs;
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (answers[i]) continue;
      rolling.push_back(i);
      rolling_refs.push_back(refs[i]);
    }
    if (rolling.empty()) break;
    auto read = ListedWorkloads(rolling_refs);
    std::size_t pending = 0;
    for (std::size_t k = 0; k < rolling.size(); ++k) {
      const std::size_t i = rolling[k];
      const WorkloadRef& ref = refs[i];
      if (!read[k]) {
        answers[i].emplace(Error(read[k].error()).WithContext("waiting for " + WorkloadArg(ref)));
        continue;
      }
      last_words[i] = RolloutWords(ref, *read[k]);
      if (auto ended = EndOfWait(*read[k], last_words[i])) {
        answers[i].emplace(std::move(*ended));
      } else {
        ++pending;
      }
    }
    if (pending == 0) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up) {
      for (std::size_t i = 0; i < refs.size(); ++i) {
        if (answers[i]) continue;
        answers[i].emplace(
            RolloutResult{RolloutOutcome::kTimedOut,
                          "timed out waiting " + Seconds(deadline) + ": " + last_words[i]});
      }
      break;
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(kRolloutPollTick, give_up - now));
  }
  return Unwrap(answers);
}

}  // namespace promote::adapters::kube
