// The release manifest: what a promotion deployed, carried as the message of its annotated git
// tag. One human line first (what `git tag -n` shows), a blank line, then a JSON document with
// sorted keys, so the same release always renders to the same bytes.
//
//   promote release keybuzz dev→prod (3 services)
//
//   {
//     "created_at": "2026-02-01T10:00:00Z",
//     …
//     "schema": "promote/release/v1",
//     "services": { "api": { "digest": "sha256:…", "image": "ghcr.io/keybuzz/api:v0.4.31" } },
//     …
//   }
#pragma once

#include <map>
#include <optional>
#include <string>

#include "core/error.h"

namespace promote::adapters::git {

/// The schema tag every manifest carries; a new incompatible layout gets a new version.
inline constexpr char kManifestSchema[] = "promote/release/v1";

/// One service's released image: the full reference with its tag, and the digest when known.
struct ReleasedImage {
  std::string image;                  ///< "ghcr.io/keybuzz/api:v0.4.31"
  std::optional<std::string> digest;  ///< "sha256:…"

  bool operator==(const ReleasedImage&) const = default;
};

/// What one promotion released: where from, where to, which run, who, when, and per service the
/// image that was deployed.
struct ReleaseManifest {
  std::string plan;
  std::string source_env;
  std::string target_env;
  std::string run_id;
  std::string initiator;
  std::string created_at;  ///< RFC 3339 UTC, "2026-02-01T10:00:00Z"
  std::map<std::string, ReleasedImage> services;

  bool operator==(const ReleaseManifest&) const = default;
};

/// True when two manifests describe the same release: same plan, environments, run and images.
/// created_at and initiator are left out on purpose: a resumed run re-renders its manifest later,
/// possibly resumed by someone else, and must still recognise the tag it wrote before a crash.
bool SameRelease(const ReleaseManifest& a, const ReleaseManifest& b);

/// The tag message: the human line, a blank line, the JSON document (2-space indent, sorted keys)
/// and a final newline.
std::string Render(const ReleaseManifest& manifest);

/// True when a tag message claims to be a promote release (the human line or the schema is
/// there), even if its manifest turns out to be broken. Listing skips messages for which this is
/// false: they belong to someone else's tags.
bool IsReleaseMessage(const std::string& message);

/// Reads a tag message back. Errors (kExternal) name what is wrong: "not a promote release" when
/// IsReleaseMessage is false, else the broken JSON or the missing/mistyped field.
Result<ReleaseManifest> ParseManifest(const std::string& message);

/// The reference to deploy: "repo:tag@sha256:…" when the digest is known (an existing "@…" in
/// the image is replaced by it), else the image as recorded.
std::string PinnedImage(const ReleasedImage& released);

}  // namespace promote::adapters::git
