// Test fixture: an in-process HTTP server (cpp-httplib) on 127.0.0.1, for adapters that speak
// HTTP (the prober, the registry client) to be tested against a real server with routes the
// test writes.
#pragma once

// Debian's cpp-httplib is a compiled library whose classes change layout with these macros; they
// must come from its pkg-config Cflags (PkgConfig::HTTPLIB), or Request is misread at run time.
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "link promote_tests with PkgConfig::HTTPLIB (pkg-config cpp-httplib) for its ABI macros"
#endif

#include <httplib.h>

#include <functional>
#include <string>
#include <thread>

#include "support/ports.h"

namespace promote::testing {

/// An httplib server on 127.0.0.1:<free port>, serving from a thread for the test's lifetime.
class TestServer {
 public:
  explicit TestServer(const std::function<void(httplib::Server&)>& routes);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int listen_socket_ = -1;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace promote::testing
