#include "plan/plan.h"

#include <catch2/catch.hpp>

namespace promote::plan {
namespace {

StatusExpectation Codes(std::vector<int> codes) {
  StatusExpectation expect;
  expect.codes = std::move(codes);
  return expect;
}

}  // namespace

TEST_CASE("Environment substitutes {service} in namespaces and URLs", "[plan]") {
  Environment env;
  env.namespace_template = "keybuzz-{service}-prod";
  env.url_template = "http://{service}.prod.test/{service}";
  env.urls["website"] = "https://keybuzz.pro";

  CHECK(env.NamespaceFor("api") == "keybuzz-api-prod");
  CHECK(env.UrlFor("api") == "http://api.prod.test/api");
  SECTION("a per-service URL wins over the template") {
    CHECK(env.UrlFor("website") == "https://keybuzz.pro");
  }
  SECTION("a template without placeholder is shared by every service") {
    env.namespace_template = "shop";
    CHECK(env.NamespaceFor("api") == "shop");
  }
}

TEST_CASE("StatusExpectation accepts codes, ranges and exclusions", "[plan]") {
  SECTION("single code") {
    const StatusExpectation expect = Codes({200});
    CHECK(expect.Accepts(200));
    CHECK_FALSE(expect.Accepts(201));
    CHECK(expect.Describe() == "200");
  }
  SECTION("several codes") {
    const StatusExpectation expect = Codes({200, 401});
    CHECK(expect.Accepts(401));
    CHECK_FALSE(expect.Accepts(404));
    CHECK(expect.Describe() == "200 or 401");
  }
  SECTION("a class and a range") {
    StatusExpectation expect;
    expect.ranges = {{200, 299}, {300, 307}};
    CHECK(expect.Accepts(204));
    CHECK(expect.Accepts(307));
    CHECK_FALSE(expect.Accepts(308));
    CHECK(expect.Describe() == "2xx or 300-307");
  }
  SECTION("only exclusions accept every other answer") {
    StatusExpectation expect;
    expect.not_codes = {404};
    CHECK(expect.Accepts(200));
    CHECK(expect.Accepts(500));
    CHECK_FALSE(expect.Accepts(404));
    CHECK(expect.Describe() == "not 404");
    expect.not_codes.push_back(500);
    CHECK_FALSE(expect.Accepts(500));
    CHECK(expect.Describe() == "neither 404 nor 500");
  }
  SECTION("an exclusion inside a range") {
    StatusExpectation expect;
    expect.ranges = {{200, 399}};
    expect.not_codes = {304};
    CHECK(expect.Accepts(302));
    CHECK_FALSE(expect.Accepts(304));
    CHECK(expect.Describe() == "200-399 but not 304");
  }
  SECTION("no answer is never accepted") {
    StatusExpectation expect;
    expect.not_codes = {404};
    CHECK_FALSE(expect.Accepts(0));
    CHECK_FALSE(expect.Accepts(-1));
  }
}

TEST_CASE("Plan finds environments and groups services into waves", "[plan]") {
  Plan plan;
  plan.environments["dev"].name = "dev";
  plan.environments["prod"].name = "prod";
  for (const auto& [name, wave] : std::vector<std::pair<std::string, int>>{
           {"client", 2}, {"api", 1}, {"website", 2}, {"jobs", 5}}) {
    Service service;
    service.name = name;
    service.wave = wave;
    plan.services.push_back(service);
  }

  REQUIRE(plan.FindEnvironment("prod") != nullptr);
  CHECK(plan.FindEnvironment("prod")->name == "prod");
  CHECK(plan.FindEnvironment("staging") == nullptr);

  const auto waves = plan.Waves();
  REQUIRE(waves.size() == 3);
  std::vector<std::vector<std::string>> names;
  for (const auto& wave : waves) {
    names.emplace_back();
    for (const Service* service : wave) names.back().push_back(service->name);
  }
  CHECK(names == std::vector<std::vector<std::string>>{{"api"}, {"client", "website"}, {"jobs"}});
}

}  // namespace promote::plan
