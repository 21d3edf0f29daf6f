// Implementation details: the targets are built once (plan order, probe order) so a probe keeps
// its index across rounds; per-probe counts of wrong answers are kept by that index to name the
// worst probe. Every round ends with the checks in a fixed order: limits (fail fast), then the
// pass condition, then the give-up bound, then the wait for the next round. The round count is
// bounded too, so a clock that never advances cannot make the loop endless.
#include "phases/validate.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <utility>

#include "core/duration.h"
#include "core/text.h"
#include "core/time_format.h"
#include "phases/context.h"
#include "phases/targets.h"

namespace promote::phases {
namespace {

using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;
using adapters::probe::ProbeTarget;
using std::chrono::milliseconds;

// "answered 404 (route missing)" or "got no answer (timeout after 5s)".
std::string AnswerText(const ProbeResult& probe) {
  // A metric's note is its value and range ("0.9, below min 0.95"), or why it has none.
  if (probe.metric) {
    return probe.verdict.outcome == ProbeOutcome::kErrored
               ? "got no value (" + probe.verdict.note + ")"
               : "measured " + probe.verdict.note;
  }
  std::string text =
      probe.status >= 0 ? "answered " + std::to_string(probe.status) : std::string("got no answer");
  if (!probe.verdict.note.empty() && probe.verdict.note != "ok") {
    text += " (" + probe.verdict.note + ")";
  }
  return text;
}

std::string ProbeName(const ProbeResult& probe) {
  return std::string(probe.golden ? "golden " : "") + probe.method + " " + probe.path;
}

// Whether an attempt before the final one did not pass: evidence kept even after a retry passed.
bool RetriedAfterProblem(const ProbeResult& probe) {
  return std::any_of(probe.attempts.begin(), probe.attempts.end(),
                     [](const auto& attempt) { return attempt.outcome != ProbeOutcome::kPassed; });
}

// The result standing in for a probe the prober returned nothing for (a broken contract must
// not pass as healthy).
ProbeResult Missing(const ProbeTarget& target) {
  ProbeResult result = adapters::probe::ResultFor(target);
  result.verdict.outcome = ProbeOutcome::kErrored;
  result.verdict.reason = "the prober returned no result for this probe";
  result.verdict.note = "no result";
  return result;
}

// Index of the worst result with `outcome`: golden first, then the highest `weight`, then the
// first in plan order. -1 when none has that outcome.
int Worst(const std::vector<ProbeResult>& results, ProbeOutcome outcome,
          const std::vector<int>& weight) {
  int best = -1;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].verdict.outcome != outcome) continue;
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    const ProbeResult& current = results[static_cast<size_t>(best)];
    if (results[i].golden != current.golden) {
      if (results[i].golden) best = static_cast<int>(i);
      continue;
    }
    if (weight[i] > weight[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  return best;
}

}  // namespace

Validate::Validate(const plan::Plan& plan, std::string target_env,
                   std::vector<std::string> services, plan::ValidationPolicy policy, Waivers waived,
                   GoldenWaivers golden, MetricChecks metrics, Images images)
    : plan_(plan),
      target_env_(std::move(target_env)),
      services_(std::move(services)),
      policy_(std::move(policy)),
      waived_(std::move(waived)),
      golden_(golden),
      metrics_(metrics),
      images_(std::move(images)) {}

namespace {

/// One validation in progress: its targets, the clamped policy, the counts so far, and the
/// checks that end it (fail fast on a limit, pass after the soak, give up past the bound).
class Soak {
 public:
  Soak(Context& context, const plan::Environment& env, std::vector<ProbeTarget> targets,
       const plan::ValidationPolicy& policy)
      : context_(context),
        env_(env),
        targets_(std::move(targets)),
        // Policy values are clamped so that a sloppy plan cannot make the loop pass vacuously.
        interval_(std::max(policy.interval, milliseconds(0))),
        soak_(std::max(policy.soak, milliseconds(0))),
        successes_needed_(std::max(policy.successes, 1)),
        failure_limit_(std::max(policy.failure_limit, 0)),
        error_limit_(std::max(policy.error_limit, 0)),
        give_up_(std::max(soak_, LongestMeasuring(targets_)) + interval_ * (successes_needed_ + 1)),
        failed_rounds_(targets_.size(), 0),
        measured_(targets_.size()) {}

  /// Rounds until a verdict; bounded in count too, so a clock that never advances ends it.
  ValidationResult Run() {
    const long long max_rounds =
        give_up_.count() / std::max<long long>(interval_.count(), 1) + successes_needed_ + 2;
    first_start_ = context_.now();
    for (long long index = 0; index < max_rounds; ++index) {
      const auto round_start = context_.now();
      Round(static_cast<int>(index) + 1, round_start);
      if (Decided()) return std::move(result_);
      // The next round starts `interval` after this one started; only the remainder is slept.
      const auto next_start = round_start + interval_;
      if (const auto now = context_.now(); next_start > now) {
        context_.sleep(std::chrono::ceil<milliseconds>(next_start - now));
      }
    }
    Fail("no verdict after " + Plural(result_.rounds, "round") +
             ": the clock never reached the end of the soak (" + FormatDuration(soak_) + ")",
         false);
    return std::move(result_);
  }

 private:
  void Round(int number, std::chrono::system_clock::time_point start) {
    // A check with its own measurement policy is measured only when due; the others every round.
    std::vector<size_t> due;
    std::vector<ProbeTarget> batch;
    for (size_t i = 0; i < targets_.size(); ++i) {
      if (!Due(i, start)) continue;
      due.push_back(i);
      batch.push_back(targets_[i]);
    }
    std::vector<ProbeResult> measured = RunChecks(context_, batch);
    std::vector<ProbeResult> results = std::move(result_.last_round);
    results.resize(targets_.size());
    for (size_t k = 0; k < due.size(); ++k) {
      results[due[k]] = k < measured.size() ? std::move(measured[k]) : Missing(targets_[due[k]]);
    }
    ValidationRound round;
    round.number = number;
    round.at = Rfc3339(start);
    int judged_failed = 0;
    int judged_errored = 0;
    bool tolerated = false;  // a check with its own limits did not pass, within them
    golden_failed_ = -1;
    for (size_t i : due) {
      const ProbeResult& probe = results[i];
      const bool failed = probe.verdict.outcome == ProbeOutcome::kFailed;
      const bool errored = probe.verdict.outcome == ProbeOutcome::kErrored;
      round.failed += failed ? 1 : 0;
      round.errored += errored ? 1 : 0;
      if (failed) ++failed_rounds_[i];
      if (!probe.passed() || RetriedAfterProblem(probe)) round.problems.push_back(probe);
      if (OwnLimits(i)) {
        Measured& own = measured_[i];
        ++own.count;
        own.last = start;
        own.failed += failed ? 1 : 0;
        own.errored += errored && !probe.verdict.inconclusive ? 1 : 0;
        own.inconclusive += probe.verdict.inconclusive ? 1 : 0;
        own.consecutive_errors =
            errored && !probe.verdict.inconclusive ? own.consecutive_errors + 1 : 0;
        tolerated |= !probe.passed();
        continue;
      }
      judged_failed += failed ? 1 : 0;
      judged_errored += errored ? 1 : 0;
      // Without a golden route the product is down: one wrong answer is enough.
      if (failed && probe.golden && golden_failed_ < 0) golden_failed_ = static_cast<int>(i);
    }
    round.passed = round.failed == 0 && round.errored == 0;
    Count(judged_failed, judged_errored, tolerated);
    Log(round, static_cast<int>(due.size()));
    result_.history.push_back(std::move(round));
    result_.last_round = std::move(results);
    result_.elapsed = std::chrono::duration_cast<milliseconds>(context_.now() - first_start_);
  }

  /// " on NAMESPACE" of a service's check; " in ENV" of a check of the environment as a whole.
  std::string Where(const ProbeResult& probe) const {
    return probe.service.empty() ? " in " + env_.name : " on " + env_.NamespaceFor(probe.service);
  }

  /// Its own measurement policy, for a metric check that brings one (an AnalysisTemplate's).
  const plan::MeasurementLimits* OwnLimits(size_t i) const {
    const auto& metric = targets_[i].probe.metric;
    return metric && metric->limits ? &*metric->limits : nullptr;
  }

  /// Whether check `i` is measured in the round starting at `start`.
  bool Due(size_t i, std::chrono::system_clock::time_point start) const {
    const plan::MeasurementLimits* limits = OwnLimits(i);
    if (!limits) return true;
    const Measured& own = measured_[i];
    if (limits->count && own.count >= *limits->count) return false;
    return own.count == 0 || !limits->interval || start - own.last >= *limits->interval;
  }

  /// How long the checks with a count take to make all their measurements.
  static milliseconds LongestMeasuring(const std::vector<ProbeTarget>& targets) {
    milliseconds longest(0);
    for (const ProbeTarget& target : targets) {
      const auto& metric = target.probe.metric;
      if (!metric || !metric->limits || !metric->limits->count || !metric->limits->interval)
        continue;
      longest = std::max(longest, *metric->limits->interval * (*metric->limits->count - 1));
    }
    return longest;
  }

  /// Counts a round by the checks judged by rounds; a round whose only problem is a check
  /// within its own limits neither breaks the run of passes nor counts as one.
  void Count(int failed, int errored, bool tolerated) {
    ++result_.rounds;
    if (failed > 0) {
      ++result_.failures;
      consecutive_errors_ = 0;
      result_.consecutive_successes = 0;
    } else if (errored > 0) {
      ++result_.errors;
      ++consecutive_errors_;
      result_.consecutive_successes = 0;
    } else {
      consecutive_errors_ = 0;
      if (!tolerated) ++result_.consecutive_successes;
    }
  }

  void Log(const ValidationRound& round, int total) const {
    if (round.passed) {
      context_.logger.info("validate {} round {}: {}/{} passed", env_.name, round.number, total,
                           total);
      return;
    }
    const ProbeResult& first = round.problems.front();
    // An inconclusive measurement is counted apart: it is not an error of the check.
    const auto inconclusive =
        std::count_if(round.problems.begin(), round.problems.end(),
                      [](const ProbeResult& probe) { return probe.verdict.inconclusive; });
    context_.logger.info(
        "validate {} round {}: {}/{} passed, {} failed, {} errored{} ({} {}{})", env_.name,
        round.number, total - round.failed - round.errored, total, round.failed,
        round.errored - inconclusive,
        inconclusive > 0 ? ", " + std::to_string(inconclusive) + " inconclusive" : std::string(),
        ProbeName(first), AnswerText(first), Where(first));
  }

  /// Whether the last round ended the validation (limits first, then the pass, then the bound).
  bool Decided() {
    if (golden_failed_ >= 0) {
      const ProbeResult& probe = result_.last_round[static_cast<size_t>(golden_failed_)];
      // The environment's own check cannot name an image: no verdict on one.
      Fail(ProbeName(probe) + " " + AnswerText(probe) + Where(probe) +
               ": a golden check fails the validation at once",
           !probe.service.empty());
      return true;
    }
    if (OwnLimitExceeded()) return true;
    if (result_.failures > failure_limit_) {
      const int worst =
          std::max(Worst(ByRounds(result_.last_round), ProbeOutcome::kFailed, failed_rounds_), 0);
      const ProbeResult& probe = result_.last_round[static_cast<size_t>(worst)];
      Fail(ProbeName(probe) + " " + AnswerText(probe) + " in " +
               Plural(failed_rounds_[static_cast<size_t>(worst)], "round") + " (failure limit " +
               std::to_string(failure_limit_) + ")" + Where(probe),
           !probe.service.empty());
      return true;
    }
    if (consecutive_errors_ > error_limit_) {
      const std::vector<int> no_weight(targets_.size(), 0);
      const int worst =
          std::max(Worst(ByRounds(result_.last_round), ProbeOutcome::kErrored, no_weight), 0);
      const ProbeResult& probe = result_.last_round[static_cast<size_t>(worst)];
      // No answer is not a wrong answer: it cannot tell a bad build from a bad network.
      Fail(ProbeName(probe) + " " + AnswerText(probe) + Where(probe) + ": " +
               std::to_string(consecutive_errors_) +
               " consecutive rounds without an answer (error limit " +
               std::to_string(error_limit_) + ")",
           false);
      return true;
    }
    if (result_.elapsed >= soak_ && result_.consecutive_successes >= successes_needed_ &&
        CountsDone()) {
      Pass();
      return true;
    }
    if (result_.elapsed >= give_up_) {
      Fail("only " + std::to_string(result_.consecutive_successes) + " consecutive passes of " +
               std::to_string(successes_needed_) + " needed after soak (" + FormatDuration(soak_) +
               "); gave up after " + Plural(result_.rounds, "round"),
           false);  // the clock decided, not a wrong answer
      return true;
    }
    return false;
  }

  /// Whether a check with its own limits went past one (Argo Rollouts' per-metric rule: more
  /// failed measurements than failureLimit, more consecutive errors than consecutiveErrorLimit,
  /// more inconclusive ones than inconclusiveLimit); the validation then fails.
  bool OwnLimitExceeded() {
    for (size_t i = 0; i < targets_.size(); ++i) {
      const plan::MeasurementLimits* limits = OwnLimits(i);
      if (!limits) continue;
      const Measured& own = measured_[i];
      const ProbeResult& probe = result_.last_round[i];
      const std::string where = Where(probe);
      if (own.failed > limits->failure_limit) {
        Fail(ProbeName(probe) + " " + AnswerText(probe) + " in " +
                 Plural(own.failed, "measurement") + " of " + std::to_string(own.count) +
                 " (failure limit " + std::to_string(limits->failure_limit) + ")" + where,
             !probe.service.empty());
        return true;
      }
      if (own.consecutive_errors > limits->consecutive_error_limit) {
        Fail(ProbeName(probe) + " " + AnswerText(probe) + where + ": " +
                 std::to_string(own.consecutive_errors) +
                 " consecutive measurements without a value (consecutive error limit " +
                 std::to_string(limits->consecutive_error_limit) + ")",
             false);
        return true;
      }
      if (own.inconclusive > limits->inconclusive_limit) {
        Fail(ProbeName(probe) + " " + AnswerText(probe) + where + ": " +
                 Plural(own.inconclusive, "inconclusive measurement") + " (inconclusive limit " +
                 std::to_string(limits->inconclusive_limit) + ")",
             false);  // neither condition held: no verdict on the release
        return true;
      }
    }
    return false;
  }

  /// `results` with every check that has its own limits shown as passing: what the plan's
  /// rounds judge, so that a tolerated measurement is never named as their reason.
  std::vector<ProbeResult> ByRounds(std::vector<ProbeResult> results) const {
    for (size_t i = 0; i < results.size() && i < targets_.size(); ++i) {
      if (OwnLimits(i)) results[i].verdict.outcome = ProbeOutcome::kPassed;
    }
    return results;
  }

  /// Whether every check with a count has made all its measurements.
  bool CountsDone() const {
    for (size_t i = 0; i < targets_.size(); ++i) {
      const plan::MeasurementLimits* limits = OwnLimits(i);
      if (limits && limits->count && measured_[i].count < *limits->count) return false;
    }
    return true;
  }

  void Pass() {
    result_.passed = true;
    result_.reason = std::to_string(result_.consecutive_successes) + " consecutive pass" +
                     (result_.consecutive_successes == 1 ? "" : "es") + " after " +
                     FormatDuration(soak_) + " of soak (" + Plural(result_.rounds, "round");
    if (result_.failures > 0 || result_.errors > 0) {
      result_.reason += "; tolerated " + Plural(result_.failures, "failed round") + " and " +
                        Plural(result_.errors, "errored round");
    }
    result_.reason += ")";
    // A check with its own limits passes within them, not by passing every time: say what it
    // tolerated, so that the verdict claims no more than was measured.
    for (size_t i = 0; i < targets_.size(); ++i) {
      const Measured& own = measured_[i];
      if (!OwnLimits(i) || own.failed + own.errored + own.inconclusive == 0) continue;
      std::vector<std::string> tolerated;
      if (own.failed > 0) tolerated.push_back(std::to_string(own.failed) + " failed");
      if (own.errored > 0) tolerated.push_back(std::to_string(own.errored) + " without a value");
      if (own.inconclusive > 0) {
        tolerated.push_back(std::to_string(own.inconclusive) + " inconclusive");
      }
      result_.reason += "; " + ProbeName(result_.last_round[i]) +
                        " within its limits: " + Join(tolerated, ", ") + " of " +
                        Plural(own.count, "measurement");
    }
    context_.logger.info("validate {} passed: {}", env_.name, result_.reason);
  }

  /// A failed verdict; `judged` when the failure limit (wrong answers) decided it. The services
  /// judged are those whose probes answered wrong in the round that exceeded the limit.
  void Fail(std::string reason, bool judged) {
    result_.passed = false;
    result_.judged = judged;
    result_.reason = std::move(reason);
    if (judged) {
      for (size_t i = 0; i < targets_.size() && i < result_.last_round.size(); ++i) {
        if (result_.last_round[i].verdict.outcome != ProbeOutcome::kFailed) continue;
        // A check with its own limits judges only once past them.
        if (const auto* limits = OwnLimits(i);
            limits && measured_[i].failed <= limits->failure_limit) {
          continue;
        }
        const std::string& service = targets_[i].service;
        // A check of the whole environment cannot say which service's image is at fault.
        if (service.empty()) continue;
        result_.failed_probes[service].push_back(targets_[i].probe.name);
        if (result_.failed_services.count(service)) continue;
        const ProbeResult& probe = result_.last_round[i];
        result_.failed_services[service] = ProbeName(probe) + " " + AnswerText(probe) + " in " +
                                           Plural(failed_rounds_[i], "round");
      }
      if (result_.failed_services.empty()) result_.judged = false;  // nothing to name
    }
    context_.logger.warn("validate {} failed: {}", env_.name, result_.reason);
  }

  Context& context_;
  const plan::Environment& env_;
  std::vector<ProbeTarget> targets_;
  const milliseconds interval_;
  const milliseconds soak_;
  const int successes_needed_;
  const int failure_limit_;
  const int error_limit_;
  const milliseconds give_up_;
  std::vector<int> failed_rounds_;  ///< per probe: rounds it answered wrong in
  /// What a check with its own limits has measured so far.
  struct Measured {
    int count = 0;
    int failed = 0;
    int errored = 0;  ///< without a value (no data, a query error, Prometheus unreachable)
    int inconclusive = 0;
    int consecutive_errors = 0;
    std::chrono::system_clock::time_point last;
  };
  std::vector<Measured> measured_;  ///< per check; used for those with their own limits
  int golden_failed_ = -1;          ///< a golden check of the plan's rounds that answered wrong now
  int consecutive_errors_ = 0;
  std::chrono::system_clock::time_point first_start_;
  ValidationResult result_;
};

}  // namespace

ValidationResult Validate::Run(Context& context) const {
  ValidationResult result;
  const plan::Environment* env = plan_.FindEnvironment(target_env_);
  if (!env) {
    result.reason = "environment " + target_env_ + " is not in plan " + plan_.name;
    context.logger.error("validate: {}", result.reason);
    return result;
  }
  std::vector<ProbeTarget> targets;
  std::vector<std::string> skipped;  // metric checks left out after a rollback
  for (const auto& name : services_) {
    const plan::Service* service = plan_.FindService(name);
    if (!service) {
      result.reason = "service " + name + " is not in plan " + plan_.name;
      context.logger.error("validate: {}", result.reason);
      return result;
    }
    const auto waived = waived_.find(name);
    for (const auto& probe : service->probes) {
      if (probe.metric && metrics_ == MetricChecks::kSkippedAfterRollback) {
        skipped.push_back(name + " " + probe.method + " " + probe.path);
        continue;
      }
      // A golden probe is not waived for a release: without it the product is down.
      if ((!probe.golden || golden_ == GoldenWaivers::kAllowed) && waived != waived_.end() &&
          std::find(waived->second.begin(), waived->second.end(), probe.name) !=
              waived->second.end()) {
        result.waived.push_back(name + " " + probe.method + " " + probe.path);
        continue;
      }
      const auto image = images_.find(name);
      targets.push_back(CheckTargetFor(context, plan_, *env, name, probe,
                                       image != images_.end() ? image->second : std::string()));
    }
  }
  // The environment's own checks, after every wave: what the wave changed may have moved them.
  const auto waived_env = waived_.find(std::string());
  for (const auto& check : plan_.environment_checks) {
    const std::string name = "the environment's " + check.method + " " + check.path;
    if (metrics_ == MetricChecks::kSkippedAfterRollback) {
      skipped.push_back(name);
      continue;
    }
    if ((!check.golden || golden_ == GoldenWaivers::kAllowed) && waived_env != waived_.end() &&
        std::find(waived_env->second.begin(), waived_env->second.end(), check.name) !=
            waived_env->second.end()) {
      result.waived.push_back(name);
      continue;
    }
    targets.push_back(CheckTargetFor(context, plan_, *env, std::string(), check));
  }
  if (targets.empty()) {
    result.passed = true;
    result.reason = "nothing to validate: no probes for these services in " + target_env_;
    context.logger.warn("validate {}: {}", target_env_, result.reason);
    return result;
  }
  if (policy_.initial_delay > milliseconds(0)) context.sleep(policy_.initial_delay);
  std::vector<std::string> waived = std::move(result.waived);
  result = Soak(context, *env, std::move(targets), policy_).Run();
  result.waived = std::move(waived);
  if (!skipped.empty()) {
    result.reason +=
        "; not evaluated after the rollback, while Prometheus still holds the "
        "rolled-back build's samples: " +
        Join(skipped, ", ");
  }
  return result;
}

}  // namespace promote::phases
