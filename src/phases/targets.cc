#include "phases/targets.h"

#include "phases/context.h"
#include "plan/plan.h"

namespace promote::phases {

adapters::kube::WorkloadRef WorkloadRefFor(const plan::Environment& env,
                                           const plan::Service& service) {
  adapters::kube::WorkloadRef ref;
  ref.context = env.context;
  if (env.kubeconfig) ref.kubeconfig = *env.kubeconfig;
  ref.ns = env.NamespaceFor(service.name);
  ref.kind = service.workload_kind;
  ref.name = service.workload_name;
  ref.container = service.container;
  if (service.helm) {
    ref.helm_release = service.helm->release;
    ref.helm_chart = service.helm->chart;
    ref.helm_values_key = service.helm->values_key;
  }
  return ref;
}

std::string BaseUrlFor(const Context& context, const plan::Environment& env,
                       const std::string& name) {
  if (auto e = context.endpoints.find(env.name); e != context.endpoints.end()) {
    if (auto u = e->second.find(name); u != e->second.end()) return u->second;
  }
  return env.UrlFor(name);
}

}  // namespace promote::phases
