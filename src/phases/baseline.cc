#include "phases/baseline.h"

#include <spdlog/logger.h>

#include "adapters/git/release_repo.h"
#include "adapters/kube/cluster.h"
#include "core/time_format.h"
#include "phases/context.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::phases {
namespace {

Error Refused(const std::string& what, const std::string& where, const std::string& fix) {
  return Error{ErrorKind::kUsage, what, where, fix};
}

}  // namespace

Baseline::Baseline(const plan::Plan& plan, std::string env, std::string initiator,
                   std::string run_id)
    : plan_(plan),
      env_(std::move(env)),
      initiator_(std::move(initiator)),
      run_id_(std::move(run_id)) {}

Result<BaselineResult> Baseline::Run(Context& context, BaselineMode mode) const {
  if (!context.releases_repo) {
    return Refused("no release repository to record a baseline in", "plan releases.repo",
                   "set releases.repo in the plan or pass --releases DIR");
  }
  auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
  if (!repo) return std::move(repo).error().WithContext("recording a baseline");
  auto releases = repo->Releases();
  if (!releases) return std::move(releases).error();
  int earlier = 0;
  for (const auto& release : *releases) earlier += release.manifest.target_env == env_;
  if (earlier > 0) {
    return Refused(env_ + " already has " + std::to_string(earlier) + " release(s)",
                   context.releases_repo->string(),
                   "a baseline is the first release only; see `promote history " + env_ + "`");
  }

  BaselineResult result;
  const auto now = context.now();
  result.manifest = {plan_.name, env_, env_, run_id_, initiator_, Rfc3339(now), {}};
  const plan::Environment& env = *plan_.FindEnvironment(env_);
  std::vector<adapters::kube::WorkloadRef> refs;
  for (const auto& service : plan_.services) refs.push_back(WorkloadRefFor(env, service));
  auto read = context.cluster(env_).ReadWorkloads(refs);
  for (std::size_t i = 0; i < plan_.services.size(); ++i) {
    const plan::Service& service = plan_.services[i];
    auto& seen = read[i];
    if (!seen)
      return std::move(seen).error().WithContext("reading " + service.name + " in " + env_);
    if (!seen->workload_present) {
      result.missing.push_back(service.name);
      continue;
    }
    result.manifest.services[service.name] = {seen->image, seen->digest};
  }
  if (result.manifest.services.empty()) {
    return Refused("no service of plan " + plan_.name + " runs in " + env_, env_,
                   "deploy the services first, or check the plan's namespaces and workloads");
  }
  auto name = repo->NextFreeName(plan::ExpandTagTemplate(plan_, env_, UtcDate(now)));
  if (!name) return std::move(name).error();
  result.tag = *name;
  if (mode == BaselineMode::kDryRun) return result;
  auto created =
      repo->CreateRelease(result.tag, result.manifest, {initiator_, initiator_ + "@promote"});
  if (!created) return std::move(created).error().WithContext("recording the baseline");
  result.written = true;
  context.logger.info("baseline of {}: release {} records {} service(s)", env_, result.tag,
                      result.manifest.services.size());
  return result;
}

}  // namespace promote::phases
