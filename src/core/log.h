// Logging: one spdlog logger object built from options and handed to whoever logs. Nothing is
// registered in spdlog's global registry and no default logger is set; every message passes
// through a Redactor before it is formatted, so no log line can carry a registered secret.
#pragma once

#include <spdlog/common.h>  // spdlog::level::level_enum (an enum cannot be forward-declared here)

#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace spdlog {
class logger;
namespace sinks {
class sink;
}  // namespace sinks
}  // namespace spdlog

namespace promote {

class Redactor;

/// How log lines look: for people (text) or for machines (one JSON object per line).
enum class LogFormat { kText, kJson };

/// Whether text logs are coloured: only on a terminal (kAuto), always, or never.
enum class LogColor { kAuto, kAlways, kNever };

/// Everything MakeLogger needs; the defaults give info-level coloured text on stderr.
struct LogOptions {
  spdlog::level::level_enum level = spdlog::level::info;
  LogFormat format = LogFormat::kText;
  LogColor color = LogColor::kAuto;
  std::string name = "promote";  ///< the logger name, the "logger" field of JSON lines
  /// Where lines go instead of stderr (tests); never coloured. Must outlive the logger.
  std::ostream* stream = nullptr;
  /// A sink to write to instead of stderr or `stream` (tests, a future file log). Its own
  /// formatter is replaced by the one `format` asks for.
  std::shared_ptr<spdlog::sinks::sink> sink;
};

/// "trace", "debug", "info", "warn"/"warning", "error"/"err", "critical", "off" (any case);
/// anything else is a kUsage Error listing the accepted names.
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text);

/// "text" or "json" (any case); anything else is a kUsage Error.
Result<LogFormat> ParseLogFormat(std::string_view text);

/// "auto", "always" or "never" (any case); anything else is a kUsage Error.
Result<LogColor> ParseLogColor(std::string_view text);

/// A logger writing to stderr (or options.stream / options.sink) whose every message is redacted
/// by `redactor` before formatting. A null redactor still applies the pattern-based redaction.
/// The logger is not registered anywhere: callers keep and pass the returned object.
std::shared_ptr<spdlog::logger> MakeLogger(const LogOptions& options,
                                           std::shared_ptr<const Redactor> redactor);

}  // namespace promote
