// The few computations on plan data: placeholder substitution, status matching and wave order.
#include "plan/plan.h"

#include <algorithm>
#include <set>

#include "core/text.h"

namespace promote::plan {
namespace {

/// Replaces every `placeholder` ("{service}") in `text` with `value`.
std::string Substitute(std::string text, std::string_view placeholder, const std::string& value) {
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
  return text;
}

std::string SubstituteService(std::string text, const std::string& service) {
  return Substitute(std::move(text), "{service}", service);
}

/// "2xx" for a whole status class, "200-399" for any other range.
std::string DescribeRange(const std::pair<int, int>& range) {
  const auto [low, high] = range;
  if (low == high) return std::to_string(low);
  if (low % 100 == 0 && high == low + 99) return std::to_string(low / 100) + "xx";
  return std::to_string(low) + "-" + std::to_string(high);
}

/// Joins with ", " and a final " or " ("200, 201 or 2xx").
std::string JoinAlternatives(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += (i + 1 == parts.size()) ? " or " : ", ";
    out += parts[i];
  }
  return out;
}

}  // namespace

std::string Environment::NamespaceFor(const std::string& service) const {
  return SubstituteService(namespace_template, service);
}

std::string Environment::UrlFor(const std::string& service) const {
  if (auto it = urls.find(service); it != urls.end()) return it->second;
  return SubstituteService(url_template, service);
}

bool StatusExpectation::Accepts(int status) const {
  // Below 100 is not an HTTP answer at all (callers use 0 for "no response").
  if (status < 100) return false;
  if (std::find(not_codes.begin(), not_codes.end(), status) != not_codes.end()) return false;
  // Only exclusions ({not: 404}): every other answer is fine.
  if (codes.empty() && ranges.empty()) return true;
  if (std::find(codes.begin(), codes.end(), status) != codes.end()) return true;
  return std::any_of(ranges.begin(), ranges.end(), [status](const std::pair<int, int>& range) {
    return range.first <= status && status <= range.second;
  });
}

std::string StatusExpectation::Describe() const {
  std::vector<std::string> accepted;
  for (int code : codes) accepted.push_back(std::to_string(code));
  for (const auto& range : ranges) accepted.push_back(DescribeRange(range));
  std::vector<std::string> refused;
  for (int code : not_codes) refused.push_back(std::to_string(code));

  std::string refused_text;
  if (refused.size() == 1) {
    refused_text = "not " + refused[0];
  } else if (!refused.empty()) {
    refused_text = "neither " + refused[0];
    for (size_t i = 1; i < refused.size(); ++i) refused_text += " nor " + refused[i];
  }
  if (accepted.empty()) return refused.empty() ? "any status" : refused_text;
  std::string out = JoinAlternatives(accepted);
  if (!refused.empty()) out += " but " + refused_text;
  return out;
}

const Service* Plan::FindService(const std::string& name) const {
  for (const auto& service : services) {
    if (service.name == name) return &service;
  }
  return nullptr;
}

const Environment* Plan::FindEnvironment(const std::string& name) const {
  auto it = environments.find(name);
  return it == environments.end() ? nullptr : &it->second;
}

std::vector<Capability> Plan::CapabilitiesWithRest() const {
  std::vector<Capability> all = capabilities;
  std::set<std::pair<std::string, std::string>> named;
  for (const Capability& capability : capabilities) {
    for (const ProbeRef& ref : capability.probes) named.emplace(ref.service, ref.probe);
  }
  for (const Service& service : services) {
    Capability rest;
    rest.name = capabilities.empty() ? service.name : service.name + " (other probes)";
    rest.implicit = true;
    for (const Probe& probe : service.probes) {
      if (!named.count({service.name, probe.name}))
        rest.probes.push_back({service.name, probe.name});
    }
    if (!rest.probes.empty()) all.push_back(std::move(rest));
  }
  return all;
}

std::string Plan::ExpandQuery(const Probe& check, const std::string& env,
                              const std::string& service, const std::string& image) const {
  if (!check.metric) return "";
  const Environment* environment = FindEnvironment(env);
  const long long ms = validate.interval.count();
  const std::string interval =
      ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
  std::string query = check.metric->query;
  query = Substitute(std::move(query), "{service}", service);
  query = Substitute(std::move(query), "{namespace}",
                     environment ? environment->NamespaceFor(service) : std::string());
  query = Substitute(std::move(query), "{env}", env);
  query = Substitute(std::move(query), "{image}", image);
  return Substitute(std::move(query), "{interval}", interval);
}

bool Plan::NeedsImage(const Probe& check) {
  return check.metric && check.metric->query.find("{image}") != std::string::npos;
}

bool MetricComparison::Holds(double value) const {
  switch (op) {
    case Op::kLess:
      return value < number;
    case Op::kLessEqual:
      return value <= number;
    case Op::kGreater:
      return value > number;
    case Op::kGreaterEqual:
      return value >= number;
    case Op::kEqual:
      return value == number;
    case Op::kNotEqual:
      return value != number;
  }
  return false;
}

bool MetricCondition::Holds(double value) const {
  return std::any_of(any_of.begin(), any_of.end(), [&](const auto& all_of) {
    return std::all_of(all_of.begin(), all_of.end(),
                       [&](const MetricComparison& comparison) { return comparison.Holds(value); });
  });
}

std::string MetricQuery::Describe() const {
  std::vector<std::string> parts;
  if (min) parts.push_back("min " + NumberText(*min));
  if (max) parts.push_back("max " + NumberText(*max));
  if (success) parts.push_back(success->text);
  if (failure) parts.push_back("failure: " + failure->text);
  return Join(parts, ", ");
}

bool Plan::HasMetrics() const {
  if (!environment_checks.empty()) return true;
  for (const Service& service : services) {
    for (const Probe& probe : service.probes) {
      if (probe.metric) return true;
    }
  }
  return false;
}

std::vector<std::string> Plan::ProbeBases() const {
  std::vector<std::string> bases;
  for (const Service& service : services) {
    for (const Probe& probe : service.probes) {
      if (!probe.base.empty() && std::find(bases.begin(), bases.end(), probe.base) == bases.end()) {
        bases.push_back(probe.base);
      }
    }
  }
  return bases;
}

std::vector<std::vector<const Service*>> Plan::Waves() const {
  std::set<int> wave_numbers;
  for (const Service& service : services) wave_numbers.insert(service.wave);
  std::vector<std::vector<const Service*>> waves;
  for (int wave : wave_numbers) {
    std::vector<const Service*>& group = waves.emplace_back();
    for (const Service& service : services) {
      if (service.wave == wave) group.push_back(&service);
    }
  }
  return waves;
}

std::string ExpandTagTemplate(const Plan& plan, const std::string& target,
                              const std::string& date) {
  std::string name = Substitute(plan.releases.tag_template, "{env}", target);
  name = Substitute(name, "{plan}", plan.name);
  return Substitute(name, "{date}", date);
}

}  // namespace promote::plan
