// Implementation details: the validation evidence is folded per probe (service, method, path)
// across every round, each distinct symptom ("500 (server error)", "no answer (timeout after
// 5s)") counted once per round it was seen in, so the report stays short while an error that a
// retry or a later round fixed is still there. Strings are redacted before rendering (escaping
// could split a secret) and the rendered text again in WriteRedactedFile, as for the audit.
#include "report/promotion_report.h"

#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "adapters/git/release_repo.h"
#include "adapters/kube/cluster.h"
#include "core/duration.h"
#include "core/redactor.h"
#include "core/text.h"
#include "engine/promotion.h"
#include "report/html.h"
#include "report/markdown.h"
#include "report/report_writer.h"
#include "report/timeline.h"

namespace promote::report {
namespace {

using markdown::Cell;
using markdown::Code;
using markdown::kNone;
using markdown::ShortImage;

using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;
using engine::RunState;
using nlohmann::json;
using phases::ServiceRollout;
using phases::StepStatus;
using phases::ValidationResult;

// Text on one line, for a list item.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return text;
}

const char* StateIcon(RunState state) {
  switch (state) {
    case RunState::kPromoted:
    case RunState::kNothingToDo:
      return "✅";
    case RunState::kRolledBack:
      return "↩️";
    case RunState::kRollbackFailed:
      return "🛑";
    case RunState::kAwaitingApproval:
      return "⏸️";
    case RunState::kRefused:
    case RunState::kRejected:
      return "⛔";
    default:
      return "⏳";  // not an ending: the run was cut short in this state
  }
}

const char* StepIcon(StepStatus status) {
  switch (status) {
    case StepStatus::kSucceeded:
      return "✅";
    case StepStatus::kSkipped:
      return "⏭️";
    case StepStatus::kFailed:
      return "❌";
  }
  return "❔";
}

/// One way a probe went wrong, and in how many rounds it did.
struct Symptom {
  std::string what;  ///< "500 (server error)", "no answer (timeout after 5s)"
  ProbeOutcome outcome = ProbeOutcome::kErrored;
  int status = -1;
  int rounds = 0;
};

/// Everything one probe did wrong over a validation, in order of first appearance.
struct ProbeEvidence {
  std::string service;
  std::string probe_name;
  std::string method;
  std::string path;
  bool golden = false;
  std::vector<Symptom> symptoms;
  int passed_on_retry = 0;  ///< rounds in which a retry then passed
  std::string body;         ///< the last failing answer's body excerpt (redacted), as evidence
  std::string query;        ///< a metric check's query as sent (redacted), beside its value

  bool answered_wrong() const {
    for (const auto& s : symptoms) {
      if (s.outcome == ProbeOutcome::kFailed) return true;
    }
    return false;
  }
};

std::string SymptomText(int status, const std::string& note) {
  const std::string suffix = note.empty() || note == "ok" ? "" : " (" + note + ")";
  return (status >= 0 ? std::to_string(status) : std::string("no answer")) + suffix;
}

std::vector<ProbeEvidence> Evidence(const ValidationResult& validation) {
  std::vector<ProbeEvidence> out;
  for (const auto& round : validation.history) {
    for (const ProbeResult& p : round.problems) {
      ProbeEvidence* evidence = nullptr;
      for (auto& e : out) {
        if (e.service == p.service && e.method == p.method && e.path == p.path &&
            e.probe_name == p.probe_name) {
          evidence = &e;
        }
      }
      if (!evidence) {
        out.push_back({p.service, p.probe_name, p.method, p.path, p.golden, {}, 0, "", ""});
        evidence = &out.back();
      }
      // This round's symptoms, each once however many attempts showed it.
      std::vector<Symptom> seen;
      auto note = [&](ProbeOutcome outcome, int status, const std::string& what) {
        if (outcome == ProbeOutcome::kPassed) return;
        for (const auto& s : seen) {
          if (s.what == what) return;
        }
        seen.push_back({what, outcome, status, 1});
      };
      // A metric has a value, not an HTTP answer: "out of range" or "no value (no data)".
      const auto symptom = [&](ProbeOutcome outcome, int status, const std::string& what) {
        if (!p.metric) return SymptomText(status, what);
        if (outcome == ProbeOutcome::kFailed) return std::string("out of range");
        return "no value (" + what + ")";
      };
      for (const auto& a : p.attempts)
        note(a.outcome, a.status, symptom(a.outcome, a.status, a.note));
      if (p.attempts.empty()) {
        note(p.verdict.outcome, p.status, symptom(p.verdict.outcome, p.status, p.verdict.note));
      }
      if (p.passed() && !seen.empty()) ++evidence->passed_on_retry;
      // The metric's last value with its range ("0.92, below min 0.95") is its evidence.
      if (!p.passed() && p.metric) {
        evidence->body = p.verdict.note;
        evidence->query = p.query;
      } else if (!p.passed() && !p.body_excerpt.empty())
        evidence->body = p.body_excerpt;
      for (const auto& s : seen) {
        bool counted = false;
        for (auto& known : evidence->symptoms) {
          if (known.what == s.what) {
            ++known.rounds;
            counted = true;
          }
        }
        if (!counted) evidence->symptoms.push_back(s);
      }
    }
  }
  return out;
}

// "POST /auth/login → 500 (server error) in 3 rounds; no answer (timeout after 5s) in 1 round".
std::string EvidenceLine(const ProbeEvidence& e) {
  std::string line = (e.answered_wrong() ? "❌ " : "⚠️ ") + e.method + " " +
                     (e.path.empty() ? "/" : e.path) + " → ";
  bool first = true;
  for (const auto& s : e.symptoms) {
    line += (first ? "" : "; ") + s.what + " in " + Plural(s.rounds, "round");
    first = false;
  }
  line += " — " + (e.service.empty() ? std::string("the environment") : e.service);
  if (e.golden) line += ", golden ★";
  if (e.passed_on_retry > 0) line += ", passed on retry in " + Plural(e.passed_on_retry, "round");
  line = OneLine(line);
  if (!e.query.empty()) {
    line += "\n  - query: " + Code(CollapseSpaces(e.query)) + " → " + Code(OneLine(e.body));
  } else if (!e.body.empty()) {
    line += "\n  - answer: " + Code(OneLine(e.body));
  }
  return line;
}

/// The restore of `service`, when the rollback put it back.
const ServiceRollout* Reverted(const engine::PromotionResult& result, const std::string& service) {
  for (const auto& r : result.restores) {
    if (r.change.service == service && r.status != StepStatus::kFailed) return &r;
  }
  return nullptr;
}

void RenderChanges(std::ostringstream& out, const engine::PromotionResult& result) {
  out << "\n## Changes\n\n";
  if (result.rollouts.empty()) {
    out << "No service was deployed.\n";
    return;
  }
  out << "| Service | From | To | Status | Detail |\n|---|---|---|---|---|\n";
  for (const ServiceRollout& r : result.rollouts) {
    const bool reverted = Reverted(result, r.change.service) != nullptr;
    std::string detail = r.detail.empty() ? std::string(kNone) : Cell(r.detail);
    if (!r.command.empty()) detail += " — failed: " + Code(Cell(r.command));
    if (reverted) detail += " — then put back on " + ShortImage(r.change.from_image);
    out << "| " << Cell(r.change.service) << " | " << ShortImage(r.change.from_image) << " | "
        << ShortImage(r.change.to_image) << " | "
        << (reverted ? std::string("↩️ reverted")
                     : std::string(StepIcon(r.status)) + " " + phases::StepStatusName(r.status))
        << " | " << detail << " |\n";
  }
}

void RenderValidations(std::ostringstream& out, const engine::PromotionResult& result) {
  if (result.validations.empty()) return;
  out << "\n## Validation\n";
  for (const auto& [label, v] : result.validations) {
    out << "\n### " << (v.passed ? "✅ " : "❌ ") << OneLine(label) << ": "
        << (v.passed ? "passed" : "failed") << "\n\n";
    if (!v.reason.empty()) out << OneLine(v.reason) << "\n\n";
    out << Plural(v.rounds, "round") << " · " << Plural(v.failures, "failed round") << " · "
        << Plural(v.errors, "errored round");
    if (v.elapsed.count() > 0) out << " · " << FormatDuration(v.elapsed);
    out << "\n";
    const auto evidence = Evidence(v);
    if (evidence.empty()) continue;
    out << "\nProblems seen (❌ wrong answer · ⚠️ no answer):\n\n";
    for (const auto& e : evidence) out << "- " << EvidenceLine(e) << "\n";
  }
}

void RenderRollback(std::ostringstream& out, const engine::PromotionResult& result) {
  if (result.restores.empty()) return;
  out << "\n## Rollback\n\n| Service | Back from | Back to | Status | Detail |\n"
         "|---|---|---|---|---|\n";
  for (const ServiceRollout& r : result.restores) {
    std::string back_to = ShortImage(r.change.from_image);
    if (r.change.from_helm_revision) {
      back_to += " (helm revision " + std::to_string(*r.change.from_helm_revision) + ")";
    }
    std::string detail = r.detail.empty() ? std::string(kNone) : Cell(r.detail);
    if (!r.command.empty()) detail += " — failed: " + Code(Cell(r.command));
    out << "| " << Cell(r.change.service) << " | " << ShortImage(r.change.to_image) << " | "
        << back_to << " | " << StepIcon(r.status) << " " << phases::StepStatusName(r.status)
        << " | " << detail << " |\n";
  }
}

void RenderNextSteps(std::ostringstream& out, const engine::PromotionResult& result) {
  if (result.next_steps.empty() && result.state != RunState::kRollbackFailed) return;
  out << "\n## What to do now\n\n";
  if (result.state == RunState::kRollbackFailed) {
    out << "The rollback did not leave the target healthy: a person is needed. Run, and check "
           "each service:\n\n";
  }
  for (const auto& step : result.next_steps) {
    out << "- " << OneLine(step.why);
    if (!step.command.empty()) out << ":\n\n  ```sh\n  " << OneLine(step.command) << "\n  ```";
    out << "\n";
  }
  if (result.next_steps.empty()) out << "- Check every service of the Rollback table by hand\n";
}

/// What was found wrong, whose fault it was, and what was recorded of the release.
void RenderVerdict(std::ostringstream& out, const engine::PromotionResult& result) {
  if (result.failure) {
    out << "\n**Why:** " << OneLine(result.failure->reason) << "\n\n";
    const bool refused = result.recorded == adapters::git::ReleaseStatus::kBad;
    out << (result.failure->blame == phases::Blame::kRelease
                ? "**Judged:** the images below answered wrong in " + OneLine(result.audit.target) +
                      (refused ? ", so they are refused from now on:\n"
                               : "; they are not recorded as bad (see Release):\n")
                : std::string("**Not judged:** nothing proved the images bad (a timeout, a "
                              "dropped call, a setup error, or a check of the whole environment, "
                              "which names no image); a later run may promote them "
                              "without --force.\n"));
    for (const auto& judged : result.failure->images) {
      out << "\n- " << Cell(judged.service) << " " << Code(judged.image.image) << ": "
          << OneLine(judged.reason);
    }
    if (!result.failure->images.empty()) out << "\n";
  }
  if (!result.release_record.empty()) {
    out << "\nRelease: " << OneLine(result.release_record) << "\n";
  }
  if (!result.forced.empty()) out << "\n**Forced:** " << OneLine(result.forced) << "\n";
}

json NextStepsJson(const std::vector<engine::NextStep>& steps) {
  json out = json::array();
  for (const auto& step : steps) out.push_back({{"why", step.why}, {"command", step.command}});
  return out;
}

json FailureJson(const std::optional<engine::RunFailure>& failure) {
  if (!failure) return nullptr;
  json images = json::array();
  for (const auto& judged : failure->images) {
    images.push_back(adapters::git::JudgedImageJson(judged));
  }
  return {{"reason", failure->reason},
          {"blame", phases::BlameName(failure->blame)},
          {"images", images}};
}

json RolloutJson(const ServiceRollout& r) {
  return {{"service", r.change.service},
          {"from", r.change.from_image.empty() ? json(nullptr) : json(r.change.from_image)},
          {"to", r.change.to_image.empty() ? json(nullptr) : json(r.change.to_image)},
          {"fromHelmRevision",
           r.change.from_helm_revision ? json(*r.change.from_helm_revision) : json(nullptr)},
          {"status", phases::StepStatusName(r.status)},
          {"touched", r.touched},
          {"detail", r.detail},
          {"failedCommand", r.command.empty() ? json(nullptr) : json(r.command)}};
}

json ValidationJson(const std::string& label, const ValidationResult& v) {
  json problems = json::array();
  for (const auto& e : Evidence(v)) {
    json symptoms = json::array();
    for (const auto& s : e.symptoms) {
      symptoms.push_back({{"seen", s.what},
                          {"outcome", adapters::probe::OutcomeName(s.outcome)},
                          {"status", s.status >= 0 ? json(s.status) : json(nullptr)},
                          {"rounds", s.rounds}});
    }
    problems.push_back({{"service", e.service},
                        {"probe", e.probe_name},
                        {"method", e.method},
                        {"path", e.path},
                        {"golden", e.golden},
                        {"symptoms", symptoms},
                        {"passedOnRetryRounds", e.passed_on_retry},
                        {"bodyExcerpt", e.body.empty() ? json(nullptr) : json(e.body)},
                        {"query", e.query.empty() ? json(nullptr) : json(e.query)}});
  }
  return {{"label", label},
          {"passed", v.passed},
          {"reason", v.reason},
          {"rounds", v.rounds},
          {"failures", v.failures},
          {"errors", v.errors},
          {"elapsedMs", v.elapsed.count()},
          {"problems", problems}};
}

void RedactRollout(const Redactor& r, ServiceRollout& rollout) {
  for (std::string* text : {&rollout.change.service, &rollout.change.from_image,
                            &rollout.change.to_image, &rollout.detail, &rollout.command}) {
    *text = r.Redact(*text);
  }
}

// A copy of what the reports show, every string redacted.
engine::PromotionResult Redacted(const engine::PromotionResult& result, const Redactor& r) {
  engine::PromotionResult out;
  out.state = result.state;
  out.summary = r.Redact(result.summary);
  out.tag = r.Redact(result.tag);
  out.freeze_override = r.Redact(result.freeze_override);
  out.release_record = r.Redact(result.release_record);
  out.recorded = result.recorded;
  out.forced = r.Redact(result.forced);
  if (result.failure) {
    out.failure = result.failure;
    out.failure->reason = r.Redact(result.failure->reason);
    for (auto& judged : out.failure->images) {
      judged.image.image = r.Redact(judged.image.image);
      judged.reason = r.Redact(judged.reason);
    }
  }
  out.audit.plan_name = r.Redact(result.audit.plan_name);
  out.audit.source = r.Redact(result.audit.source);
  out.audit.target = r.Redact(result.audit.target);
  out.rollouts = result.rollouts;
  out.restores = result.restores;
  out.timeline = result.timeline;
  for (auto& step : out.timeline) {
    step.section = r.Redact(step.section);
    step.name = r.Redact(step.name);
  }
  for (auto& rollout : out.rollouts) RedactRollout(r, rollout);
  for (auto& rollout : out.restores) RedactRollout(r, rollout);
  for (const auto& [label, v] : result.validations) {
    ValidationResult clean = v;
    clean.reason = r.Redact(v.reason);
    clean.last_round.clear();  // not reported
    for (auto& round : clean.history) {
      for (auto& p : round.problems) {
        for (std::string* text : {&p.service, &p.probe_name, &p.method, &p.path, &p.verdict.note,
                                  &p.verdict.reason, &p.url, &p.body_excerpt, &p.query}) {
          *text = r.Redact(*text);
        }
        for (auto& a : p.attempts) {
          a.note = r.Redact(a.note);
          a.reason = r.Redact(a.reason);
        }
      }
    }
    out.validations.emplace_back(r.Redact(label), std::move(clean));
  }
  for (const auto& step : result.next_steps) {
    out.next_steps.push_back({r.Redact(step.why), r.Redact(step.command)});
  }
  return out;
}

}  // namespace

std::string RenderPromotionMarkdown(const engine::PromotionResult& result,
                                    const std::string& run_id) {
  std::ostringstream out;
  const auto& audit = result.audit;
  out << "# Promotion: " << (audit.plan_name.empty() ? "" : OneLine(audit.plan_name) + " ")
      << OneLine(audit.source) << " → " << OneLine(audit.target) << " (run " << OneLine(run_id)
      << ")\n\n";
  out << "**Outcome: " << StateIcon(result.state) << " " << engine::StateName(result.state) << "**";
  if (!result.summary.empty()) out << " — " << OneLine(result.summary);
  out << "\n\n";
  out << "Release tag: " << (result.tag.empty() ? std::string("none") : Code(OneLine(result.tag)))
      << "\n";
  if (!result.freeze_override.empty()) {
    out << "\n**Freeze overridden:** " << OneLine(result.freeze_override) << "\n";
  }
  RenderVerdict(out, result);
  RenderChanges(out, result);
  RenderValidations(out, result);
  RenderRollback(out, result);
  RenderNextSteps(out, result);
  if (!result.timeline.empty()) {
    out << "\n## Timeline\n\n"
        << RenderMermaidGantt(result.timeline,
                              "Run " + run_id + ": " + engine::StateName(result.state));
  }
  return out.str();
}

json PromotionJson(const engine::PromotionResult& result, const std::string& run_id) {
  json rollouts = json::array();
  for (const auto& r : result.rollouts) rollouts.push_back(RolloutJson(r));
  json restores = json::array();
  for (const auto& r : result.restores) restores.push_back(RolloutJson(r));
  json validations = json::array();
  for (const auto& [label, v] : result.validations) validations.push_back(ValidationJson(label, v));
  return {{"schema", "promote/promotion/v2"},
          {"run", run_id},
          {"plan", result.audit.plan_name},
          {"source", result.audit.source},
          {"target", result.audit.target},
          {"state", engine::StateName(result.state)},
          {"summary", result.summary},
          {"tag", result.tag.empty() ? json(nullptr) : json(result.tag)},
          {"freezeOverride",
           result.freeze_override.empty() ? json(nullptr) : json(result.freeze_override)},
          {"rollouts", rollouts},
          {"timeline",
           [&] {
             json steps = json::array();
             for (const auto& step : result.timeline) {
               steps.push_back({{"section", step.section},
                                {"name", step.name},
                                {"start", step.start},
                                {"end", step.end.empty() ? json(nullptr) : json(step.end)},
                                {"outcome", engine::TimelineOutcomeName(step.outcome)}});
             }
             return steps;
           }()},
          {"validations", validations},
          {"restores", restores},
          {"failure", FailureJson(result.failure)},
          {"release", result.release_record.empty() ? json(nullptr) : json(result.release_record)},
          {"forced", result.forced.empty() ? json(nullptr) : json(result.forced)},
          {"nextSteps", NextStepsJson(result.next_steps)}};
}

Status WritePromotionReports(const engine::PromotionResult& result, const std::string& run_id,
                             const std::filesystem::path& dir, const Redactor& redactor) {
  const engine::PromotionResult clean = Redacted(result, redactor);
  const std::string id = redactor.Redact(run_id);
  // replace, not throw, on invalid UTF-8: a detail may be cut inside a character.
  const std::string text =
      PromotionJson(clean, id).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  if (!json::accept(redactor.Redact(text))) {
    return Error{ErrorKind::kInternal, "redaction broke the promotion JSON report",
                 "promotion_report", "report this bug; the promotion reports were not written"};
  }
  const std::string markdown = RenderPromotionMarkdown(clean, id);
  if (Status md = WriteRedactedFile(dir / "promotion.md", markdown, redactor); !md) return md;
  if (Status html = WriteRedactedFile(
          dir / "promotion.html",
          RenderHtmlPage("Promotion " + id, markdown, RenderSvgTimeline(clean.timeline)), redactor);
      !html) {
    return html;
  }
  return WriteRedactedFile(dir / "promotion.json", text, redactor);
}

}  // namespace promote::report
