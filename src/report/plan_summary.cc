#include "report/plan_summary.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/duration.h"
#include "core/text.h"
#include "plan/plan.h"

namespace promote::report {
namespace {

const char* DriverName(plan::Driver driver) {
  return driver == plan::Driver::kHelm ? "helm" : "kubectl";
}

int GoldenCount(const plan::Service& service) {
  return static_cast<int>(std::count_if(service.probes.begin(), service.probes.end(),
                                        [](const plan::Probe& p) { return p.golden; }));
}

// "      metric success-rate ★: result[0] >= 0.95, every 5m, failure limit 3 (from FILE)" and its
// query on one line: what promote took from the plan or the AnalysisTemplate.
std::string MetricLine(const plan::Probe& check) {
  const plan::MetricQuery& metric = *check.metric;
  std::ostringstream out;
  out << "      metric " << check.name << (check.golden ? " ★" : "") << ": " << metric.Describe();
  if (const auto& limits = metric.limits) {
    out << ", "
        << (limits->interval ? "every " + FormatDuration(*limits->interval) : "every round");
    if (limits->count) out << ", " << *limits->count << " times";
    out << ", failure limit " << limits->failure_limit << ", consecutive error limit "
        << limits->consecutive_error_limit << ", inconclusive limit " << limits->inconclusive_limit;
  }
  if (metric.no_data_inconclusive) out << ", no data counts as inconclusive";
  if (!metric.template_file.empty()) out << " (from " << metric.template_file << ")";
  out << "\n        query: " << CollapseSpaces(metric.query) << "\n";
  return out.str();
}

/// A probe or metric check as the JSON summary lists it.
nlohmann::json CheckJson(const plan::Probe& probe) {
  nlohmann::json entry = {
      {"name", probe.name},
      {"method", probe.method},
      {"path", probe.path},
      {"expect", probe.metric ? probe.metric->Describe() : probe.expect.Describe()},
      {"golden", probe.golden}};
  if (probe.metric) {
    entry["query"] = probe.metric->query;
    if (!probe.metric->template_file.empty()) {
      entry["analysisTemplate"] = probe.metric->template_file;
    }
    if (const auto& limits = probe.metric->limits) {
      entry["limits"] = {
          {"interval", limits->interval ? FormatDuration(*limits->interval) : "every round"},
          {"count", limits->count ? nlohmann::json(*limits->count) : nlohmann::json()},
          {"failureLimit", limits->failure_limit},
          {"consecutiveErrorLimit", limits->consecutive_error_limit},
          {"inconclusiveLimit", limits->inconclusive_limit}};
    }
    entry["noData"] = probe.metric->no_data_inconclusive ? "inconclusive" : "error";
  }
  return entry;
}

std::string DescribeGate(const plan::ApprovalGate& gate) {
  if (!gate.required) return "no approval gate";
  std::ostringstream out;
  out << "approval by " << gate.count << " of "
      << (gate.approvers.empty() ? std::string("anyone") : Join(gate.approvers, ", "))
      << (gate.allow_self_approval ? " (initiator may approve)" : " (initiator may not approve)");
  return out.str();
}

/// The chart source as a JSON enumeration value.
const char* ChartSourceName(plan::HelmTarget::ChartSource source) {
  switch (source) {
    case plan::HelmTarget::ChartSource::kLocalFolder:
      return "local-folder";
    case plan::HelmTarget::ChartSource::kLocalArchive:
      return "local-archive";
    case plan::HelmTarget::ChartSource::kRepository:
      return "repository";
    case plan::HelmTarget::ChartSource::kRemote:
      return "remote";
  }
  return "unknown";
}

/// Where helm will find the chart, said so that a surprise (a repository lookup where a local
/// folder was meant) shows before the first deploy does.
std::string DescribeChartSource(plan::HelmTarget::ChartSource source) {
  switch (source) {
    case plan::HelmTarget::ChartSource::kLocalFolder:
      return "local folder";
    case plan::HelmTarget::ChartSource::kLocalArchive:
      return "local chart archive";
    case plan::HelmTarget::ChartSource::kRepository:
      return "repository chart: helm resolves it from its repositories; no folder of that name "
             "beside the plan";
    case plan::HelmTarget::ChartSource::kRemote:
      return "remote chart";
  }
  return "unknown";
}

/// The environments whose driver is helm: the ones a service's helm settings are used in.
std::vector<std::string> HelmEnvironments(const plan::Plan& plan) {
  std::vector<std::string> names;
  for (const auto& [name, env] : plan.environments) {
    if (env.driver == plan::Driver::kHelm) names.push_back(name);
  }
  return names;
}

}  // namespace

std::string RenderPlanSummary(const plan::Plan& plan) {
  std::ostringstream out;
  out << "Plan '" << plan.name << "' (" << plan.source_file << ") is valid.\n\n";
  out << "Environments:\n";
  for (const auto& [name, env] : plan.environments) {
    out << "  " << name << ": context " << env.context << ", driver " << DriverName(env.driver)
        << ", " << DescribeGate(env.approval);
    if (!env.secrets.empty()) out << ", requires secrets " << Join(env.secrets, ", ");
    if (env.require_digest) out << ", requires image digests";
    if (env.registry.verify) out << ", checks images are in its registry";
    out << "\n";
  }
  const auto waves = plan.Waves();
  const std::vector<std::string> helm_environments = HelmEnvironments(plan);
  out << "\nServices (" << plan.services.size() << ", in "
      << Plural(static_cast<long long>(waves.size()), "wave") << "):\n";
  for (const auto& wave : waves) {
    out << "  wave " << wave.front()->wave << ":\n";
    for (const plan::Service* service : wave) {
      out << "    " << service->name << ": " << service->workload_kind << "/"
          << service->workload_name << " container " << service->container;
      if (!service->image.empty()) out << ", image " << service->image;
      if (service->repositories.size() > 1) {
        out << " (also from "
            << Join(std::vector<std::string>(service->repositories.begin() + 1,
                                             service->repositories.end()),
                    ", ")
            << ")";
      }
      out << ", " << service->probes.size() << (service->probes.size() == 1 ? " probe" : " probes")
          << " (" << GoldenCount(*service) << " golden)\n";
      for (const auto& [env_name, env] : plan.environments) {
        out << "      " << env_name << ": namespace " << env.NamespaceFor(service->name);
        const std::string url = env.UrlFor(service->name);
        if (!url.empty()) out << ", " << url;
        for (const auto& probe : service->probes) {
          if (probe.base.empty()) continue;
          out << ", " << probe.name << " at " << probe.base << " " << env.UrlFor(probe.base);
        }
        out << "\n";
      }
      for (const auto& check : service->probes) {
        if (check.metric) out << MetricLine(check);
      }
      if (const auto& helm = service->helm) {
        out << "      helm "
            << (helm_environments.empty() ? "(no environment uses driver helm)"
                                          : "in " + Join(helm_environments, ", "))
            << ": release " << helm->release << ", chart " << helm->chart << " ("
            << DescribeChartSource(helm->chart_source) << "), valuesKey " << helm->values_key
            << "\n";
      }
    }
  }
  if (!plan.capabilities.empty()) {
    out << "\nCapabilities (what the audit says works or not; ★ golden):\n";
    for (const auto& capability : plan.capabilities) {
      std::vector<std::string> probes;
      for (const auto& ref : capability.probes) probes.push_back(ref.Name());
      out << "  " << capability.name << (capability.golden ? " ★" : "") << ": "
          << Join(probes, ", ") << "\n";
    }
  }
  if (!plan.environment_checks.empty()) {
    out << "\nEnvironment checks (of no one service: in the audit, and after every wave):\n";
    for (const auto& check : plan.environment_checks) out << MetricLine(check);
  }
  const auto& v = plan.validate;
  out << "\nValidation: initial delay " << FormatDuration(v.initial_delay) << ", every "
      << FormatDuration(v.interval) << " for " << FormatDuration(v.soak) << ", " << v.successes
      << " consecutive successes, failure limit " << v.failure_limit << ", error limit "
      << v.error_limit << "\n";
  const auto& r = plan.rollback;
  out << "Rollback: services restored within " << FormatDuration(r.timeout) << ", then probed for "
      << FormatDuration(r.soak) << " and " << r.successes << " consecutive successes\n";
  out << "Releases: tag '" << plan.releases.tag_template << "' in " << plan.releases.repo << "\n";
  return out.str();
}

nlohmann::json PlanSummaryJson(const plan::Plan& plan) {
  nlohmann::json environments = nlohmann::json::object();
  for (const auto& [name, env] : plan.environments) {
    environments[name] = {
        {"context", env.context},
        {"driver", DriverName(env.driver)},
        {"secrets", env.secrets},
        {"requireDigest", env.require_digest},
        {"verifyImages", env.registry.verify},
        {"approval",
         {{"required", env.approval.required},
          {"approvers", env.approval.approvers},
          {"allowSelfApproval", env.approval.allow_self_approval},
          {"count", env.approval.count}}},
    };
  }
  nlohmann::json services = nlohmann::json::array();
  for (const auto& service : plan.services) {
    nlohmann::json namespaces = nlohmann::json::object();
    for (const auto& [env_name, env] : plan.environments) {
      namespaces[env_name] = env.NamespaceFor(service.name);
    }
    nlohmann::json probes = nlohmann::json::array();
    for (const auto& probe : service.probes) probes.push_back(CheckJson(probe));
    nlohmann::json helm = nullptr;
    if (service.helm) {
      helm = {{"release", service.helm->release},
              {"chart", service.helm->chart},
              {"chartSource", ChartSourceName(service.helm->chart_source)},
              {"valuesKey", service.helm->values_key}};
    }
    services.push_back({{"name", service.name},
                        {"workload", service.workload_kind + "/" + service.workload_name},
                        {"container", service.container},
                        {"image", service.image},
                        {"repositories", service.repositories},
                        {"wave", service.wave},
                        {"namespaces", namespaces},
                        {"probes", probes},
                        {"helm", helm}});
  }
  nlohmann::json environment_checks = nlohmann::json::array();
  for (const auto& check : plan.environment_checks) environment_checks.push_back(CheckJson(check));
  return {{"schema", "promote/plan-summary/v1"},
          {"name", plan.name},
          {"file", plan.source_file},
          {"environments", environments},
          {"services", services},
          {"environmentChecks", environment_checks},
          {"rollback",
           {{"soakMs", plan.rollback.soak.count()},
            {"successes", plan.rollback.successes},
            {"timeoutMs", plan.rollback.timeout.count()}}},
          {"releases", {{"repo", plan.releases.repo}, {"tag", plan.releases.tag_template}}}};
}

}  // namespace promote::report
