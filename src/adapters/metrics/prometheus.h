// The only code that asks Prometheus for metrics: a metric check (plan::Probe with `metric`) is
// an instant query whose value must lie in a range. Its result is a ProbeResult like an HTTP
// probe's, so validation counts it, the audit reports it and a rollback is decided by it the
// same way: a value out of range is a wrong answer (kFailed, against the failure limit); no data,
// a query error or an unreachable Prometheus is no answer (kErrored, against the error limit).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/probe/prober.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote::adapters::metrics {

/// Evaluates metric checks; an interface so the phases' tests can take a fake.
class MetricSource {
 public:
  virtual ~MetricSource();
  /// One result per target, in order. Each target's probe has `metric` set, its query already
  /// expanded, and `base_url` is the environment's Prometheus. Never fails as a whole.
  virtual std::vector<probe::ProbeResult> Run(const std::vector<probe::ProbeTarget>& targets) = 0;
};

/// What one instant query answered.
struct QueryAnswer {
  /// How the query ended.
  enum class Kind {
    kValue,        ///< one number
    kNoData,       ///< an empty result, or NaN (a rate over no requests)
    kError,        ///< Prometheus refused or failed the query (bad_data, timeout, …)
    kUnreachable,  ///< no answer from Prometheus
  };
  Kind kind = Kind::kUnreachable;
  double value = 0;
  std::string detail;  ///< why, when it is not a value ("2 series, expected 1", the error)
};

/// Reads Prometheus' answer to GET /api/v1/query (`status` 0: no answer came, `body` is then the
/// transport error): a vector of exactly one sample, or a scalar, is a value; an empty vector or
/// NaN is no data; several series, an error status or a body that is not the API's JSON is an
/// error. Pure.
QueryAnswer ReadQueryAnswer(long status, const std::string& body);

/// The check's result from its answer: in range passes ("0.97"); out of range fails ("0.90,
/// below min 0.95"); anything else is errored ("no data", "query error: …", "Prometheus
/// unreachable: …"). The value's text is kept as the result's body excerpt. Pure.
probe::ProbeResult JudgeMetric(const probe::ProbeTarget& target, const QueryAnswer& answer,
                               std::chrono::milliseconds latency);

/// The real source: GET BASE/api/v1/query?query=Q through libcurl, a few at a time, each
/// within the check's timeout, with the headers the environment's `prometheus.headers` name
/// (values read from their environment variables when sent; never logged).
class PrometheusClient final : public MetricSource {
 public:
  /// `headers`: per environment, header name → the environment variable holding its value.
  PrometheusClient(std::map<std::string, std::map<std::string, std::string>> headers,
                   std::shared_ptr<spdlog::logger> logger);
  ~PrometheusClient() override;

  std::vector<probe::ProbeResult> Run(const std::vector<probe::ProbeTarget>& targets) override;

 private:
  std::map<std::string, std::map<std::string, std::string>> headers_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace promote::adapters::metrics
