#include "phases/targets.h"

#include <future>

#include "adapters/metrics/prometheus.h"
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

adapters::probe::ProbeTarget CheckTargetFor(const Context& context, const plan::Plan& plan,
                                            const plan::Environment& env,
                                            const std::string& service, const plan::Probe& probe,
                                            const std::string& image) {
  if (!probe.metric) {
    return {service, env.name, BaseUrlFor(context, env, probe.UrlName(service)), probe};
  }
  std::string prometheus = env.prometheus ? env.prometheus->url : std::string();
  if (auto e = context.endpoints.find(env.name); e != context.endpoints.end()) {
    if (auto u = e->second.find("prometheus"); u != e->second.end()) prometheus = u->second;
  }
  plan::Probe check = probe;
  check.metric->query = plan.ExpandQuery(probe, env.name, service, image);
  return {service, env.name, std::move(prometheus), std::move(check)};
}

std::vector<adapters::probe::ProbeResult> RunChecks(
    Context& context, const std::vector<adapters::probe::ProbeTarget>& targets) {
  std::vector<adapters::probe::ProbeTarget> http;
  std::vector<adapters::probe::ProbeTarget> metrics;
  std::vector<std::pair<bool, std::size_t>> where;  // (is a metric, index in its batch)
  for (const auto& target : targets) {
    auto& batch = target.probe.metric ? metrics : http;
    where.emplace_back(target.probe.metric.has_value(), batch.size());
    batch.push_back(target);
  }
  std::future<std::vector<adapters::probe::ProbeResult>> measured;
  if (!metrics.empty() && context.metrics) {
    measured = std::async(std::launch::async, [&] { return context.metrics->Run(metrics); });
  }
  std::vector<adapters::probe::ProbeResult> answered =
      http.empty() ? std::vector<adapters::probe::ProbeResult>{} : context.prober.Run(http);
  std::vector<adapters::probe::ProbeResult> values;
  if (measured.valid()) {
    values = measured.get();
  } else {
    for (const auto& target : metrics) {
      values.push_back(adapters::metrics::JudgeMetric(
          target, {adapters::metrics::QueryAnswer::Kind::kUnreachable, 0, "no metric source"},
          std::chrono::milliseconds(0)));
    }
  }
  std::vector<adapters::probe::ProbeResult> results;
  results.reserve(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& [metric, index] = where[i];
    const auto& batch = metric ? values : answered;
    if (index < batch.size()) {
      results.push_back(batch[index]);
    } else {
      // A source that answered short: the check stands as errored, never as passed.
      auto missing = adapters::probe::ResultFor(targets[i]);
      missing.verdict = {adapters::probe::ProbeOutcome::kErrored,
                         "no result came back for this check", "no result"};
      results.push_back(std::move(missing));
    }
  }
  return results;
}

}  // namespace promote::phases
