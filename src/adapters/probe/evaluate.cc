// Implementation details: the status is judged first because a wrong status makes body checks
// meaningless (a 404 page never contains the expected JSON); JSON is parsed without exceptions
// (nlohmann's allow_exceptions = false) so a malformed body is a failed probe, not a throw.
#include "adapters/probe/evaluate.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/duration.h"
#include "plan/plan.h"

namespace promote::adapters::probe {
namespace {

/// "POST /auth/login": how a person names the request in a sentence.
std::string RequestName(const plan::Probe& probe) {
  return probe.method + " " + probe.path;
}

/// Splits "a.b.0" into {"a", "b", "0"}; an empty path gives no segments.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> segments;
  if (path.empty()) return segments;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    segments.push_back(
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return segments;
}

/// An array index written in decimal ("0", "12"); -1 for anything else.
long ArrayIndex(const std::string& segment) {
  if (segment.empty() || segment.size() > 9) return -1;
  for (char c : segment) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  }
  return std::stol(segment);
}

/// Keeps a quoted value readable in a reason: long values are cut with an ellipsis.
std::string Clip(const std::string& text) {
  constexpr size_t kMax = 80;
  return text.size() <= kMax ? text : text.substr(0, kMax) + "…";
}

}  // namespace

const char* OutcomeName(ProbeOutcome outcome) {
  switch (outcome) {
    case ProbeOutcome::kPassed:
      return "passed";
    case ProbeOutcome::kFailed:
      return "failed";
    case ProbeOutcome::kErrored:
      return "errored";
  }
  return "errored";
}

std::string NoteForStatus(int status, const std::map<std::string, std::string>& headers) {
  if (status == 404) return "route missing";
  if (status == 401) return "auth required";
  if (status == 403) return "forbidden";
  if (status >= 300 && status < 400) {
    auto location = headers.find("location");
    if (location == headers.end() || location->second.empty()) return "redirect";
    return "redirect to " + location->second;
  }
  if (status >= 500 && status < 600) return "server error";
  return "ok";
}

JsonFieldValue LookupJsonField(const std::string& json_text, const std::string& path) {
  const nlohmann::json document =
      nlohmann::json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return {JsonLookup::kNotJson, ""};
  const nlohmann::json* at = &document;
  for (const std::string& segment : SplitPath(path)) {
    if (at->is_object()) {
      auto it = at->find(segment);
      if (it == at->end()) return {JsonLookup::kMissing, ""};
      at = &*it;
    } else if (at->is_array()) {
      const long index = ArrayIndex(segment);
      if (index < 0 || static_cast<size_t>(index) >= at->size()) return {JsonLookup::kMissing, ""};
      at = &(*at)[static_cast<size_t>(index)];
    } else {
      return {JsonLookup::kMissing, ""};
    }
  }
  if (at->is_string()) return {JsonLookup::kFound, at->get<std::string>()};
  return {JsonLookup::kFound, at->dump()};
}

ProbeVerdict Evaluate(const plan::Probe& probe, const HttpResponse& response) {
  const std::string status_note = NoteForStatus(response.status, response.headers);
  if (!probe.expect.Accepts(response.status)) {
    return {ProbeOutcome::kFailed,
            RequestName(probe) + " answered " + std::to_string(response.status) + ", expected " +
                probe.expect.Describe(),
            status_note == "ok" ? "unexpected status" : status_note};
  }
  if (probe.body_contains && response.body.find(*probe.body_contains) == std::string::npos) {
    return {ProbeOutcome::kFailed, "body does not contain '" + Clip(*probe.body_contains) + "'",
            "unexpected body"};
  }
  if (probe.json) {
    const JsonFieldValue field = LookupJsonField(response.body, probe.json->path);
    switch (field.lookup) {
      case JsonLookup::kNotJson:
        return {ProbeOutcome::kFailed,
                "body is not JSON, expected json field " + probe.json->path + " to be '" +
                    Clip(probe.json->equals) + "'",
                "unexpected body"};
      case JsonLookup::kMissing:
        return {ProbeOutcome::kFailed,
                "json field " + probe.json->path + " is missing, expected '" +
                    Clip(probe.json->equals) + "'",
                "unexpected body"};
      case JsonLookup::kFound:
        if (field.text != probe.json->equals) {
          return {ProbeOutcome::kFailed,
                  "json field " + probe.json->path + " is '" + Clip(field.text) + "', expected '" +
                      Clip(probe.json->equals) + "'",
                  "unexpected body"};
        }
        break;
    }
  }
  return {ProbeOutcome::kPassed, "", status_note};
}

ProbeVerdict EvaluateFailure(const plan::Probe& probe, TransportFailure failure,
                             const std::string& detail) {
  std::string note;
  switch (failure) {
    case TransportFailure::kTimeout:
      note = "timeout after " + FormatDuration(probe.timeout);
      break;
    case TransportFailure::kConnectionRefused:
      note = "connection refused";
      break;
    case TransportFailure::kCannotConnect:
      note = "cannot connect";
      break;
    case TransportFailure::kDns:
      note = "DNS lookup failed";
      break;
    case TransportFailure::kTls:
      note = "TLS error";
      break;
    case TransportFailure::kNoReply:
      note = "no reply";
      break;
    case TransportFailure::kNotHttp:
      note = "not an HTTP answer";
      break;
    case TransportFailure::kOther:
      note = "no answer";
      break;
  }
  std::string reason = RequestName(probe) + (failure == TransportFailure::kNotHttp
                                                 ? " got an answer that is not HTTP"
                                                 : " got no answer: " + note);
  if (!detail.empty()) reason += " (" + detail + ")";
  return {ProbeOutcome::kErrored, std::move(reason), std::move(note)};
}

}  // namespace promote::adapters::probe
