#include "report/promotion_report.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "core/redactor.h"
#include "engine/promotion.h"
#include "support/files.h"

namespace promote::report {
namespace {

using adapters::probe::ProbeAttempt;
using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;
using engine::PromotionResult;
using engine::RunState;
using phases::ServiceRollout;
using phases::StepStatus;
using phases::ValidationResult;
using phases::ValidationRound;
using promote::testing::ReadFile;
using promote::testing::TempDir;
using std::chrono::milliseconds;

constexpr char kRun[] = "20260201-090000-ab12";
constexpr char kApi[] = "ghcr.io/keybuzz/keybuzz-api";
constexpr char kWeb[] = "ghcr.io/keybuzz/keybuzz-web";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The text from `heading` up to the next `## ` heading.
std::string Section(const std::string& text, const std::string& heading) {
  const auto at = text.find(heading + "\n");
  if (at == std::string::npos) return "";
  const auto end = text.find("\n## ", at + heading.size());
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The first line of `text` holding every one of `parts`.
std::string Line(const std::string& text, std::initializer_list<std::string> parts) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    bool all = true;
    for (const auto& part : parts) all = all && Contains(line, part);
    if (all) return line;
    begin = end + 1;
  }
  return "";
}

ServiceRollout Rollout(const std::string& service, const std::string& from, const std::string& to,
                       StepStatus status, const std::string& detail) {
  ServiceRollout r;
  r.change.service = service;
  r.change.from_image = from;
  r.change.to_image = to;
  r.status = status;
  r.touched = status != StepStatus::kSkipped;
  r.detail = detail;
  return r;
}

ProbeAttempt Attempt(ProbeOutcome outcome, int status, const std::string& note) {
  ProbeAttempt a;
  a.outcome = outcome;
  a.status = status;
  a.note = note;
  return a;
}

// The golden login probe of api in prod, ending with the last of `attempts`.
ProbeResult Login(std::vector<ProbeAttempt> attempts) {
  ProbeResult p;
  p.service = "api";
  p.environment = "prod";
  p.probe_name = "login";
  p.method = "POST";
  p.path = "/auth/login";
  p.golden = true;
  p.verdict = {attempts.back().outcome,
               attempts.back().outcome == ProbeOutcome::kPassed ? "" : "unexpected answer",
               attempts.back().note};
  p.status = attempts.back().status;
  if (p.status == 500) p.body_excerpt = R"({"error":"DATABASE_URL is not set"})";
  p.attempts = std::move(attempts);
  return p;
}

ValidationRound Round(int number, std::vector<ProbeResult> problems) {
  ValidationRound r;
  r.number = number;
  r.passed = true;
  for (const auto& p : problems) {
    if (p.verdict.outcome == ProbeOutcome::kFailed) ++r.failed;
    if (p.verdict.outcome == ProbeOutcome::kErrored) ++r.errored;
  }
  r.passed = r.failed == 0 && r.errored == 0;
  r.problems = std::move(problems);
  return r;
}

PromotionResult Base(RunState state, const std::string& summary) {
  PromotionResult result;
  result.state = state;
  result.summary = summary;
  result.tag = "prod-2026-02-01";
  result.audit.plan_name = "keybuzz";
  result.audit.source = "dev";
  result.audit.target = "prod";
  result.rollouts = {
      Rollout("api", std::string(kApi) + ":v0.9.29-contact-fix",
              std::string(kApi) + ":v0.4.31-replacement@sha256:4f1c9e2ab07d11223344",
              StepStatus::kSucceeded, "deployment \"keybuzz-api\" successfully rolled out"),
      Rollout("web", std::string(kWeb) + ":v1.2.0", std::string(kWeb) + ":v1.3.0",
              StepStatus::kSucceeded, "deployment \"keybuzz-web\" successfully rolled out")};
  return result;
}

// Promoted: round 1 got no answer from login, rounds 2 and 3 passed.
PromotionResult Promoted() {
  PromotionResult result =
      Base(RunState::kPromoted, "prod now runs release prod-2026-02-01; functional");
  ValidationResult v;
  v.passed = true;
  v.reason = "2 consecutive passes after 5s of soak (3 rounds)";
  v.rounds = 3;
  v.errors = 1;
  v.consecutive_successes = 2;
  v.elapsed = milliseconds(5000);
  v.history = {Round(1, {Login({Attempt(ProbeOutcome::kErrored, -1, "timeout after 5s")})}),
               Round(2, {}), Round(3, {})};
  result.validations.emplace_back("wave 1", v);
  return result;
}

// Rolled back: login answered 500 in three rounds, once passing only after a retry.
PromotionResult RolledBack() {
  PromotionResult result =
      Base(RunState::kRolledBack,
           "wave 1 failed validation: golden POST /auth/login answered 500; prod restored");
  ValidationResult v;
  v.passed = false;
  v.reason =
      "golden POST /auth/login answered 500 (server error) in 3 rounds (failure limit 2) on "
      "keybuzz-api-prod";
  v.rounds = 4;
  v.failures = 3;
  const auto e500 = Attempt(ProbeOutcome::kFailed, 500, "server error");
  const auto ok = Attempt(ProbeOutcome::kPassed, 200, "ok");
  v.history = {Round(1, {Login({e500, e500})}), Round(2, {Login({e500, ok})}),
               Round(3, {Login({e500})}), Round(4, {Login({e500})})};
  result.validations.emplace_back("wave 1", v);
  ValidationResult after;
  after.passed = true;
  after.reason = "2 consecutive passes after 5s of soak (2 rounds)";
  after.rounds = 2;
  after.history = {Round(1, {}), Round(2, {})};
  result.validations.emplace_back("after rollback", after);
  for (const auto& r : result.rollouts) {
    result.restores.push_back(Rollout(r.change.service, r.change.from_image, r.change.to_image,
                                      StepStatus::kSucceeded, "restored"));
  }
  result.failure = engine::RunFailure{
      "wave 1 failed validation",
      phases::Blame::kRelease,
      {{"api", {std::string(kApi) + ":v0.4.31-replacement", std::nullopt}, "login answered 500"}}};
  result.release_record = "prod-2026-02-01 marked bad (api …)";
  result.recorded = adapters::git::ReleaseStatus::kBad;
  result.next_steps = {{"see the run's releases and how it ended", "promote history prod"},
                       {"then promote again", "promote dev prod"}};
  return result;
}

PromotionResult RollbackFailed() {
  PromotionResult result = RolledBack();
  result.state = RunState::kRollbackFailed;
  result.summary = "wave 1 failed validation; ROLLBACK FAILED: api did not roll out";
  result.validations.pop_back();
  result.restores[0].status = StepStatus::kFailed;
  result.restores[0].detail = "error: deployment \"keybuzz-api\" exceeded its progress deadline";
  result.next_steps = {
      {"see where api stands",
       "kubectl --context prod -n keybuzz-api-prod rollout status deployment/keybuzz-api"},
      {"restore api to ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix",
       "kubectl --context prod -n keybuzz-api-prod set image deployment/keybuzz-api "
       "api=ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix"}};
  return result;
}

}  // namespace

TEST_CASE("promotion markdown: a promoted run shows outcome, tag, changes and a fixed error",
          "[report]") {
  const std::string md = RenderPromotionMarkdown(Promoted(), kRun);
  CHECK(md.rfind("# Promotion: keybuzz dev → prod (run 20260201-090000-ab12)\n", 0) == 0);
  // The outcome comes before every section.
  const auto outcome = md.find("**Outcome: ✅ Promoted** — prod now runs release prod-2026-02-01");
  REQUIRE(outcome != std::string::npos);
  CHECK(outcome < md.find("\n## "));
  CHECK(Contains(md, "Release tag: `prod-2026-02-01`"));

  const std::string changes = Section(md, "## Changes");
  const std::string api = Line(changes, {"| api |"});
  CHECK(Contains(api, "| `v0.9.29-contact-fix` | `v0.4.31-replacement` | ✅ succeeded |"));
  CHECK(Contains(api, "successfully rolled out"));
  CHECK_FALSE(Contains(api, "sha256"));  // short tags only
  CHECK(Contains(Line(changes, {"| web |"}), "| `v1.2.0` | `v1.3.0` | ✅ succeeded |"));

  // Round 1's missing answer stays visible although the wave passed.
  const std::string validation = Section(md, "## Validation");
  CHECK(Contains(validation, "### ✅ wave 1: passed"));
  CHECK(Contains(validation, "3 rounds · 0 failed rounds · 1 errored round · 5s"));
  const std::string login = Line(validation, {"POST /auth/login"});
  CHECK(Contains(login, "⚠️ POST /auth/login → no answer (timeout after 5s) in 1 round"));
  CHECK(Contains(login, "api, golden ★"));

  CHECK_FALSE(Contains(md, "## Rollback"));
  CHECK_FALSE(Contains(md, "## What to do now"));
}

TEST_CASE("promotion markdown: a rolled-back run shows the 500 as evidence and the rollback",
          "[report]") {
  const std::string md = RenderPromotionMarkdown(RolledBack(), kRun);
  CHECK(Contains(md, "**Outcome: ↩️ RolledBack** — wave 1 failed validation"));
  const std::string validation = Section(md, "## Validation");
  CHECK(Contains(validation, "### ❌ wave 1: failed"));
  CHECK(Contains(validation, "failure limit 2"));
  CHECK(Contains(validation, "4 rounds · 3 failed rounds · 0 errored rounds"));
  // One line for the probe, every round counted once (two 500s in round 1 are one round), and
  // the round a retry saved is said.
  const std::string login = Line(validation, {"- ", "POST /auth/login →"});
  CHECK(Contains(login, "❌ POST /auth/login → 500 (server error) in 4 rounds"));
  CHECK(Contains(login, "passed on retry in 1 round"));
  CHECK(validation.find("POST /auth/login →") == validation.rfind("POST /auth/login →"));
  CHECK(Contains(validation, "### ✅ after rollback: passed"));

  const std::string rollback = Section(md, "## Rollback");
  REQUIRE_FALSE(rollback.empty());
  CHECK(Contains(Line(rollback, {"| api |"}),
                 "| `v0.4.31-replacement` | `v0.9.29-contact-fix` | ✅ succeeded | restored |"));
  CHECK(Contains(Line(rollback, {"| web |"}), "| `v1.3.0` | `v1.2.0` | ✅ succeeded |"));
  // Every service put back reads as reverted, not as a success, in the Changes table.
  const std::string changes = Section(md, "## Changes");
  CHECK(Contains(Line(changes, {"| api |"}), "| ↩️ reverted |"));
  CHECK(Contains(Line(changes, {"| web |"}), "then put back on `v1.2.0`"));
  CHECK_FALSE(Contains(changes, "✅ succeeded"));
  // The failing answer is shown, the verdict and what was recorded are said.
  CHECK(Contains(validation, "answer: `{\"error\":\"DATABASE_URL is not set\"}`"));
  CHECK(Contains(md, "**Judged:** the images below answered wrong in prod"));
  CHECK(Contains(md, "Release: prod-2026-02-01 marked bad (api …)"));
  const std::string todo = Section(md, "## What to do now");
  CHECK(Contains(todo, "- see the run's releases and how it ended:"));
  CHECK(Contains(todo, "promote history prod"));
}

TEST_CASE("promotion markdown: a failed rollback lists the next steps as code", "[report]") {
  const std::string md = RenderPromotionMarkdown(RollbackFailed(), kRun);
  CHECK(Contains(md, "**Outcome: 🛑 RollbackFailed**"));
  CHECK(Contains(Line(Section(md, "## Rollback"), {"| api |"}),
                 "❌ failed | error: deployment \"keybuzz-api\" exceeded its progress deadline |"));
  const std::string todo = Section(md, "## What to do now");
  REQUIRE_FALSE(todo.empty());
  CHECK(Contains(todo,
                 "- see where api stands:\n\n  ```sh\n  kubectl --context prod -n "
                 "keybuzz-api-prod rollout status deployment/keybuzz-api\n  ```\n"));
  CHECK(Contains(todo, "- restore api to ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix:\n"));
  CHECK(Contains(todo, "  kubectl --context prod -n keybuzz-api-prod set image"));
}

TEST_CASE("promotion markdown: a pipe or line break in a detail cannot break the table",
          "[report]") {
  PromotionResult result = Promoted();
  result.rollouts[0].detail = "a | b\nc";
  const std::string row = Line(RenderPromotionMarkdown(result, kRun), {"| api |"});
  CHECK(Contains(row, "a \\| b c |"));
}

TEST_CASE("promotion json: fields by value", "[report]") {
  const nlohmann::json rolled = PromotionJson(RolledBack(), kRun);
  CHECK(rolled["schema"] == "promote/promotion/v2");
  CHECK(rolled["run"] == kRun);
  CHECK(rolled["state"] == "RolledBack");
  CHECK(rolled["tag"] == "prod-2026-02-01");
  CHECK(rolled["summary"] ==
        "wave 1 failed validation: golden POST /auth/login answered 500; prod restored");
  REQUIRE(rolled["rollouts"].size() == 2);
  const auto& api = rolled["rollouts"][0];
  CHECK(api["service"] == "api");
  CHECK(api["from"] == "ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix");
  CHECK(api["to"] == "ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement@sha256:4f1c9e2ab07d11223344");
  CHECK(api["status"] == "succeeded");
  CHECK(api["detail"] == "deployment \"keybuzz-api\" successfully rolled out");
  REQUIRE(rolled["validations"].size() == 2);
  const auto& wave = rolled["validations"][0];
  CHECK(wave["label"] == "wave 1");
  CHECK(wave["passed"] == false);
  CHECK(wave["rounds"] == 4);
  CHECK(wave["failures"] == 3);
  CHECK(wave["errors"] == 0);
  CHECK(Contains(wave["reason"].get<std::string>(), "failure limit 2"));
  REQUIRE(wave["problems"].size() == 1);
  CHECK(wave["problems"][0]["path"] == "/auth/login");
  CHECK(wave["problems"][0]["symptoms"][0]["status"] == 500);
  CHECK(wave["problems"][0]["symptoms"][0]["rounds"] == 4);
  CHECK(wave["problems"][0]["passedOnRetryRounds"] == 1);
  CHECK(rolled["validations"][1]["label"] == "after rollback");
  CHECK(rolled["validations"][1]["passed"] == true);
  REQUIRE(rolled["restores"].size() == 2);
  CHECK(rolled["restores"][1]["service"] == "web");
  CHECK(rolled["restores"][1]["status"] == "succeeded");
  REQUIRE(rolled["nextSteps"].size() == 2);
  CHECK(rolled["nextSteps"][0]["command"] == "promote history prod");
  CHECK(rolled["failure"]["blame"] == "release");
  CHECK(rolled["failure"]["images"][0]["service"] == "api");
  CHECK(rolled["release"] == "prod-2026-02-01 marked bad (api …)");
  CHECK(rolled["validations"][0]["problems"][0]["bodyExcerpt"] ==
        R"({"error":"DATABASE_URL is not set"})");

  const nlohmann::json failed = PromotionJson(RollbackFailed(), kRun);
  CHECK(failed["state"] == "RollbackFailed");
  CHECK(failed["restores"][0]["status"] == "failed");
  REQUIRE(failed["nextSteps"].size() == 2);
  CHECK(failed["nextSteps"][0]["command"] ==
        "kubectl --context prod -n keybuzz-api-prod rollout status deployment/keybuzz-api");
  CHECK(failed["nextSteps"][1]["why"] ==
        "restore api to ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix");

  PromotionResult untagged = Promoted();
  untagged.tag.clear();
  CHECK(PromotionJson(untagged, kRun)["tag"].is_null());
}

TEST_CASE("promotion reports: both files are written and a planted secret never appears",
          "[report]") {
  constexpr char kPlanted[] = "pg-Pl4nted-S3cret-7731";
  // Pipe and quote: escaped in Markdown and JSON, so only a pass before rendering catches it.
  constexpr char kAwkward[] = "aw|k\"ward-9921";
  Redactor redactor;
  REQUIRE(redactor.AddSecret("DB_PASSWORD", kPlanted) == Redactor::Added::kYes);
  REQUIRE(redactor.AddSecret("AWKWARD", kAwkward) == Redactor::Added::kYes);
  PromotionResult result = RollbackFailed();
  result.rollouts[0].detail = std::string("connecting with ") + kPlanted + " failed";
  result.restores[1].detail = std::string("token ") + kAwkward;
  result.next_steps.push_back(
      {"connect", std::string("psql postgres://app:") + kPlanted + "@db/app"});

  TempDir dir;
  const auto out = dir.path() / "run" / "reports";
  REQUIRE(WritePromotionReports(result, kRun, out, redactor));
  const std::string md = ReadFile(out / "promotion.md");
  const std::string json = ReadFile(out / "promotion.json");
  REQUIRE_FALSE(md.empty());
  REQUIRE_FALSE(json.empty());
  for (const std::string& text : {md, json}) {
    CHECK_FALSE(Contains(text, kPlanted));
    CHECK_FALSE(Contains(text, "aw|k"));
    CHECK_FALSE(Contains(text, "aw\\|k"));
    CHECK_FALSE(Contains(text, "ward-9921"));
    CHECK(Contains(text, "<redacted:DB_PASSWORD>"));
    CHECK(Contains(text, "<redacted:AWKWARD>"));
  }
  CHECK(Contains(md, "**Outcome: 🛑 RollbackFailed**"));
  const auto parsed = nlohmann::json::parse(json);
  CHECK(parsed["schema"] == "promote/promotion/v2");
  CHECK(parsed["rollouts"][0]["detail"] == "connecting with <redacted:DB_PASSWORD> failed");
  CHECK_FALSE(std::filesystem::exists(out / "promotion.md.tmp"));
}

TEST_CASE("promotion reports: a metric's wrong value reads as out of range, with its query",
          "[report][metrics]") {
  PromotionResult result = Base(RunState::kRolledBack, "wave 1 failed validation");
  ProbeResult metric;
  metric.service = "api";
  metric.probe_name = "success-rate";
  metric.method = "METRIC";
  metric.path = "success-rate";
  metric.metric = true;
  metric.golden = true;
  metric.query =
      "sum(rate(req{ns=\"keybuzz-api-prod\",code!~\"5..\"}[1s]))\n  / sum(rate(req[1s]))";
  metric.verdict = {ProbeOutcome::kFailed, "success-rate is 0.92, below its min 0.95",
                    "0.92, below min 0.95"};
  metric.attempts = {{ProbeOutcome::kFailed, -1, std::chrono::milliseconds(3),
                      metric.verdict.reason, metric.verdict.note}};
  ProbeResult quiet = metric;
  quiet.verdict = {ProbeOutcome::kErrored, "success-rate: no data", "no data"};
  quiet.attempts = {{ProbeOutcome::kErrored, -1, std::chrono::milliseconds(3), quiet.verdict.reason,
                     quiet.verdict.note}};
  ValidationResult v;
  v.reason = "golden METRIC success-rate measured 0.92, below min 0.95 on keybuzz-api-prod";
  v.rounds = 2;
  v.history = {Round(1, {quiet}), Round(2, {metric})};
  result.validations.emplace_back("wave 1", v);
  const std::string validation = Section(RenderPromotionMarkdown(result, kRun), "## Validation");
  const std::string line = Line(validation, {"- ", "METRIC success-rate →"});
  CHECK(Contains(line,
                 "METRIC success-rate → no value (no data) in 1 round; out of range in 1 round"));
  CHECK_FALSE(Contains(line, "no answer"));
  // The value with the query that measured it, on one line, as it went to Prometheus.
  CHECK(Contains(validation,
                 "\n  - query: `sum(rate(req{ns=\"keybuzz-api-prod\",code!~\"5..\"}[1s])) / "
                 "sum(rate(req[1s]))` → `0.92, below min 0.95`\n"));
  const nlohmann::json json = PromotionJson(result, kRun);
  const auto& problem = json["validations"][0]["problems"][0];
  CHECK(problem["query"] == metric.query);
  CHECK(problem["bodyExcerpt"] == "0.92, below min 0.95");
}

}  // namespace promote::report
