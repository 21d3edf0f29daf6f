#include "report/report_writer.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "core/redactor.h"
#include "phases/audit.h"
#include "report/testdata.h"
#include "support/files.h"

namespace promote::report {
namespace {

using promote::testing::ReadFile;
using promote::testing::TempDir;

namespace fs = std::filesystem;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Sets (or unsets) GITHUB_STEP_SUMMARY for one test and restores it afterwards, so a test run
/// inside GitHub Actions never writes into the real job summary.
class SummaryVariable {
 public:
  explicit SummaryVariable(const std::optional<fs::path>& value) {
    if (const char* old = std::getenv(kName)) old_ = old;
    if (value) {
      ::setenv(kName, value->c_str(), 1);
    } else {
      ::unsetenv(kName);
    }
  }
  ~SummaryVariable() {
    if (old_) {
      ::setenv(kName, old_->c_str(), 1);
    } else {
      ::unsetenv(kName);
    }
  }

 private:
  static constexpr char kName[] = "GITHUB_STEP_SUMMARY";
  std::optional<std::string> old_;
};

constexpr char kPlanted[] = "pg-Pl4nted-S3cret-7731";
// A secret whose bytes each format escapes differently (`|` in Markdown, `&` `"` `<` in XML,
// `"` in JSON): a text-only redaction pass would miss the escaped copies.
constexpr char kAwkward[] = "aw&k|w<a\"rd-9921";

// The incident's audit with secrets where services and messages could leak them.
phases::AuditReport LeakyAudit() {
  auto report = testdata::KeybuzzAudit();
  auto& login = report.target_env.services[0].probes[1];
  login.body_excerpt = std::string(R"({"error":"db auth failed for password )") + kPlanted + "\"}";
  login.verdict.reason = std::string("expected status not 404, got 404 (") + kAwkward + ")";
  login.attempts[0].reason = login.verdict.reason;
  login.verdict.note = std::string("route missing ") + kAwkward;
  report.target_verdict.reason += std::string(" (") + kPlanted + ")";
  report.target_env.services[1].read_error = std::string("token ") + kPlanted + " rejected";
  return report;
}

Redactor SecretsRedactor() {
  Redactor redactor;
  REQUIRE(redactor.AddSecret("PGPASSWORD", kPlanted) == Redactor::Added::kYes);
  REQUIRE(redactor.AddSecret("AWKWARD", kAwkward) == Redactor::Added::kYes);
  return redactor;
}

// Every form the awkward secret could take once a format escaped it.
std::vector<std::string> Forms() {
  return {kPlanted, "Pl4nted-S3cret", kAwkward,         "aw&amp;k",
          "k|w",    "k\\|w",          "w&lt;a&quot;rd", "w<a\\\"rd"};
}

TEST_CASE("report writer: three files, no secret in any byte", "[report]") {
  SummaryVariable no_summary(std::nullopt);
  TempDir tmp;
  const fs::path dir = tmp.path() / "runs" / "r1";
  const auto paths = WriteAuditReports(LeakyAudit(), dir, SecretsRedactor());
  REQUIRE(paths.ok());
  CHECK(paths->markdown == dir / "audit.md");
  CHECK(paths->json == dir / "audit.json");
  CHECK(paths->junit == dir / "audit.junit.xml");
  for (const auto& path : {paths->markdown, paths->json, paths->junit}) {
    const std::string text = ReadFile(path);
    REQUIRE_FALSE(text.empty());
    for (const auto& form : Forms()) {
      INFO(path << " holds " << form);
      CHECK_FALSE(Contains(text, form));
    }
    CHECK(Contains(text, "redacted:PGPASSWORD"));
    CHECK(Contains(text, "redacted:AWKWARD"));
  }
  // Nothing left behind by the atomic writes.
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    CHECK(entry.path().extension() != ".tmp");
    ++entries;
  }
  CHECK(entries == 4);

  // The files are what the renderers say, still usable after redaction.
  const std::string md = ReadFile(paths->markdown);
  CHECK(Contains(md, "# Audit: keybuzz dev → prod"));
  CHECK(Contains(ReadFile(paths->html), "<h1>Audit: keybuzz dev → prod</h1>"));
  CHECK(Contains(md, "| 404 |"));
  const auto json = nlohmann::json::parse(ReadFile(paths->json));
  CHECK(json.at("schema") == "promote/audit/v2");
  CHECK(json.at("verdicts").at("target").at("functional") == "not-functional");
  CHECK(Contains(ReadFile(paths->junit), "<testsuite name=\"audit.prod\""));
}

TEST_CASE("report writer: a second run replaces the reports", "[report]") {
  SummaryVariable no_summary(std::nullopt);
  TempDir tmp;
  const Redactor redactor;
  auto report = testdata::KeybuzzAudit();
  REQUIRE(WriteAuditReports(report, tmp.path(), redactor).ok());
  report.started_at = "2026-02-02T09:00:00Z";
  const auto paths = WriteAuditReports(report, tmp.path(), redactor);
  REQUIRE(paths.ok());
  const std::string md = ReadFile(paths->markdown);
  CHECK(Contains(md, "Started 2026-02-02T09:00:00Z"));
  CHECK_FALSE(Contains(md, "2026-02-01T09:00:00Z"));
}

TEST_CASE("report writer: the Markdown is appended to GITHUB_STEP_SUMMARY", "[report]") {
  TempDir tmp;
  const fs::path summary = tmp.path() / "step_summary.md";
  std::ofstream(summary) << "## Earlier step\n";
  SummaryVariable set(summary);
  const auto paths = WriteAuditReports(LeakyAudit(), tmp.path() / "out", SecretsRedactor());
  REQUIRE(paths.ok());
  const std::string text = ReadFile(summary);
  CHECK(text.rfind("## Earlier step\n# Audit: keybuzz dev → prod\n", 0) == 0);
  CHECK(Contains(text, ReadFile(paths->markdown)));
  for (const auto& form : Forms()) {
    INFO("summary holds " << form);
    CHECK_FALSE(Contains(text, form));
  }
}

TEST_CASE("report writer: errors name the path and a fix", "[report]") {
  SummaryVariable no_summary(std::nullopt);
  TempDir tmp;
  const fs::path file = tmp.path() / "not-a-dir";
  std::ofstream(file) << "x";
  const auto paths = WriteAuditReports(testdata::KeybuzzAudit(), file / "reports", Redactor());
  REQUIRE_FALSE(paths.ok());
  CHECK(paths.error().kind == ErrorKind::kExternal);
  CHECK(Contains(paths.error().where, (file / "reports").string()));
  CHECK_FALSE(paths.error().fix.empty());

  SummaryVariable bad_summary(tmp.path() / "missing-dir" / "summary.md");
  const auto unwritable =
      WriteAuditReports(testdata::KeybuzzAudit(), tmp.path() / "ok", Redactor());
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().kind == ErrorKind::kExternal);
  CHECK(Contains(unwritable.error().where, "summary.md"));
  CHECK(Contains(unwritable.error().fix, "GITHUB_STEP_SUMMARY"));
}

TEST_CASE("report writer: WriteRedactedFile redacts and creates the directory", "[report]") {
  TempDir tmp;
  const Redactor redactor = SecretsRedactor();
  const fs::path path = tmp.path() / "sub" / "promotion-plan.json";
  REQUIRE(WriteRedactedFile(path, std::string("{\"x\":\"") + kPlanted + "\"}\n", redactor).ok());
  const std::string text = ReadFile(path);
  CHECK(text == "{\"x\":\"<redacted:PGPASSWORD>\"}\n");
  CHECK_FALSE(fs::exists(tmp.path() / "sub" / "promotion-plan.json.tmp"));
}

}  // namespace
}  // namespace promote::report
