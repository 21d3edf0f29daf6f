#include "phases/targets.h"

#include <future>
#include <limits>

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
  // Without the image, {image} stays as written: RunChecks then sends nothing for it, since
  // `image=""` would match series of no image at all.
  check.metric->query =
      plan.ExpandQuery(probe, env.name, service, image.empty() ? std::string("{image}") : image);
  return {service, env.name, std::move(prometheus), std::move(check)};
}

std::vector<adapters::probe::ProbeResult> RunChecks(
    Context& context, const std::vector<adapters::probe::ProbeTarget>& targets) {
  std::vector<adapters::probe::ProbeTarget> http;
  std::vector<adapters::probe::ProbeTarget> metrics;
  // (is a metric, index in its batch); kUnknownImage: a metric check whose {image} is not known.
  constexpr std::size_t kUnknownImage = std::numeric_limits<std::size_t>::max();
  std::vector<std::pair<bool, std::size_t>> where;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& target = targets[i];
    if (target.probe.metric && plan::Plan::NeedsImage(target.probe)) {
      where.emplace_back(true, kUnknownImage);
      continue;
    }
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
    if (index == kUnknownImage) {
      // No value, so unknown (not failed): the workload was not read, or is not there.
      auto unknown = adapters::probe::ResultFor(targets[i]);
      unknown.verdict = {adapters::probe::ProbeOutcome::kErrored,
                         targets[i].probe.name +
                             ": not queried, the image {image} stands for is not known (the "
                             "service's workload was not read, or is not there)",
                         "image unknown"};
      unknown.attempts.push_back({unknown.verdict.outcome, -1, std::chrono::milliseconds(0),
                                  unknown.verdict.reason, unknown.verdict.note});
      results.push_back(std::move(unknown));
    } else if (index < batch.size()) {
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
