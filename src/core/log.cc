// Implementation details: the logger has exactly one sink, a RedactingSink, which rewrites each
// message's payload through the Redactor and hands the copy to the real sink (stderr, a stream or
// a caller's sink). Redaction happens before formatting, so JSON escaping cannot disguise a secret
// from the Redactor, and the real sink's formatter decides text or JSON.
#include "core/log.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/redactor.h"
#include "core/text.h"

namespace promote {
namespace {

constexpr char kTextPattern[] = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";

/// `2026-02-01T12:00:00.123Z`: UTC with milliseconds, what log collectors parse without help.
std::string IsoTimestamp(std::chrono::system_clock::time_point time) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  std::array<char, 80> buffer{};  // room for any int fields: keeps -Wformat-truncation quiet
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, static_cast<int>(millis));
  return buffer.data();
}

/// Formats a message as one JSON object per line; nlohmann::json does the escaping, and invalid
/// UTF-8 (a child's raw output) is replaced rather than making the log call throw.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json line;
    line["ts"] = IsoTimestamp(msg.time);
    auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back('\n');
    dest.append(text.data(), text.data() + text.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

/// Passes every message through the Redactor, then on to the sink that really writes it.
class RedactingSink final : public spdlog::sinks::sink {
 public:
  RedactingSink(std::shared_ptr<spdlog::sinks::sink> inner,
                std::shared_ptr<const Redactor> redactor)
      : inner_(std::move(inner)), redactor_(std::move(redactor)) {}

  void log(const spdlog::details::log_msg& msg) override {
    std::string clean = redactor_->Redact(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(clean.data(), clean.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
  std::shared_ptr<const Redactor> redactor_;
};

spdlog::color_mode ToColorMode(LogColor color) {
  switch (color) {
    case LogColor::kAlways:
      return spdlog::color_mode::always;
    case LogColor::kNever:
      return spdlog::color_mode::never;
    case LogColor::kAuto:
      break;
  }
  return spdlog::color_mode::automatic;
}

/// The sink that really writes: the caller's, a stream, or stderr (coloured only for text).
std::shared_ptr<spdlog::sinks::sink> OutputSink(const LogOptions& options) {
  if (options.sink) return options.sink;
  if (options.stream != nullptr) {
    return std::make_shared<spdlog::sinks::ostream_sink_mt>(*options.stream, /*force_flush=*/true);
  }
  if (options.format == LogFormat::kJson) return std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return std::make_shared<spdlog::sinks::stderr_color_sink_mt>(ToColorMode(options.color));
}

}  // namespace

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  std::string name = Lower(text);
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error" || name == "err") return spdlog::level::err;
  if (name == "critical") return spdlog::level::critical;
  if (name == "off") return spdlog::level::off;
  return Error{ErrorKind::kUsage, "unknown log level '" + std::string(text) + "'", "--log-level",
               "use one of trace, debug, info, warn, error, critical, off"};
}

Result<LogFormat> ParseLogFormat(std::string_view text) {
  std::string name = Lower(text);
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Error{ErrorKind::kUsage, "unknown log format '" + std::string(text) + "'", "--log-format",
               "use text or json"};
}

Result<LogColor> ParseLogColor(std::string_view text) {
  std::string name = Lower(text);
  if (name == "auto") return LogColor::kAuto;
  if (name == "always") return LogColor::kAlways;
  if (name == "never") return LogColor::kNever;
  return Error{ErrorKind::kUsage, "unknown color mode '" + std::string(text) + "'", "--color",
               "use auto, always or never"};
}

std::shared_ptr<spdlog::logger> MakeLogger(const LogOptions& options,
                                           std::shared_ptr<const Redactor> redactor) {
  if (!redactor) redactor = std::make_shared<const Redactor>();
  auto sink = std::make_shared<RedactingSink>(OutputSink(options), std::move(redactor));
  if (options.format == LogFormat::kJson) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_pattern(kTextPattern);
  }
  // Constructed directly, not through spdlog::create: nothing enters spdlog's global registry.
  auto logger = std::make_shared<spdlog::logger>(options.name, std::move(sink));
  logger->set_level(options.level);
  logger->flush_on(spdlog::level::warn);
  return logger;
}

}  // namespace promote
