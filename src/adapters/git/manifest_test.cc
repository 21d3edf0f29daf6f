#include "adapters/git/manifest.h"

#include <catch2/catch.hpp>

namespace promote::adapters::git {
namespace {

ReleaseManifest Sample() {
  ReleaseManifest manifest;
  manifest.plan = "keybuzz";
  manifest.source_env = "dev";
  manifest.target_env = "prod";
  manifest.run_id = "20260201-100000-ab12";
  manifest.initiator = "ops-lead";
  manifest.created_at = "2026-02-01T10:00:00Z";
  manifest.services["api"] = {"ghcr.io/keybuzz/api:v0.4.31-replacement",
                              "sha256:" + std::string(64, 'a')};
  manifest.services["client"] = {"ghcr.io/keybuzz/client:v1.2.0", std::nullopt};
  return manifest;
}

/// The message with `from` replaced by `to` once; fails the test when `from` is not there.
std::string Replaced(std::string message, const std::string& from, const std::string& to) {
  const auto at = message.find(from);
  REQUIRE(at != std::string::npos);
  return message.replace(at, from.size(), to);
}

TEST_CASE("a manifest renders as a human line, a blank line and sorted JSON", "[git]") {
  const std::string message = Render(Sample());
  CHECK(message.starts_with("promote release keybuzz dev→prod (2 services)\n\n{\n  \""));
  CHECK(message.ends_with("}\n"));
  CHECK(message.find("\"schema\": \"promote/release/v1\"") != std::string::npos);
  CHECK(message.find("\"digest\": null") != std::string::npos);
  // Keys sorted at every level: the same release always renders to the same bytes.
  const std::vector<std::string> keys = {"\"created_at\"", "\"initiator\"", "\"plan\"",
                                         "\"run_id\"",     "\"schema\"",    "\"services\"",
                                         "\"source_env\"", "\"target_env\""};
  std::size_t last = 0;
  for (const auto& key : keys) {
    const auto at = message.find(key);
    REQUIRE(at != std::string::npos);
    CHECK(at > last);
    last = at;
  }
  CHECK(Render(Sample()) == message);

  ReleaseManifest one = Sample();
  one.services.erase("client");
  CHECK(Render(one).starts_with("promote release keybuzz dev→prod (1 service)\n"));
}

TEST_CASE("a manifest reads back exactly as written", "[git]") {
  const ReleaseManifest manifest = Sample();
  auto parsed = ParseManifest(Render(manifest));
  REQUIRE(parsed.ok());
  CHECK(*parsed == manifest);
  CHECK_FALSE(parsed->services.at("client").digest.has_value());

  ReleaseManifest empty = manifest;
  empty.services.clear();
  auto none = ParseManifest(Render(empty));
  REQUIRE(none.ok());
  CHECK(none->services.empty());

  // A missing digest key reads like null; unknown keys (a later minor addition) are ignored.
  auto lenient = ParseManifest(Replaced(Render(manifest), "\"digest\": null,", "\"note\": 1,"));
  REQUIRE(lenient.ok());
  CHECK(*lenient == manifest);
}

TEST_CASE("SameRelease ignores when and by whom, not what", "[git]") {
  ReleaseManifest later = Sample();
  later.created_at = "2026-02-01T11:00:00Z";
  later.initiator = "cto";
  CHECK(SameRelease(Sample(), later));
  later.services["api"].digest = "sha256:" + std::string(64, 'b');
  CHECK_FALSE(SameRelease(Sample(), later));
  ReleaseManifest other_run = Sample();
  other_run.run_id = "another";
  CHECK_FALSE(SameRelease(Sample(), other_run));
}

TEST_CASE("messages that are not promote releases are told apart from broken ones", "[git]") {
  SECTION("a foreign tag message") {
    const std::string message = "Release 1.0\n\nThe first one.\n";
    CHECK_FALSE(IsReleaseMessage(message));
    auto parsed = ParseManifest(message);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == ErrorKind::kExternal);
    CHECK(parsed.error().what.find("not a promote release") != std::string::npos);
  }
  SECTION("broken JSON") {
    const std::string message = Render(Sample()).substr(0, 120);
    CHECK(IsReleaseMessage(message));
    auto parsed = ParseManifest(message);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("unreadable JSON") != std::string::npos);
  }
  SECTION("only the human line") {
    auto parsed = ParseManifest("promote release keybuzz dev→prod (2 services)\n");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("no JSON document") != std::string::npos);
  }
  SECTION("a missing field is named") {
    auto parsed =
        ParseManifest(Replaced(Render(Sample()), "\"run_id\": \"20260201-100000-ab12\",", ""));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("missing field 'run_id'") != std::string::npos);
  }
  SECTION("a mistyped field is named") {
    auto parsed = ParseManifest(Replaced(Render(Sample()), "\"plan\": \"keybuzz\"", "\"plan\": 7"));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("'plan' must be a string") != std::string::npos);
  }
  SECTION("a service without an image") {
    auto parsed = ParseManifest(Replaced(
        Render(Sample()), "\"image\": \"ghcr.io/keybuzz/client:v1.2.0\"", "\"image\": \"\""));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("services.client.image") != std::string::npos);
  }
  SECTION("a digest that is not one") {
    auto parsed =
        ParseManifest(Replaced(Render(Sample()), "\"digest\": null", "\"digest\": \"latest\""));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("services.client.digest") != std::string::npos);
  }
  SECTION("another schema version") {
    const std::string message =
        Replaced(Render(Sample()), "promote/release/v1", "promote/release/v2");
    CHECK(IsReleaseMessage(message));
    auto parsed = ParseManifest(message);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().what.find("unsupported schema 'promote/release/v2'") != std::string::npos);
  }
}

TEST_CASE("PinnedImage pins the digest when it is known", "[git]") {
  const std::string digest = "sha256:" + std::string(64, 'c');
  CHECK(PinnedImage({"ghcr.io/keybuzz/api:v1", digest}) == "ghcr.io/keybuzz/api:v1@" + digest);
  CHECK(PinnedImage({"ghcr.io/keybuzz/api:v1", std::nullopt}) == "ghcr.io/keybuzz/api:v1");
  CHECK(PinnedImage({"ghcr.io/keybuzz/api:v1@sha256:old", digest}) ==
        "ghcr.io/keybuzz/api:v1@" + digest);
  CHECK(PinnedImage({"127.0.0.1:5000/api:v1", digest}) == "127.0.0.1:5000/api:v1@" + digest);
}

}  // namespace
}  // namespace promote::adapters::git
