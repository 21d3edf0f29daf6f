// The validate phase: after a wave is rolled out, probes the target during a soak time and
// decides pass or fail with thresholds, like Argo Rollouts' analysis: a failure limit (the
// service answered wrong) kept apart from an error limit (no answer: timeout, refused). It fails
// fast: as soon as a limit is exceeded the verdict is failed, so rollback starts at once rather
// than after a global timeout (Helm's `--atomic`). Read-only: it only calls the Prober.
//
// The contract (ValidationPolicy from the plan):
// - Sleeps `initial_delay` through context.sleep, then runs rounds. A round runs every probe of
//   the given services in the target environment in one Prober batch (concurrently). The next
//   round starts `interval` after the previous one *started*: only the remainder is slept, never
//   a negative time.
// - A round passes when every probe passes. A round in which any probe answered wrong (kFailed)
//   is a failed round (failures += 1). A round with no wrong answer but some probe without an
//   answer (kErrored) is an errored round (errors += 1; the error limit applies to *consecutive*
//   errored rounds). A passing round resets the consecutive error count and increments
//   consecutive_successes, which any non-passing round resets to 0.
// - Fails as soon as failures > failure_limit, or consecutive errored rounds > error_limit. The
//   reason names the worst probe of the last round (a golden one first, then the one wrong in
//   the most rounds) with method, path, status and note, namespace, and the limit.
// - Passes when the time since the first round started is ≥ soak AND consecutive_successes ≥
//   successes (at least 1, so the final round always passed: golden probes all pass). When the
//   soak is over but the successes are not reached, it keeps going, bounded: it gives up (failed,
//   "only N consecutive passes of M needed after soak") once that time is ≥ soak + successes ×
//   interval + interval.
// - Every loop is bounded in count as well as in time, and time is read only through
//   context.now() and context.sleep(), so tests drive a fake clock.
// - Services without any probe leave nothing to check: the verdict is passed without a round,
//   and the reason says so. An unknown environment or service is a failed verdict.
// - Each round is logged at info level ("validate prod round 3: 16/16 passed").
// - Waived probes (not golden, failing in the source as well) are not run: the target is judged
//   only on what the source proved. A golden probe is never waived.
// - A failure decided by the failure limit is `judged` (a verdict on the images, naming each
//   service whose probe answered wrong in the round that exceeded it); one decided by missing
//   answers, or by the clock (giving up after the soak), is not; nor is one decided by the
//   plan's environment checks alone (they hold the whole environment to a value, and cannot
//   name the image at fault).
// - The plan's environment checks are validated with every wave's services, as checks of no
//   service (ProbeResult.service empty, "in ENV" in the reasons); waived under the key "".
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "adapters/probe/prober.h"
#include "plan/plan.h"

namespace promote::phases {

struct Context;

/// One round of probes during validation.
struct ValidationRound {
  int number = 0;  ///< 1-based
  std::string at;  ///< when the round started, RFC 3339 UTC
  bool passed = false;
  int failed = 0;   ///< probes that answered wrong in this round
  int errored = 0;  ///< probes that got no answer in this round
  /// Evidence: every probe that did not pass, and every probe that passed only after a retry
  /// (its earlier attempts stay visible in `attempts`).
  std::vector<adapters::probe::ProbeResult> problems;
};

/// The verdict on one wave (or any set of services) in the target environment.
struct ValidationResult {
  bool passed = false;
  /// A sentence: "golden POST /auth/login answered 500 (server error) in 3 rounds (failure limit
  /// 2) on keybuzz-api-prod" or "3 consecutive passes after 5s of soak (6 rounds)".
  std::string reason;
  int rounds = 0;
  int failures = 0;  ///< failed rounds (some probe answered wrong)
  int errors = 0;    ///< errored rounds in total (no wrong answer, but some probe unanswered)
  int consecutive_successes = 0;
  std::chrono::milliseconds elapsed{0};                  ///< since the first round started
  std::vector<ValidationRound> history;                  ///< every round, problems kept as evidence
  std::vector<adapters::probe::ProbeResult> last_round;  ///< all results of the final round
  /// A failure decided by wrong answers (a verdict on what runs), not by missing ones.
  bool judged = false;
  /// On a judged failure: each service whose probes answered wrong, with its worst answer.
  std::map<std::string, std::string> failed_services;
  /// On a judged failure: per service, the names of its probes that answered wrong.
  std::map<std::string, std::vector<std::string>> failed_probes;
  /// Probes not run because the source fails them too: "api GET /metrics".
  std::vector<std::string> waived;
};

/// Per service, the names of probes the target is not held to (they fail in the source too).
using Waivers = std::map<std::string, std::vector<std::string>>;

/// Whether waivers may cover golden probes: never for a release, but a rollback is judged
/// against what the target was before the run, golden failures included.
enum class GoldenWaivers { kNever, kAllowed };

/// Whether metric checks are evaluated. Right after a rollback they are not: Prometheus still
/// holds the rolled-back build's samples for a scrape interval and the query's window, so they
/// would judge the build that is gone, not the release that is back; the probes judge that.
enum class MetricChecks { kEvaluated, kSkippedAfterRollback };

/// Service → the image it runs in the target: what {image} in its metric checks' queries means.
using Images = std::map<std::string, std::string>;

/// Validates `services` of `plan` in `target_env` under `policy` (see the contract above).
class Validate {
 public:
  Validate(const plan::Plan& plan, std::string target_env, std::vector<std::string> services,
           plan::ValidationPolicy policy, Waivers waived = {},
           GoldenWaivers golden = GoldenWaivers::kNever,
           MetricChecks metrics = MetricChecks::kEvaluated, Images images = {});

  ValidationResult Run(Context& context) const;

 private:
  const plan::Plan& plan_;
  std::string target_env_;
  std::vector<std::string> services_;
  plan::ValidationPolicy policy_;
  Waivers waived_;
  GoldenWaivers golden_;
  MetricChecks metrics_;
  Images images_;
};

}  // namespace promote::phases
