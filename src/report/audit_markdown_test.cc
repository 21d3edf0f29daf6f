#include "report/audit_markdown.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "phases/audit.h"
#include "report/audit_json.h"
#include "report/junit.h"
#include "report/testdata.h"

namespace promote::report {
namespace {

using adapters::probe::ProbeOutcome;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The text from the heading `start` up to the next heading of the same or a higher level.
std::string Section(const std::string& text, const std::string& start) {
  const auto at = text.find(start + "\n");
  if (at == std::string::npos) return "";
  const std::string level = start.substr(0, start.find(' ') + 1);  // "## " or "### "
  auto end = text.find("\n" + level, at + start.size());
  if (level == "### ") end = std::min(end, text.find("\n## ", at + start.size()));
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The first table row of `text` holding every one of `parts`.
std::string Row(const std::string& text, std::initializer_list<std::string> parts) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    bool all = line.rfind("|", 0) == 0;
    for (const auto& part : parts) all = all && Contains(line, part);
    if (all) return line;
    begin = end + 1;
  }
  return "";
}

// Cell separators of a table row: pipes not escaped as `\|`.
int Separators(const std::string& row) {
  int count = 0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] == '|' && (i == 0 || row[i - 1] != '\\')) ++count;
  }
  return count;
}

TEST_CASE("audit markdown: the prod endpoint table shows login failed: 404 route missing",
          "[report]") {
  const std::string md = RenderAuditMarkdown(testdata::KeybuzzAudit());
  const std::string prod = Section(Section(md, "## Endpoints"), "### prod");
  REQUIRE_FALSE(prod.empty());
  const std::string login = Row(prod, {"| POST |", "/auth/login"});
  REQUIRE_FALSE(login.empty());
  CHECK(Contains(login, "| ❌ |"));
  CHECK(Contains(login, "| 404 |"));
  CHECK(Contains(login, "route missing"));
  CHECK(Contains(login, "**/auth/login** ★"));  // golden
  CHECK(Contains(login, "| 22ms |"));
  CHECK(Separators(login) == 8);
  const std::string signup = Row(prod, {"| POST |", "/auth/signup"});
  CHECK(Contains(signup, "| ❌ |"));
  CHECK(Contains(signup, "| 404 |"));
  // The evidence under the table: the reason and the service's answer.
  CHECK(Contains(prod, "expected status not 404, got 404"));
  CHECK(Contains(prod, "Cannot POST /auth/login"));

  const std::string dev = Section(Section(md, "## Endpoints"), "### dev");
  const std::string dev_login = Row(dev, {"| POST |", "/auth/login"});
  CHECK(Contains(dev_login, "| ✅ |"));
  CHECK(Contains(dev_login, "| 422 |"));
  CHECK_FALSE(Contains(dev, "route missing"));
}

TEST_CASE("audit markdown: the conclusion comes first with verdicts and the command", "[report]") {
  const std::string md = RenderAuditMarkdown(testdata::KeybuzzAudit());
  CHECK(md.rfind("# Audit: keybuzz dev → prod\n", 0) == 0);
  CHECK(Contains(md, "Started 2026-02-01T09:00:00Z · took 4s · plan `plans/keybuzz.yaml`"));
  const auto conclusion = md.find("## Conclusion");
  REQUIRE(conclusion != std::string::npos);
  CHECK(conclusion < md.find("## Versions"));
  CHECK(md.find("## Versions") < md.find("## Environments"));
  CHECK(md.find("## Environments") < md.find("## Endpoints"));
  const std::string text = Section(md, "## Conclusion");
  CHECK(Contains(text, std::string("❌ **prod is not functional**: ") + testdata::kProdReason));
  CHECK(Contains(text, "✅ **dev is functional**"));
  CHECK(Contains(text, "**Recommendation: promote** — promote the stable dev to prod"));
  CHECK(Contains(text, std::string("```sh\n") + testdata::kCommand + "\n```"));
  CHECK(Contains(Section(md, "## Recommendations"), "- **promote**"));
  CHECK(Contains(Section(md, "## Recommendations"), testdata::kCommand));
}

TEST_CASE("audit markdown: versions show tags, short digests and the action", "[report]") {
  const std::string md = RenderAuditMarkdown(testdata::KeybuzzAudit());
  const std::string versions = Section(md, "## Versions");
  CHECK(Contains(versions, "| Service | dev | prod | Action |"));
  const std::string api = Row(versions, {"| api |"});
  CHECK(Contains(api, "`v0.4.31-replacement`<br>`sha256:4f1c9e2ab07d`"));
  CHECK(Contains(api, "`v0.9.29-contact-fix`<br>`sha256:9a0bd3c4e5f6`"));
  CHECK_FALSE(Contains(api, "4f1c9e2ab07d5"));  // shortened to 12 hex digits
  CHECK(Contains(api, "**promote**: v0.9.29-contact-fix → v0.4.31-replacement"));
  CHECK(Contains(Row(versions, {"| client |"}), "up-to-date"));

  auto report = testdata::KeybuzzAudit();
  report.comparisons[0].action = phases::ServiceAction::kBlocked;
  report.comparisons[0].reason = "api is unhealthy in dev: POST /auth/login → 404";
  const std::string blocked = Row(Section(RenderAuditMarkdown(report), "## Versions"), {"| api |"});
  CHECK(Contains(blocked, "**blocked**: api is unhealthy in dev: POST /auth/login → 404"));
}

TEST_CASE("audit markdown: environments list namespace, workload, replicas, rollout, age",
          "[report]") {
  auto report = testdata::KeybuzzAudit();
  report.target_env.services[1].status.ready = 1;
  report.target_env.services[1].status.rollout = adapters::kube::RolloutState::kProgressing;
  report.target_env.services[1].status.message = "Waiting for 1 of 2 replicas";
  report.target_env.services[2].status.workload_present = false;
  const std::string prod =
      Section(Section(RenderAuditMarkdown(report), "## Environments"), "### prod (context `prod`)");
  REQUIRE_FALSE(prod.empty());
  const std::string api = Row(prod, {"| api |"});
  CHECK(Contains(api, "`keybuzz-api-prod`"));
  CHECK(Contains(api, "`deployment/keybuzz-api`"));
  CHECK(Contains(api, std::string("`") + testdata::kProdApiImage + "`"));
  CHECK(Contains(api, "| 2/2 |"));
  CHECK(Contains(api, "complete"));
  CHECK(Contains(api, "| 62h |"));  // created 2026-01-29T18:45Z, audited 2026-02-01T09:00Z
  const std::string client = Row(prod, {"| client |"});
  CHECK(Contains(client, "| 1/2 |"));
  CHECK(Contains(client, "progressing: Waiting for 1 of 2 replicas"));
  CHECK(Contains(Row(prod, {"| website |"}), "❌ missing"));
}

TEST_CASE("audit markdown: retries, errors and pipes in cells", "[report]") {
  auto report = testdata::KeybuzzAudit();
  auto& home = report.target_env.services[2].probes[0];
  home.attempts = {testdata::NoAnswer(5000, "timeout after 5s", "no answer within 5s"),
                   testdata::NoAnswer(5000, "connection refused", "connect to keybuzz.pro")};
  home.verdict = {ProbeOutcome::kErrored, "connect to keybuzz.pro refused", "connection refused"};
  home.status = -1;
  report.target_env.services[0].probes[0].verdict.note = "a|b";
  const std::string md = RenderAuditMarkdown(report);

  const std::string dev = Section(Section(md, "## Endpoints"), "### dev");
  CHECK(Contains(Row(dev, {"| client |"}), "2 attempts: timeout after 5s, then 200"));

  const std::string prod = Section(Section(md, "## Endpoints"), "### prod");
  const std::string website = Row(prod, {"| website |"});
  CHECK(Contains(website, "| ⚠️ |"));
  CHECK(Contains(website, "| — |"));  // no status: no answer came
  CHECK(Contains(website,
                 "connection refused · 2 attempts: timeout after 5s, then connection "
                 "refused"));
  const std::string health = Row(prod, {"| GET |", "/health"});
  CHECK(Contains(health, "a\\|b"));
  CHECK(Separators(health) == 8);
}

TEST_CASE("audit markdown: secrets by name, drift only when any", "[report]") {
  auto report = testdata::KeybuzzAudit();
  std::string md = RenderAuditMarkdown(report);
  const std::string secrets = Section(md, "## Secrets");
  CHECK(Contains(secrets, "| keybuzz-stripe | ✅ | `keybuzz-api-prod` |"));
  CHECK(Contains(secrets, "| ghcr-cred | ✅ | `keybuzz-api-prod` |"));
  CHECK(Contains(Section(md, "## Drift"), std::string("`") + testdata::kProdApiImage + "`"));

  report.target_env.secrets[1].namespaces.clear();
  report.drift.clear();
  md = RenderAuditMarkdown(report);
  CHECK(Contains(Section(md, "## Secrets"), "| keybuzz-stripe | ❌ | — |"));
  CHECK(Contains(Section(md, "## Recommendations"), "Create the secret `keybuzz-stripe` in prod"));
  CHECK_FALSE(Contains(md, "## Drift"));
}

}  // namespace
TEST_CASE("audit reports: a failing metric check shows its value and the query that measured it",
          "[report][metrics]") {
  auto report = testdata::KeybuzzAudit();
  auto& api = report.target_env.services[0];
  adapters::probe::ProbeResult rate = api.probes[0];
  rate.probe_name = "success-rate";
  rate.method = "METRIC";
  rate.path = "success-rate";
  rate.metric = true;
  rate.status = -1;
  rate.query = "sum(rate(req{code!~\"5..\"}[10s]))\n    / sum(rate(req[10s]))";
  rate.body_excerpt = "0.9";
  rate.verdict = {ProbeOutcome::kFailed, "success-rate is 0.9, below its min 0.95",
                  "0.9, below min 0.95"};
  rate.attempts = {{ProbeOutcome::kFailed, -1, {}, rate.verdict.reason, rate.verdict.note}};
  api.probes.push_back(rate);

  const std::string prod =
      Section(Section(RenderAuditMarkdown(report), "## Endpoints"), "### prod");
  INFO(prod);
  CHECK(Contains(prod,
                 "(api): success-rate is 0.9, below its min 0.95 — query: "
                 "`sum(rate(req{code!~\"5..\"}[10s])) / sum(rate(req[10s]))`\n"));
  CHECK_FALSE(Contains(prod, "body: `0.9`"));

  const nlohmann::json json = nlohmann::json::parse(AuditJsonText(report));
  const auto& checks = json.at("environments").at(1).at("services").at(0).at("probes");
  CHECK(checks.back().at("query") == rate.query);
  CHECK_FALSE(checks.front().contains("query"));  // an HTTP probe has none

  CHECK(Contains(RenderJUnit(report),
                 "query: sum(rate(req{code!~&quot;5..&quot;}[10s])) / sum(rate(req[10s]))"));
}

TEST_CASE("audit reports: the environment's own checks, as of no service", "[report][metrics]") {
  auto report = testdata::KeybuzzAudit();
  adapters::probe::ProbeResult budget = report.target_env.services[0].probes[0];
  budget.service = "";
  budget.probe_name = "error-budget";
  budget.method = "METRIC";
  budget.path = "error-budget";
  budget.metric = true;
  budget.status = -1;
  budget.query = R"(sum(rate(errors{env="prod"}[10s])))";
  budget.verdict = {ProbeOutcome::kFailed, "error-budget is 0.5, above its max 0.1",
                    "0.5, above max 0.1"};
  report.target_env.checks.push_back(budget);

  const std::string prod =
      Section(Section(RenderAuditMarkdown(report), "## Endpoints"), "### prod");
  CHECK(Contains(Row(prod, {"| *(environment)* |"}), "| METRIC | error-budget | — |"));
  CHECK(Contains(prod, "`METRIC error-budget` (the environment): error-budget is 0.5"));
  const nlohmann::json json = nlohmann::json::parse(AuditJsonText(report));
  CHECK(json.at("environments").at(1).at("checks").at(0).at("query") == budget.query);
  CHECK(Contains(RenderJUnit(report), "testsuite name=\"audit.prod.environment\""));
}

}  // namespace promote::report
