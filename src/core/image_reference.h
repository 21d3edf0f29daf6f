// Container image references, parsed by the grammar of the OCI distribution reference
// (github.com/distribution/reference): [domain[:port]/]path[:tag][@algorithm:hex]. Parsing is
// strict on purpose: promote decides what reaches PROD from these strings, so `x;y`, an upper-case
// path or a short digest is an error, not a guess.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace promote {

/// A parsed image reference; `domain` and `path` are as written, Normalized() adds defaults.
struct ImageReference {
  std::string domain;  ///< "ghcr.io", "localhost:5000"; "" when the reference names none
  std::string path;    ///< "keybuzz/keybuzz-api"
  std::string tag;     ///< "" when absent
  std::string digest;  ///< "sha256:…", "" when absent

  /// domain/path as written ("ghcr.io/keybuzz/keybuzz-api", "nginx").
  std::string Repository() const;
  /// The repository as a container runtime pulls it: "nginx" is "docker.io/library/nginx",
  /// "me/app" is "docker.io/me/app"; so two spellings of one repository compare equal.
  std::string NormalizedRepository() const;
};

/// `text` parsed as a reference; the error says which part breaks the grammar and why.
Result<ImageReference> ParseImageReference(std::string_view text);

/// Whether `repository` (normalized) is one of `allowed`: each an exact repository or a pattern
/// where `*` stands for any characters but '/' (ghcr.io/keybuzz/* allows every repository
/// directly under ghcr.io/keybuzz). Patterns are normalized like repositories.
bool RepositoryAllowed(const ImageReference& image, const std::vector<std::string>& allowed);

/// "sha256:0123456789ab": a digest cut to 12 hex digits, as people quote one.
std::string ShortDigest(const std::string& digest);

}  // namespace promote
