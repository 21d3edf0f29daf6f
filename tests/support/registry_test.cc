// The LocalRegistry fixture itself: the registry check's tests trust what it says, so it is
// checked against the real registry first.
#include "support/registry.h"

#include <catch2/catch.hpp>
#include <regex>
#include <string>

#include "support/standin.h"

namespace promote::testing {
namespace {

// sha256 of the empty string: a well-formed digest that no pushed manifest has.
constexpr char kUnknownDigest[] =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST_CASE("LocalRegistry: pushed images are found by tag and digest, nothing else is",
          "[registry-fixture]") {
  std::string url;
  {
    LocalRegistry registry;
    url = registry.url();
    CHECK(registry.host().rfind("127.0.0.1:", 0) == 0);
    CHECK(url == "http://" + registry.host());

    const std::string api = registry.Push("team/api", "v1", "api layer");
    const std::string web = registry.Push("web", "v2", "web layer");
    const std::regex digest("sha256:[0-9a-f]{64}");
    CHECK(std::regex_match(api, digest));
    CHECK(std::regex_match(web, digest));
    CHECK(api != web);

    CHECK(registry.Has("team/api", "v1"));
    CHECK(registry.Has("team/api", api));
    CHECK(registry.Has("web", "v2"));
    CHECK(registry.Has("web", web));

    CHECK_FALSE(registry.Has("team/api", kUnknownDigest));
    CHECK_FALSE(registry.Has("team/api", "v2"));  // a tag of another repository
    CHECK_FALSE(registry.Has("web", api));        // manifests belong to their repository
    CHECK_FALSE(registry.Has("nobody/here", "v1"));
    CHECK_FALSE(registry.Has("nobody/here", api));

    // The same image under another tag is the same manifest: a retag keeps the digest.
    CHECK(registry.Push("team/api", "stable", "api layer") == api);
  }
  // Stopped on destruction: nothing answers on its port any more.
  CHECK(HttpStatus("GET", url + "/v2/") == -1);
}

}  // namespace
}  // namespace promote::testing
