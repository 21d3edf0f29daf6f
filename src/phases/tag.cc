#include "phases/tag.h"

#include <nlohmann/json.hpp>

#include "adapters/git/release_repo.h"
#include "engine/journal.h"
#include "phases/context.h"

namespace promote::phases {

Tag::Tag(std::string name, adapters::git::ReleaseManifest manifest)
    : name_(std::move(name)), manifest_(std::move(manifest)) {}

Result<TagResult> Tag::Run(Context& context) const {
  if (!context.releases_repo) {
    return Error{ErrorKind::kUsage, "no release repository", "plan releases.repo",
                 "set releases.repo in the plan or pass --releases DIR"};
  }
  auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
  if (!repo) return std::move(repo).error().WithContext("tagging the release");
  auto intent = context.journal->Intent(
      "Approved", "create-tag", "", {{"tag", name_}, {"repo", context.releases_repo->string()}});
  if (!intent) return std::move(intent).error();
  const adapters::git::Signature tagger{manifest_.initiator, manifest_.initiator + "@promote"};
  auto created = repo->CreateRelease(name_, manifest_, tagger);
  if (!created) {
    context.journal->Failed(*intent, {{"error", created.error().Format()}});
    return std::move(created).error().WithContext("tagging the release");
  }
  const bool fresh = created->outcome == adapters::git::TagOutcome::kCreated;
  context.journal->Done(*intent, {{"tag", name_},
                                  {"tagId", created->tag.tag_id},
                                  {"outcome", fresh ? "created" : "already-there"}});
  return TagResult{name_, fresh};
}

}  // namespace promote::phases
