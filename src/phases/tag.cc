#include "phases/tag.h"

#include <nlohmann/json.hpp>

#include "adapters/git/release_repo.h"
#include "phases/context.h"
#include "phases/step_log.h"

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
  auto intent = context.steps->Intent("Approved", "create-tag", "",
                                      {{"tag", name_}, {"repo", context.releases_repo->string()}});
  if (!intent) return std::move(intent).error();
  const adapters::git::Signature tagger{manifest_.initiator, manifest_.initiator + "@promote"};
  auto created = repo->CreateRelease(name_, manifest_, tagger);
  if (!created) {
    RecordFailed(*context.steps, context.logger, *intent, {{"error", created.error().Format()}});
    return std::move(created).error().WithContext("tagging the release");
  }
  const bool fresh = created->outcome == adapters::git::TagOutcome::kCreated;
  if (auto done = context.steps->Done(*intent, {{"tag", name_},
                                                {"tagId", created->tag.tag_id},
                                                {"outcome", fresh ? "created" : "already-there"}});
      !done) {
    return std::move(done).error().WithContext("tag " + name_ + " was created but not journaled");
  }
  return TagResult{name_, fresh};
}

}  // namespace promote::phases
