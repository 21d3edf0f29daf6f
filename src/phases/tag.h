// The tag phase: records the release in git (an annotated tag carrying the manifest) before
// anything in the target changes. A tag is never moved: re-running finds its own tag.
#pragma once

#include <string>

#include "adapters/git/manifest.h"
#include "core/error.h"

namespace promote::phases {

struct Context;

/// The tag the run created, or found already there from its earlier life.
struct TagResult {
  std::string name;
  bool created = false;
};

/// Creates the release tag `name` with `manifest` in the context's release repository.
class Tag {
 public:
  Tag(std::string name, adapters::git::ReleaseManifest manifest);

  Result<TagResult> Run(Context& context) const;

 private:
  std::string name_;
  adapters::git::ReleaseManifest manifest_;
};

}  // namespace promote::phases
