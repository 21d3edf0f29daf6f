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

/// The base URL probes of `service` in `env` go to: --endpoints first, else the plan's URL.
std::string BaseUrlFor(const Context& context, const plan::Environment& env,
                       const std::string& service);

}  // namespace promote::phases
