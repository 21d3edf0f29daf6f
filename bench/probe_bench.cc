// The probe benchmark (issue 11, "Probes"): N probes through promote's HttpProber against a
// local HTTP server, timed, with the connections the server saw. Built only with
// -DPROMOTE_BUILD_BENCH=ON; scripts/bench/suite.py runs it and `xargs -P8 curl` on the same list.
//
//   promote_probe_bench --serve                       # prints the port; serves until stdin ends
//   promote_probe_bench --url http://127.0.0.1:PORT --count 1000 [--in-flight 16]
//
// Any other path answers {"status":"ok"} with 200. The server counts requests and distinct client
// ports (one per connection) and answers them at GET /stats, so a run can show that its probes
// shared connections.
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "link promote_probe_bench with PkgConfig::HTTPLIB (pkg-config cpp-httplib)"
#endif

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/probe/prober.h"

namespace {

using promote::adapters::probe::HttpProber;
using promote::adapters::probe::HttpProberOptions;
using promote::adapters::probe::ProbeResult;
using promote::adapters::probe::ProbeTarget;

/// The server side: /item/<n> answers a small JSON body; /stats what has been seen so far.
int Serve() {
  httplib::Server server;
  std::mutex mutex;
  std::set<std::pair<std::string, int>> connections;
  long requests = 0;
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  server.set_keep_alive_max_count(100000);
  int listen_socket = -1;
  server.set_socket_options([&](int socket) {
    httplib::default_socket_options(socket);
    // Accepted sockets inherit this: without it, httplib's separate header and body writes
    // wait on the client's delayed ACK (40 ms a response), and the benchmark measures Nagle.
    const int one = 1;
    ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    listen_socket = socket;
  });
  server.Get(R"(/item/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      connections.insert({req.remote_addr, req.remote_port});
      ++requests;
    }
    res.set_content(R"({"id":)" + req.matches[1].str() + R"(,"status":"ok"})", "application/json");
  });
  // Any other path answers as a healthy service would (scale.py --probe-server points an
  // audit's probes here, to time promote without the stand-in's Python service ports).
  server.Get(R"(/(?!item/|stats$).*)", [&](const httplib::Request& req, httplib::Response& res) {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      connections.insert({req.remote_addr, req.remote_port});
      ++requests;
    }
    res.set_content(R"({"status":"ok","version":"x"})", "application/json");
  });
  server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    const std::lock_guard<std::mutex> lock(mutex);
    res.set_content(R"({"requests":)" + std::to_string(requests) + R"(,"connections":)" +
                        std::to_string(connections.size()) + "}",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    std::cerr << "promote_probe_bench: cannot bind 127.0.0.1\n";
    return 1;
  }
  ::listen(listen_socket, 512);  // httplib's backlog of 5 drops SYNs under 8–16 parallel connects
  std::thread thread([&] { server.listen_after_bind(); });
  std::cout << port << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.stop();
  thread.join();
  return 0;
}

/// The client side: `count` GETs of /item/<i> through HttpProber, one Run, timed.
int Probe(const std::string& url, int count, int in_flight) {
  std::vector<ProbeTarget> targets;
  targets.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    promote::plan::Probe probe;
    probe.name = "item";
    probe.method = "GET";
    probe.path = "/item/" + std::to_string(i);
    probe.expect.codes = {200};
    probe.json = promote::plan::JsonFieldMatch{"id", std::to_string(i)};
    probe.timeout = std::chrono::milliseconds(5000);
    targets.push_back({"bench", "local", url, probe});
  }
  HttpProberOptions options;
  options.max_in_flight = in_flight;
  HttpProber prober(nullptr, options);
  const auto started = std::chrono::steady_clock::now();
  const std::vector<ProbeResult> results = prober.Run(targets);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  int passed = 0;
  for (const ProbeResult& result : results) passed += result.passed() ? 1 : 0;
  std::printf("{\"probes\":%d,\"passed\":%d,\"in_flight\":%d,\"seconds\":%.4f}\n", count, passed,
              in_flight, seconds);
  return passed == count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::string url;
  int count = 1000;
  int in_flight = HttpProberOptions{}.max_in_flight;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--serve") return Serve();
    if (args[i] == "--url" && has_value) {
      url = args[++i];
    } else if (args[i] == "--count" && has_value) {
      count = std::stoi(args[++i]);
    } else if (args[i] == "--in-flight" && has_value) {
      in_flight = std::stoi(args[++i]);
    } else {
      std::cerr << "usage: promote_probe_bench --serve | --url URL [--count N] [--in-flight N]\n";
      return 2;
    }
  }
  if (url.empty() || count < 1 || in_flight < 1) {
    std::cerr << "promote_probe_bench: --url is required; --count and --in-flight must be >= 1\n";
    return 2;
  }
  return Probe(url, count, in_flight);
}
