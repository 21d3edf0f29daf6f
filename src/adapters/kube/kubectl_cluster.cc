// Implementation details: reads are GETs through the context's ApiProxy (a 404 means "absent", so
// a missing workload is a fact, not an error); the rollout verdict follows the rules of `kubectl
// rollout status` for Deployments, polled every kRolloutPollTick; secrets are listed metadata-only,
// so their values never reach promote's memory.
#include "adapters/kube/kubectl_cluster.h"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/kube/lease.h"

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

Result<json> ParseJson(const std::string& text, const std::string& doing, const WorkloadRef& ref) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return ExternalError(doing + ": kubectl printed something that is not JSON", ref,
                         "check that the kubectl binary is a real kubectl (promote --kubectl)");
  }
  return parsed;
}

int IntAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The rules of `kubectl rollout status` for a Deployment (and close enough for the others),
// in its order: a spec change the controller has not observed yet is progressing, whatever the
// conditions still say about the previous one (a stale ProgressDeadlineExceeded, right after a
// rollback's write, would otherwise fail the rollback at once).
RolloutState JudgeRollout(const json& workload, WorkloadStatus& status) {
  const json& st = workload.value("status", json::object());
  const bool observed = status.observed_generation >= status.generation;
  for (const auto& condition : st.value("conditions", json::array())) {
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

Result<std::unique_ptr<KubeLease>> Cluster::Lease(const LeaseRef& ref) {
  return Error{ErrorKind::kInternal, "this cluster adapter cannot hold a Lease",
               "context " + ref.context, "use the kubectl or helm driver"};
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
    return Error{ErrorKind::kExternal,
                 doing + ": " + command.argv.front() + " " + run->Describe() +
                     (said.empty() ? "" : ": " + said),
                 "", "run the command by hand to see the cluster's answer"};
  }
  return run;
}

Result<ApiResponse> KubectlCluster::ApiGet(const WorkloadRef& ref, const std::string& path,
                                           const std::string& doing, const std::string& accept) {
  const std::string kubeconfig =
      ref.kubeconfig ? ref.kubeconfig->string()
                     : (tooling_.kubeconfig ? tooling_.kubeconfig->string() : std::string());
  ApiProxy* proxy = nullptr;
  {
    std::lock_guard lock(proxies_mutex_);
    auto& slot = proxies_[{kubeconfig, ref.context}];
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
  if (got->status < 400 || got->status == 404) return got;
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
  return ExternalError(doing + ": the API server answered " + std::to_string(got->status) +
                           (said.empty() ? "" : ": " + said),
                       ref, fix);
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
  const json& meta = workload.value("metadata", json::object());
  const json& spec = workload.value("spec", json::object());
  const json& st = workload.value("status", json::object());
  status.created = StringAt(meta, "creationTimestamp");
  status.generation = meta.value("generation", 0LL);
  status.observed_generation = st.value("observedGeneration", 0LL);
  status.desired = spec.contains("replicas") ? IntAt(spec, "replicas") : 1;
  status.updated = IntAt(st, "updatedReplicas");
  status.ready = IntAt(st, "readyReplicas");
  status.available = IntAt(st, "availableReplicas");
  const json& annotations = meta.value("annotations", json::object());
  if (auto rev = StringAt(annotations, "deployment.kubernetes.io/revision"); !rev.empty()) {
    status.revision = std::atoi(rev.c_str());
  }
  const json containers = spec.value("template", json::object())
                              .value("spec", json::object())
                              .value("containers", json::array());
  for (const auto& container : containers) {
    if (StringAt(container, "name") == ref.container) status.image = StringAt(container, "image");
  }
  if (status.image.empty()) {
    return ExternalError(doing + ": no container named '" + ref.container + "'", ref,
                         "set the service's container: in the plan to one of the workload's "
                         "containers");
  }
  status.message.clear();
  status.rollout = JudgeRollout(workload, status);
  return Done{};
}

/// The selector of a workload's pods ("app=api,tier=web"), empty when it has none.
std::string PodSelector(const json& workload) {
  std::string selector;
  const json labels = workload.value("spec", json::object())
                          .value("selector", json::object())
                          .value("matchLabels", json::object());
  for (const auto& [key, value] : labels.items()) {
    if (!value.is_string()) continue;
    if (!selector.empty()) selector += ",";
    selector += key + "=" + value.get<std::string>();
  }
  return selector;
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
  auto pod_list = ParseJson(pods->body, doing, ref);
  if (!pod_list) return std::move(pod_list).error();
  std::set<std::string> digests;
  for (const auto& pod : pod_list->value("items", json::array())) {
    for (const auto& cs :
         pod.value("status", json::object()).value("containerStatuses", json::array())) {
      if (StringAt(cs, "name") != ref.container || StringAt(cs, "image") != status.image) continue;
      const std::string id = StringAt(cs, "imageID");
      if (const auto at = id.find("@sha256:"); at != std::string::npos) {
        digests.insert(id.substr(at + 1));
      }
    }
  }
  if (digests.size() == 1) status.digest = *digests.begin();
  return status;
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
  std::set<std::string> present;
  {
    auto list = ParseJson(listed->body, doing, where);
    std::fill(listed->body.begin(), listed->body.end(), '\0');
    if (!list) return std::move(list).error();
    for (const auto& item : list->value("items", json::array())) {
      present.insert(StringAt(item.value("metadata", json::object()), "name"));
    }
  }
  for (const auto& name : names) found.push_back({name, present.count(name) > 0});
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
    auto run = RunChecked(command, "setting the image of " + WorkloadArg(ref) + " in " + ref.ns);
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
  RolloutResult result;
  // Bounded by the deadline: one GET per tick, and the stand-in's or a real controller's status
  // moves in steps of a few hundred milliseconds at best.
  for (;;) {
    auto got = ApiGet(ref, WorkloadPath(ref), doing);
    if (!got) return std::move(got).error();
    WorkloadStatus status;
    if (got->status != 404) {
      auto workload = ParseJson(got->body, doing, ref);
      if (!workload) return std::move(workload).error();
      if (auto parsed = ParseWorkload(*workload, ref, doing, status); !parsed) {
        return std::move(parsed).error();
      }
    }
    result.detail = RolloutWords(ref, status);
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
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up) {
      result.outcome = RolloutOutcome::kTimedOut;
      result.detail = "timed out waiting " + Seconds(deadline) + ": " + result.detail;
      return result;
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
    auto run = RunChecked(command, "restoring " + target.image + " on " + WorkloadArg(ref));
    if (!run) return std::move(run).error();
  }
  return Done{};
}

}  // namespace promote::adapters::kube
