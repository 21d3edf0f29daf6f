// Implementation details: a recurring window is in force at t when its latest start s <= t has
// s + duration > t. Starts are local times, so the latest one is found by walking local days
// backwards from local(t) (a little later just after clocks went back), and within a matching
// day its hours and minutes downwards, converting each candidate to UTC with choose::earliest.
// That conversion never decreases as local time increases (a gap maps to its end, a repeated
// hour to its first pass), so the first candidate <= t is the latest start. The walk stops a
// day past t - duration. A freeze's end follows overlapping windows while they chain, at most
// kMaxChainedWindows times and no further than kChainHorizon past now.
// The tz database is date's (read from /usr/share/zoneinfo on first use, then shared).
#include "plan/freeze.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "core/time_format.h"

namespace promote::plan {
namespace {

namespace chrono = std::chrono;
using chrono::days;
using chrono::hours;
using chrono::minutes;
using chrono::seconds;
using chrono::sys_seconds;

/// Overlapping or back-to-back windows followed at most this many times to find a freeze's end.
constexpr int kMaxChainedWindows = 1000;
/// ... and no further than this past now: "frozen for more than a year" says enough.
constexpr days kChainHorizon{400};

/// One of the five cron fields: its name, its range and, for months and days, the names.
struct CronField {
  std::string_view name;
  int min;
  int max;
  const std::array<std::string_view, 12>* names;  ///< names[i] is value i + names_base
  int names_base;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 12> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI",
                                                        "SAT", "",    "",    "",    "",    ""};

constexpr std::array<CronField, 5> kCronFields = {{
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, &kMonthNames, 1},
    {"day-of-week", 0, 7, &kDayNames, 0},
}};

Error CronError(std::string what) {
  return Error{ErrorKind::kInvalidPlan, std::move(what), "",
               "write 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 18 * * FRI\" "
               "(Fridays 18:00)"};
}

/// One value of a field: a number in range or, where the field has them, a name.
Result<int> CronValue(std::string_view text, const CronField& field, std::string_view item) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!text.empty() && error == std::errc() && end == text.data() + text.size()) {
    if (value < field.min || value > field.max) {
      return CronError(std::string(field.name) + " '" + std::string(item) +
                       "': " + std::to_string(value) + " is out of range " +
                       std::to_string(field.min) + "-" + std::to_string(field.max));
    }
    return value;
  }
  if (field.names != nullptr) {
    std::string upper(text);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (size_t i = 0; i < field.names->size(); ++i) {
      if (!(*field.names)[i].empty() && (*field.names)[i] == upper) {
        return static_cast<int>(i) + field.names_base;
      }
    }
    const std::string_view forms =
        field.names == &kMonthNames ? "1-12 or JAN..DEC" : "0-7 or SUN..SAT";
    return CronError(std::string(field.name) + " '" + std::string(item) + "': '" +
                     std::string(text) + "' is not a value (" + std::string(forms) + ")");
  }
  return CronError(std::string(field.name) + " '" + std::string(item) + "': '" + std::string(text) +
                   "' is not a number (" + std::to_string(field.min) + "-" +
                   std::to_string(field.max) + ")");
}

/// Sets in `allowed` (indexed by value) every value one field text allows.
Status ParseCronField(std::string_view text, const CronField& field, std::vector<bool>& allowed) {
  allowed.assign(static_cast<size_t>(field.max) + 1, false);
  size_t begin = 0;
  while (true) {
    const size_t comma = text.find(',', begin);
    const std::string_view item = text.substr(
        begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
    if (item.empty()) {
      return CronError(std::string(field.name) + " '" + std::string(text) +
                       "': empty item in a list");
    }
    std::string_view range = item;
    int step = 1;
    const size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      const auto [end, error] =
          std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (step_text.empty() || error != std::errc() || end != step_text.data() + step_text.size() ||
          step < 1) {
        return CronError(std::string(field.name) + " '" + std::string(item) +
                         "': the step after '/' must be a whole number of at least 1");
      }
    }
    int low = field.min;
    int high = field.max;
    if (range == "*") {
      if (field.max == 7) high = 6;  // 7 is Sunday again: "*" means each day once
    } else {
      const size_t dash = range.find('-');
      Result<int> first = CronValue(range.substr(0, dash), field, item);
      if (!first) return std::move(first).error();
      low = *first;
      if (dash != std::string_view::npos) {
        Result<int> last = CronValue(range.substr(dash + 1), field, item);
        if (!last) return std::move(last).error();
        high = *last;
        if (field.max == 7 && high == 0) high = 7;  // FRI-SUN: Sunday closes the week
        if (high < low) {
          return CronError(std::string(field.name) + " '" + std::string(item) +
                           "': a range must go upwards (write two ranges joined by ',' to wrap)");
        }
      } else if (slash == std::string_view::npos) {
        high = low;
      }
    }
    for (int value = low; value <= high; value += step) allowed[static_cast<size_t>(value)] = true;
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return Done{};
}

/// The five fields of `text` (or of the macro it names), split on blanks.
Result<std::vector<std::string_view>> CronFields(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMacros = {{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  if (!text.empty() && text.front() == '@') {
    for (const auto& [macro, expansion] : kMacros) {
      if (macro == text) return CronFields(expansion);
    }
    return CronError("unknown macro '" + std::string(text) +
                     "' (known: @yearly, @monthly, @weekly, @daily, @hourly)");
  }
  std::vector<std::string_view> fields;
  size_t at = 0;
  while (at < text.size()) {
    if (text[at] == ' ' || text[at] == '\t') {
      ++at;
      continue;
    }
    const size_t end = text.find_first_of(" \t", at);
    fields.push_back(
        text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    at = end == std::string_view::npos ? text.size() : end;
  }
  if (fields.size() != kCronFields.size()) {
    return CronError("expected 5 fields (minute hour day-of-month month day-of-week), found " +
                     std::to_string(fields.size()));
  }
  return fields;
}

/// ParseCron without the "can it ever fire" check, which FreezeAt need not repeat.
Result<CronSchedule> ParseCronFields(std::string_view text) {
  Result<std::vector<std::string_view>> fields = CronFields(text);
  if (!fields) return std::move(fields).error();
  CronSchedule schedule;
  std::vector<bool> allowed;
  for (size_t i = 0; i < kCronFields.size(); ++i) {
    const std::string_view field_text = (*fields)[i];
    Status parsed = ParseCronField(field_text, kCronFields[i], allowed);
    if (!parsed) return std::move(parsed).error();
    for (size_t value = 0; value < allowed.size(); ++value) {
      if (!allowed[value]) continue;
      switch (i) {
        case 0:
          schedule.minutes.set(value);
          break;
        case 1:
          schedule.hours.set(value);
          break;
        case 2:
          schedule.days_of_month.set(value);
          break;
        case 3:
          schedule.months.set(value);
          break;
        default:
          schedule.days_of_week.set(value % 7);
          break;
      }
    }
  }
  schedule.day_of_month_restricted = (*fields)[2].front() != '*';
  schedule.day_of_week_restricted = (*fields)[4].front() != '*';
  return schedule;
}

Result<const date::time_zone*> Zone(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInvalidPlan, "unknown time zone '" + name + "': " + e.what(), "freeze",
                 "use an IANA name such as Europe/Paris or UTC"};
  }
}

sys_seconds ToSys(const date::time_zone& zone, chrono::local_seconds local) {
  const date::local_seconds as_date{local.time_since_epoch()};
  return sys_seconds{zone.to_sys(as_date, date::choose::earliest).time_since_epoch()};
}

chrono::local_seconds ToLocal(const date::time_zone& zone, sys_seconds instant) {
  const date::sys_seconds as_date{instant.time_since_epoch()};
  return chrono::local_seconds{zone.to_local(as_date).time_since_epoch()};
}

/// How much higher the zone's UTC offset was at some point of the day before `now` than it is
/// at `now` (one hour for a day after the autumn change, zero mostly).
seconds OffsetDropWithinADay(const date::time_zone& zone, sys_seconds now) {
  const date::sys_seconds at{now.time_since_epoch()};
  date::sys_info info = zone.get_info(at);
  const seconds offset_now = info.offset;
  seconds highest = offset_now;
  // A zone changes its offset a few times a year; the bound only guards against odd data.
  for (int i = 0; i < 16 && info.begin > at - days(1); ++i) {
    info = zone.get_info(info.begin - seconds(1));
    highest = std::max(highest, info.offset);
  }
  return highest - offset_now;
}

/// The latest start of `schedule` at or before `now`, looking back no further than `lookback`.
std::optional<sys_seconds> LatestStart(const CronSchedule& schedule, const date::time_zone& zone,
                                       sys_seconds now, seconds lookback) {
  const chrono::local_seconds local_now = ToLocal(zone, now);
  // Just after clocks went back, local times a little after local(now) are still before now:
  // by as much as the offset has dropped within the last day.
  const chrono::local_seconds latest_candidate = local_now + OffsetDropWithinADay(zone, now);
  const chrono::local_days first_day = chrono::floor<days>(latest_candidate);
  const chrono::local_days last_day = chrono::floor<days>(local_now - lookback) - days(1);
  for (chrono::local_days day = first_day; day >= last_day; day -= days(1)) {
    if (!schedule.MatchesDay(chrono::year_month_day(day))) continue;
    for (int hour = 23; hour >= 0; --hour) {
      if (!schedule.hours.test(static_cast<size_t>(hour))) continue;
      for (int minute = 59; minute >= 0; --minute) {
        if (!schedule.minutes.test(static_cast<size_t>(minute))) continue;
        const chrono::local_seconds local = day + hours(hour) + minutes(minute);
        if (local > latest_candidate) continue;
        const sys_seconds start = ToSys(zone, local);
        if (start <= now) return start;
      }
    }
  }
  return std::nullopt;
}

/// A window with its schedule parsed once per evaluation.
struct Prepared {
  const FreezeWindow* window;
  std::optional<CronSchedule> schedule;
};

/// When `window` stops being in force, if it is in force at `t`.
std::optional<sys_seconds> EndIfActive(const Prepared& prepared, const date::time_zone& zone,
                                       sys_seconds t) {
  const FreezeWindow& window = *prepared.window;
  if (prepared.schedule) {
    const seconds duration = chrono::ceil<seconds>(window.duration);
    const std::optional<sys_seconds> start = LatestStart(*prepared.schedule, zone, t, duration);
    if (start && *start + duration > t) return *start + duration;
    return std::nullopt;
  }
  if (!window.from || !window.until) return std::nullopt;
  const sys_seconds until = ToSys(zone, *window.until);
  if (ToSys(zone, *window.from) <= t && t < until) return until;
  return std::nullopt;
}

std::string FormatLocal(chrono::local_seconds local, const std::string& zone_name) {
  const chrono::local_days day = chrono::floor<days>(local);
  const chrono::year_month_day ymd(day);
  const chrono::hh_mm_ss<seconds> time(local - day);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u %02ld:%02ld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(time.hours().count()), static_cast<long>(time.minutes().count()));
  std::string out = text;
  if (time.seconds().count() != 0) {
    std::snprintf(text, sizeof text, ":%02ld", static_cast<long>(time.seconds().count()));
    out += text;
  }
  return out + " " + zone_name;
}

}  // namespace

bool CronSchedule::MatchesDay(chrono::year_month_day day) const {
  if (!months.test(static_cast<unsigned>(day.month()))) return false;
  const bool dom = days_of_month.test(static_cast<unsigned>(day.day()));
  const bool dow = days_of_week.test(chrono::weekday(chrono::sys_days(day)).c_encoding());
  if (day_of_month_restricted && day_of_week_restricted) return dom || dow;
  return dom && dow;
}

Result<CronSchedule> ParseCron(std::string_view text) {
  Result<CronSchedule> schedule = ParseCronFields(text);
  if (!schedule) return schedule;
  // 28 years hold every combination of weekday, day and month (leap years included).
  const chrono::sys_days first = chrono::sys_days(chrono::year(2001) / 1 / 1);
  for (chrono::sys_days day = first; day < first + days(28 * 366); day += days(1)) {
    if (schedule->MatchesDay(chrono::year_month_day(day))) return schedule;
  }
  // Appended, not "'" + std::string(text): GCC 12 at -O3 inlines that operator+ into a false
  // -Wrestrict error (the known GCC 12 bug of std::string's replace, as in plan/loader.cc).
  std::string quoted = "'";
  return CronError(quoted.append(text).append("' never fires: no month has that day"));
}

std::optional<chrono::local_seconds> ParseLocalDateTime(std::string_view text) {
  // YYYY-MM-DDTHH:MM[:SS]
  if (text.size() != 16 && text.size() != 19) return std::nullopt;
  const auto digits = [&](size_t at, size_t count) -> std::optional<int> {
    int value = 0;
    for (size_t i = at; i < at + count; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') || text[13] != ':' ||
      (text.size() == 19 && text[16] != ':')) {
    return std::nullopt;
  }
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  const auto hour = digits(11, 2), minute = digits(14, 2);
  const auto second = text.size() == 19 ? digits(17, 2) : std::optional<int>(0);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  const chrono::year_month_day ymd{chrono::year(*year),
                                   chrono::month(static_cast<unsigned>(*month)),
                                   chrono::day(static_cast<unsigned>(*day))};
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  return chrono::local_days(ymd) + hours(*hour) + minutes(*minute) + seconds(*second);
}

Status CheckTimeZone(const std::string& name) {
  // "localtime" is a link to the machine's own zone: a plan must not mean different things on
  // different runners.
  if (name == "localtime" || name == "posixrules" || name == "Factory") {
    return Error{ErrorKind::kInvalidPlan, "time zone '" + name + "' depends on the machine", "",
                 "name the zone, e.g. Europe/Paris or UTC"};
  }
  Result<const date::time_zone*> zone = Zone(name);
  if (!zone) return Error{ErrorKind::kInvalidPlan, "unknown time zone '" + name + "'", "", ""};
  return Done{};
}

std::vector<std::string> TimeZoneNames() {
  std::vector<std::string> names;
  try {
    for (const date::time_zone& zone : date::get_tzdb().zones) names.push_back(zone.name());
  } catch (const std::exception&) {
    // An unreadable database has no names to suggest; CheckTimeZone reports the real problem.
  }
  return names;
}

Result<std::optional<ActiveFreeze>> FreezeAt(const FreezePolicy& policy,
                                             chrono::system_clock::time_point now) {
  if (policy.windows.empty()) return std::optional<ActiveFreeze>();
  Result<const date::time_zone*> zone_result = Zone(policy.time_zone);
  if (!zone_result) return std::move(zone_result).error();
  const date::time_zone& zone = **zone_result;

  std::vector<Prepared> prepared;
  for (const FreezeWindow& window : policy.windows) {
    Prepared item{&window, std::nullopt};
    if (!window.schedule.empty()) {
      Result<CronSchedule> schedule = ParseCronFields(window.schedule);
      if (!schedule) {
        return std::move(schedule).error().WithContext("freeze window '" + window.name + "'");
      }
      item.schedule = *schedule;
    }
    prepared.push_back(std::move(item));
  }

  try {
    const sys_seconds at = chrono::floor<seconds>(now);
    std::optional<ActiveFreeze> active;
    sys_seconds ends{};
    for (const Prepared& item : prepared) {
      const std::optional<sys_seconds> end = EndIfActive(item, zone, at);
      if (!end || (active && *end <= ends)) continue;
      active = ActiveFreeze{item.window->name, item.window->reason, {}, ""};
      ends = *end;
    }
    if (!active) return active;
    // Promotions are free only once no window is in force: follow overlapping windows.
    for (int hop = 0; hop < kMaxChainedWindows; ++hop) {
      sys_seconds next = ends;
      for (const Prepared& item : prepared) {
        const std::optional<sys_seconds> end = EndIfActive(item, zone, ends);
        if (end && *end > next) next = *end;
      }
      if (next == ends) break;
      ends = next;
      if (ends - at > kChainHorizon) break;
    }
    active->ends = chrono::system_clock::time_point(ends.time_since_epoch());
    active->ends_local = FormatLocal(ToLocal(zone, ends), zone.name());
    return active;
  } catch (const std::exception& e) {
    // date reads each zone's file on first use; a vanished or corrupt file ends up here.
    return Error{ErrorKind::kExternal,
                 "evaluating freeze windows in time zone '" + policy.time_zone + "': " + e.what(),
                 "freeze", "check that the tzdata package is installed (/usr/share/zoneinfo)"};
  }
}

FreezeVerdict JudgeFreeze(const FreezePolicy& policy, const std::string& target,
                          std::chrono::system_clock::time_point now, bool restore,
                          const std::optional<std::string>& override_reason,
                          const std::optional<std::string>& override_window) {
  FreezeVerdict verdict;
  if (restore || policy.windows.empty()) return verdict;
  auto active = FreezeAt(policy, now);
  if (!active) {
    verdict.frozen = true;
    verdict.description =
        "the freeze windows of " + target + " cannot be evaluated: " + active.error().Format();
    verdict.refusal = verdict.description;
    return verdict;
  }
  if (!*active) return verdict;
  const ActiveFreeze& freeze = **active;
  verdict.frozen = true;
  verdict.window = freeze.window;
  verdict.until_utc = Rfc3339(freeze.ends);
  verdict.description = "window '" + freeze.window + "'" +
                        (freeze.reason.empty() ? "" : " (" + freeze.reason + ")") + " until " +
                        freeze.ends_local + " (" + verdict.until_utc + ")";
  if (override_reason && (!override_window || *override_window == freeze.window)) {
    verdict.override_reason = override_reason;
  }
  verdict.refusal = target + " is frozen by " + verdict.description +
                    "; rollbacks are allowed; to promote anyway pass --override-freeze --reason "
                    "\"…\"";
  return verdict;
}

}  // namespace promote::plan
