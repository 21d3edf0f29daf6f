// The only code that probes services over HTTP. A Prober runs a batch of plan probes against
// services' base URLs, concurrently, with each probe's timeout and retries, and returns one result
// per probe in input order with every attempt kept as evidence. libcurl stays inside prober.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "adapters/probe/evaluate.h"
#include "plan/plan.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote::adapters::probe {

/// One probe to run: which service in which environment, its base URL, and the probe itself.
struct ProbeTarget {
  std::string service;
  std::string environment;
  std::string base_url;  ///< "https://api.keybuzz.io"; the probe's path is appended
  plan::Probe probe;
};

/// One try of a probe. `status` is -1 when no answer came.
struct ProbeAttempt {
  ProbeOutcome outcome = ProbeOutcome::kErrored;
  int status = -1;
  std::chrono::milliseconds latency{0};
  std::string reason;  ///< empty on a pass
  std::string note;    ///< the audit note of this attempt ("timeout after 5s", "ok")
};

/// Everything known about one probe after all its attempts: who it was, the verdict of the final
/// attempt, and every attempt (an error stays visible even when a retry then passed).
struct ProbeResult {
  std::string service;
  std::string environment;
  std::string probe_name;
  std::string method;
  std::string path;
  std::string url;
  bool golden = false;
  /// A metric check (a Prometheus query): `status` is -1 and the note holds its value.
  bool metric = false;
  /// A metric check's PromQL as sent, its placeholders filled in (the evidence beside its
  /// value); "" for an HTTP probe.
  std::string query;
  ProbeVerdict verdict;                  ///< of the final attempt
  int status = -1;                       ///< of the final attempt, -1 when no answer
  std::chrono::milliseconds latency{0};  ///< of the final attempt
  std::vector<ProbeAttempt> attempts;    ///< all of them, in order
  std::string body_excerpt;              ///< the first bytes of the final answer, for evidence

  bool passed() const { return verdict.outcome == ProbeOutcome::kPassed; }
};

/// Runs probes. An interface so phases can take a fake in unit tests. Never fails as a whole:
/// anything that goes wrong with one probe is that probe's kErrored verdict.
class Prober {
 public:
  virtual ~Prober();
  /// One result per target, in the order of `targets`.
  virtual std::vector<ProbeResult> Run(const std::vector<ProbeTarget>& targets) = 0;
};

/// Tuning of HttpProber; the defaults suit an audit of a few dozen endpoints.
struct HttpProberOptions {
  int max_in_flight = 16;                        ///< requests open at once across all targets
  std::chrono::milliseconds retry_backoff{200};  ///< fixed pause before each retry
  std::size_t body_excerpt_bytes = 200;
};

/// The real prober (libcurl's multi interface, all transfers driven from the calling thread).
/// Redirects are not followed (a 307 is the answer); a request body is sent as-is with
/// `Content-Type: application/json` unless the plan's headers set one; plan headers are sent;
/// the User-Agent is `promote/<version>`. Logs each attempt (method, URL, status, latency) at
/// debug level and body excerpts only at trace level; request header values are never logged.
/// Run may be called from several threads at once (each call has its own curl handles).
class HttpProber final : public Prober {
 public:
  /// A null logger disables logging.
  explicit HttpProber(std::shared_ptr<spdlog::logger> logger, HttpProberOptions options = {});
  ~HttpProber() override;

  std::vector<ProbeResult> Run(const std::vector<ProbeTarget>& targets) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  HttpProberOptions options_;
};

/// The identity half of a target's result (service, probe, method, URL, golden), before any
/// attempt: what the prober fills in, and what stands in for a probe with no result at all.
ProbeResult ResultFor(const ProbeTarget& target);

/// The URL a target's probe is sent to: base URL and path joined with exactly one `/`.
std::string ProbeUrl(const std::string& base_url, const std::string& path);

}  // namespace promote::adapters::probe
