// Implementation details: every attribute and text node goes through EscapeMarkup(), which escapes
// the five markup characters and drops control characters XML 1.0 cannot carry (a body excerpt from
// a service may hold anything). Counts are computed before a suite is written, because JUnit
// readers take tests/failures/errors from the <testsuite> attributes.
#include "report/junit.h"

#include <chrono>
#include <cstdio>
#include <sstream>
#include <vector>

#include "adapters/probe/evaluate.h"
#include "core/text.h"
#include "phases/audit.h"

namespace promote::report {
namespace {

using adapters::probe::ProbeOutcome;

std::string Seconds(std::chrono::milliseconds duration) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", static_cast<double>(duration.count()) / 1000.0);
  return buffer;
}

/// How a test case ended, in JUnit's three kinds.
enum class CaseKind { kPassed, kFailure, kError };

/// One <testcase>, prepared before its suite is written so the suite's counts are known.
struct Case {
  std::string classname;
  std::string name;
  std::chrono::milliseconds time{0};
  CaseKind kind = CaseKind::kPassed;
  std::string type;     ///< the short note ("route missing", "missing secret")
  std::string message;  ///< one sentence
  std::string details;  ///< evidence: attempts, URL, body excerpt
};

Case ProbeCase(const std::string& env, const adapters::probe::ProbeResult& probe) {
  Case c;
  c.classname = env + "." + (probe.service.empty() ? "environment" : probe.service);
  c.name = probe.method + " " + probe.path;
  c.time = probe.latency;
  if (probe.verdict.outcome == ProbeOutcome::kPassed) return c;
  c.kind = probe.verdict.outcome == ProbeOutcome::kFailed ? CaseKind::kFailure : CaseKind::kError;
  c.type = probe.verdict.note;
  c.message = probe.verdict.reason.empty() ? probe.verdict.note : probe.verdict.reason;
  std::ostringstream details;
  details << probe.method << " " << probe.url << (probe.golden ? " (golden probe)" : "") << "\n";
  int n = 0;
  for (const auto& attempt : probe.attempts) {
    details << "attempt " << ++n << ": " << adapters::probe::OutcomeName(attempt.outcome) << ", "
            << (attempt.status >= 0 ? "status " + std::to_string(attempt.status)
                                    : std::string("no answer"))
            << ", " << attempt.latency.count() << "ms";
    if (!attempt.note.empty()) details << ", " << attempt.note;
    if (!attempt.reason.empty()) details << ": " << attempt.reason;
    details << "\n";
  }
  if (probe.metric) {
    details << "query: " << CollapseSpaces(probe.query) << "\n";
  } else if (!probe.body_excerpt.empty()) {
    details << "body: " << probe.body_excerpt << "\n";
  }
  c.details = details.str();
  return c;
}

/// One <testsuite>: its name and cases.
struct Suite {
  std::string name;
  std::vector<Case> cases;
};

/// The probe `ref` ("api/login") as observed in `env`; null when it was not probed.
const adapters::probe::ProbeResult* FindProbe(const phases::EnvironmentObservation& env,
                                              const std::string& ref) {
  for (const auto& service : env.services) {
    for (const auto& probe : service.probes) {
      if (service.service + "/" + probe.probe_name == ref) return &probe;
    }
  }
  return nullptr;
}

// A suite a capability (what a person recognises the product by), then one for the secrets; an
// environment without capabilities (a release's manifest) has a suite of its probes.
std::vector<Suite> EnvironmentSuites(const phases::EnvironmentObservation& env) {
  std::vector<Suite> suites;
  for (const auto& capability : env.capabilities) {
    Suite& suite = suites.emplace_back();
    suite.name = "audit." + env.name + "." + capability.name;
    for (const auto& ref : capability.probes) {
      if (const auto* probe = FindProbe(env, ref)) {
        suite.cases.push_back(ProbeCase(env.name, *probe));
        continue;
      }
      Case c;
      c.classname = env.name + "." + ref.substr(0, ref.find('/'));
      c.name = ref;
      c.kind = CaseKind::kError;
      c.type = "not probed";
      c.message = ref + " was not probed in " + env.name;
      suite.cases.push_back(std::move(c));
    }
  }
  if (env.capabilities.empty()) {
    Suite& suite = suites.emplace_back();
    suite.name = "audit." + env.name;
    for (const auto& service : env.services) {
      for (const auto& probe : service.probes) suite.cases.push_back(ProbeCase(env.name, probe));
    }
  }
  if (!env.checks.empty()) {  // the plan's checks of the environment as a whole
    Suite& suite = suites.emplace_back();
    suite.name = "audit." + env.name + ".environment";
    for (const auto& check : env.checks) suite.cases.push_back(ProbeCase(env.name, check));
  }
  if (env.secrets.empty()) return suites;
  Suite& secrets = suites.emplace_back();
  secrets.name = "audit." + env.name + ".secrets";
  for (const auto& secret : env.secrets) {
    Case c;
    c.classname = env.name + ".secrets";
    c.name = "secret " + secret.name;
    if (env.secrets_error) {
      c.kind = CaseKind::kError;
      c.type = "unreadable";
      c.message = "the secrets of " + env.name + " could not be listed: " + *env.secrets_error;
    } else if (!secret.present()) {
      c.kind = CaseKind::kFailure;
      c.type = "missing secret";
      c.message = "required secret " + secret.name + " is missing in " + env.name;
    }
    secrets.cases.push_back(std::move(c));
  }
  return suites;
}

void WriteSuite(std::ostringstream& out, const phases::AuditReport& report, const Suite& suite) {
  int failures = 0;
  int errors = 0;
  std::chrono::milliseconds time{0};
  for (const auto& c : suite.cases) {
    failures += c.kind == CaseKind::kFailure;
    errors += c.kind == CaseKind::kError;
    time += c.time;
  }
  out << "  <testsuite name=\"" << EscapeMarkup(suite.name) << "\" tests=\"" << suite.cases.size()
      << "\" failures=\"" << failures << "\" errors=\"" << errors << "\" skipped=\"0\" time=\""
      << Seconds(time) << "\"";
  if (!report.started_at.empty()) out << " timestamp=\"" << EscapeMarkup(report.started_at) << "\"";
  out << ">\n";
  for (const auto& c : suite.cases) {
    out << "    <testcase classname=\"" << EscapeMarkup(c.classname) << "\" name=\""
        << EscapeMarkup(c.name) << "\" time=\"" << Seconds(c.time) << "\"";
    if (c.kind == CaseKind::kPassed) {
      out << "/>\n";
      continue;
    }
    const char* tag = c.kind == CaseKind::kFailure ? "failure" : "error";
    out << ">\n      <" << tag << " message=\"" << EscapeMarkup(c.message) << "\" type=\""
        << EscapeMarkup(c.type) << "\">" << EscapeMarkup(c.details.empty() ? c.message : c.details)
        << "</" << tag << ">\n    </testcase>\n";
  }
  out << "  </testsuite>\n";
}

}  // namespace

std::string RenderJUnit(const phases::AuditReport& report) {
  std::vector<Suite> suites = EnvironmentSuites(report.source_env);
  for (auto& suite : EnvironmentSuites(report.target_env)) suites.push_back(std::move(suite));
  std::size_t tests = 0;
  int failures = 0;
  int errors = 0;
  for (const auto& suite : suites) {
    tests += suite.cases.size();
    for (const auto& c : suite.cases) {
      failures += c.kind == CaseKind::kFailure;
      errors += c.kind == CaseKind::kError;
    }
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\""
      << EscapeMarkup("audit " + report.plan_name + " " + report.source + " → " + report.target)
      << "\" tests=\"" << tests << "\" failures=\"" << failures << "\" errors=\"" << errors
      << "\" time=\"" << Seconds(report.duration) << "\">\n";
  for (const auto& suite : suites) WriteSuite(out, report, suite);
  out << "</testsuites>\n";
  return out.str();
}

}  // namespace promote::report
