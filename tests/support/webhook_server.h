// Test fixture: a local HTTP server on 127.0.0.1 that records the POSTs it receives (a stand-in
// for Slack or any webhook receiver), so hooks are tested against a real server.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace promote::testing {

/// An HTTP server on 127.0.0.1:<free port>, answering every POST 200 and keeping it.
class WebhookServer {
 public:
  /// One received request.
  struct Received {
    std::string path;
    std::string content_type;
    std::string body;
  };

  WebhookServer();
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  /// The URL of `path` on this server.
  std::string url(const std::string& path) const;
  /// Every POST so far, in order.
  std::vector<Received> received() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace promote::testing
