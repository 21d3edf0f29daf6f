#include "support/http_server.h"

#include <sys/socket.h>

#include <catch2/catch.hpp>

namespace promote::testing {

TestServer::TestServer(const std::function<void(httplib::Server&)>& routes) {
  // httplib's default pool (8 threads) is held by idle keep-alive connections: size it for
  // every connection the prober may open at once (16) plus room.
  server_.new_task_queue = [] { return new httplib::ThreadPool(40); };
  server_.set_socket_options([this](int socket) {
    httplib::default_socket_options(socket);
    listen_socket_ = socket;
  });
  routes(server_);
  port_ = server_.bind_to_any_port("127.0.0.1");
  REQUIRE(port_ > 0);
  // httplib listens with a backlog of 5: 16 simultaneous connects overflow it, and the kernel
  // drops the extra SYNs (resent a second later). Listening again only raises the backlog.
  REQUIRE(::listen(listen_socket_, 128) == 0);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

TestServer::~TestServer() {
  server_.stop();
  thread_.join();
}

}  // namespace promote::testing
