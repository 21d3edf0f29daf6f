// Evaluate judged without a network: statuses, bodies, JSON fields, notes and transport errors.
#include "adapters/probe/evaluate.h"

#include <catch2/catch.hpp>

#include "plan/plan.h"

namespace promote::adapters::probe {
namespace {

plan::Probe MakeProbe(std::string method, std::string path) {
  plan::Probe probe;
  probe.name = "test";
  probe.method = std::move(method);
  probe.path = std::move(path);
  probe.expect.codes = {200};
  return probe;
}

HttpResponse Answer(int status, std::string body = "",
                    std::map<std::string, std::string> headers = {}) {
  return {status, std::move(body), std::move(headers), std::chrono::milliseconds(5)};
}

TEST_CASE("Evaluate judges the status by the probe's expectation", "[probe]") {
  plan::Probe probe = MakeProbe("GET", "/health");

  SECTION("an exact code") {
    CHECK(Evaluate(probe, Answer(200)).outcome == ProbeOutcome::kPassed);
    CHECK(Evaluate(probe, Answer(200)).note == "ok");
    const ProbeVerdict wrong = Evaluate(probe, Answer(204));
    CHECK(wrong.outcome == ProbeOutcome::kFailed);
    CHECK(wrong.reason == "GET /health answered 204, expected 200");
    CHECK(wrong.note == "unexpected status");
  }
  SECTION("not 404: the login route exists, whatever it answers") {
    probe = MakeProbe("POST", "/auth/login");
    probe.expect = {};
    probe.expect.not_codes = {404};
    CHECK(Evaluate(probe, Answer(400)).outcome == ProbeOutcome::kPassed);
    const ProbeVerdict unauthorised = Evaluate(probe, Answer(401));
    CHECK(unauthorised.outcome == ProbeOutcome::kPassed);
    CHECK(unauthorised.note == "auth required");
    const ProbeVerdict missing = Evaluate(probe, Answer(404));
    CHECK(missing.outcome == ProbeOutcome::kFailed);
    CHECK(missing.reason == "POST /auth/login answered 404, expected not 404");
    CHECK(missing.note == "route missing");
  }
  SECTION("a class, a list and a range") {
    probe.expect = {};
    probe.expect.ranges = {{200, 299}};
    CHECK(Evaluate(probe, Answer(204)).outcome == ProbeOutcome::kPassed);
    CHECK(Evaluate(probe, Answer(301)).outcome == ProbeOutcome::kFailed);

    probe.expect = {};
    probe.expect.codes = {200, 401};
    CHECK(Evaluate(probe, Answer(401)).outcome == ProbeOutcome::kPassed);
    CHECK(Evaluate(probe, Answer(403)).outcome == ProbeOutcome::kFailed);
    CHECK(Evaluate(probe, Answer(403)).reason == "GET /health answered 403, expected 200 or 401");
    CHECK(Evaluate(probe, Answer(403)).note == "forbidden");

    probe.expect = {};
    probe.expect.ranges = {{200, 399}};
    CHECK(Evaluate(probe, Answer(302, "", {{"location", "/login"}})).outcome ==
          ProbeOutcome::kPassed);
    const ProbeVerdict server_error = Evaluate(probe, Answer(503));
    CHECK(server_error.outcome == ProbeOutcome::kFailed);
    CHECK(server_error.reason == "GET /health answered 503, expected 200-399");
    CHECK(server_error.note == "server error");
  }
}

TEST_CASE("NoteForStatus names answers as an audit table does", "[probe]") {
  CHECK(NoteForStatus(200, {}) == "ok");
  CHECK(NoteForStatus(404, {}) == "route missing");
  CHECK(NoteForStatus(401, {}) == "auth required");
  CHECK(NoteForStatus(403, {}) == "forbidden");
  CHECK(NoteForStatus(307, {{"location", "/login"}}) == "redirect to /login");
  CHECK(NoteForStatus(301, {}) == "redirect");
  CHECK(NoteForStatus(500, {}) == "server error");
  CHECK(NoteForStatus(502, {}) == "server error");
}

TEST_CASE("Evaluate checks bodyContains after the status", "[probe]") {
  plan::Probe probe = MakeProbe("GET", "/health");
  probe.body_contains = R"("service":"keybuzz-api")";

  CHECK(Evaluate(probe, Answer(200, R"({"status":"ok","service":"keybuzz-api"})")).outcome ==
        ProbeOutcome::kPassed);
  const ProbeVerdict other = Evaluate(probe, Answer(200, R"({"service":"keybuzz-client"})"));
  CHECK(other.outcome == ProbeOutcome::kFailed);
  CHECK(other.reason == R"(body does not contain '"service":"keybuzz-api"')");
  CHECK(other.note == "unexpected body");
  // A wrong status is the reason even when the body would also be wrong.
  CHECK(Evaluate(probe, Answer(404, "not found")).note == "route missing");
}

TEST_CASE("Evaluate checks a JSON field by dotted path", "[probe]") {
  plan::Probe probe = MakeProbe("GET", "/health");
  probe.json = plan::JsonFieldMatch{"data.service", "keybuzz-api"};

  SECTION("a matching string") {
    CHECK(Evaluate(probe, Answer(200, R"({"data":{"service":"keybuzz-api"}})")).outcome ==
          ProbeOutcome::kPassed);
  }
  SECTION("a different value") {
    const ProbeVerdict verdict = Evaluate(probe, Answer(200, R"({"data":{"service":"x"}})"));
    CHECK(verdict.outcome == ProbeOutcome::kFailed);
    CHECK(verdict.reason == "json field data.service is 'x', expected 'keybuzz-api'");
  }
  SECTION("a missing field") {
    const ProbeVerdict verdict = Evaluate(probe, Answer(200, R"({"data":{}})"));
    CHECK(verdict.outcome == ProbeOutcome::kFailed);
    CHECK(verdict.reason == "json field data.service is missing, expected 'keybuzz-api'");
  }
  SECTION("a body that is not JSON") {
    const ProbeVerdict verdict = Evaluate(probe, Answer(200, "<html>ok</html>"));
    CHECK(verdict.outcome == ProbeOutcome::kFailed);
    CHECK(verdict.reason ==
          "body is not JSON, expected json field data.service to be "
          "'keybuzz-api'");
  }
  SECTION("numbers in the path index arrays; non-strings compare as JSON text") {
    probe.json = plan::JsonFieldMatch{"items.1.id", "7"};
    const std::string body = R"({"items":[{"id":3},{"id":7,"ok":true}]})";
    CHECK(Evaluate(probe, Answer(200, body)).outcome == ProbeOutcome::kPassed);
    probe.json = plan::JsonFieldMatch{"items.1.ok", "true"};
    CHECK(Evaluate(probe, Answer(200, body)).outcome == ProbeOutcome::kPassed);
    probe.json = plan::JsonFieldMatch{"items.2.id", "7"};
    CHECK(Evaluate(probe, Answer(200, body)).outcome == ProbeOutcome::kFailed);
    probe.json = plan::JsonFieldMatch{"items.x.id", "7"};
    CHECK(Evaluate(probe, Answer(200, body)).outcome == ProbeOutcome::kFailed);
  }
}

TEST_CASE("LookupJsonField reports what it found", "[probe]") {
  CHECK(LookupJsonField(R"({"a":{"b":[1,"two",null]}})", "a.b.1").text == "two");
  CHECK(LookupJsonField(R"({"a":{"b":[1,"two",null]}})", "a.b.2").text == "null");
  CHECK(LookupJsonField(R"({"a":{"b":[1,"two",null]}})", "a.b").text == R"([1,"two",null])");
  CHECK(LookupJsonField(R"({"a":1})", "a.b").lookup == JsonLookup::kMissing);
  CHECK(LookupJsonField("{not json", "a").lookup == JsonLookup::kNotJson);
  CHECK(LookupJsonField("", "a").lookup == JsonLookup::kNotJson);
}

TEST_CASE("EvaluateFailure makes a no-answer an error, not a failure", "[probe]") {
  plan::Probe probe = MakeProbe("POST", "/auth/login");
  probe.timeout = std::chrono::seconds(5);
  const ProbeVerdict timeout = EvaluateFailure(probe, TransportFailure::kTimeout, "");
  CHECK(timeout.outcome == ProbeOutcome::kErrored);
  CHECK(timeout.note == "timeout after 5s");
  CHECK(timeout.reason == "POST /auth/login got no answer: timeout after 5s");

  const ProbeVerdict refused =
      EvaluateFailure(probe, TransportFailure::kConnectionRefused, "port 1 refused");
  CHECK(refused.outcome == ProbeOutcome::kErrored);
  CHECK(refused.note == "connection refused");
  CHECK(refused.reason == "POST /auth/login got no answer: connection refused (port 1 refused)");
  CHECK(EvaluateFailure(probe, TransportFailure::kDns, "").note == "DNS lookup failed");
  CHECK(std::string(OutcomeName(ProbeOutcome::kErrored)) == "errored");
}

}  // namespace
}  // namespace promote::adapters::probe
