// Where a plan's service lives in an environment, as the adapters need it: the workload address
// for the Cluster and the base URL for probes. Shared by audit, deploy, validate and rollback.
#pragma once

#include <string>

#include "adapters/kube/cluster.h"
#include "adapters/probe/prober.h"

namespace promote::plan {
struct Environment;
struct Service;
}  // namespace promote::plan

namespace promote::phases {

struct Context;

/// The Cluster address of `service` in `env`: context, kubeconfig, namespace, workload, helm.
adapters::kube::WorkloadRef WorkloadRefFor(const plan::Environment& env,
                                           const plan::Service& service);

/// The base URL named `name` in `env` (a service, or a probe's base: Probe::UrlName): the
/// --endpoints file's first, else the plan's.
std::string BaseUrlFor(const Context& context, const plan::Environment& env,
                       const std::string& name);

/// The target of check `probe` of `service` in `env`: an HTTP probe goes to its URL (BaseUrlFor);
/// a metric check to the environment's Prometheus (the --endpoints file's "prometheus" first),
/// its query's placeholders filled in ({image} with `image`, what the service runs there).
adapters::probe::ProbeTarget CheckTargetFor(const Context& context, const plan::Plan& plan,
                                            const plan::Environment& env,
                                            const std::string& service, const plan::Probe& probe,
                                            const std::string& image = "");

/// Runs `targets`, HTTP probes through the prober and metric checks through the metric source,
/// the two batches at once; one result per target, in order. Without a metric source, a metric
/// check is errored, never passed.
std::vector<adapters::probe::ProbeResult> RunChecks(
    Context& context, const std::vector<adapters::probe::ProbeTarget>& targets);

}  // namespace promote::phases
