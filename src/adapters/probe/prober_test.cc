// HttpProber against a real HTTP server on 127.0.0.1 (cpp-httplib, in-process, on a free port).
#include "adapters/probe/prober.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "support/http_server.h"

namespace promote::adapters::probe {
namespace {

using std::chrono::milliseconds;

using testing::ClosedPort;
using testing::TestServer;

/// Sleeps up to `limit` in small steps, ending early once `stop` is set (so teardown is quick).
void SleepUnless(const std::atomic<bool>& stop, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(20));
  }
}

plan::Probe MakeProbe(std::string method, std::string path, std::vector<int> codes = {200}) {
  plan::Probe probe;
  probe.name = method + " " + path;
  probe.method = std::move(method);
  probe.path = std::move(path);
  probe.expect.codes = std::move(codes);
  probe.timeout = milliseconds(3000);
  return probe;
}

ProbeTarget Target(const std::string& base_url, plan::Probe probe) {
  return {"api", "prod", base_url, std::move(probe)};
}

HttpProberOptions FastRetries() {
  HttpProberOptions options;
  options.retry_backoff = milliseconds(20);
  return options;
}

TEST_CASE("HttpProber judges real answers", "[probe]") {
  TestServer server([](httplib::Server& s) {
    s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok","data":{"service":"keybuzz-api","items":[{"id":4}]}})",
                      "application/json");
    });
    s.Post("/auth/login",
           [](const httplib::Request&, httplib::Response& res) { res.status = 404; });
    s.Post("/auth/signup",
           [](const httplib::Request&, httplib::Response& res) { res.status = 401; });
    s.Get("/created", [](const httplib::Request&, httplib::Response& res) { res.status = 201; });
    s.Get("/dashboard",
          [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/login", 307); });
    s.Get("/login", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("login page", "text/html");
    });
  });
  HttpProber prober(nullptr);

  plan::Probe health = MakeProbe("GET", "/health");
  health.body_contains = R"("service":"keybuzz-api")";
  plan::Probe health_json = MakeProbe("GET", "/health");
  health_json.json = plan::JsonFieldMatch{"data.items.0.id", "4"};
  plan::Probe health_wrong_json = MakeProbe("GET", "/health");
  health_wrong_json.json = plan::JsonFieldMatch{"data.service", "keybuzz-client"};
  plan::Probe health_wrong_body = MakeProbe("GET", "/health");
  health_wrong_body.body_contains = "keybuzz-website";
  plan::Probe login = MakeProbe("POST", "/auth/login", {});
  login.expect.not_codes = {404};
  login.golden = true;
  plan::Probe signup = MakeProbe("POST", "/auth/signup", {});
  signup.expect.not_codes = {404};
  plan::Probe created_class = MakeProbe("GET", "/created", {});
  created_class.expect.ranges = {{200, 299}};
  plan::Probe created_list = MakeProbe("GET", "/created", {200, 201});
  plan::Probe created_range = MakeProbe("GET", "/created", {});
  created_range.expect.ranges = {{202, 299}};
  plan::Probe dashboard = MakeProbe("GET", "/dashboard", {200});

  const std::vector<ProbeResult> results = prober.Run({
      Target(server.url(), health),             // 0
      Target(server.url(), health_json),        // 1
      Target(server.url(), health_wrong_json),  // 2
      Target(server.url(), health_wrong_body),  // 3
      Target(server.url(), login),              // 4
      Target(server.url(), signup),             // 5
      Target(server.url(), created_class),      // 6
      Target(server.url(), created_list),       // 7
      Target(server.url(), created_range),      // 8
      Target(server.url(), dashboard),          // 9
  });
  REQUIRE(results.size() == 10);

  CHECK(results[0].passed());
  CHECK(results[0].status == 200);
  CHECK(results[0].verdict.note == "ok");
  CHECK(results[0].url == server.url() + "/health");
  CHECK(results[0].service == "api");
  CHECK(results[0].environment == "prod");
  CHECK(results[0].body_excerpt.find("keybuzz-api") != std::string::npos);
  CHECK(results[0].attempts.size() == 1);

  CHECK(results[1].passed());
  CHECK(results[2].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[2].verdict.reason ==
        "json field data.service is 'keybuzz-api', expected 'keybuzz-client'");
  CHECK(results[3].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[3].verdict.reason == "body does not contain 'keybuzz-website'");

  // The original incident: the golden login route is gone.
  CHECK(results[4].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[4].golden);
  CHECK(results[4].method == "POST");
  CHECK(results[4].status == 404);
  CHECK(results[4].verdict.note == "route missing");
  CHECK(results[4].verdict.reason == "POST /auth/login answered 404, expected not 404");

  CHECK(results[5].passed());
  CHECK(results[5].verdict.note == "auth required");

  CHECK(results[6].passed());
  CHECK(results[7].passed());
  CHECK(results[8].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[8].status == 201);

  // Not followed: the redirect itself is the answer (following it would have given a 200).
  CHECK(results[9].verdict.outcome == ProbeOutcome::kFailed);
  CHECK(results[9].status == 307);
  CHECK(results[9].verdict.note == "redirect to /login");
}

TEST_CASE("HttpProber sends method, body, headers and its User-Agent", "[probe]") {
  std::mutex mutex;
  httplib::Request seen;
  TestServer server([&](httplib::Server& s) {
    s.Put("/echo", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mutex);
      seen = req;
      res.status = 204;
    });
  });
  plan::Probe probe = MakeProbe("PUT", "/echo", {204});
  probe.body = R"({"email":"probe@example.com"})";
  probe.headers = {{"X-Probe", "yes"}};
  const std::vector<ProbeResult> results =
      HttpProber(nullptr).Run({Target(server.url() + "/", probe)});
  REQUIRE(results.size() == 1);
  CHECK(results[0].passed());
  CHECK(results[0].url == server.url() + "/echo");
  std::lock_guard<std::mutex> lock(mutex);
  CHECK(seen.method == "PUT");
  CHECK(seen.body == R"({"email":"probe@example.com"})");
  CHECK(seen.get_header_value("Content-Type") == "application/json");
  CHECK(seen.get_header_value("X-Probe") == "yes");
  CHECK(seen.get_header_value("User-Agent").rfind("promote/", 0) == 0);
}

TEST_CASE("HttpProber reports no answer as an error", "[probe]") {
  SECTION("a timeout") {
    std::atomic<bool> stop{false};
    TestServer server([&](httplib::Server& s) {
      s.Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
        SleepUnless(stop, milliseconds(2000));
        res.set_content("late", "text/plain");
      });
    });
    plan::Probe probe = MakeProbe("GET", "/slow");
    probe.timeout = milliseconds(300);
    const std::vector<ProbeResult> results = HttpProber(nullptr).Run({Target(server.url(), probe)});
    stop = true;
    REQUIRE(results.size() == 1);
    CHECK(results[0].verdict.outcome == ProbeOutcome::kErrored);
    CHECK(results[0].status == -1);
    CHECK(results[0].verdict.note == "timeout after 300ms");
    CHECK_THAT(results[0].verdict.reason, Catch::Contains("timeout"));
  }
  SECTION("a refused connection") {
    const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort());
    const std::vector<ProbeResult> results =
        HttpProber(nullptr).Run({Target(url, MakeProbe("GET", "/health"))});
    REQUIRE(results.size() == 1);
    CHECK(results[0].verdict.outcome == ProbeOutcome::kErrored);
    CHECK(results[0].status == -1);
    CHECK(results[0].verdict.note == "connection refused");
    CHECK(results[0].attempts.size() == 1);
  }
  SECTION("a reply that is not HTTP") {
    // Another protocol on the port (an SSH banner), as a wrong port or a proxy's garbage gives.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    std::thread banner([listener] {
      const int client = ::accept(listener, nullptr, nullptr);
      if (client < 0) return;
      const std::string text = "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n";
      char request[1024];
      (void)!::read(client, request, sizeof(request));
      (void)!::write(client, text.data(), text.size());
      ::close(client);
    });
    const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    const std::vector<ProbeResult> results =
        HttpProber(nullptr).Run({Target(url, MakeProbe("GET", "/health"))});
    banner.join();
    ::close(listener);
    REQUIRE(results.size() == 1);
    CHECK(results[0].verdict.outcome == ProbeOutcome::kErrored);
    CHECK(results[0].verdict.note == "not an HTTP answer");
    CHECK_THAT(results[0].verdict.reason, Catch::StartsWith("GET /health got an answer that is "
                                                            "not HTTP"));
  }
}

TEST_CASE("HttpProber retries and keeps every attempt visible", "[probe]") {
  std::atomic<int> calls{0};
  TestServer server([&](httplib::Server& s) {
    s.Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
      res.status = ++calls <= 2 ? 503 : 200;
    });
  });
  plan::Probe probe = MakeProbe("GET", "/flaky");

  SECTION("a pass on the third try") {
    probe.retries = 2;
    const std::vector<ProbeResult> results =
        HttpProber(nullptr, FastRetries()).Run({Target(server.url(), probe)});
    REQUIRE(results.size() == 1);
    CHECK(results[0].passed());
    CHECK(results[0].status == 200);
    REQUIRE(results[0].attempts.size() == 3);
    CHECK(results[0].attempts[0].outcome == ProbeOutcome::kFailed);
    CHECK(results[0].attempts[0].status == 503);
    CHECK(results[0].attempts[0].note == "server error");
    CHECK(results[0].attempts[1].status == 503);
    CHECK(results[0].attempts[2].outcome == ProbeOutcome::kPassed);
    CHECK(calls == 3);
  }
  SECTION("out of retries: the last failure is the verdict") {
    probe.retries = 1;
    const std::vector<ProbeResult> results =
        HttpProber(nullptr, FastRetries()).Run({Target(server.url(), probe)});
    REQUIRE(results.size() == 1);
    CHECK(results[0].verdict.outcome == ProbeOutcome::kFailed);
    CHECK(results[0].attempts.size() == 2);
    CHECK(calls == 2);
  }
  SECTION("errors are retried too") {
    plan::Probe refused = MakeProbe("GET", "/health");
    refused.retries = 2;
    const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort());
    const std::vector<ProbeResult> results =
        HttpProber(nullptr, FastRetries()).Run({Target(url, refused)});
    REQUIRE(results.size() == 1);
    CHECK(results[0].verdict.outcome == ProbeOutcome::kErrored);
    CHECK(results[0].attempts.size() == 3);
  }
}

TEST_CASE("HttpProber runs probes concurrently and answers in input order", "[probe]") {
  std::atomic<int> in_handler{0};
  std::atomic<int> most_at_once{0};
  std::atomic<int> served{0};
  TestServer server([&](httplib::Server& s) {
    s.Get(R"(/item/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
      const int now = ++in_handler;
      int seen = most_at_once.load();
      while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(milliseconds(300));
      --in_handler;
      ++served;
      res.set_content(R"({"id":)" + req.matches[1].str() + "}", "application/json");
    });
  });
  std::vector<ProbeTarget> targets;
  for (int i = 0; i < 20; ++i) {
    plan::Probe probe = MakeProbe("GET", "/item/" + std::to_string(i));
    probe.json = plan::JsonFieldMatch{"id", std::to_string(i)};
    targets.push_back(Target(server.url(), probe));
  }
  const std::vector<ProbeResult> results = HttpProber(nullptr).Run(targets);
  REQUIRE(results.size() == 20);
  for (int i = 0; i < 20; ++i) {
    INFO("probe " << i << ": " << results[i].verdict.reason);
    CHECK(results[i].path == "/item/" + std::to_string(i));
    CHECK(results[i].passed());
    CHECK(results[i].body_excerpt == R"({"id":)" + std::to_string(i) + "}");
  }
  CHECK(served == 20);
  CHECK(most_at_once >= 2);
}

TEST_CASE("HttpProber respects its in-flight limit", "[probe]") {
  std::atomic<int> in_handler{0};
  std::atomic<int> most_at_once{0};
  TestServer server([&](httplib::Server& s) {
    s.Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
      const int now = ++in_handler;
      int seen = most_at_once.load();
      while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(milliseconds(100));
      --in_handler;
      res.status = 200;
    });
  });
  HttpProberOptions options;
  options.max_in_flight = 2;
  const std::vector<ProbeTarget> targets(6, Target(server.url(), MakeProbe("GET", "/slow")));
  const std::vector<ProbeResult> results = HttpProber(nullptr, options).Run(targets);
  REQUIRE(results.size() == 6);
  for (const ProbeResult& result : results) CHECK(result.passed());
  CHECK(most_at_once <= 2);
}

TEST_CASE("HttpProber reuses keep-alive connections across probes", "[probe]") {
  // Each client connection has its own source port: the ports the server saw are the
  // connections the prober opened. Without reuse, 60 probes would open 60.
  std::mutex mutex;
  std::set<int> ports;
  int requests = 0;
  TestServer server([&](httplib::Server& s) {
    s.set_keep_alive_max_count(1000);  // httplib closes after 5 requests by default
    s.Get("/ping", [&](const httplib::Request& req, httplib::Response& res) {
      const std::lock_guard<std::mutex> lock(mutex);
      ports.insert(req.remote_port);
      ++requests;
      res.set_content("pong", "text/plain");
    });
  });
  HttpProberOptions options;
  options.max_in_flight = 4;
  const std::vector<ProbeTarget> targets(60, Target(server.url(), MakeProbe("GET", "/ping")));
  const std::vector<ProbeResult> results = HttpProber(nullptr, options).Run(targets);
  REQUIRE(results.size() == 60);
  for (const ProbeResult& result : results) CHECK(result.passed());
  const std::lock_guard<std::mutex> lock(mutex);
  CHECK(requests == 60);
  CHECK(ports.size() <= 4);
}

TEST_CASE("HttpProber logs each probe without header values, and bodies only by size", "[probe]") {
  TestServer server([](httplib::Server& s) {
    s.Get("/me", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("body-secret-marker", "text/plain");
    });
  });
  plan::Probe probe = MakeProbe("GET", "/me");
  probe.headers = {{"Authorization", "Bearer token-secret-marker"}};
  auto run_with_level = [&](spdlog::level::level_enum level) {
    std::ostringstream out;
    auto logger = std::make_shared<spdlog::logger>(
        "probe-test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
    logger->set_level(level);
    const std::vector<ProbeResult> results = HttpProber(logger).Run({Target(server.url(), probe)});
    REQUIRE(results.size() == 1);
    CHECK(results[0].passed());
    return out.str();
  };

  const std::string debug = run_with_level(spdlog::level::debug);
  CHECK_THAT(debug, Catch::Contains("GET " + server.url() + "/me"));
  CHECK_THAT(debug, Catch::Contains("200"));
  CHECK_THAT(debug, !Catch::Contains("token-secret-marker"));
  CHECK_THAT(debug, !Catch::Contains("body-secret-marker"));

  const std::string trace = run_with_level(spdlog::level::trace);
  // Trace gives the body's size only: a body may echo a credential the audit has not learned yet.
  CHECK_THAT(trace, Catch::Contains("body: 18 bytes"));
  CHECK_THAT(trace, !Catch::Contains("body-secret-marker"));
  CHECK_THAT(trace, !Catch::Contains("token-secret-marker"));
}

TEST_CASE("ProbeUrl joins base and path with one slash", "[probe]") {
  CHECK(ProbeUrl("https://api.keybuzz.io", "/health") == "https://api.keybuzz.io/health");
  CHECK(ProbeUrl("https://api.keybuzz.io/", "/health") == "https://api.keybuzz.io/health");
  CHECK(ProbeUrl("https://api.keybuzz.io", "health") == "https://api.keybuzz.io/health");
  CHECK(ProbeUrl("https://keybuzz.pro", "") == "https://keybuzz.pro/");
}

}  // namespace
}  // namespace promote::adapters::probe
