// Where a plan's service lives in an environment, as the adapters need it: the workload address
// for the Cluster and the base URL for probes. Shared by audit, deploy, validate and rollback.
#pragma once

#include <string>

#include "adapters/kube/cluster.h"

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

}  // namespace promote::phases
