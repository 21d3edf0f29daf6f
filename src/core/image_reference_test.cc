#include "core/image_reference.h"

#include <catch2/catch.hpp>
#include <string>

namespace promote {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST_CASE("image references: the parts of valid references", "[image-reference]") {
  auto ref = ParseImageReference("ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement@" + kDigest);
  REQUIRE(ref);
  CHECK(ref->domain == "ghcr.io");
  CHECK(ref->path == "keybuzz/keybuzz-api");
  CHECK(ref->tag == "v0.4.31-replacement");
  CHECK(ref->digest == kDigest);
  CHECK(ref->Repository() == "ghcr.io/keybuzz/keybuzz-api");

  ref = ParseImageReference("localhost:5000/team/app_x__y.z--w:1");
  REQUIRE(ref);
  CHECK(ref->domain == "localhost:5000");
  CHECK(ref->path == "team/app_x__y.z--w");
  CHECK(ref->tag == "1");

  ref = ParseImageReference("nginx");
  REQUIRE(ref);
  CHECK(ref->domain.empty());
  CHECK(ref->tag.empty());
  CHECK(ref->NormalizedRepository() == "docker.io/library/nginx");
  CHECK(ParseImageReference("me/app:2")->NormalizedRepository() == "docker.io/me/app");
  CHECK(ParseImageReference("127.0.0.1:5000/app")->domain == "127.0.0.1:5000");
  CHECK(ParseImageReference("[::1]:5000/app")->domain == "[::1]:5000");
}

TEST_CASE("image references: what the grammar refuses, and why", "[image-reference]") {
  const auto why = [](const std::string& text) {
    auto ref = ParseImageReference(text);
    REQUIRE_FALSE(ref);
    CHECK(ref.error().kind == ErrorKind::kInvalidPlan);
    CHECK(!ref.error().fix.empty());
    return ref.error().what;
  };
  CHECK_THAT(why("x;y"), Catch::Contains("path component 'x;y'"));
  CHECK_THAT(why("ghcr.io/Keybuzz/api"), Catch::Contains("path component 'Keybuzz'"));
  CHECK_THAT(why("ghcr.io/acme/api:"), Catch::Contains("tag ''"));
  CHECK_THAT(why("ghcr.io/acme/api:-x"), Catch::Contains("tag '-x'"));
  CHECK_THAT(why("ghcr.io/acme/api:" + std::string(129, 'a')), Catch::Contains("tag"));
  CHECK_THAT(why("ghcr.io/acme/api@sha256:abc"), Catch::Contains("3 hex digits"));
  CHECK_THAT(why("ghcr.io/acme/api@sha256:" + std::string(64, 'A')), Catch::Contains("lowercase"));
  CHECK_THAT(why("ghcr.io/acme/api@" + std::string(64, 'a')), Catch::Contains("no ':'"));
  CHECK_THAT(why("ghcr.io/acme/api@sha256:" + std::string(64, 'g')),
             Catch::Contains("hexadecimal"));
  CHECK_THAT(why("bad_host.io:x/api"), Catch::Contains("registry"));
  CHECK_THAT(why("ghcr.io//api"), Catch::Contains("path component ''"));
  CHECK_THAT(why("ghcr.io/acme/api\n"), Catch::Contains("whitespace"));
  CHECK_THAT(why(""), Catch::Contains("empty"));
  CHECK_THAT(why("a/" + std::string(300, 'b')), Catch::Contains("longer than 255"));
  // A huge input is cut in the message.
  CHECK(why(std::string(100000, 'A')).size() < 1000);
}

TEST_CASE("image references: allowed repositories, exact or by pattern", "[image-reference]") {
  const auto allowed = [](const std::string& image, std::vector<std::string> repositories) {
    auto ref = ParseImageReference(image);
    REQUIRE(ref);
    return RepositoryAllowed(*ref, repositories);
  };
  CHECK(allowed("ghcr.io/keybuzz/keybuzz-api:v1", {"ghcr.io/keybuzz/keybuzz-api"}));
  CHECK_FALSE(allowed("evil.example/cryptominer:1.0", {"ghcr.io/keybuzz/keybuzz-api"}));
  CHECK_FALSE(allowed("ghcr.io/keybuzz/keybuzz-api-evil:v1", {"ghcr.io/keybuzz/keybuzz-api"}));
  CHECK_FALSE(allowed("ghcr.io/keybuzz/keybuzz-api/x:v1", {"ghcr.io/keybuzz/keybuzz-api"}));
  CHECK(allowed("ghcr.io/keybuzz/anything:v1", {"ghcr.io/keybuzz/*"}));
  CHECK_FALSE(allowed("ghcr.io/keybuzz/deeper/path:v1", {"ghcr.io/keybuzz/*"}));
  CHECK_FALSE(allowed("ghcr.io/other/app:v1", {"ghcr.io/keybuzz/*"}));
  // Two spellings of one Docker Hub repository are one repository.
  CHECK(allowed("docker.io/library/nginx:1.25", {"nginx"}));
  CHECK(allowed("nginx:1.25", {"docker.io/library/nginx"}));
  CHECK_FALSE(allowed("nginx:1.25", {}));
}

}  // namespace
}  // namespace promote
