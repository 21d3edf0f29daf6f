#include "support/webhook_server.h"

// Debian's cpp-httplib is a compiled library whose classes change layout with these macros; they
// must come from its pkg-config Cflags (PkgConfig::HTTPLIB), or Request is misread at run time.
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "link promote_tests with PkgConfig::HTTPLIB (pkg-config cpp-httplib) for its ABI macros"
#endif

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <thread>

namespace promote::testing {

struct WebhookServer::State {
  httplib::Server server;
  int port = 0;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<Received> received;
};

WebhookServer::WebhookServer() : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.server.Post(R"(/.*)", [&s](const httplib::Request& request, httplib::Response& response) {
    std::lock_guard lock(s.mutex);
    s.received.push_back({request.path, request.get_header_value("Content-Type"), request.body});
    response.set_content("ok", "text/plain");
  });
  s.port = s.server.bind_to_any_port("127.0.0.1");
  REQUIRE(s.port > 0);
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() is a no-op before the accept loop runs: wait for it (at most 10 s), or teardown hangs.
  for (int i = 0; i < 10000 && !s.server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(s.server.is_running());
}

WebhookServer::~WebhookServer() {
  state_->server.stop();
  state_->thread.join();
}

std::string WebhookServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(state_->port) + path;
}

std::vector<WebhookServer::Received> WebhookServer::received() const {
  std::lock_guard lock(state_->mutex);
  return state_->received;
}

}  // namespace promote::testing
