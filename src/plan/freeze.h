// Freeze windows: whether an environment refuses forward promotions at a given instant, and
// until when. Pure functions of (policy, instant); the time zone rules come from the system's
// tz database (/usr/share/zoneinfo, Debian's tzdata) through Howard Hinnant's date library.
//
// Semantics (the user's view is docs/freeze-windows.md):
//   - a recurring window starts at every local time its cron schedule matches and lasts
//     `duration` of real (UTC) time, so "0 18 * * FRI" + 62h ends on Monday 08:00 local unless
//     a DST change falls inside it;
//   - a start in a DST gap (02:30 on the spring-forward night) starts at the end of the gap;
//     a start in a repeated hour (02:30 on the fall-back night) is the first of the two;
//   - a one-off window is frozen for from <= t < until (both local, converted the same way);
//   - cron: minute hour day-of-month month day-of-week; numbers, '*', lists, ranges, steps
//     ('*/n', 'a-b/n', 'a/n'), JAN..DEC, SUN..SAT (0 and 7 are Sunday), and @yearly, @monthly,
//     @weekly, @daily, @hourly. When both day fields are restricted (neither starts with '*'),
//     a day matches when either does (as in Vixie cron).
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "plan/plan.h"

namespace promote::plan {

/// A parsed cron expression: the values each of its five fields allows.
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;         ///< 1..31
  std::bitset<13> months;                ///< 1..12
  std::bitset<7> days_of_week;           ///< 0 = Sunday
  bool day_of_month_restricted = false;  ///< the field does not start with '*'
  bool day_of_week_restricted = false;   ///< the field does not start with '*'

  /// Whether a start falls on this local calendar day (dom/dow OR-semantics included).
  bool MatchesDay(std::chrono::year_month_day day) const;
};

/// Parses a 5-field cron expression or an @macro. The error's `what` names the field and the
/// offending text ("hour '25' is out of range 0-23"); `where` is empty (the caller knows it).
/// An expression that can never fire ("0 0 31 2 *") is an error too.
Result<CronSchedule> ParseCron(std::string_view text);

/// Parses a local date-time "YYYY-MM-DDTHH:MM" (seconds ":SS" and a space for 'T' accepted).
std::optional<std::chrono::local_seconds> ParseLocalDateTime(std::string_view text);

/// Ok when `name` is a time zone of the system's tz database (machine-dependent names such as
/// "localtime" are refused); the error's `where` and `fix` are left to the caller.
Status CheckTimeZone(const std::string& name);

/// Every zone name of the tz database, for did-you-mean suggestions (empty when unreadable).
std::vector<std::string> TimeZoneNames();

/// A freeze in force at some instant: which window, why, and when promotions are free again.
struct ActiveFreeze {
  std::string window;  ///< the window in force that ends last
  std::string reason;  ///< that window's reason (may be empty)
  /// When no window of the policy is in force any more (UTC): overlapping and back-to-back
  /// windows are followed, so this is the earliest instant a promotion would be accepted
  /// (for a policy frozen without end, where the following stopped: see FreezeAt).
  std::chrono::system_clock::time_point ends;
  std::string ends_local;  ///< `ends` in the policy's zone: "2026-11-30 23:59 Europe/Paris"
};

/// The freeze in force in `policy` at `now`, or nullopt when promotions are allowed. Fails only
/// when the policy was not validated by the loader (bad cron, unknown zone) or the tz database
/// is unreadable. Bounded work: each window is searched back at most its duration plus 2 days,
/// and chained windows are followed at most 1000 times or about a year past `now`.
Result<std::optional<ActiveFreeze>> FreezeAt(const FreezePolicy& policy,
                                             std::chrono::system_clock::time_point now);

/// What a freeze means for one forward promotion: free, refused (with the sentence a person
/// reads), or let through by an override that the run must journal and report.
struct FreezeVerdict {
  bool frozen = false;      ///< a window is in force, or the windows cannot be evaluated
  std::string window;       ///< the window in force ("" when it cannot be evaluated)
  std::string description;  ///< "window 'weekend' (no weekend deploys) until … (…Z)"
  std::string until_utc;    ///< RFC 3339, when promotions are free again
  std::optional<std::string> override_reason;  ///< --override-freeze --reason: let through
  std::string refusal;  ///< the sentence of a refusal: what, until when, how to go anyway

  bool refuses() const { return frozen && !override_reason; }
};

/// The freeze verdict on promoting into `target` at `now`. A restore is never frozen (rollbacks
/// stay allowed). A policy that cannot be evaluated refuses (fail closed). `override_reason`
/// lets a frozen run through, but only for `override_window` when that is set (an override
/// given for one window is not a pass for every later freeze).
FreezeVerdict JudgeFreeze(const FreezePolicy& policy, const std::string& target,
                          std::chrono::system_clock::time_point now, bool restore,
                          const std::optional<std::string>& override_reason,
                          const std::optional<std::string>& override_window = std::nullopt);

}  // namespace promote::plan
