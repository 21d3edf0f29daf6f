// Judging one HTTP answer against a plan probe, and naming what went wrong the way a person
// writes it in an audit table ("route missing", "auth required"). Pure: no I/O, no clock, so the
// audit, the validator and their tests share one definition of "healthy".
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace promote::plan {
struct Probe;
}  // namespace promote::plan

namespace promote::adapters::probe {

/// How much of a response body is kept for matching; the rest is read and dropped.
inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;

/// One HTTP answer as the prober saw it.
struct HttpResponse {
  int status = 0;
  std::string body;                            ///< at most kMaxBodyBytes
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::chrono::milliseconds latency{0};
};

/// How a probe ended. A wrong answer (kFailed) and no answer (kErrored) count against different
/// limits during validation, as Argo Rollouts' failureLimit and consecutiveErrorLimit do.
enum class ProbeOutcome {
  kPassed,
  kFailed,   ///< the service answered, but not as expected
  kErrored,  ///< no answer: timeout, connection refused, DNS, TLS
};

/// The verdict on one attempt: the outcome, a sentence saying what was wrong (empty on a pass)
/// and a short note for the audit table ("route missing", "timeout after 5s", "ok").
struct ProbeVerdict {
  ProbeOutcome outcome = ProbeOutcome::kErrored;
  std::string reason;
  std::string note;
  /// A metric's value that neither passes nor fails it (Argo Rollouts' Inconclusive: both
  /// conditions given, neither holds). Its outcome is kErrored, for it is no verdict; a check
  /// with its own limits counts it against its inconclusiveLimit instead.
  bool inconclusive = false;
};

/// Why no answer came; the prober maps its transport errors onto these.
enum class TransportFailure {
  kTimeout,
  kConnectionRefused,
  kCannotConnect,  ///< unreachable, no route: anything but an explicit refusal
  kDns,
  kTls,
  kNoReply,  ///< the connection closed or broke before a complete answer
  kNotHttp,  ///< something answered, but not in HTTP (another protocol on the port, garbage)
  kOther,
};

/// "passed", "failed", "errored".
const char* OutcomeName(ProbeOutcome outcome);

/// The audit note for an answer: "route missing" (404), "auth required" (401), "forbidden" (403),
/// "redirect to /login" (3xx, from the Location header; "redirect" without one), "server error"
/// (5xx), "ok" for anything else.
std::string NoteForStatus(int status, const std::map<std::string, std::string>& headers);

/// Judges `response` against `probe`: the status first (StatusExpectation::Accepts), then
/// bodyContains, then the JSON field. The note describes the status; when the status is refused
/// but has no name of its own it is "unexpected status", and when only the body is wrong it is
/// "unexpected body". A JSON field check on a body that is not JSON fails with a reason.
ProbeVerdict Evaluate(const plan::Probe& probe, const HttpResponse& response);

/// The kErrored verdict for an attempt that got no answer. `detail` (e.g. libcurl's message) is
/// appended to the reason when not empty. Note: "timeout after 5s", "connection refused",
/// "cannot connect", "DNS lookup failed", "TLS error", "no reply", "no answer".
ProbeVerdict EvaluateFailure(const plan::Probe& probe, TransportFailure failure,
                             const std::string& detail);

/// Whether a dotted JSON path led to a value.
enum class JsonLookup { kFound, kNotJson, kMissing };

/// What LookupJsonField found: the outcome, and the value as text when kFound.
struct JsonFieldValue {
  JsonLookup lookup = JsonLookup::kMissing;
  std::string text;
};

/// The value at a dotted path in a JSON text (`data.service`; numbers index arrays:
/// `items.0.id`), as text: a string as it is, anything else as compact JSON (`3`, `true`,
/// `null`). An empty `path` means the whole document.
JsonFieldValue LookupJsonField(const std::string& json_text, const std::string& path);

}  // namespace promote::adapters::probe
