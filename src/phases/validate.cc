// Implementation details: the targets are built once (plan order, probe order) so a probe keeps
// its index across rounds; per-probe counts of wrong answers are kept by that index to name the
// worst probe. Every round ends with the checks in a fixed order: limits (fail fast), then the
// pass condition, then the give-up bound, then the wait for the next round. The round count is
// bounded too, so a clock that never advances cannot make the loop endless.
#include "phases/validate.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <utility>

#include "core/time_format.h"
#include "phases/context.h"
#include "phases/targets.h"

namespace promote::phases {
namespace {

using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;
using adapters::probe::ProbeTarget;
using std::chrono::milliseconds;

// "600ms", "5s", "2m", "1m30s": as a person writes a duration in a plan.
std::string DurationText(milliseconds duration) {
  const long long ms = duration.count();
  if (ms % 1000 != 0 || ms == 0) return std::to_string(ms) + "ms";
  const long long seconds = ms / 1000;
  if (seconds < 60) return std::to_string(seconds) + "s";
  std::string text = std::to_string(seconds / 60) + "m";
  if (seconds % 60 != 0) text += std::to_string(seconds % 60) + "s";
  return text;
}

std::string Plural(int count, const std::string& word) {
  return std::to_string(count) + " " + word + (count == 1 ? "" : "s");
}

// "answered 404 (route missing)" or "got no answer (timeout after 5s)".
std::string AnswerText(const ProbeResult& probe) {
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
                   std::vector<std::string> services, plan::ValidationPolicy policy)
    : plan_(plan),
      target_env_(std::move(target_env)),
      services_(std::move(services)),
      policy_(std::move(policy)) {}

ValidationResult Validate::Run(Context& context) const {
  ValidationResult result;
  const plan::Environment* env = plan_.FindEnvironment(target_env_);
  if (!env) {
    result.reason = "environment " + target_env_ + " is not in plan " + plan_.name;
    context.logger.error("validate: {}", result.reason);
    return result;
  }
  std::vector<ProbeTarget> targets;
  for (const auto& name : services_) {
    const plan::Service* service = plan_.FindService(name);
    if (!service) {
      result.reason = "service " + name + " is not in plan " + plan_.name;
      context.logger.error("validate: {}", result.reason);
      return result;
    }
    const std::string base = BaseUrlFor(context, *env, name);
    for (const auto& probe : service->probes) targets.push_back({name, target_env_, base, probe});
  }
  if (targets.empty()) {
    result.passed = true;
    result.reason = "nothing to validate: no probes for these services in " + target_env_;
    context.logger.warn("validate {}: {}", target_env_, result.reason);
    return result;
  }

  // Policy values are clamped so that a sloppy plan cannot make the loop pass vacuously.
  const milliseconds interval = std::max(policy_.interval, milliseconds(0));
  const milliseconds soak = std::max(policy_.soak, milliseconds(0));
  const int successes_needed = std::max(policy_.successes, 1);
  const int failure_limit = std::max(policy_.failure_limit, 0);
  const int error_limit = std::max(policy_.error_limit, 0);
  const milliseconds give_up = soak + interval * (successes_needed + 1);
  const long long max_rounds =
      give_up.count() / std::max<long long>(interval.count(), 1) + successes_needed + 2;

  if (policy_.initial_delay > milliseconds(0)) context.sleep(policy_.initial_delay);

  const auto first_start = context.now();
  int consecutive_errors = 0;
  std::vector<int> failed_rounds(targets.size(), 0);  // per probe: rounds it answered wrong in
  auto fail = [&](std::string reason) {
    result.passed = false;
    result.reason = std::move(reason);
    context.logger.warn("validate {} failed: {}", target_env_, result.reason);
    return result;
  };

  for (long long round_index = 0; round_index < max_rounds; ++round_index) {
    const auto round_start = context.now();
    std::vector<ProbeResult> results = context.prober.Run(targets);
    results.resize(std::min(results.size(), targets.size()));
    for (size_t i = results.size(); i < targets.size(); ++i) results.push_back(Missing(targets[i]));

    ValidationRound round;
    round.number = static_cast<int>(round_index) + 1;
    round.at = Rfc3339(round_start);
    for (size_t i = 0; i < results.size(); ++i) {
      const ProbeResult& probe = results[i];
      if (probe.verdict.outcome == ProbeOutcome::kFailed) {
        ++round.failed;
        ++failed_rounds[i];
      } else if (probe.verdict.outcome == ProbeOutcome::kErrored) {
        ++round.errored;
      }
      if (!probe.passed() || RetriedAfterProblem(probe)) round.problems.push_back(probe);
    }
    round.passed = round.failed == 0 && round.errored == 0;
    ++result.rounds;
    if (round.failed > 0) {
      ++result.failures;
      consecutive_errors = 0;
      result.consecutive_successes = 0;
    } else if (round.errored > 0) {
      ++result.errors;
      ++consecutive_errors;
      result.consecutive_successes = 0;
    } else {
      consecutive_errors = 0;
      ++result.consecutive_successes;
    }

    const int total = static_cast<int>(results.size());
    if (round.passed) {
      context.logger.info("validate {} round {}: {}/{} passed", target_env_, round.number, total,
                          total);
    } else {
      const ProbeResult& first = round.problems.front();
      context.logger.info("validate {} round {}: {}/{} passed, {} failed, {} errored ({} {} on {})",
                          target_env_, round.number, total - round.failed - round.errored, total,
                          round.failed, round.errored, ProbeName(first), AnswerText(first),
                          env->NamespaceFor(first.service));
    }
    result.history.push_back(std::move(round));
    result.last_round = std::move(results);
    result.elapsed = std::chrono::duration_cast<milliseconds>(context.now() - first_start);

    // Fail fast: limits first, whatever the soak.
    if (result.failures > failure_limit) {
      const int worst = Worst(result.last_round, ProbeOutcome::kFailed, failed_rounds);
      const ProbeResult& probe = result.last_round[static_cast<size_t>(std::max(worst, 0))];
      return fail(ProbeName(probe) + " " + AnswerText(probe) + " in " +
                  Plural(failed_rounds[static_cast<size_t>(std::max(worst, 0))], "round") +
                  " (failure limit " + std::to_string(failure_limit) + ") on " +
                  env->NamespaceFor(probe.service));
    }
    if (consecutive_errors > error_limit) {
      const std::vector<int> no_weight(targets.size(), 0);
      const int worst = Worst(result.last_round, ProbeOutcome::kErrored, no_weight);
      const ProbeResult& probe = result.last_round[static_cast<size_t>(std::max(worst, 0))];
      return fail(ProbeName(probe) + " " + AnswerText(probe) + " on " +
                  env->NamespaceFor(probe.service) + ": " + std::to_string(consecutive_errors) +
                  " consecutive rounds without an answer " + "(error limit " +
                  std::to_string(error_limit) + ")");
    }
    if (result.elapsed >= soak && result.consecutive_successes >= successes_needed) {
      result.passed = true;
      result.reason = std::to_string(result.consecutive_successes) + " consecutive pass" +
                      (result.consecutive_successes == 1 ? "" : "es") + " after " +
                      DurationText(soak) + " of soak (" + Plural(result.rounds, "round");
      if (result.failures > 0 || result.errors > 0) {
        result.reason += "; tolerated " + Plural(result.failures, "failed round") + " and " +
                         Plural(result.errors, "errored round");
      }
      result.reason += ")";
      context.logger.info("validate {} passed: {}", target_env_, result.reason);
      return result;
    }
    if (result.elapsed >= give_up) {
      return fail("only " + std::to_string(result.consecutive_successes) +
                  " consecutive passes of " + std::to_string(successes_needed) +
                  " needed after soak (" + DurationText(soak) + "); gave up after " +
                  Plural(result.rounds, "round"));
    }

    // The next round starts `interval` after this one started; only the remainder is slept.
    const auto next_start = round_start + interval;
    const auto now = context.now();
    if (next_start > now) {
      context.sleep(std::chrono::ceil<milliseconds>(next_start - now));
    }
  }
  return fail("no verdict after " + Plural(result.rounds, "round") +
              ": the clock never reached the end of the soak (" + DurationText(soak) + ")");
}

}  // namespace promote::phases
