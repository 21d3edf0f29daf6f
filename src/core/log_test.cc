#include "core/log.h"

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/redactor.h"

namespace promote {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_CASE("ParseLogLevel accepts spdlog's names and rejects the rest", "[log]") {
  CHECK(*ParseLogLevel("trace") == spdlog::level::trace);
  CHECK(*ParseLogLevel("DEBUG") == spdlog::level::debug);
  CHECK(*ParseLogLevel("info") == spdlog::level::info);
  CHECK(*ParseLogLevel("warn") == spdlog::level::warn);
  CHECK(*ParseLogLevel("Warning") == spdlog::level::warn);
  CHECK(*ParseLogLevel("error") == spdlog::level::err);
  CHECK(*ParseLogLevel("critical") == spdlog::level::critical);
  CHECK(*ParseLogLevel("off") == spdlog::level::off);
  auto bad = ParseLogLevel("loud");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind == ErrorKind::kUsage);
  CHECK(bad.error().what.find("'loud'") != std::string::npos);
  CHECK(bad.error().fix.find("trace") != std::string::npos);
}

TEST_CASE("ParseLogFormat and ParseLogColor", "[log]") {
  CHECK(*ParseLogFormat("json") == LogFormat::kJson);
  CHECK(*ParseLogFormat("Text") == LogFormat::kText);
  CHECK_FALSE(ParseLogFormat("xml").ok());
  CHECK(*ParseLogColor("never") == LogColor::kNever);
  CHECK(*ParseLogColor("AUTO") == LogColor::kAuto);
  CHECK(*ParseLogColor("always") == LogColor::kAlways);
  CHECK_FALSE(ParseLogColor("sometimes").ok());
}

TEST_CASE("JSON logs are one parseable object per line", "[log]") {
  std::ostringstream out;
  LogOptions options;
  options.level = spdlog::level::debug;
  options.format = LogFormat::kJson;
  options.stream = &out;
  auto logger = MakeLogger(options, nullptr);
  logger->info("deploying {} to {}", "api", "prod");
  logger->debug("quote \" backslash \\ newline\n tab\t end");
  logger->trace("below the level: not written");
  logger->warn("invalid utf-8: \xff\xfe");

  std::vector<std::string> lines = Lines(out.str());
  REQUIRE(lines.size() == 3);
  for (const std::string& line : lines) {
    INFO(line);
    auto parsed = nlohmann::json::parse(line);  // throws, failing the test, if not JSON
    CHECK(parsed.at("logger") == "promote");
    CHECK(parsed.at("ts").get<std::string>().size() == 24);  // 2026-02-01T12:00:00.123Z
  }
  auto first = nlohmann::json::parse(lines[0]);
  CHECK(first.at("level") == "info");
  CHECK(first.at("msg") == "deploying api to prod");
  CHECK(nlohmann::json::parse(lines[1]).at("msg") == "quote \" backslash \\ newline\n tab\t end");
  CHECK(nlohmann::json::parse(lines[2]).at("level") == "warning");
}

TEST_CASE("no log line carries a registered secret", "[log]") {
  auto redactor = std::make_shared<Redactor>();
  redactor->AddSecret("DB_PASSWORD", "correct-horse-battery");
  std::ostringstream out;
  LogOptions options;
  options.level = spdlog::level::trace;
  options.stream = &out;

  SECTION("text") {
    options.format = LogFormat::kText;
  }
  SECTION("json") {
    options.format = LogFormat::kJson;
  }

  auto logger = MakeLogger(options, redactor);
  logger->trace("connecting with {}", "correct-horse-battery");
  logger->error("helm --set db.password=other-secret-1 failed");
  logger->info("header Authorization: Bearer tok.en.value");
  std::string text = out.str();
  CHECK(Lines(text).size() == 3);
  CHECK(text.find("correct-horse-battery") == std::string::npos);
  CHECK(text.find("other-secret-1") == std::string::npos);
  CHECK(text.find("tok.en.value") == std::string::npos);
  CHECK(text.find("<redacted:DB_PASSWORD>") != std::string::npos);
  CHECK(text.find("db.password=***") != std::string::npos);
}

TEST_CASE("MakeLogger registers nothing globally", "[log]") {
  std::ostringstream out;
  LogOptions options;
  options.name = "promote-log-test-unregistered";
  options.stream = &out;
  auto logger = MakeLogger(options, nullptr);
  CHECK(spdlog::get("promote-log-test-unregistered") == nullptr);
  CHECK(spdlog::default_logger_raw() != logger.get());
  CHECK(logger->level() == spdlog::level::info);
}

TEST_CASE("text logs carry level and message", "[log]") {
  std::ostringstream out;
  LogOptions options;
  options.stream = &out;
  options.color = LogColor::kNever;
  auto logger = MakeLogger(options, nullptr);
  logger->warn("rollout of {} is slow", "api");
  std::vector<std::string> lines = Lines(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("[warning] rollout of api is slow") != std::string::npos);
}

}  // namespace
}  // namespace promote
