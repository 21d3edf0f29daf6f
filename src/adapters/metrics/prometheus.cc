// Implementation details: one easy handle per query, made on the calling thread; queries run
// kConcurrent at a time. The answer's JSON is read with the tolerant helpers of the kube adapter's
// readers' kind (a member of the wrong type reads as missing), so a strange answer is an error
// result, never an exception.
#include "adapters/metrics/prometheus.h"

#include <curl/curl.h>
#include <spdlog/logger.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "adapters/http/curl_global.h"
#include "core/parallel.h"
#include "core/text.h"
#include "core/version.h"

namespace promote::adapters::metrics {
namespace {

using nlohmann::json;
using probe::ProbeOutcome;
using probe::ProbeResult;
using probe::ProbeTarget;
using probe::ProbeVerdict;

constexpr std::size_t kConcurrent = 8;
constexpr std::size_t kMaxBody = 256 * 1024;  // an instant query of one series is small

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* sink) {
  auto& body = *static_cast<std::string*>(sink);
  const std::size_t bytes = size * count;
  if (body.size() < kMaxBody) body.append(data, std::min(bytes, kMaxBody - body.size()));
  return bytes;
}

std::string Escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

/// "[1700000000.1, \"0.97\"]" → the number, NaN, or nullopt when it is not a sample.
std::optional<double> SampleValue(const json& sample) {
  if (!sample.is_array() || sample.size() != 2 || !sample[1].is_string()) return std::nullopt;
  const std::string text = sample[1].get<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

MetricSource::~MetricSource() = default;

QueryAnswer ReadQueryAnswer(long status, const std::string& body) {
  QueryAnswer answer;
  if (status == 0) {
    answer.kind = QueryAnswer::Kind::kUnreachable;
    answer.detail = body;
    return answer;
  }
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const auto text = [&](const json& object, const char* key) {
    return object.is_object() && object.contains(key) && object[key].is_string()
               ? object[key].get<std::string>()
               : std::string();
  };
  answer.kind = QueryAnswer::Kind::kError;
  if (!doc.is_object()) {
    answer.detail = "HTTP " + std::to_string(status) + ", not Prometheus' API answer";
    return answer;
  }
  if (text(doc, "status") != "success") {
    answer.detail =
        text(doc, "errorType") + (text(doc, "error").empty() ? "" : ": ") + text(doc, "error");
    if (answer.detail.empty()) answer.detail = "HTTP " + std::to_string(status);
    return answer;
  }
  const json& data = doc.contains("data") ? doc["data"] : json();
  const std::string type = text(data, "resultType");
  const json& result = data.is_object() && data.contains("result") ? data["result"] : json();
  std::optional<double> value;
  if (type == "scalar") {
    value = SampleValue(result);
  } else if (type == "vector" && result.is_array()) {
    if (result.empty()) {
      answer.kind = QueryAnswer::Kind::kNoData;
      answer.detail = "no data";
      return answer;
    }
    if (result.size() > 1) {
      answer.detail = std::to_string(result.size()) + " series, expected 1 (aggregate with sum)";
      return answer;
    }
    if (result[0].is_object() && result[0].contains("value"))
      value = SampleValue(result[0]["value"]);
  } else {
    answer.detail = "a " + (type.empty() ? std::string("malformed") : type) +
                    " result, expected a vector of one series or a scalar";
    return answer;
  }
  if (!value) {
    answer.detail = "a sample that is not a number";
    return answer;
  }
  if (std::isnan(*value)) {
    answer.kind = QueryAnswer::Kind::kNoData;
    answer.detail = "no data (NaN: nothing to compute it from)";
    return answer;
  }
  answer.kind = QueryAnswer::Kind::kValue;
  answer.value = *value;
  answer.detail.clear();
  return answer;
}

namespace {

// The verdict on a value: a range (below min / above max fails), or Argo Rollouts' rule for its
// conditions (failure holds, or success alone does not: failed; both given, neither holds:
// inconclusive, which is no verdict and so errored, marked as such).
ProbeVerdict JudgeValue(const std::string& name, const plan::MetricQuery& metric, double number) {
  const std::string value = NumberText(number);
  if (metric.min && number < *metric.min) {
    return {ProbeOutcome::kFailed,
            name + " is " + value + ", below its min " + NumberText(*metric.min),
            value + ", below min " + NumberText(*metric.min)};
  }
  if (metric.max && number > *metric.max) {
    return {ProbeOutcome::kFailed,
            name + " is " + value + ", above its max " + NumberText(*metric.max),
            value + ", above max " + NumberText(*metric.max)};
  }
  if (metric.failure && metric.failure->Holds(number)) {
    return {ProbeOutcome::kFailed,
            name + " is " + value + ": its failureCondition " + metric.failure->text + " holds",
            value + ", failure: " + metric.failure->text};
  }
  if (metric.success && !metric.success->Holds(number)) {
    if (!metric.failure) {
      return {ProbeOutcome::kFailed,
              name + " is " + value + ": its successCondition " + metric.success->text +
                  " does not hold",
              value + ", not " + metric.success->text};
    }
    ProbeVerdict inconclusive{ProbeOutcome::kErrored,
                              name + " is " + value + ": neither its successCondition " +
                                  metric.success->text + " nor its failureCondition " +
                                  metric.failure->text + " holds",
                              value + ", inconclusive"};
    inconclusive.inconclusive = true;
    return inconclusive;
  }
  // The rule beside the value: a report shows what the check holds it to.
  return {ProbeOutcome::kPassed, "", value + " (" + metric.Describe() + ")"};
}

}  // namespace

ProbeResult JudgeMetric(const ProbeTarget& target, const QueryAnswer& answer,
                        std::chrono::milliseconds latency) {
  ProbeResult result = probe::ResultFor(target);
  result.url = target.base_url;
  result.latency = latency;
  auto& verdict = result.verdict;
  switch (answer.kind) {
    case QueryAnswer::Kind::kValue: {
      const plan::MetricQuery& metric = *target.probe.metric;
      const std::string value = NumberText(answer.value);
      result.body_excerpt = value;
      verdict = JudgeValue(target.probe.name, metric, answer.value);
      break;
    }
    case QueryAnswer::Kind::kNoData:
      verdict = {ProbeOutcome::kErrored, target.probe.name + ": " + answer.detail, "no data"};
      // The plan's noData: inconclusive: no verdict either way, counted as Argo counts one.
      if (target.probe.metric->no_data_inconclusive) {
        verdict.note = "no data, inconclusive";
        verdict.inconclusive = true;
      }
      break;
    case QueryAnswer::Kind::kError:
      verdict = {ProbeOutcome::kErrored, target.probe.name + ": query error: " + answer.detail,
                 "query error"};
      break;
    case QueryAnswer::Kind::kUnreachable:
      verdict = {ProbeOutcome::kErrored,
                 target.probe.name + ": Prometheus unreachable: " + answer.detail,
                 "Prometheus unreachable"};
      break;
  }
  result.attempts.push_back({verdict.outcome, -1, latency, verdict.reason, verdict.note});
  return result;
}

PrometheusClient::PrometheusClient(
    std::map<std::string, std::map<std::string, std::string>> headers,
    std::shared_ptr<spdlog::logger> logger)
    : headers_(std::move(headers)), logger_(std::move(logger)) {}

PrometheusClient::~PrometheusClient() = default;

std::vector<ProbeResult> PrometheusClient::Run(const std::vector<ProbeTarget>& targets) {
  http::EnsureCurlInitialised();
  std::vector<ProbeResult> results(targets.size());
  ForEachConcurrently(targets.size(), kConcurrent, [&](std::size_t i) {
    const ProbeTarget& target = targets[i];
    if (!target.probe.metric) {
      results[i] = probe::ResultFor(target);
      results[i].verdict = {ProbeOutcome::kErrored, "not a metric check", "no result"};
      return;
    }
    std::string base = target.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    const std::string url = base + "/api/v1/query?query=" + Escape(target.probe.metric->query);
    const auto started = std::chrono::steady_clock::now();
    std::string body;
    long status = 0;
    CURL* easy = curl_easy_init();
    curl_slist* headers = nullptr;
    std::vector<std::string> lines;
    if (auto env = headers_.find(target.environment); env != headers_.end()) {
      for (const auto& [name, variable] : env->second) {
        const char* value = std::getenv(variable.c_str());
        lines.push_back(name + ": " + (value ? value : ""));
      }
    }
    for (const auto& line : lines) headers = curl_slist_append(headers, line.c_str());
    std::array<char, CURL_ERROR_SIZE> why{};
    const std::string agent = std::string("promote/") + kVersion;
    CURLcode code = CURLE_OUT_OF_MEMORY;
    if (easy != nullptr) {
      curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
      curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::max<long long>(target.probe.timeout.count(), 1)));
      curl_easy_setopt(easy, CURLOPT_USERAGENT, agent.c_str());
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, why.data());
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
      code = curl_easy_perform(easy);
      if (code == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_cleanup(easy);
    }
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
      status = 0;
      body = why[0] != '\0' ? why.data() : curl_easy_strerror(code);
    }
    const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    results[i] = JudgeMetric(target, ReadQueryAnswer(status, body), latency);
    if (logger_) {
      logger_->debug("metric {} {} in {}: {}", target.service, target.probe.name,
                     target.environment, results[i].verdict.note);
    }
  });
  return results;
}

}  // namespace promote::adapters::metrics
