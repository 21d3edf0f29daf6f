// ReleaseRepo: the git repository of releases, through libgit2 (never the git CLI). A release is
// an annotated tag whose message is a ReleaseManifest; a failed release is marked by a git note
// on its tag object under refs/notes/promote (notes may be rewritten, release tags never).
// <git2.h> stays inside release_repo.cc.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/git/manifest.h"
#include "core/error.h"

struct git_repository;

namespace promote::adapters::git {

/// The notes ref where failed releases are recorded.
inline constexpr char kNotesRef[] = "refs/notes/promote";

/// Who writes a tag or a note; the time is always "now".
struct Signature {
  std::string name;
  std::string email;
};

/// What promote learned of a release after tagging it. Only a change that happened and was judged
/// makes a release bad; one whose run could not finish judging it is unverified (a later run may
/// promote it without --force); one that failed before anything changed was never deployed.
enum class ReleaseStatus {
  kBad,          ///< the cluster or the probes judged its images in the target: refused later
  kUnverified,   ///< rolled back for a reason that is not a verdict (a timeout, a dropped call)
  kNotDeployed,  ///< the run stopped before anything in the target changed
};

/// "failed" (the note's word since the first release, kept for old notes), "unverified",
/// "not-deployed".
const char* ReleaseStatusName(ReleaseStatus status);

/// One service image a release was judged on, and what was wrong with it.
struct JudgedImage {
  std::string service;
  ReleasedImage image;
  std::string reason;
};

/// A judged image as the note (and a run's journal) writes it: {service, image, digest, reason};
/// read back leniently (a field of another type reads as empty).
nlohmann::json JudgedImageJson(const JudgedImage& judged);
JudgedImage JudgedImageFromJson(const nlohmann::json& entry);

/// The note on a release tag (refs/notes/promote): its status, why, when, and for a bad release
/// the images that failed. A note written before images were recorded has none: the whole
/// release is then what was judged.
struct ReleaseNote {
  ReleaseStatus status = ReleaseStatus::kBad;
  std::string reason;
  std::string at;                   ///< RFC 3339 UTC; set by MarkRelease
  std::vector<JudgedImage> images;  ///< the failing service images (kBad)

  bool bad() const { return status == ReleaseStatus::kBad; }
};

/// One release as found in the repository.
struct ReleaseTag {
  std::string name;       ///< "prod-2026-02-01", without refs/tags/
  std::string tag_id;     ///< hex id of the annotated tag object
  std::string commit_id;  ///< hex id of the commit it points to
  ReleaseManifest manifest;
  std::optional<ReleaseNote> note;  ///< what was recorded of it after tagging, if anything
  std::string tagger_name;
  std::string tagger_email;
  std::chrono::sys_seconds tagged_at{};
};

/// Whether CreateRelease wrote the tag or found it already there (a re-run after a crash).
enum class TagOutcome { kCreated, kAlreadyThere };

/// What CreateRelease did and the release as it now stands.
struct CreatedRelease {
  ReleaseTag tag;
  TagOutcome outcome = TagOutcome::kCreated;
};

/// An open release repository (bare or not). Move-only; one instance must not be used from two
/// threads at once (libgit2's rule for a repository object), open one per thread instead.
/// Every error is kExternal, names the repository in `where` and says how to fix it.
class ReleaseRepo {
 public:
  /// Opens exactly `path` (no search in parent folders: a typo in the plan must not tag the
  /// repository that happens to contain it).
  static Result<ReleaseRepo> Open(const std::filesystem::path& path);

  ReleaseRepo(ReleaseRepo&& other) noexcept;
  ReleaseRepo& operator=(ReleaseRepo&& other) noexcept;
  ReleaseRepo(const ReleaseRepo&) = delete;
  ReleaseRepo& operator=(const ReleaseRepo&) = delete;
  ~ReleaseRepo();

  const std::filesystem::path& path() const { return path_; }

  /// Every annotated tag carrying a promote manifest, oldest first (tagger time, then name with
  /// ".N" suffixes compared as numbers). Lightweight tags and annotated tags without a manifest
  /// are someone else's and skipped; a tag that claims to be a release but whose manifest is
  /// broken is an Error naming it.
  Result<std::vector<ReleaseTag>> Releases() const;

  /// The release named `name`; nullopt when no tag has that name; an Error when a tag of that
  /// name exists but is not a promote release (so `rollback --to` can say so).
  Result<std::optional<ReleaseTag>> Find(const std::string& name) const;

  /// `base` when no tag has that name, else the first free of `base.2`, `base.3`, … `base.999`.
  /// With `remote`, the remote's tags count as taken too (read with RemoteTagNames).
  Result<std::string> NextFreeName(const std::string& base,
                                   const std::optional<std::string>& remote = std::nullopt) const;

  /// The tag names the named remote has (`git ls-remote --tags`), read over the network.
  Result<std::vector<std::string>> RemoteTagNames(const std::string& remote) const;

  /// Every tag name in the repository (releases or not): what FirstFreeName needs, read once.
  Result<std::vector<std::string>> TagNames() const;

  /// Tags HEAD's commit with the rendered manifest. Never moves or overwrites a tag: when `name`
  /// already holds the same release (SameRelease) on the same commit, returns it as
  /// kAlreadyThere; any other tag of that name is an Error.
  Result<CreatedRelease> CreateRelease(const std::string& name, const ReleaseManifest& manifest,
                                       const Signature& tagger);

  /// Records what became of release `name`: a note {"status","reason","at","images"} on its tag
  /// object in refs/notes/promote. Marking again replaces the note (the same status, reason and
  /// images: no new commit).
  Status MarkRelease(const std::string& name, const ReleaseNote& note, const Signature& who);

  /// Pushes refs/tags/<tag> (and refs/notes/promote when it exists) to the named remote.
  Status Push(const std::string& remote, const std::string& tag);

 private:
  ReleaseRepo(git_repository* repo, std::filesystem::path path);

  git_repository* repo_ = nullptr;  ///< owned; freed by the destructor
  std::filesystem::path path_;
};

/// The name a new release takes, from the names already taken: `base` when free, else the first
/// free of `base.2` … `base.999`; empty when all are taken. Pure (NextFreeName reads the
/// repository and asks this), so a dry run and a run pick the same name.
std::string FirstFreeName(const std::string& base, const std::vector<std::string>& taken);

}  // namespace promote::adapters::git
