#include "engine/journal.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/redactor.h"
#include "support/files.h"

namespace promote::engine {
namespace {

using promote::testing::ReadFile;
using promote::testing::TempDir;

namespace fs = std::filesystem;
using nlohmann::json;

void AppendRaw(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// 2026-02-01T10:00:00Z, the day of the example promotion.
Journal::Clock FixedClock() {
  return [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1769940000)); };
}

std::shared_ptr<const Redactor> NoSecrets() {
  return std::make_shared<Redactor>();
}

TEST_CASE("a journal reads back exactly what was appended", "[journal]") {
  TempDir tmp;
  const fs::path run_dir = tmp.path() / "runs" / "run-1";
  auto journal = Journal::Create(run_dir, "run-1", NoSecrets(), FixedClock());
  REQUIRE(journal.ok());
  CHECK(fs::exists(run_dir / "events.jsonl"));
  CHECK(journal->Transition("Planned").value() == 1);
  CHECK(journal->Transition("Deploying", {{"wave", 1}}).value() == 2);
  auto intent = journal->Intent("Deploying", "set-image", "api", {{"to", "ghcr.io/kb/api:v1"}});
  REQUIRE(intent.ok());
  CHECK(*intent == 3);
  CHECK(journal->Done(*intent, {{"outcome", "set"}}).value() == 4);
  CHECK(journal->Note("soak started").value() == 5);

  const std::string text = ReadFile(run_dir / "events.jsonl");
  const auto lines = Lines(text);
  REQUIRE(lines.size() == 5);
  CHECK(text.back() == '\n');
  CHECK(
      lines[2] ==
      R"({"seq":3,"at":"2026-02-01T10:00:00Z","run":"run-1","state":"Deploying",)"
      R"("kind":"intent","step":"set-image","service":"api","detail":{"to":"ghcr.io/kb/api:v1"}})");

  auto reopened = Journal::Open(run_dir, NoSecrets());
  REQUIRE(reopened.ok());
  CHECK(reopened->run_id() == "run-1");
  CHECK_FALSE(reopened->torn_tail().has_value());
  CHECK(reopened->CurrentState() == "Deploying");
  const auto events = reopened->events();
  const auto written = journal->events();
  REQUIRE(events.size() == 5);
  REQUIRE(written.size() == 5);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].seq == static_cast<long>(i + 1));
    CHECK(events[i].at == "2026-02-01T10:00:00Z");
    CHECK(events[i].kind == written[i].kind);
    CHECK(events[i].state == written[i].state);
    CHECK(events[i].step == written[i].step);
    CHECK(events[i].service == written[i].service);
    CHECK(events[i].detail == written[i].detail);
  }
  CHECK(events[1].detail == json{{"wave", 1}, {"from", "Planned"}});
  CHECK(events[3].kind == EventKind::kDone);
  CHECK(events[3].intent() == 3);
  CHECK(events[3].step == "set-image");
  CHECK(events[3].service == "api");
  CHECK(events[4].detail["message"] == "soak started");
  CHECK(events[4].state == "Deploying");

  // Appends after a reopen continue the sequence.
  CHECK(reopened->Transition("Validating").value() == 6);
  CHECK(Lines(ReadFile(run_dir / "events.jsonl")).size() == 6);
}

TEST_CASE("a run's journal is never created twice", "[journal]") {
  TempDir tmp;
  REQUIRE(Journal::Create(tmp.path() / "r", "r", NoSecrets()).ok());
  auto again = Journal::Create(tmp.path() / "r", "r", NoSecrets());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().what.find("already exists") != std::string::npos);
  CHECK_FALSE(Journal::Create(tmp.path() / "s", "s", nullptr).ok());
  CHECK_FALSE(Journal::Open(tmp.path() / "missing", NoSecrets()).ok());
}

TEST_CASE("seqs increase by one with every append", "[journal]") {
  TempDir tmp;
  auto journal = Journal::Create(tmp.path() / "r", "r", NoSecrets());
  REQUIRE(journal.ok());
  for (long i = 1; i <= 20; ++i) REQUIRE(journal->Note("n").value() == i);
  long expected = 1;
  for (const auto& line : Lines(ReadFile(tmp.path() / "r" / "events.jsonl"))) {
    CHECK(json::parse(line)["seq"] == expected++);
  }
  CHECK(expected == 21);
}

TEST_CASE("secrets never reach the journal file, only their names", "[journal]") {
  TempDir tmp;
  auto redactor = std::make_shared<Redactor>();
  redactor->AddSecret("STRIPE_KEY", "sk_live_planted0123456789");
  redactor->AddSecret("ODD", "pa\"ss\\wo\nrd-42");  // a value JSON would escape
  auto journal = Journal::Create(tmp.path() / "r", "r", redactor);
  REQUIRE(journal.ok());
  auto intent = journal->Intent("Deploying", "set-image", "api",
                                {{"argv", {"kubectl", "--token", "sk_live_planted0123456789"}},
                                 {"env", {{"STRIPE", "key=sk_live_planted0123456789;"}}},
                                 {"odd", "x pa\"ss\\wo\nrd-42 y"},
                                 {"password", "hunter2-not-registered"}});
  REQUIRE(intent.ok());
  REQUIRE(journal->Failed(*intent, {{"error", "auth failed for sk_live_planted0123456789"}}).ok());

  const std::string bytes = ReadFile(tmp.path() / "r" / "events.jsonl");
  CHECK(bytes.find("sk_live_planted") == std::string::npos);
  CHECK(bytes.find("hunter2") == std::string::npos);
  CHECK(bytes.find("wo\\nrd-42") == std::string::npos);
  CHECK(bytes.find("ss\\\\wo") == std::string::npos);
  CHECK(bytes.find("<redacted:STRIPE_KEY>") != std::string::npos);
  CHECK(bytes.find("<redacted:ODD>") != std::string::npos);
  for (const auto& line : Lines(bytes))
    CHECK_FALSE(json::parse(line, nullptr, false).is_discarded());
  // What the journal keeps in memory is what the file holds.
  const auto events = journal->events();
  CHECK(events[0].detail.dump().find("sk_live_planted") == std::string::npos);
}

TEST_CASE("a torn last line is ignored, then cut off by the next append", "[journal]") {
  TempDir tmp;
  const fs::path run_dir = tmp.path() / "r";
  const fs::path file = run_dir / "events.jsonl";
  {
    auto journal = Journal::Create(run_dir, "r", NoSecrets(), FixedClock());
    REQUIRE(journal.ok());
    REQUIRE(journal->Transition("Deploying").ok());
    REQUIRE(journal->Intent("Deploying", "set-image", "api", {}).ok());
  }

  std::string torn;
  SECTION("no trailing newline") {
    torn = R"({"seq":3,"at":"2026-02-01T10:00:00Z","run":"r","ki)";
  }
  SECTION("a complete JSON object without its newline") {
    torn = R"({"seq":3,"at":"2026-02-01T10:00:00Z","run":"r","kind":"note","detail":{}})";
  }
  SECTION("garbage ending in a newline") {
    torn = std::string("\0\0\0\0", 4) + "\n";
  }
  AppendRaw(file, torn);

  auto opened = Journal::Open(run_dir, NoSecrets(), FixedClock());
  REQUIRE(opened.ok());
  REQUIRE(opened->torn_tail().has_value());
  CHECK(*opened->torn_tail() == torn);
  CHECK(opened->events().size() == 2);
  CHECK(opened->OpenIntents().size() == 1);
  CHECK(ReadFile(file).size() > 0);  // Open alone writes nothing

  auto seq = opened->Note("resumed");
  REQUIRE(seq.ok());
  CHECK(*seq == 4);  // 3 is the note that keeps the torn bytes
  const std::string text = ReadFile(file);
  CHECK(text.back() == '\n');
  const auto lines = Lines(text);
  REQUIRE(lines.size() == 4);
  for (const auto& line : lines) REQUIRE_FALSE(json::parse(line, nullptr, false).is_discarded());
  CHECK(json::parse(lines[2])["detail"]["bytes"] == torn.size());
  CHECK(json::parse(lines[3])["detail"]["message"] == "resumed");

  auto again = Journal::Open(run_dir, NoSecrets());
  REQUIRE(again.ok());
  CHECK_FALSE(again->torn_tail().has_value());
  CHECK(again->events().size() == 4);
}

TEST_CASE("a corrupt line before the last is an error naming file and line", "[journal]") {
  TempDir tmp;
  const fs::path run_dir = tmp.path() / "r";
  const fs::path file = run_dir / "events.jsonl";
  {
    auto journal = Journal::Create(run_dir, "r", NoSecrets());
    REQUIRE(journal.ok());
    for (int i = 0; i < 3; ++i) REQUIRE(journal->Note("n").ok());
  }
  auto lines = Lines(ReadFile(file));
  REQUIRE(lines.size() == 3);
  std::string expected_where;
  SECTION("invalid JSON") {
    lines[1] = "{\"seq\":2,";
    expected_where = ":2";
  }
  SECTION("a seq out of order") {
    lines[2] = R"({"seq":7,"at":"x","run":"r","kind":"note"})";
    lines.push_back(R"({"seq":8,"at":"x","run":"r","kind":"note"})");
    expected_where = ":3";
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << [&] {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
  }();
  auto opened = Journal::Open(run_dir, NoSecrets());
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().where == file.string() + expected_where);
  CHECK(opened.error().what.find("corrupt journal line") != std::string::npos);
}

TEST_CASE("open intents are what was in flight when the run died", "[journal]") {
  TempDir tmp;
  const fs::path run_dir = tmp.path() / "r";
  {
    auto journal = Journal::Create(run_dir, "r", NoSecrets());
    REQUIRE(journal.ok());
    REQUIRE(journal->Transition("Tagged").ok());
    auto tag = journal->Intent("Tagged", "tag", "", {{"name", "prod-2026-02-01"}});
    REQUIRE(journal->Done(*tag, {}).ok());
    auto api = journal->Intent("Deploying", "set-image", "api", {});
    auto client = journal->Intent("Deploying", "set-image", "client", {});
    REQUIRE(journal->Failed(*client, {{"error", "boom"}}).ok());
    REQUIRE(api.ok());
    CHECK_FALSE(journal->Done(*client, {}).ok());  // already closed
    CHECK_FALSE(journal->Done(99, {}).ok());       // no such intent
    CHECK_FALSE(journal->Done(1, {}).ok());        // a transition, not an intent
  }
  auto journal = Journal::Open(run_dir, NoSecrets());
  REQUIRE(journal.ok());
  const auto open = journal->OpenIntents();
  REQUIRE(open.size() == 1);
  CHECK(open[0].step == "set-image");
  CHECK(open[0].service == "api");
  const auto tagged = journal->LastDone("tag", "");
  REQUIRE(tagged.has_value());
  CHECK(tagged->intent() == 2);
  CHECK_FALSE(journal->LastDone("set-image", "api").has_value());
  CHECK_FALSE(journal->LastDone("set-image", "client").has_value());  // it failed

  REQUIRE(journal->Done(open[0].seq, {}).ok());  // a resumed run closes it
  CHECK(journal->OpenIntents().empty());
  CHECK(journal->LastDone("set-image", "api").has_value());
}

TEST_CASE("concurrent appends get distinct seqs and whole lines", "[journal]") {
  TempDir tmp;
  auto journal = Journal::Create(tmp.path() / "r", "r", NoSecrets());
  REQUIRE(journal.ok());
  std::vector<std::thread> threads;
  std::vector<std::vector<long>> seqs(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto intent = journal->Intent("Deploying", "set-image", "svc" + std::to_string(t),
                                      {{"i", i}, {"padding", std::string(300, 'x')}});
        if (intent.ok()) seqs[t].push_back(*intent);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<long> distinct;
  for (const auto& list : seqs) {
    CHECK(list.size() == 50);
    distinct.insert(list.begin(), list.end());
  }
  CHECK(distinct.size() == 200);
  CHECK(*distinct.begin() == 1);
  CHECK(*distinct.rbegin() == 200);
  const auto lines = Lines(ReadFile(tmp.path() / "r" / "events.jsonl"));
  REQUIRE(lines.size() == 200);
  long expected = 1;
  for (const auto& line : lines) {
    const json parsed = json::parse(line, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    CHECK(parsed["seq"] == expected++);
  }
  auto reopened = Journal::Open(tmp.path() / "r", NoSecrets());
  REQUIRE(reopened.ok());
  CHECK(reopened->OpenIntents().size() == 200);
}

}  // namespace
}  // namespace promote::engine
