// Implementation details: every table cell goes through Cell() (pipes escaped, line breaks
// flattened) so a note or body excerpt from a service can never break the table; verdicts,
// actions and outcomes get one icon each (✅ ⚠️ ❌) so the report scans at a glance.
#include "report/audit_markdown.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include "adapters/kube/cluster.h"
#include "core/duration.h"
#include "core/text.h"
#include "core/time_format.h"
#include "phases/audit.h"
#include "report/audit_json.h"
#include "report/markdown.h"

namespace promote::report {
namespace {

using markdown::Cell;
using markdown::Code;
using markdown::kNone;
using markdown::ShortImage;

using adapters::kube::RolloutState;
using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;
using std::chrono::milliseconds;

constexpr std::size_t kExcerptChars = 120;

// "not-functional" → "not functional": the machine name read as words.
std::string Words(const char* name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '-') c = ' ';
  }
  return out;
}

const char* VerdictIcon(phases::Functional functional) {
  switch (functional) {
    case phases::Functional::kFunctional:
      return "✅";
    case phases::Functional::kDegraded:
      return "⚠️";
    case phases::Functional::kNotFunctional:
      return "❌";
  }
  return "❔";
}

const char* OutcomeIcon(ProbeOutcome outcome) {
  switch (outcome) {
    case ProbeOutcome::kPassed:
      return "✅";
    case ProbeOutcome::kFailed:
      return "❌";
    case ProbeOutcome::kErrored:
      return "⚠️";
  }
  return "❔";
}

const char* RolloutIcon(RolloutState state) {
  switch (state) {
    case RolloutState::kComplete:
      return "✅";
    case RolloutState::kProgressing:
      return "⏳";
    case RolloutState::kDeadlineExceeded:
    case RolloutState::kMissing:
      return "❌";
  }
  return "❔";
}

// A duration cut to its largest unit, so an age reads "52h" rather than "52h14m3s".
std::string Coarse(milliseconds duration) {
  using std::chrono::duration_cast;
  if (duration >= std::chrono::hours(1)) {
    return FormatDuration(duration_cast<std::chrono::hours>(duration));
  }
  if (duration >= std::chrono::minutes(1)) {
    return FormatDuration(duration_cast<std::chrono::minutes>(duration));
  }
  return FormatDuration(duration_cast<std::chrono::seconds>(duration));
}

// How long the workload had existed when the audit started; the raw timestamp when either time
// cannot be read.
std::string Age(const std::string& created, const std::string& started_at) {
  if (created.empty()) return kNone;
  const auto from = ParseRfc3339(created);
  const auto to = ParseRfc3339(started_at);
  if (!from || !to || *to < *from) return Cell(created);
  return Coarse(std::chrono::duration_cast<milliseconds>(*to - *from));
}

// How long the audit took: milliseconds below a second, whole seconds above.
std::string Took(milliseconds duration) {
  if (duration < std::chrono::seconds(1)) return FormatDuration(duration);
  return FormatDuration(std::chrono::round<std::chrono::seconds>(duration));
}

// "2 attempts: timeout after 5s, then 200": the retries a reader must not miss.
std::string Attempts(const ProbeResult& probe) {
  std::string out = std::to_string(probe.attempts.size()) + " attempts: ";
  bool first = true;
  for (const auto& attempt : probe.attempts) {
    if (!first) out += ", then ";
    first = false;
    if (attempt.status >= 0) {
      out += std::to_string(attempt.status);
    } else {
      out += attempt.note.empty() ? std::string("no answer") : attempt.note;
    }
  }
  return out;
}

std::string ProbeNote(const ProbeResult& probe) {
  std::string note = probe.verdict.note;
  if (probe.attempts.size() > 1) {
    if (note == "ok") note.clear();
    note += (note.empty() ? "" : " · ") + Attempts(probe);
  }
  return note.empty() ? std::string(kNone) : Cell(note);
}

// A body excerpt on one line, short enough for a list item.
std::string Excerpt(const std::string& body) {
  std::string out;
  for (char c : body) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > kExcerptChars) {
    std::size_t cut = kExcerptChars;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "…";
  }
  return out;
}

void Heading(std::ostringstream& out, const std::string& title) {
  out << "\n## " << title << "\n\n";
}

// What users can and cannot do in `env`, as a hand-written audit's conclusion lists it; the
// probes behind each capability name it precisely.
void RenderCapabilities(std::ostringstream& out, const phases::EnvironmentObservation& env) {
  if (env.capabilities.empty()) return;
  std::vector<std::string> works;
  for (const auto& capability : env.capabilities) {
    if (!capability.Works()) continue;
    works.push_back(Cell(capability.name) + (capability.golden ? " ★" : "") + " (" +
                    Cell(Join(capability.probes, ", ")) + ")");
  }
  out << "**What works in " << env.name << "**: " << (works.empty() ? "nothing" : Join(works, ", "))
      << "\n\n";
  if (works.size() == env.capabilities.size()) return;
  out << "**What does not work in " << env.name << "**:\n\n";
  for (const auto& capability : env.capabilities) {
    if (capability.Works()) continue;
    out << "- " << (capability.Unknown() ? "⚠️" : "❌") << " **" << Cell(capability.name) << "**"
        << (capability.golden ? " ★" : "") << (capability.Unknown() ? " (unknown)" : "") << ": ";
    // One namespace is named once, at the end; several are named probe by probe.
    const bool one_namespace = std::all_of(
        capability.failed.begin(), capability.failed.end(),
        [&](const phases::CapabilityFailure& f) { return f.ns == capability.failed.front().ns; });
    for (std::size_t i = 0; i < capability.failed.size(); ++i) {
      const auto& failure = capability.failed[i];
      out << (i ? ", " : "") << Cell(failure.line)
          << (one_namespace || failure.ns.empty() ? std::string() : " on " + Code(failure.ns));
    }
    if (one_namespace && !capability.failed.front().ns.empty()) {
      out << " on " << Code(capability.failed.front().ns);
    }
    out << "\n";
  }
  out << "\n";
}

void RenderCauses(std::ostringstream& out, const phases::AuditReport& report) {
  if (report.causes.empty()) return;
  out << "**Root cause**:\n\n";
  for (const auto& cause : report.causes) {
    out << "- " << (cause.kind == phases::RootCause::Kind::kEverywhere ? "🚫 " : "")
        << Cell(cause.sentence) << "\n";
  }
  out << "\n";
}

void RenderOptions(std::ostringstream& out, const phases::AuditReport& report) {
  if (report.options.empty()) return;
  out << "**Options**, the recommended one first:\n\n";
  for (std::size_t i = 0; i < report.options.size(); ++i) {
    const auto& option = report.options[i];
    out << i + 1 << ". **" << Cell(option.title) << "**" << (i == 0 ? " (recommended)" : "");
    if (!option.why.empty()) out << ": " << Cell(option.why);
    if (!option.command.empty()) out << " — " << Code(option.command);
    out << "\n";
  }
  out << "\n";
}

void RenderConclusion(std::ostringstream& out, const phases::AuditReport& report) {
  Heading(out, "Conclusion");
  auto verdict = [&](const std::string& env, const phases::Verdict& v) {
    out << VerdictIcon(v.functional) << " **" << env << " is "
        << Words(FunctionalName(v.functional)) << "**";
    if (!v.reason.empty()) out << ": " << v.reason;
    out << "\n\n";
  };
  verdict(report.target, report.target_verdict);
  verdict(report.source, report.source_verdict);
  RenderCapabilities(out, report.target_env);
  RenderCapabilities(out, report.source_env);
  RenderCauses(out, report);
  RenderOptions(out, report);
  const std::string name = Words(RecommendationName(report.recommendation));
  std::string reason = report.recommendation_reason;
  if (reason.rfind(name + ": ", 0) == 0) reason = reason.substr(name.size() + 2);
  out << "**Recommendation: " << name << "**";
  if (!reason.empty()) out << " — " << reason;
  out << "\n";
  if (!report.command.empty()) out << "\n```sh\n" << report.command << "\n```\n";
}

void RenderVersions(std::ostringstream& out, const phases::AuditReport& report) {
  Heading(out, "Versions");
  if (report.comparisons.empty()) {
    out << "No service was found in both " << report.source << " and " << report.target << ".\n";
    return;
  }
  out << "| Service | " << Cell(report.source) << " | " << Cell(report.target)
      << " | Action |\n|---|---|---|---|\n";
  for (const auto& c : report.comparisons) {
    std::string action;
    switch (c.action) {
      case phases::ServiceAction::kPromote:
        action = "⬆️ **promote**" + (c.reason.empty() ? "" : ": " + Cell(c.reason));
        break;
      case phases::ServiceAction::kUpToDate:
        action = "✅ up-to-date";
        break;
      case phases::ServiceAction::kBlocked:
        action = "⛔ **blocked**" + (c.reason.empty() ? "" : ": " + Cell(c.reason));
        break;
    }
    out << "| " << Cell(c.service) << " | " << ShortImage(c.source_image, c.source_digest) << " | "
        << ShortImage(c.target_image, c.target_digest) << " | " << action << " |\n";
  }
}

std::string RolloutCell(const adapters::kube::WorkloadStatus& status) {
  std::string out =
      std::string(RolloutIcon(status.rollout)) + " " + Words(RolloutStateName(status.rollout));
  if (status.rollout != RolloutState::kComplete && !status.message.empty()) {
    out += ": " + Cell(status.message);
  }
  return out;
}

void RenderEnvironment(std::ostringstream& out, const phases::AuditReport& report,
                       const phases::EnvironmentObservation& env) {
  out << "### " << env.name;
  if (!env.context.empty()) out << " (context " << Code(env.context) << ")";
  out << "\n\n";
  if (env.namespaces_error) {
    out << "⚠️ the namespaces could not be read: " << Cell(*env.namespaces_error) << "\n\n";
  } else if (!env.namespaces.empty()) {
    out << "| Namespace | Present | Phase | Age |\n|---|---|---|---|\n";
    for (const auto& ns : env.namespaces) {
      out << "| " << Code(ns.name) << " | " << (ns.present ? "✅" : "❌ missing") << " | "
          << (ns.phase.empty() ? std::string(kNone) : Cell(ns.phase)) << " | "
          << (ns.present ? Age(ns.created, report.started_at) : std::string(kNone)) << " |\n";
    }
    out << "\n";
  }
  if (env.services.empty()) {
    out << "No service observed.\n\n";
    return;
  }
  out << "| Service | Namespace | Workload | Image | Ready | Rollout | Age |\n"
         "|---|---|---|---|---|---|---|\n";
  for (const auto& s : env.services) {
    out << "| " << Cell(s.service) << " | ";
    if (s.read_error) {
      out << Code(s.ns) << " | " << Code(s.workload)
          << " | ⚠️ cannot read: " << Cell(*s.read_error) << " | " << kNone << " | " << kNone
          << " | " << kNone << " |\n";
    } else if (!s.status.namespace_present) {
      out << Code(s.ns) << " ❌ missing | " << Code(s.workload) << " | " << kNone << " | " << kNone
          << " | " << kNone << " | " << kNone << " |\n";
    } else if (!s.status.workload_present) {
      out << Code(s.ns) << " | " << Code(s.workload) << " ❌ missing | " << kNone << " | " << kNone
          << " | " << kNone << " | " << kNone << " |\n";
    } else {
      out << Code(s.ns) << " | " << Code(s.workload) << " | " << Code(s.status.image) << " | "
          << s.status.ready << "/" << s.status.desired << " | " << RolloutCell(s.status) << " | "
          << Age(s.status.created, report.started_at) << " |\n";
    }
  }
  out << "\n";
}

void RenderEndpoints(std::ostringstream& out, const phases::EnvironmentObservation& env) {
  out << "### " << env.name << "\n\n";
  std::size_t count = 0;
  for (const auto& s : env.services) count += s.probes.size();
  count += env.checks.size();
  if (count == 0) {
    out << "No probe ran.\n\n";
    return;
  }
  out << "| | Service | Method | Path | Status | Latency | Note |\n"
         "|---|---|---|---|---|---|---|\n";
  std::vector<const ProbeResult*> troubles;
  for (const auto& s : env.services) {
    for (const auto& p : s.probes) {
      const std::string path = Cell(p.path.empty() ? "/" : p.path);
      out << "| " << OutcomeIcon(p.verdict.outcome) << " | " << Cell(p.service) << " | "
          << Cell(p.method) << " | " << (p.golden ? "**" + path + "** ★" : path) << " | "
          << (p.status >= 0 ? std::to_string(p.status) : std::string(kNone)) << " | "
          << FormatDuration(p.latency) << " | " << ProbeNote(p) << " |\n";
      if (!p.passed()) troubles.push_back(&p);
    }
  }
  for (const auto& p : env.checks) {  // the environment's own, of no service
    out << "| " << OutcomeIcon(p.verdict.outcome) << " | *(environment)* | " << Cell(p.method)
        << " | " << (p.golden ? "**" + Cell(p.path) + "** ★" : Cell(p.path)) << " | " << kNone
        << " | " << FormatDuration(p.latency) << " | " << ProbeNote(p) << " |\n";
    if (!p.passed()) troubles.push_back(&p);
  }
  out << "\n";
  for (const ProbeResult* p : troubles) {
    out << "- " << OutcomeIcon(p->verdict.outcome) << " " << Code(p->method + " " + p->path) << " ("
        << (p->service.empty() ? "the environment" : p->service)
        << "): " << Excerpt(p->verdict.reason.empty() ? p->verdict.note : p->verdict.reason);
    if (p->metric) {
      out << " — query: " << Code(CollapseSpaces(p->query));
    } else if (!p->body_excerpt.empty()) {
      out << " — body: " << Code(Excerpt(p->body_excerpt));
    }
    out << "\n";
  }
  if (!troubles.empty()) out << "\n";
}

void RenderSecrets(std::ostringstream& out, const phases::AuditReport& report) {
  Heading(out, "Secrets");
  bool any = false;
  for (const auto* env : {&report.source_env, &report.target_env}) {
    if (env->secrets.empty() && !env->secrets_error) continue;
    if (!any) out << "Names only: promote never reads a secret's value.\n\n";
    any = true;
    out << "### " << env->name << "\n\n";
    if (env->secrets_error) {
      out << "⚠️ the secrets could not be listed: " << Cell(*env->secrets_error) << "\n\n";
    }
    if (env->secrets.empty()) continue;
    out << "| Secret | Present | Namespace |\n|---|---|---|\n";
    for (const auto& secret : env->secrets) {
      std::string where;
      for (const auto& ns : secret.namespaces) where += (where.empty() ? "" : ", ") + Code(ns);
      out << "| " << Cell(secret.name) << " | " << (secret.present() ? "✅" : "❌") << " | "
          << (where.empty() ? std::string(kNone) : where) << " |\n";
    }
    out << "\n";
  }
  if (!any) out << "The plan requires no secrets.\n";
}

void RenderRegistry(std::ostringstream& out, const phases::AuditReport& report) {
  const auto& findings = report.target_env.registry;
  if (!findings) return;
  Heading(out, "Images in " + report.target + "'s registry");
  if (findings->empty()) {
    out << "Nothing would be deployed, so no image was looked up.\n";
    return;
  }
  out << "Every image the run would deploy, asked of the registry " << report.target
      << " pulls it from before anything changes.\n\n";
  out << "| Service | Image | Registry | In it |\n|---|---|---|---|\n";
  for (const auto& finding : *findings) {
    const char* icon = finding.presence == phases::RegistryFinding::Presence::kPresent   ? "✅"
                       : finding.presence == phases::RegistryFinding::Presence::kMissing ? "❌"
                                                                                         : "⚠️";
    out << "| " << Cell(finding.service) << " | " << Code(finding.image) << " | "
        << Code(finding.registry) << " | " << icon << " " << phases::PresenceName(finding.presence)
        << (finding.detail.empty() ? std::string() : ": " + Cell(finding.detail)) << " |\n";
  }
  out << "\n";
}

void RenderDrift(std::ostringstream& out, const phases::AuditReport& report) {
  if (report.drift.empty()) return;
  Heading(out, "Drift");
  out << report.target << " runs images found in no release tag:\n\n";
  for (const auto& image : report.drift) out << "- " << Code(image) << "\n";
}

void RenderRecommendations(std::ostringstream& out, const phases::AuditReport& report) {
  Heading(out, "Recommendations");
  out << "- **" << Words(RecommendationName(report.recommendation)) << "**";
  if (!report.recommendation_reason.empty()) out << ": " << report.recommendation_reason;
  if (!report.command.empty()) out << " — run " << Code(report.command);
  out << "\n";
  // Every reason the run would be refused, each with its fix (the first is the one above).
  for (size_t i = 1; i < report.refusals.size(); ++i) {
    out << "- Also refused: " << report.refusals[i] << "\n";
  }
  for (const auto& bad : report.forced) {
    out << "- **Forced** (--force: " << report.force_reason.value_or("") << "): " << bad.Describe()
        << "\n";
  }
  if (report.freeze.frozen && report.freeze.override_reason) {
    out << "- **Freeze overridden**: " << report.freeze.description << " ("
        << *report.freeze.override_reason << ")\n";
  }
  for (const auto& c : report.comparisons) {
    for (const auto& probe : c.waived_probes) {
      out << "- Not required of **" << c.service << "** in " << report.target << ": probe "
          << Code(probe) << " (it fails in " << report.source << " too)\n";
    }
  }
  for (const auto& c : report.comparisons) {
    if (c.action != phases::ServiceAction::kBlocked) continue;
    out << "- Fix **" << c.service << "** in " << report.source
        << " before promoting it: " << c.reason << "\n";
  }
  for (const auto& secret : report.target_env.secrets) {
    if (!secret.present()) {
      out << "- Create the secret " << Code(secret.name) << " in " << report.target << "\n";
    }
  }
  if (report.target_env.secrets_error) {
    out << "- Give promote read access to the secrets of " << report.target << "\n";
  }
  for (const auto& s : report.target_env.services) {
    if (s.read_error) {
      out << "- Check access to " << Code(s.ns) << " in " << report.target << ": " << *s.read_error
          << "\n";
    }
  }
  if (!report.drift.empty()) {
    out << "- Replace or release the "
        << Plural(static_cast<long long>(report.drift.size()), "unreleased image") << " running in "
        << report.target << " (see Drift)\n";
  }
  if (report.NoReleaseYet()) {
    out << "- No release of " << report.target << " is recorded yet, so there is no drift to "
        << "check: record what it runs now with "
        << Code(report.Suggest({"baseline", report.target})) << "\n";
  } else if (!report.releases.known) {
    out << "- The release repository could not be read: drift is unknown\n";
  }
}

}  // namespace

std::string RenderAuditMarkdown(const phases::AuditReport& report) {
  std::ostringstream out;
  out << "# Audit: " << report.plan_name << " " << report.source << " → " << report.target
      << "\n\n";
  out << "Started " << (report.started_at.empty() ? std::string(kNone) : report.started_at)
      << " · took " << Took(report.duration);
  if (!report.plan_file.empty()) out << " · plan " << Code(report.plan_file);
  out << "\n";
  RenderConclusion(out, report);
  RenderVersions(out, report);
  Heading(out, "Environments");
  RenderEnvironment(out, report, report.source_env);
  RenderEnvironment(out, report, report.target_env);
  Heading(out, "Endpoints");
  out << "★ golden probe: when it fails, users cannot do what matters. "
         "✅ passed · ❌ wrong answer · ⚠️ no answer\n\n";
  RenderEndpoints(out, report.source_env);
  RenderEndpoints(out, report.target_env);
  RenderSecrets(out, report);
  RenderRegistry(out, report);
  RenderDrift(out, report);
  RenderRecommendations(out, report);
  // Sections end with their own blank line; keep at most one between blocks.
  std::string text = out.str();
  for (auto at = text.find("\n\n\n"); at != std::string::npos; at = text.find("\n\n\n", at)) {
    text.erase(at, 1);
  }
  return text;
}

}  // namespace promote::report
