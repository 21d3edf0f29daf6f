#include "report/junit.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "phases/audit.h"
#include "report/testdata.h"

namespace promote::report {
namespace {

using adapters::probe::ProbeOutcome;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int Count(const std::string& text, const std::string& part) {
  int count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

// Whether the `&` at `at` starts one of XML's five predefined entities.
bool EntityAt(const std::string& text, std::size_t at) {
  for (const char* entity : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
    if (text.compare(at, std::char_traits<char>::length(entity), entity) == 0) return true;
  }
  return false;
}

// Well-formed enough for a CI reader: tags balance, attribute values are quoted, and every `&`
// starts an entity. Returns the first problem, or "" when none.
std::string XmlProblem(const std::string& xml) {
  std::vector<std::string> open;
  std::size_t at = 0;
  while (at < xml.size()) {
    if (xml[at] == '&') {
      if (!EntityAt(xml, at)) return "bad entity at " + std::to_string(at);
      ++at;
      continue;
    }
    if (xml[at] == '>') return "stray > at " + std::to_string(at);
    if (xml[at] != '<') {
      ++at;
      continue;
    }
    const auto end = xml.find('>', at);
    if (end == std::string::npos) return "unclosed tag";
    std::string tag = xml.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.rfind("?", 0) == 0) continue;
    if (Contains(tag, "<")) return "< inside a tag: " + tag;
    if (Count(tag, "\"") % 2 != 0) return "unbalanced quotes: " + tag;
    for (auto amp = tag.find('&'); amp != std::string::npos; amp = tag.find('&', amp + 1)) {
      if (!EntityAt(tag, amp)) return "bad entity in " + tag;
    }
    if (tag.rfind("/", 0) == 0) {
      if (open.empty() || open.back() != tag.substr(1)) return "mismatched </" + tag + ">";
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    const std::string name = tag.substr(0, tag.find_first_of(" /"));
    if (!self_closing) open.push_back(name);
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

TEST_CASE("junit: one case per probe and per secret, suites per environment", "[report]") {
  // Without capabilities (a release's manifest is never probed for them): a suite of the
  // environment's probes, and one of its secrets.
  const std::string xml = RenderJUnit(testdata::KeybuzzAudit());
  CHECK(XmlProblem(xml).empty());
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0) == 0);
  CHECK(Count(xml, "<testsuite ") == 3);
  CHECK(Count(xml, "<testcase ") == 14);  // 5 + 5 probes, 4 prod secrets
  CHECK(Count(xml, "<failure ") == 2);
  CHECK(Count(xml, "<error ") == 0);
  CHECK(Contains(xml,
                 "<testsuites name=\"audit keybuzz dev → prod\" tests=\"14\" failures=\"2\" "
                 "errors=\"0\" time=\"4.321\">"));
  CHECK(Contains(xml, "<testsuite name=\"audit.dev\" tests=\"5\" failures=\"0\" errors=\"0\""));
  CHECK(Contains(xml, "<testsuite name=\"audit.prod\" tests=\"5\" failures=\"2\" errors=\"0\""));
  CHECK(Contains(xml,
                 "<testsuite name=\"audit.prod.secrets\" tests=\"4\" failures=\"0\" errors=\"0\""));
  CHECK(Contains(xml,
                 "<testcase classname=\"prod.api\" name=\"POST /auth/login\" "
                 "time=\"0.022\">\n      <failure message=\"expected status not 404, got "
                 "404\" type=\"route missing\">"));
  CHECK(
      Contains(xml, "<testcase classname=\"dev.api\" name=\"POST /auth/login\" time=\"0.048\"/>"));
  CHECK(Contains(xml, "<testcase classname=\"prod.secrets\" name=\"secret keybuzz-stripe\""));
  // The failure's text holds the evidence, escaped.
  CHECK(Contains(xml, "body: {&quot;message&quot;:&quot;Cannot POST /auth/login&quot;"));
}

TEST_CASE("junit: a capability is a test suite of its probes", "[report]") {
  auto report = testdata::KeybuzzAudit();
  phases::CapabilityState login;
  login.name = "login";
  login.golden = true;
  login.probes = {"api/login", "api/gone"};  // the second was never probed
  login.failed = {{"api/login", "POST /auth/login → 404 (route missing)", "keybuzz-api-prod"}};
  phases::CapabilityState website;
  website.name = "website";
  website.probes = {"website/home"};
  report.target_env.capabilities = {login, website};
  const std::string xml = RenderJUnit(report);
  CHECK(XmlProblem(xml).empty());
  CHECK(Contains(xml,
                 "<testsuite name=\"audit.prod.login\" tests=\"2\" failures=\"1\" errors=\"1\""));
  CHECK(Contains(xml, "<testsuite name=\"audit.prod.website\" tests=\"1\" failures=\"0\""));
  CHECK(Contains(xml, "<error message=\"api/gone was not probed in prod\" type=\"not probed\">"));
  CHECK_FALSE(Contains(xml, "<testsuite name=\"audit.prod\" "));  // no suite of loose probes
  CHECK(Contains(xml, "<testsuite name=\"audit.dev\" "));         // dev has no capabilities here
}

TEST_CASE("junit: errors, missing secrets and escaping", "[report]") {
  auto report = testdata::KeybuzzAudit();
  auto& home = report.target_env.services[2].probes[0];
  home.attempts = {testdata::NoAnswer(5000, "timeout after 5s", "no answer within 5s")};
  home.verdict = {ProbeOutcome::kErrored, "no answer within 5s", "timeout after 5s"};
  home.status = -1;
  home.latency = std::chrono::milliseconds(5000);
  report.target_env.services[0].probes[1].verdict.reason = "expected <200> & \"ok\"\x01";
  report.target_env.secrets[0].namespaces.clear();
  const std::string xml = RenderJUnit(report);
  CHECK(XmlProblem(xml).empty());
  CHECK(Count(xml, "<error ") == 1);
  CHECK(Contains(xml, "<error message=\"no answer within 5s\" type=\"timeout after 5s\">"));
  CHECK(Contains(xml, "time=\"5.000\""));
  CHECK(Count(xml, "<failure ") == 3);  // login, signup, missing secret
  CHECK(Contains(xml, "message=\"required secret keybuzz-api-postgres is missing in prod\""));
  CHECK(Contains(xml, "message=\"expected &lt;200&gt; &amp; &quot;ok&quot;\""));
  CHECK_FALSE(Contains(xml, "<200>"));
  CHECK_FALSE(Contains(xml, "\x01"));
  CHECK(Contains(xml, "<testsuite name=\"audit.prod\" tests=\"5\" failures=\"2\" errors=\"1\""));
  CHECK(Contains(xml,
                 "<testsuite name=\"audit.prod.secrets\" tests=\"4\" failures=\"1\" errors=\"0\""));

  report.target_env.secrets_error = "forbidden";
  const std::string unreadable = RenderJUnit(report);
  CHECK(Count(unreadable, "<error ") == 5);  // the probe and 4 secrets nobody could check
}

TEST_CASE("junit: the checker itself catches broken XML", "[report]") {
  CHECK_FALSE(XmlProblem("<a><b></a>").empty());
  CHECK_FALSE(XmlProblem("<a x=\"1 & 2\"/>").empty());
  CHECK_FALSE(XmlProblem("<a>1 < 2</a>").empty());
  CHECK(XmlProblem("<a x=\"&lt;\"><b/></a>").empty());
}

}  // namespace
}  // namespace promote::report
