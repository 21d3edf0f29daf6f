// Reading Prometheus' answers and judging metric checks (pure), and PrometheusClient against an
// in-process HTTP server that answers as Prometheus' query API does. The real Prometheus is
// queried by the end-to-end tests.
#include "adapters/metrics/prometheus.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <mutex>

#include "plan/plan.h"
#include "support/http_server.h"

namespace promote::adapters::metrics {
namespace {

using Kind = QueryAnswer::Kind;
using probe::ProbeOutcome;

std::string Vector(const std::string& samples) {
  return R"({"status":"success","data":{"resultType":"vector","result":[)" + samples + "]}}";
}

probe::ProbeTarget Check(std::optional<double> min, std::optional<double> max,
                         const std::string& base = "http://127.0.0.1:1") {
  plan::Probe check;
  check.name = "success-rate";
  check.method = "METRIC";
  check.path = check.name;
  check.golden = true;
  check.metric.emplace();
  check.metric->query = "sum(rate(x[10s]))";
  check.metric->min = min;
  check.metric->max = max;
  return {"api", "prod", base, check};
}

TEST_CASE("a query's answer: one value, no data, or an error saying why", "[metrics]") {
  const auto one = ReadQueryAnswer(
      200, Vector(R"({"metric":{"service":"api"},"value":[1700000000.5,"0.9512"]})"));
  CHECK(one.kind == Kind::kValue);
  CHECK(one.value == Approx(0.9512));
  CHECK(ReadQueryAnswer(200, R"({"status":"success","data":{"resultType":"scalar",)"
                             R"("result":[1700000000,"250"]}})")
            .value == Approx(250));
  CHECK(ReadQueryAnswer(200, Vector("")).kind == Kind::kNoData);
  // A rate over no requests is NaN: there is nothing to judge, which is not a pass.
  CHECK(ReadQueryAnswer(200, Vector(R"({"metric":{},"value":[1,"NaN"]})")).kind == Kind::kNoData);
  const auto two = ReadQueryAnswer(
      200, Vector(R"({"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]})"));
  CHECK(two.kind == Kind::kError);
  CHECK_THAT(two.detail, Catch::Contains("2 series, expected 1"));
  const auto bad = ReadQueryAnswer(
      400, R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})");
  CHECK(bad.kind == Kind::kError);
  CHECK(bad.detail == "bad_data: parse error at char 5");
  CHECK(ReadQueryAnswer(502, "<html>bad gateway</html>").kind == Kind::kError);
  CHECK(ReadQueryAnswer(200, Vector(R"({"metric":{},"value":[1,"x"]})")).kind == Kind::kError);
  const auto down = ReadQueryAnswer(0, "Connection refused");
  CHECK(down.kind == Kind::kUnreachable);
  CHECK(down.detail == "Connection refused");
}

TEST_CASE("a metric check passes in its range, fails outside it, errs without a value",
          "[metrics]") {
  const auto inside = JudgeMetric(Check(0.95, std::nullopt), {Kind::kValue, 0.97, ""}, {});
  CHECK(inside.passed());
  CHECK(inside.metric);
  CHECK(inside.verdict.note == "0.97 (min 0.95)");
  CHECK(JudgeMetric(Check(0.1, 0.5), {Kind::kValue, 0.25, ""}, {}).verdict.note ==
        "0.25 (min 0.1, max 0.5)");
  const auto below = JudgeMetric(Check(0.95, std::nullopt), {Kind::kValue, 0.9, ""}, {});
  CHECK(below.verdict.outcome == ProbeOutcome::kFailed);
  CHECK(below.verdict.note == "0.9, below min 0.95");
  CHECK(below.verdict.reason == "success-rate is 0.9, below its min 0.95");
  CHECK(below.body_excerpt == "0.9");
  const auto above = JudgeMetric(Check(std::nullopt, 0.5), {Kind::kValue, 0.75, ""}, {});
  CHECK(above.verdict.note == "0.75, above max 0.5");
  for (const auto kind : {Kind::kNoData, Kind::kError, Kind::kUnreachable}) {
    CHECK(JudgeMetric(Check(0.95, std::nullopt), {kind, 0, "why"}, {}).verdict.outcome ==
          ProbeOutcome::kErrored);
  }
  CHECK(
      JudgeMetric(Check(0.95, std::nullopt), {Kind::kUnreachable, 0, "refused"}, {}).verdict.note ==
      "Prometheus unreachable");
}

TEST_CASE("noData: inconclusive makes only an answer without data inconclusive", "[metrics]") {
  auto check = Check(0.95, std::nullopt);
  check.probe.metric->no_data_inconclusive = true;
  const auto quiet = JudgeMetric(check, {Kind::kNoData, 0, "no data"}, {});
  CHECK(quiet.verdict.outcome == ProbeOutcome::kErrored);
  CHECK(quiet.verdict.inconclusive);
  CHECK(quiet.verdict.note == "no data, inconclusive");
  // A query error or an unreachable Prometheus is not a quiet service: still an error.
  for (const auto kind : {Kind::kError, Kind::kUnreachable}) {
    CHECK_FALSE(JudgeMetric(check, {kind, 0, "why"}, {}).verdict.inconclusive);
  }
  CHECK_FALSE(JudgeMetric(Check(0.95, std::nullopt), {Kind::kNoData, 0, "no data"}, {})
                  .verdict.inconclusive);
}

TEST_CASE("PrometheusClient sends the query and the environment's headers, never logs them",
          "[metrics]") {
  std::mutex mutex;
  std::string query;
  std::string authorization;
  testing::TestServer server([&](httplib::Server& routes) {
    routes.Get("/api/v1/query", [&](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(mutex);
      query = request.get_param_value("query");
      authorization = request.get_header_value("Authorization");
      response.set_content(Vector(R"({"metric":{},"value":[1,"0.9"]})"), "application/json");
    });
  });
  ::setenv("PROMOTE_TEST_PROM_TOKEN", "Bearer s3cret-token", 1);
  PrometheusClient client({{"prod", {{"Authorization", "PROMOTE_TEST_PROM_TOKEN"}}}}, nullptr);
  auto target = Check(0.95, std::nullopt, server.url() + "/");
  target.probe.metric->query = R"(sum(rate(req{code!~"5..",svc="a b"}[30s])))";
  const auto results = client.Run({target});
  ::unsetenv("PROMOTE_TEST_PROM_TOKEN");
  REQUIRE(results.size() == 1);
  CHECK(results[0].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[0].verdict.note == "0.9, below min 0.95");
  std::lock_guard lock(mutex);
  CHECK(query == R"(sum(rate(req{code!~"5..",svc="a b"}[30s])))");
  CHECK(authorization == "Bearer s3cret-token");

  const auto unreachable = client.Run(
      {Check(0.95, std::nullopt, "http://127.0.0.1:" + std::to_string(testing::ClosedPort()))});
  CHECK(unreachable[0].verdict.outcome == ProbeOutcome::kErrored);
  CHECK(unreachable[0].verdict.note == "Prometheus unreachable");
}

}  // namespace
}  // namespace promote::adapters::metrics
