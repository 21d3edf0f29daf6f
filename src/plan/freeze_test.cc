#include "plan/freeze.h"

#include <catch2/catch.hpp>

namespace promote::plan {
namespace {

namespace chrono = std::chrono;
using chrono::hours;
using chrono::minutes;
using Clock = chrono::system_clock;

/// An instant given in UTC: Utc(2026, 10, 23, 16, 0).
Clock::time_point Utc(int y, unsigned m, unsigned d, int hour, int minute = 0) {
  return Clock::time_point(chrono::sys_days(chrono::year(y) / m / d) + hours(hour) +
                           minutes(minute));
}

chrono::local_seconds Local(int y, unsigned m, unsigned d, int hour, int minute = 0) {
  return chrono::local_days(chrono::year(y) / m / d) + hours(hour) + minutes(minute);
}

FreezeWindow Recurring(std::string name, std::string schedule, chrono::milliseconds duration,
                       std::string reason = "") {
  FreezeWindow window;
  window.name = std::move(name);
  window.schedule = std::move(schedule);
  window.duration = duration;
  window.reason = std::move(reason);
  return window;
}

FreezeWindow Range(std::string name, chrono::local_seconds from, chrono::local_seconds until) {
  FreezeWindow window;
  window.name = std::move(name);
  window.from = from;
  window.until = until;
  return window;
}

FreezePolicy Policy(std::string zone, std::vector<FreezeWindow> windows) {
  FreezePolicy policy;
  policy.time_zone = std::move(zone);
  policy.windows = std::move(windows);
  return policy;
}

/// FreezeAt that must succeed.
std::optional<ActiveFreeze> At(const FreezePolicy& policy, Clock::time_point now) {
  Result<std::optional<ActiveFreeze>> result = FreezeAt(policy, now);
  if (!result) FAIL(result.error().Format());
  return *result;
}

TEST_CASE("ParseCron reads the five fields, names, lists, ranges and steps", "[freeze]") {
  SECTION("a weekly start") {
    const Result<CronSchedule> cron = ParseCron("0 18 * * FRI");
    REQUIRE(cron.ok());
    CHECK(cron->minutes.count() == 1);
    CHECK(cron->minutes.test(0));
    CHECK(cron->hours.count() == 1);
    CHECK(cron->hours.test(18));
    CHECK(cron->days_of_month.count() == 31);
    CHECK(cron->months.count() == 12);
    CHECK(cron->days_of_week.count() == 1);
    CHECK(cron->days_of_week.test(5));
    CHECK_FALSE(cron->day_of_month_restricted);
    CHECK(cron->day_of_week_restricted);
  }
  SECTION("lists, ranges, steps and names in any case") {
    const Result<CronSchedule> cron = ParseCron("*/15 9-17/4 1,15 jan-Mar mon-FRI");
    REQUIRE(cron.ok());
    CHECK(cron->minutes.count() == 4);
    CHECK(cron->minutes.test(45));
    CHECK(cron->hours.count() == 3);  // 9, 13, 17
    CHECK(cron->hours.test(13));
    CHECK_FALSE(cron->hours.test(10));
    CHECK(cron->days_of_month.count() == 2);
    CHECK(cron->months.count() == 3);
    CHECK(cron->months.test(3));
    CHECK(cron->days_of_week.count() == 5);
    CHECK_FALSE(cron->days_of_week.test(0));
  }
  SECTION("7 and 0 are both Sunday; a start with a step runs to the end") {
    const Result<CronSchedule> cron = ParseCron("30/10 22/1 * * 5-7");
    REQUIRE(cron.ok());
    CHECK(cron->minutes.count() == 3);  // 30, 40, 50
    CHECK(cron->hours.count() == 2);    // 22, 23
    CHECK(cron->days_of_week.count() == 3);
    CHECK(cron->days_of_week.test(0));
    CHECK(cron->days_of_week.test(6));
    const Result<CronSchedule> weekend = ParseCron("0 0 * * FRI-SUN");
    REQUIRE(weekend.ok());
    CHECK(weekend->days_of_week.count() == 3);
    CHECK(weekend->days_of_week.test(0));
  }
  SECTION("macros") {
    const Result<CronSchedule> cron = ParseCron("@weekly");
    REQUIRE(cron.ok());
    CHECK(cron->days_of_week.count() == 1);
    CHECK(cron->days_of_week.test(0));
    CHECK(ParseCron("@daily").ok());
  }
}

TEST_CASE("ParseCron names the field and the text it cannot read", "[freeze]") {
  const auto what = [](std::string_view text) {
    const Result<CronSchedule> cron = ParseCron(text);
    REQUIRE_FALSE(cron.ok());
    CHECK(cron.error().kind == ErrorKind::kInvalidPlan);
    CHECK_FALSE(cron.error().fix.empty());
    return cron.error().what;
  };
  CHECK_THAT(what("61 * * * *"),
             Catch::Contains("minute '61'") && Catch::Contains("out of range 0-59"));
  CHECK_THAT(what("0 25 * * *"), Catch::Contains("hour '25'"));
  CHECK_THAT(what("0 0 0 * *"), Catch::Contains("day-of-month '0'"));
  CHECK_THAT(what("0 0 * 13 *"), Catch::Contains("month '13'"));
  CHECK_THAT(what("0 18 * * FRY"),
             Catch::Contains("day-of-week 'FRY'") && Catch::Contains("SUN..SAT"));
  CHECK_THAT(what("0 18 * * 8"), Catch::Contains("out of range 0-7"));
  CHECK_THAT(what("0 18 * *"), Catch::Contains("expected 5 fields") && Catch::Contains("found 4"));
  CHECK_THAT(what("0 18 * * * *"), Catch::Contains("found 6"));
  CHECK_THAT(what("*/0 * * * *"), Catch::Contains("step"));
  CHECK_THAT(what("0 17-9 * * *"), Catch::Contains("hour '17-9'") && Catch::Contains("upwards"));
  CHECK_THAT(what("0 1,,2 * * *"), Catch::Contains("empty item"));
  CHECK_THAT(what("0 0 31 2 *"), Catch::Contains("never fires"));
  CHECK_THAT(what("@sometimes"), Catch::Contains("unknown macro"));
  CHECK_THAT(what(""), Catch::Contains("found 0"));
  // Feb 29 exists in leap years: not an error.
  CHECK(ParseCron("0 0 29 2 *").ok());
}

TEST_CASE("cron days: both day fields restricted means either matches", "[freeze]") {
  using chrono::year_month_day;
  const year_month_day friday_6th = chrono::year(2026) / 3 / 6;
  const year_month_day friday_13th = chrono::year(2026) / 3 / 13;
  const year_month_day monday_13th = chrono::year(2026) / 4 / 13;
  const year_month_day tuesday_14th = chrono::year(2026) / 4 / 14;

  const Result<CronSchedule> either = ParseCron("0 0 13 * FRI");
  REQUIRE(either.ok());
  CHECK(either->MatchesDay(friday_6th));
  CHECK(either->MatchesDay(friday_13th));
  CHECK(either->MatchesDay(monday_13th));
  CHECK_FALSE(either->MatchesDay(tuesday_14th));

  // A field starting with '*' is unrestricted (Vixie cron): then both must match.
  const Result<CronSchedule> both = ParseCron("0 0 */2 * FRI");
  REQUIRE(both.ok());
  CHECK_FALSE(both->MatchesDay(friday_6th));  // 6 is even: not in 1,3,5,...
  CHECK(both->MatchesDay(friday_13th));
  CHECK_FALSE(both->MatchesDay(monday_13th));

  const Result<CronSchedule> december = ParseCron("0 0 * DEC *");
  REQUIRE(december.ok());
  CHECK_FALSE(december->MatchesDay(friday_13th));
  CHECK(december->MatchesDay(chrono::year(2026) / 12 / 24));
}

TEST_CASE("ParseLocalDateTime reads YYYY-MM-DDTHH:MM[:SS]", "[freeze]") {
  CHECK(ParseLocalDateTime("2026-11-26T00:00") == Local(2026, 11, 26, 0));
  CHECK(ParseLocalDateTime("2026-11-30 23:59") == Local(2026, 11, 30, 23, 59));
  CHECK(ParseLocalDateTime("2026-11-30T23:59:30") ==
        Local(2026, 11, 30, 23, 59) + chrono::seconds(30));
  CHECK_FALSE(ParseLocalDateTime("2026-02-30T00:00"));
  CHECK_FALSE(ParseLocalDateTime("2026-11-26T24:00"));
  CHECK_FALSE(ParseLocalDateTime("2026-11-26"));
  CHECK_FALSE(ParseLocalDateTime("26-11-2026T00:00"));
  CHECK_FALSE(ParseLocalDateTime("2026-11-26T00:00Z"));
}

TEST_CASE("CheckTimeZone knows the system's zones and refuses machine-dependent ones", "[freeze]") {
  CHECK(CheckTimeZone("Europe/Paris").ok());
  CHECK(CheckTimeZone("UTC").ok());
  CHECK(CheckTimeZone("America/New_York").ok());
  CHECK_FALSE(CheckTimeZone("Europe/Pari").ok());
  CHECK_FALSE(CheckTimeZone("CEST").ok());
  CHECK_FALSE(CheckTimeZone("localtime").ok());
  CHECK_FALSE(CheckTimeZone("../../etc/passwd").ok());
  const std::vector<std::string> names = TimeZoneNames();
  CHECK(std::find(names.begin(), names.end(), "Europe/Paris") != names.end());
}

TEST_CASE("a weekly window is in force from its start for its duration", "[freeze]") {
  const FreezePolicy policy =
      Policy("UTC", {Recurring("weekend", "0 18 * * FRI", hours(62), "no deploys on weekends")});
  // Friday 2026-03-06 18:00 UTC to Monday 2026-03-09 08:00 UTC.
  CHECK_FALSE(At(policy, Utc(2026, 3, 6, 17, 59)));
  const auto started = At(policy, Utc(2026, 3, 6, 18, 0));
  REQUIRE(started);
  CHECK(started->window == "weekend");
  CHECK(started->reason == "no deploys on weekends");
  CHECK(started->ends == Utc(2026, 3, 9, 8, 0));
  CHECK(started->ends_local == "2026-03-09 08:00 UTC");
  const auto sunday = At(policy, Utc(2026, 3, 8, 23, 0));
  REQUIRE(sunday);
  CHECK(sunday->ends == Utc(2026, 3, 9, 8, 0));
  CHECK(At(policy, Utc(2026, 3, 9, 7, 59)));
  CHECK_FALSE(At(policy, Utc(2026, 3, 9, 8, 0)));
  CHECK_FALSE(At(policy, Utc(2026, 3, 11, 12, 0)));
}

TEST_CASE("windows follow the time zone's DST rules", "[freeze]") {
  const FreezePolicy weekend =
      Policy("Europe/Paris", {Recurring("weekend", "0 18 * * FRI", hours(62))});

  SECTION("a summer weekend: 18:00 CEST is 16:00 UTC") {
    CHECK_FALSE(At(weekend, Utc(2026, 10, 16, 15, 59)));
    const auto frozen = At(weekend, Utc(2026, 10, 16, 16, 0));
    REQUIRE(frozen);
    CHECK(frozen->ends == Utc(2026, 10, 19, 6, 0));
    CHECK(frozen->ends_local == "2026-10-19 08:00 Europe/Paris");
  }
  SECTION("across the last Sunday of October: 62 real hours end at 07:00 CET") {
    CHECK_FALSE(At(weekend, Utc(2026, 10, 23, 15, 59)));
    const auto frozen = At(weekend, Utc(2026, 10, 25, 0, 30));  // in the repeated hour
    REQUIRE(frozen);
    CHECK(frozen->ends == Utc(2026, 10, 26, 6, 0));
    CHECK(frozen->ends_local == "2026-10-26 07:00 Europe/Paris");
    CHECK(At(weekend, Utc(2026, 10, 26, 5, 59)));
    CHECK_FALSE(At(weekend, Utc(2026, 10, 26, 6, 0)));
  }
  SECTION("a winter weekend: 18:00 CET is 17:00 UTC") {
    CHECK_FALSE(At(weekend, Utc(2026, 12, 4, 16, 59)));
    const auto frozen = At(weekend, Utc(2026, 12, 4, 17, 0));
    REQUIRE(frozen);
    CHECK(frozen->ends_local == "2026-12-07 08:00 Europe/Paris");
  }
  SECTION("across the last Sunday of March: ends at 09:00 CEST") {
    const auto frozen = At(weekend, Utc(2026, 3, 28, 12, 0));
    REQUIRE(frozen);
    CHECK(frozen->ends == Utc(2026, 3, 30, 7, 0));
    CHECK(frozen->ends_local == "2026-03-30 09:00 Europe/Paris");
  }
  SECTION("a start in the spring-forward gap starts when the gap ends") {
    // 02:30 does not exist in Paris on 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
    const FreezePolicy nightly =
        Policy("Europe/Paris", {Recurring("nightly", "30 2 * * *", hours(1))});
    CHECK_FALSE(At(nightly, Utc(2026, 3, 29, 0, 59)));
    const auto frozen = At(nightly, Utc(2026, 3, 29, 1, 0));
    REQUIRE(frozen);
    CHECK(frozen->ends_local == "2026-03-29 04:00 Europe/Paris");
    CHECK_FALSE(At(nightly, Utc(2026, 3, 29, 2, 0)));
    // The day before and after, 02:30 local as usual.
    CHECK(At(nightly, Utc(2026, 3, 28, 1, 30)));
    CHECK(At(nightly, Utc(2026, 3, 30, 0, 30)));
  }
  SECTION("a start in the repeated hour of fall-back starts once, on the first pass") {
    const FreezePolicy nightly =
        Policy("Europe/Paris", {Recurring("nightly", "30 2 * * *", minutes(30))});
    const auto first = At(nightly, Utc(2026, 10, 25, 0, 45));  // 02:45 CEST
    REQUIRE(first);
    CHECK(first->ends == Utc(2026, 10, 25, 1, 0));
    CHECK(first->ends_local == "2026-10-25 02:00 Europe/Paris");
    CHECK_FALSE(At(nightly, Utc(2026, 10, 25, 1, 45)));  // 02:45 CET, the second pass
  }
  SECTION("another hemisphere: Sydney's DST starts in October") {
    // 2026-10-04 02:00 AEST becomes 03:00 AEDT; 09:00 local is 23:00 UTC the day before.
    const FreezePolicy sydney =
        Policy("Australia/Sydney", {Recurring("mornings", "0 9 * * *", hours(1))});
    CHECK(At(sydney, Utc(2026, 10, 2, 23, 30)));        // Saturday 09:30 AEST
    CHECK(At(sydney, Utc(2026, 10, 4, 22, 30)));        // Monday 09:30 AEDT
    CHECK_FALSE(At(sydney, Utc(2026, 10, 4, 23, 30)));  // Monday 10:30 AEDT
  }
}

TEST_CASE("a date range is frozen from 'from' up to 'until', in local time", "[freeze]") {
  const FreezePolicy policy =
      Policy("Europe/Paris",
             {Range("black-friday", Local(2026, 11, 26, 0, 0), Local(2026, 11, 30, 23, 59))});
  CHECK_FALSE(At(policy, Utc(2026, 11, 25, 22, 59)));
  const auto frozen = At(policy, Utc(2026, 11, 25, 23, 0));  // midnight CET
  REQUIRE(frozen);
  CHECK(frozen->window == "black-friday");
  CHECK(frozen->ends == Utc(2026, 11, 30, 22, 59));
  CHECK(frozen->ends_local == "2026-11-30 23:59 Europe/Paris");
  CHECK(At(policy, Utc(2026, 11, 30, 22, 58)));
  CHECK_FALSE(At(policy, Utc(2026, 11, 30, 22, 59)));
  CHECK_FALSE(At(policy, Utc(2027, 11, 27, 12, 0)));
}

TEST_CASE("overlapping windows: the one ending last is named, the end follows the chain",
          "[freeze]") {
  SECTION("a weekend inside black friday week") {
    const FreezePolicy policy =
        Policy("Europe/Paris",
               {Recurring("weekend", "0 18 * * FRI", hours(62)),
                Range("black-friday", Local(2026, 11, 26, 0, 0), Local(2026, 11, 30, 23, 59))});
    const auto saturday = At(policy, Utc(2026, 11, 28, 12, 0));
    REQUIRE(saturday);
    CHECK(saturday->window == "black-friday");
    CHECK(saturday->ends_local == "2026-11-30 23:59 Europe/Paris");
    // The next weekend is the weekend's alone.
    const auto next = At(policy, Utc(2026, 12, 5, 12, 0));
    REQUIRE(next);
    CHECK(next->window == "weekend");
  }
  SECTION("back-to-back windows: free only when the last one ends") {
    const FreezePolicy policy = Policy("UTC", {Recurring("morning", "0 9 * * *", hours(1)),
                                               Recurring("late-morning", "0 10 * * *", hours(1)),
                                               Recurring("afternoon", "0 14 * * *", hours(1))});
    const auto frozen = At(policy, Utc(2026, 6, 1, 9, 30));
    REQUIRE(frozen);
    CHECK(frozen->window == "morning");
    CHECK(frozen->ends == Utc(2026, 6, 1, 11, 0));
    CHECK_FALSE(At(policy, Utc(2026, 6, 1, 12, 0)));
  }
  SECTION("starts closer together than the duration") {
    const FreezePolicy policy = Policy("UTC", {Recurring("busy", "0 9-12 * * *", hours(2))});
    const auto frozen = At(policy, Utc(2026, 6, 1, 10, 30));
    REQUIRE(frozen);
    CHECK(frozen->ends == Utc(2026, 6, 1, 14, 0));
  }
}

TEST_CASE("FreezeAt: long windows, empty policies and bad input", "[freeze]") {
  SECTION("a year-long window is found without scanning forever") {
    const FreezePolicy policy = Policy("UTC", {Recurring("year", "0 0 1 1 *", hours(24 * 364))});
    const auto frozen = At(policy, Utc(2026, 12, 1, 0, 0));
    REQUIRE(frozen);
    CHECK(frozen->ends == Utc(2026, 12, 31, 0, 0));
  }
  SECTION("a freeze that never ends is followed for 1000 windows, then reported as is") {
    const FreezePolicy policy = Policy("UTC", {Recurring("always", "* * * * *", hours(1))});
    const auto frozen = At(policy, Utc(2026, 6, 1, 12, 0));
    REQUIRE(frozen);
    CHECK(frozen->ends == Utc(2026, 6, 1, 12, 0) + hours(1001));
  }
  SECTION("no windows, no freeze") {
    CHECK_FALSE(At(FreezePolicy{}, Utc(2026, 1, 1, 0, 0)));
  }
  SECTION("an unknown zone or a bad schedule is an error, not a silent pass") {
    const Result<std::optional<ActiveFreeze>> zone = FreezeAt(
        Policy("Mars/Olympus", {Recurring("w", "0 0 * * *", hours(1))}), Utc(2026, 1, 1, 0, 0));
    REQUIRE_FALSE(zone.ok());
    CHECK_THAT(zone.error().what, Catch::Contains("Mars/Olympus"));
    const Result<std::optional<ActiveFreeze>> cron =
        FreezeAt(Policy("UTC", {Recurring("w", "0 0 * *", hours(1))}), Utc(2026, 1, 1, 0, 0));
    REQUIRE_FALSE(cron.ok());
    CHECK_THAT(cron.error().what, Catch::Contains("freeze window 'w'"));
  }
}

}  // namespace
}  // namespace promote::plan
