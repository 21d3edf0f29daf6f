// HttpRegistry against a real OCI registry (Debian's docker-registry on 127.0.0.1) for what is
// there and what is not, and against an in-process HTTP server for the answers a registry
// seldom gives on demand: auth challenges, 503s, a wrong digest. (httplib 0.11 answers a HEAD
// with the Get route, leaving the body out.)
#include "adapters/registry/registry.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>

#include "plan/plan.h"
#include "support/http_server.h"
#include "support/registry.h"

namespace promote::adapters::registry {
namespace {

using testing::ClosedPort;
using testing::LocalRegistry;
using testing::TestServer;

ImageReference Parse(const std::string& text) {
  auto image = ParseImageReference(text);
  REQUIRE(image);
  return *image;
}

const std::string kSomeDigest =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Sets an environment variable for one test's scope.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedVariable() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST_CASE("the registry answers whether it holds an image, by digest or by tag", "[registry]") {
  LocalRegistry local;
  const std::string digest = local.Push("keybuzz/keybuzz-api", "v0.4.31", "api build 431");
  const std::string other = local.Push("keybuzz/keybuzz-api", "v0.4.32", "api build 432");
  HttpRegistry registry(nullptr);
  const RegistryAccess access{local.url() + "/", std::nullopt};

  auto by_digest = registry.Lookup(Parse("ghcr.io/keybuzz/keybuzz-api:v0.4.31@" + digest), access);
  REQUIRE(by_digest);
  CHECK(by_digest->presence == ImagePresence::kPresent);
  CHECK(by_digest->digest == digest);
  CHECK(by_digest->url == local.url() + "/v2/keybuzz/keybuzz-api/manifests/" + digest);

  auto by_tag = registry.Lookup(Parse("ghcr.io/keybuzz/keybuzz-api:v0.4.32"), access);
  REQUIRE(by_tag);
  CHECK(by_tag->presence == ImagePresence::kPresent);
  CHECK(by_tag->digest == other);

  // The digest decides, whatever the tag says: a digest the registry never had is missing.
  auto unknown =
      registry.Lookup(Parse("ghcr.io/keybuzz/keybuzz-api:v0.4.31@" + kSomeDigest), access);
  REQUIRE(unknown);
  CHECK(unknown->presence == ImagePresence::kMissing);
  auto no_tag = registry.Lookup(Parse("ghcr.io/keybuzz/keybuzz-api:v9"), access);
  REQUIRE(no_tag);
  CHECK(no_tag->presence == ImagePresence::kMissing);
  auto no_repository = registry.Lookup(Parse("ghcr.io/keybuzz/other@" + digest), access);
  REQUIRE(no_repository);
  CHECK(no_repository->presence == ImagePresence::kMissing);
}

TEST_CASE("a Bearer challenge is answered with a token from its realm", "[registry]") {
  std::atomic<int> token_requests{0};
  std::string realm;
  TestServer server([&](httplib::Server& routes) {
    routes.Get("/token", [&](const httplib::Request& request, httplib::Response& response) {
      ++token_requests;
      // alice:s3cret in Basic, and the scope the challenge named.
      const bool alice = request.get_header_value("Authorization") == "Basic YWxpY2U6czNjcmV0";
      if (!alice || request.get_param_value("scope") != "repository:acme/api:pull" ||
          request.get_param_value("service") != "test-registry") {
        response.status = 401;
        return;
      }
      response.set_content(R"({"token": "tok-42"})", "application/json");
    });
    routes.Get(R"(/v2/acme/api/manifests/.*)",
               [&](const httplib::Request& request, httplib::Response& response) {
                 if (request.get_header_value("Authorization") != "Bearer tok-42") {
                   response.status = 401;
                   response.set_header("WWW-Authenticate",
                                       "Bearer realm=\"" + realm +
                                           "\",service=\"test-registry\",scope=\"repository:"
                                           "acme/api:pull\"");
                   return;
                 }
                 response.status = 200;
                 response.set_header("Docker-Content-Digest", kSomeDigest);
               });
  });
  realm = server.url() + "/token";
  std::ostringstream logged;
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged));
  logger->set_level(spdlog::level::trace);
  HttpRegistry registry(logger);
  const ImageReference image = Parse("registry.example/acme/api@" + kSomeDigest);

  SECTION("with the credentials the plan names") {
    ScopedVariable credentials("PROMOTE_TEST_REGISTRY_CREDENTIALS", "alice:s3cret");
    auto lookup = registry.Lookup(image, {server.url(), "PROMOTE_TEST_REGISTRY_CREDENTIALS"});
    REQUIRE(lookup);
    CHECK(lookup->presence == ImagePresence::kPresent);
    CHECK(token_requests == 1);
    CHECK(logged.str().find("s3cret") == std::string::npos);
    CHECK(logged.str().find("tok-42") == std::string::npos);
  }
  SECTION("without them, the token service's refusal is named with the fix") {
    auto lookup = registry.Lookup(image, {server.url(), std::nullopt});
    REQUIRE_FALSE(lookup);
    CHECK(lookup.error().what.find("token service answered 401") != std::string::npos);
    CHECK(lookup.error().fix.find("registry.credentials") != std::string::npos);
  }
  SECTION("a named variable that is not set is named") {
    ::unsetenv("PROMOTE_TEST_REGISTRY_UNSET");
    auto lookup = registry.Lookup(image, {server.url(), "PROMOTE_TEST_REGISTRY_UNSET"});
    REQUIRE_FALSE(lookup);
    CHECK(lookup.error().what.find("$PROMOTE_TEST_REGISTRY_UNSET is not set") != std::string::npos);
  }
}

TEST_CASE("a Basic challenge is answered with the credentials themselves", "[registry]") {
  TestServer server([&](httplib::Server& routes) {
    routes.Get(R"(/v2/acme/api/manifests/.*)",
               [&](const httplib::Request& request, httplib::Response& response) {
                 if (request.get_header_value("Authorization") != "Basic YWxpY2U6czNjcmV0") {
                   response.status = 401;
                   response.set_header("WWW-Authenticate", "Basic realm=\"registry\"");
                   return;
                 }
                 response.status = 200;
               });
  });
  HttpRegistry registry(nullptr);
  const ImageReference image = Parse("registry.example/acme/api:v1");
  ScopedVariable good("PROMOTE_TEST_REGISTRY_GOOD", "alice:s3cret");
  ScopedVariable bad("PROMOTE_TEST_REGISTRY_BAD", "alice:wrong");

  auto lookup = registry.Lookup(image, {server.url(), "PROMOTE_TEST_REGISTRY_GOOD"});
  REQUIRE(lookup);
  CHECK(lookup->presence == ImagePresence::kPresent);

  auto refused = registry.Lookup(image, {server.url(), "PROMOTE_TEST_REGISTRY_BAD"});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().what.find("refused to show registry.example/acme/api:v1 (401)") !=
        std::string::npos);
  CHECK(refused.error().fix.find("$PROMOTE_TEST_REGISTRY_BAD") != std::string::npos);

  auto anonymous = registry.Lookup(image, {server.url(), std::nullopt});
  REQUIRE_FALSE(anonymous);
  CHECK(anonymous.error().what.find("asks for credentials") != std::string::npos);
}

TEST_CASE("a failing registry is repeated, then named as failing, never as missing", "[registry]") {
  std::atomic<int> heads{0};
  std::atomic<int> fail_first{2};
  TestServer server([&](httplib::Server& routes) {
    routes.Get(R"(/v2/acme/api/manifests/.*)",
               [&](const httplib::Request&, httplib::Response& response) {
                 ++heads;
                 response.status = fail_first-- > 0 ? 503 : 200;
                 if (response.status == 200) response.set_header("Docker-Content-Digest", "x");
               });
  });
  HttpRegistry registry(nullptr);
  const ImageReference image = Parse("registry.example/acme/api:v1");

  auto passed = registry.Lookup(image, {server.url(), std::nullopt});
  REQUIRE(passed);
  CHECK(passed->presence == ImagePresence::kPresent);
  CHECK(passed->tries == 3);

  fail_first = 100;
  heads = 0;
  auto failing = registry.Lookup(image, {server.url(), std::nullopt});
  REQUIRE_FALSE(failing);
  CHECK(failing.error().transient);
  CHECK(failing.error().what.find("answered 503") != std::string::npos);
  CHECK(failing.error().what.find("on 4 tries in a row") != std::string::npos);
  CHECK(heads == 4);

  const std::string closed = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto unreachable = registry.Lookup(image, {closed, std::nullopt});
  REQUIRE_FALSE(unreachable);
  CHECK(unreachable.error().what.find("could not reach registry " + closed) != std::string::npos);
}

TEST_CASE("a registry that answers a digest with another one is not believed", "[registry]") {
  TestServer server([&](httplib::Server& routes) {
    routes.Get(R"(/v2/acme/api/manifests/.*)",
               [&](const httplib::Request&, httplib::Response& response) {
                 response.status = 200;
                 response.set_header("Docker-Content-Digest", "sha256:" + std::string(64, 'f'));
               });
  });
  HttpRegistry registry(nullptr);
  auto lookup =
      registry.Lookup(Parse("registry.example/acme/api@" + kSomeDigest), {server.url(), {}});
  REQUIRE_FALSE(lookup);
  CHECK(lookup.error().what.find("with another digest") != std::string::npos);
}

TEST_CASE("an image's registry is reached through the environment's mirror", "[registry]") {
  plan::RegistryCheck check;
  check.mirrors["ghcr.io"] = "http://127.0.0.1:5000";
  check.credentials["ghcr.io"] = "GHCR_CREDENTIALS";
  const RegistryAccess mirrored = AccessFor(check, Parse("ghcr.io/acme/api:v1"));
  CHECK(mirrored.base_url == "http://127.0.0.1:5000");
  CHECK(mirrored.credentials_variable == "GHCR_CREDENTIALS");

  const RegistryAccess hub = AccessFor(check, Parse("nginx:1.27"));
  CHECK(hub.base_url == "https://registry-1.docker.io");
  CHECK_FALSE(hub.credentials_variable);
  CHECK(RegistryHost(Parse("nginx")) == "docker.io");
  CHECK(AccessFor(check, Parse("quay.io/acme/api")).base_url == "https://quay.io");
}

}  // namespace
}  // namespace promote::adapters::registry
