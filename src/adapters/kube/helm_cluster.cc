// Implementation details: the release revision is read from the labels of helm's release Secrets
// through kubectl's proxy (helm's default secrets driver; another driver falls back to one
// `helm status` a service). Upgrade and rollback return once helm has recorded the release and
// applied its manifests; the rollout is then judged like the kubectl driver's, by WaitRollout(s).
// The image goes in as one --set value: the tag (with its digest when pinned) when the values
// key names a tag, else the whole reference.
#include "adapters/kube/helm_cluster.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "adapters/kube/answers.h"
#include "adapters/kube/json_fields.h"
#include "adapters/kube/lease.h"
#include "core/parallel.h"

namespace promote::adapters::kube {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kHelmGrace{15000};

std::string Seconds(milliseconds duration) {
  const long long seconds = (duration.count() + 999) / 1000;
  return std::to_string(seconds < 1 ? 1 : seconds) + "s";
}

// What goes into a tag value: "v1", or "v1@sha256:…" when the image is pinned, which a chart's
// "{{ repository }}:{{ tag }}" renders as the valid reference repo:v1@sha256:… — so helm
// deploys exactly the digest the audit saw, like the kubectl driver.
std::string TagValue(const std::string& image) {
  const std::string tag = ImageTag(image);
  const auto at = image.find('@');
  if (at == std::string::npos || tag.rfind("sha256:", 0) == 0) return tag;
  return tag + image.substr(at);
}

bool KeyTakesTag(const std::string& key) {
  return key == "tag" || (key.size() > 4 && key.compare(key.size() - 4, 4, ".tag") == 0);
}

// A release Secret's labels (owner=helm, name=R, version=N) as (R, N); N is 0 when absent.
std::pair<std::string, int> ReleaseVersion(const nlohmann::json& secret) {
  const auto& labels = ObjectAt(ObjectAt(secret, "metadata"), "labels");
  const auto name = labels.find("name");
  const auto version = labels.find("version");
  if (name == labels.end() || !name->is_string() || version == labels.end() ||
      !version->is_string()) {
    return {"", 0};
  }
  return {name->get<std::string>(), IntegerText(version->get<std::string>()).value_or(0)};
}

Error NoRelease(const std::string& doing, const WorkloadRef& ref) {
  return Error{ErrorKind::kExternal, doing + ": no helm release named " + ref.helm_release,
               "context " + ref.context + ", namespace " + ref.ns,
               "install the release first, or fix the service's helm release name in the plan"};
}

}  // namespace

std::optional<int> HelmStatusRevision(const std::string& helm_status) {
  const auto release = nlohmann::json::parse(helm_status, nullptr, /*allow_exceptions=*/false);
  if (!release.is_object() || !release.contains("version")) return std::nullopt;
  return IntegerIn<int>(release["version"]);
}

std::optional<int> HighestReleaseRevision(const std::string& release_secrets) {
  const auto list = nlohmann::json::parse(release_secrets, nullptr, /*allow_exceptions=*/false);
  std::optional<int> highest;
  for (const auto& item : ArrayAt(list, "items")) {
    if (const int number = ReleaseVersion(item).second;
        number > 0 && number > highest.value_or(0)) {
      highest = number;
    }
  }
  return highest;
}

HelmCluster::HelmCluster(Tooling tooling, ProcessRunner& runner)
    : tooling_(tooling), kubectl_(std::move(tooling), runner) {}

Result<std::unique_ptr<KubeLease>> HelmCluster::Lease(const LeaseRef& ref) {
  return kubectl_.Lease(ref);
}

Command HelmCluster::HelmCommand(const WorkloadRef& ref, std::vector<std::string> args,
                                 milliseconds timeout) const {
  Command command;
  command.argv = {tooling_.helm};
  command.argv.insert(command.argv.end(), std::make_move_iterator(args.begin()),
                      std::make_move_iterator(args.end()));
  command.argv.push_back("--kube-context=" + ref.context);
  command.argv.push_back("--namespace=" + ref.ns);
  const auto kubeconfig = ref.kubeconfig ? ref.kubeconfig : tooling_.kubeconfig;
  if (kubeconfig) command.argv.push_back("--kubeconfig=" + kubeconfig->string());
  command.env = tooling_.env;
  command.timeout = timeout;
  return command;
}

Result<WorkloadStatus> HelmCluster::ReadWorkload(const WorkloadRef& ref) {
  auto status = kubectl_.ReadWorkload(ref);
  if (!status || !status->workload_present) return status;
  auto revision = ReleaseRevision(ref);
  if (!revision) return std::move(revision).error();
  status->helm_revision = *revision;
  return status;
}

Result<std::optional<int>> HelmCluster::ReleaseRevision(const WorkloadRef& ref) {
  const std::string doing = "reading helm release " + ref.helm_release + " in " + ref.ns;
  if (!StoresReleasesInSecrets()) {
    auto run = kubectl_.RunChecked(
        HelmCommand(ref, {"status", ref.helm_release, "-o", "json"}, tooling_.read_timeout), doing);
    if (!run) return std::move(run).error();
    return HelmStatusRevision(run->out);
  }
  // Helm's secrets driver stores revision N of release R as Secret sh.helm.release.v1.R.vN with
  // labels owner=helm, name=R, version=N. Their labels, read metadata-only, give the revision
  // `helm status` would print (the highest) without a helm process or the release payload.
  auto listed = kubectl_.ApiGet(
      ref,
      "/api/v1/namespaces/" + EscapeUrl(ref.ns) +
          "/secrets?labelSelector=" + EscapeUrl("owner=helm,name=" + ref.helm_release),
      doing, kMetadataListAccept);
  if (!listed) return std::move(listed).error();
  const auto highest = HighestReleaseRevision(listed->body);
  if (!highest) return NoRelease(doing, ref);
  return highest;
}

bool HelmCluster::StoresReleasesInSecrets() const {
  std::string driver;
  if (auto it = tooling_.env.find("HELM_DRIVER"); it != tooling_.env.end()) {
    driver = it->second;
  } else if (const char* set = std::getenv("HELM_DRIVER")) {
    driver = set;
  }
  return driver.empty() || driver == "secret" || driver == "secrets";
}

Result<std::vector<SecretPresence>> HelmCluster::CheckSecrets(
    const WorkloadRef& where, const std::vector<std::string>& names) {
  return kubectl_.CheckSecrets(where, names);
}

Result<std::vector<NamespaceStatus>> HelmCluster::ReadNamespaces(
    const WorkloadRef& where, const std::vector<std::string>& names) {
  return kubectl_.ReadNamespaces(where, names);
}

std::vector<Result<WorkloadStatus>> HelmCluster::ReadWorkloads(
    const std::vector<WorkloadRef>& refs) {
  auto statuses = kubectl_.ReadWorkloads(refs);
  std::set<std::string> namespaces;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (statuses[i] && statuses[i]->workload_present) namespaces.insert(refs[i].ns);
  }
  if (namespaces.empty()) return statuses;
  if (refs.size() <= KubectlCluster::kObjectReadsUpTo || !StoresReleasesInSecrets()) {
    std::vector<std::optional<Result<std::optional<int>>>> revisions(refs.size());
    ForEachConcurrently(refs.size(), kConcurrentCalls, [&](std::size_t i) {
      if (statuses[i] && statuses[i]->workload_present)
        revisions[i].emplace(ReleaseRevision(refs[i]));
    });
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (!revisions[i]) continue;
      if (!*revisions[i]) {
        statuses[i] = std::move(*revisions[i]).error();
      } else {
        statuses[i]->helm_revision = **revisions[i];
      }
    }
    return statuses;
  }
  // One metadata list of helm's release Secrets over the batch's namespaces (see ReleaseRevision).
  std::map<std::pair<std::string, std::string>, int> highest;  // (namespace, release) → revision
  const std::string doing = "listing helm releases in " + std::to_string(namespaces.size()) +
                            " namespace(s) (" + refs.front().context + ")";
  auto listed = kubectl_.List(
      refs.front(), {"/api/v1", "secrets", "owner=helm", kMetadataListAccept}, namespaces,
      [&](const nlohmann::json& secret) {
        const auto [release, version] = ReleaseVersion(secret);
        const auto& meta = ObjectAt(secret, "metadata");
        const auto found = meta.find("namespace");
        const std::string ns =
            found != meta.end() && found->is_string() ? found->get<std::string>() : "";
        int& top = highest[{ns, release}];
        top = std::max(top, version);
      },
      doing);
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (!statuses[i] || !statuses[i]->workload_present) continue;
    if (!listed) {
      statuses[i] = listed.error();
      continue;
    }
    const auto it = highest.find({refs[i].ns, refs[i].helm_release});
    if (it == highest.end() || it->second <= 0) {
      statuses[i] = NoRelease(doing, refs[i]);
    } else {
      statuses[i]->helm_revision = it->second;
    }
  }
  return statuses;
}

std::vector<Result<std::vector<SecretPresence>>> HelmCluster::CheckSecretsIn(
    const std::vector<WorkloadRef>& wheres, const std::vector<std::string>& names) {
  return kubectl_.CheckSecretsIn(wheres, names);
}

std::vector<Result<RolloutResult>> HelmCluster::WaitRollouts(const std::vector<WorkloadRef>& refs,
                                                             milliseconds deadline) {
  return kubectl_.WaitRollouts(refs, deadline);
}

std::vector<Command> HelmCluster::PlanDeploy(const WorkloadRef& ref, const std::string& image,
                                             milliseconds timeout) const {
  const std::string value = KeyTakesTag(ref.helm_values_key) ? TagValue(image) : image;
  return {HelmCommand(ref,
                      {"upgrade", ref.helm_release, ref.helm_chart, "--reuse-values", "--set",
                       ref.helm_values_key + "=" + value, "--timeout=" + Seconds(timeout)},
                      std::min(timeout, tooling_.read_timeout) + kHelmGrace)};
}

Status HelmCluster::Deploy(const WorkloadRef& ref, const std::string& image, milliseconds timeout) {
  if (KeyTakesTag(ref.helm_values_key) && ImageTag(image).rfind("sha256:", 0) == 0) {
    return Error{ErrorKind::kExternal,
                 "cannot deploy " + image + " through helm value " + ref.helm_values_key +
                     ": it takes a tag and the image is pinned by digest only",
                 "release " + ref.helm_release,
                 "point the service's helm valuesKey at a value that takes a whole image"};
  }
  for (const auto& command : PlanDeploy(ref, image, timeout)) {
    auto run = kubectl_.RunRepeated(command, "helm upgrade of " + ref.helm_release);
    if (!run) return std::move(run).error();
  }
  return Done{};
}

Command HelmCluster::PlanWait(const WorkloadRef& ref, milliseconds deadline) const {
  return kubectl_.PlanWait(ref, deadline);
}

Result<RolloutResult> HelmCluster::WaitRollout(const WorkloadRef& ref, milliseconds deadline) {
  return kubectl_.WaitRollout(ref, deadline);
}

std::vector<Command> HelmCluster::PlanRollback(const WorkloadRef& ref, const RollbackTarget& target,
                                               milliseconds timeout) const {
  if (!target.helm_revision) return kubectl_.PlanRollback(ref, target, timeout);
  return {HelmCommand(ref,
                      {"rollback", ref.helm_release, std::to_string(*target.helm_revision),
                       "--timeout=" + Seconds(timeout)},
                      std::min(timeout, tooling_.read_timeout) + kHelmGrace)};
}

Status HelmCluster::Rollback(const WorkloadRef& ref, const RollbackTarget& target,
                             milliseconds timeout) {
  for (const auto& command : PlanRollback(ref, target, timeout)) {
    auto run = kubectl_.RunRepeated(command, "rolling back helm release " + ref.helm_release);
    if (!run) return std::move(run).error();
  }
  return Done{};
}

}  // namespace promote::adapters::kube
