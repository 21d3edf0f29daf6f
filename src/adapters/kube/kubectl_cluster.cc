// Implementation details: reads are `kubectl get … -o json --ignore-not-found` (an empty answer
// means "absent", so a missing workload is a fact, not an error); the rollout verdict follows
// the rules of `kubectl rollout status` for Deployments; secrets are listed with `-o name`, so
// their values never reach promote's memory.
#include "adapters/kube/kubectl_cluster.h"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "adapters/kube/lease.h"

namespace promote::adapters::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// kubectl gets a little longer than the wait it is asked for, so its own message wins the race.
constexpr milliseconds kWaitGrace{10000};

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

// The rules of `kubectl rollout status` for a Deployment (and close enough for the others).
RolloutState JudgeRollout(const json& workload, WorkloadStatus& status) {
  const json& st = workload.value("status", json::object());
  for (const auto& condition : st.value("conditions", json::array())) {
    const std::string type = StringAt(condition, "type");
    if (type == "Progressing" || (type == "Available" && status.message.empty())) {
      status.message = StringAt(condition, "message");
    }
    if (type == "Progressing" && StringAt(condition, "reason") == "ProgressDeadlineExceeded") {
      return RolloutState::kDeadlineExceeded;
    }
  }
  if (status.observed_generation < status.generation) return RolloutState::kProgressing;
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

Result<WorkloadStatus> KubectlCluster::ReadWorkload(const WorkloadRef& ref) {
  WorkloadStatus status;
  const std::string doing =
      "reading " + WorkloadArg(ref) + " in " + ref.ns + " (" + ref.context + ")";
  WorkloadRef cluster_scope = ref;
  cluster_scope.ns.clear();
  auto ns =
      RunChecked(KubectlCommand(cluster_scope,
                                {"get", "namespace", ref.ns, "--ignore-not-found", "-o", "name"},
                                tooling_.read_timeout),
                 doing);
  if (!ns) return std::move(ns).error();
  status.namespace_present = ns->out.find("namespace/" + ref.ns) != std::string::npos;
  if (!status.namespace_present) return status;

  auto got =
      RunChecked(KubectlCommand(ref, {"get", WorkloadArg(ref), "--ignore-not-found", "-o", "json"},
                                tooling_.read_timeout),
                 doing);
  if (!got) return std::move(got).error();
  if (got->out.find_first_not_of(" \n") == std::string::npos) return status;
  auto workload = ParseJson(got->out, doing, ref);
  if (!workload) return std::move(workload).error();
  status.workload_present = true;

  const json& meta = workload->value("metadata", json::object());
  const json& spec = workload->value("spec", json::object());
  const json& st = workload->value("status", json::object());
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
  status.rollout = JudgeRollout(*workload, status);

  // The digest comes from the pods that run the template's image: only when they all agree.
  std::string selector;
  const json labels = spec.value("selector", json::object()).value("matchLabels", json::object());
  for (const auto& [key, value] : labels.items()) {
    if (!selector.empty()) selector += ",";
    selector += key + "=" + value.get<std::string>();
  }
  if (selector.empty()) return status;
  auto pods = RunChecked(
      KubectlCommand(ref, {"get", "pods", "-l", selector, "-o", "json"}, tooling_.read_timeout),
      doing);
  if (!pods) return std::move(pods).error();
  auto pod_list = ParseJson(pods->out, doing, ref);
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
  auto listed =
      RunChecked(KubectlCommand(where, {"get", "secrets", "-o", "name"}, tooling_.read_timeout),
                 "listing secrets in " + where.ns + " (" + where.context + ")");
  if (!listed) return std::move(listed).error();
  std::set<std::string> present;
  std::istringstream lines(listed->out);
  for (std::string line; std::getline(lines, line);) present.insert(line);
  for (const auto& name : names) found.push_back({name, present.count("secret/" + name) > 0});
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
  auto run = runner_.Run(PlanWait(ref, deadline));
  if (!run) return std::move(run).error().WithContext("waiting for " + WorkloadArg(ref));
  RolloutResult result;
  const std::string said = run->out + run->err;
  result.detail = said;
  while (!result.detail.empty() && result.detail.back() == '\n') result.detail.pop_back();
  if (run->ok()) {
    result.outcome = RolloutOutcome::kComplete;
  } else if (said.find("exceeded its progress deadline") != std::string::npos) {
    result.outcome = RolloutOutcome::kDeadlineExceeded;
  } else if (run->status == ExitStatus::kTimedOut ||
             said.find("timed out waiting") != std::string::npos) {
    result.outcome = RolloutOutcome::kTimedOut;
  } else {
    result.outcome = RolloutOutcome::kFailed;
  }
  return result;
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
