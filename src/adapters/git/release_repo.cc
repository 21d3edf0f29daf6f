// Implementation details: libgit2 objects are held by unique_ptrs with their free functions, so
// every early return releases them. Tags are looked up by reference (refs/tags/<name>) and then
// read as objects: a reference to a commit is a lightweight tag, a tag object whose message has no
// manifest is a foreign annotated tag, and both are left alone.
#include "adapters/git/release_repo.h"

#include <git2.h>
#include <time.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>

namespace promote::adapters::git {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// Makes libgit2 usable. Its contract: git_libgit2_init before any other call; it is
/// reference-counted and thread-safe, and shutdown is optional at process exit, so one call for
/// the life of the process (a function-local static runs it exactly once, race-free).
void EnsureLibgit2() {
  static const int initialised = git_libgit2_init();
  (void)initialised;
}

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Freer<T, Free>>;
using ObjectPtr = Owned<git_object, git_object_free>;
using ReferencePtr = Owned<git_reference, git_reference_free>;
using SignaturePtr = Owned<git_signature, git_signature_free>;
using NotePtr = Owned<git_note, git_note_free>;
using RemotePtr = Owned<git_remote, git_remote_free>;

/// libgit2's last error message for the calling thread, or a placeholder.
std::string LastGitError() {
  const git_error* error = git_error_last();
  return error && error->message ? error->message : "unknown libgit2 error";
}

std::string Where(const fs::path& repo) {
  return "release repository " + repo.string();
}

Error RepoError(const fs::path& repo, std::string what, std::string fix = "") {
  return Error{ErrorKind::kExternal, std::move(what), Where(repo), std::move(fix)};
}

/// "libgit2 said X while doing Y".
Error GitError(const fs::path& repo, const std::string& doing, std::string fix = "") {
  return RepoError(repo, doing + ": " + LastGitError(), std::move(fix));
}

std::string Hex(const git_oid& oid) {
  char text[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(text, sizeof text, &oid);
  return text;
}

std::string TagRef(const std::string& name) {
  return "refs/tags/" + name;
}

std::string NowRfc3339() {
  const time_t seconds = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

Status CheckTagName(const fs::path& repo, const std::string& name) {
  int valid = 0;
  if (name.empty() || git_tag_name_is_valid(&valid, name.c_str()) < 0 || !valid) {
    return Error{ErrorKind::kUsage, "'" + name + "' is not a valid git tag name", Where(repo),
                 "use letters, digits, '-', '_', '.' and '/' (no spaces, '..', '~', '^', ':')"};
  }
  return Done{};
}

/// Orders "prod-1" < "prod-1.2" < "prod-1.10": a trailing ".N" counts as a number.
bool NameBefore(const std::string& a, const std::string& b) {
  auto split = [](const std::string& name) -> std::pair<std::string, long> {
    const auto dot = name.rfind('.');
    if (dot == std::string::npos || dot + 1 == name.size() || name.size() - dot > 10) {
      return {name, 1};
    }
    const std::string digits = name.substr(dot + 1);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return {name, 1};
    }
    return {name.substr(0, dot), std::stol(digits)};
  };
  return split(a) < split(b);
}

/// What refs/tags/<name> turned out to be.
struct TagLookup {
  enum class Kind { kMissing, kForeign, kRelease } kind = Kind::kMissing;
  std::string foreign_reason;  ///< for kForeign: "a lightweight tag", …
  ReleaseTag release;          ///< for kRelease
};

std::string Text(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json NoteJson(const ReleaseNote& note) {
  json images = json::array();
  for (const auto& judged : note.images) images.push_back(JudgedImageJson(judged));
  return {{"status", ReleaseStatusName(note.status)},
          {"reason", note.reason},
          {"at", note.at},
          {"images", images}};
}

/// The note MarkRelease wrote on a tag object, if any. Only promote writes this ref, so a note
/// it cannot read is kept visible as a bad release rather than ignored.
Result<std::optional<ReleaseNote>> ReadNote(git_repository* repo, const fs::path& path,
                                            const git_oid& tag_id) {
  git_note* raw = nullptr;
  const int rc = git_note_read(&raw, repo, kNotesRef, &tag_id);
  if (rc == GIT_ENOTFOUND) return std::optional<ReleaseNote>();
  if (rc < 0) return GitError(path, "reading the promote note of tag object " + Hex(tag_id));
  NotePtr owned(raw);
  const char* message = git_note_message(owned.get());
  const json document = json::parse(message ? message : "", nullptr, false);
  ReleaseNote note;
  if (!document.is_object() || !document.contains("status") || !document["status"].is_string()) {
    note.reason = "unreadable promote note: " + std::string(message ? message : "");
    return std::optional<ReleaseNote>(std::move(note));
  }
  const std::string status = document["status"].get<std::string>();
  if (status == ReleaseStatusName(ReleaseStatus::kUnverified)) {
    note.status = ReleaseStatus::kUnverified;
  } else if (status == ReleaseStatusName(ReleaseStatus::kNotDeployed)) {
    note.status = ReleaseStatus::kNotDeployed;
  } else if (status != ReleaseStatusName(ReleaseStatus::kBad)) {
    return std::optional<ReleaseNote>();  // a status of a later promote: nothing it refuses
  }
  note.reason = Text(document, "reason");
  if (note.reason.empty()) note.reason = "(no reason recorded)";
  note.at = Text(document, "at");
  for (const auto& entry : document.value("images", json::array())) {
    if (entry.is_object()) note.images.push_back(JudgedImageFromJson(entry));
  }
  return std::optional<ReleaseNote>(std::move(note));
}

Result<TagLookup> LookupTag(git_repository* repo, const fs::path& path, const std::string& name) {
  TagLookup lookup;
  git_oid ref_target;
  const int rc = git_reference_name_to_id(&ref_target, repo, TagRef(name).c_str());
  if (rc == GIT_ENOTFOUND) return lookup;
  if (rc < 0) return GitError(path, "resolving tag '" + name + "'");

  git_object* raw = nullptr;
  if (git_object_lookup(&raw, repo, &ref_target, GIT_OBJECT_ANY) < 0) {
    return GitError(path, "reading the object of tag '" + name + "'");
  }
  ObjectPtr object(raw);
  lookup.kind = TagLookup::Kind::kForeign;
  if (git_object_type(object.get()) != GIT_OBJECT_TAG) {
    lookup.foreign_reason = "a lightweight tag (it points straight at a " +
                            std::string(git_object_type2string(git_object_type(object.get()))) +
                            ")";
    return lookup;
  }
  auto* tag = reinterpret_cast<git_tag*>(object.get());
  const char* message = git_tag_message(tag);
  const std::string text = message ? message : "";
  if (!IsReleaseMessage(text)) {
    lookup.foreign_reason = "an annotated tag whose message carries no promote manifest";
    return lookup;
  }
  auto manifest = ParseManifest(text);
  if (!manifest) {
    Error error = std::move(manifest).error().WithContext("tag '" + name + "'");
    error.where = Where(path);
    error.fix = "inspect it with `git cat-file -p " + name +
                "`; a release tag edited by hand cannot be trusted: delete it and promote again";
    return error;
  }

  ReleaseTag& release = lookup.release;
  lookup.kind = TagLookup::Kind::kRelease;
  release.name = name;
  release.tag_id = Hex(*git_tag_id(tag));
  release.manifest = std::move(manifest).value();
  git_object* peeled = nullptr;
  if (git_tag_peel(&peeled, tag) == 0) {
    ObjectPtr commit(peeled);
    release.commit_id = Hex(*git_object_id(commit.get()));
  } else {
    release.commit_id = Hex(*git_tag_target_id(tag));
  }
  if (const git_signature* tagger = git_tag_tagger(tag)) {
    release.tagger_name = tagger->name ? tagger->name : "";
    release.tagger_email = tagger->email ? tagger->email : "";
    release.tagged_at = std::chrono::sys_seconds(std::chrono::seconds(tagger->when.time));
  }
  auto note = ReadNote(repo, path, *git_tag_id(tag));
  if (!note) return std::move(note).error();
  release.note = std::move(note).value();
  return lookup;
}

/// Decides whether an existing tag is this very release (an idempotent re-run) or a conflict.
Result<CreatedRelease> ExistingOrConflict(const fs::path& path, const std::string& name,
                                          const TagLookup& existing,
                                          const ReleaseManifest& manifest,
                                          const std::string& head_id) {
  const std::string fix = "pick another name; promote never moves or overwrites a release tag";
  if (existing.kind == TagLookup::Kind::kForeign) {
    return RepoError(path,
                     "tag '" + name + "' already exists and is not a promote release (" +
                         existing.foreign_reason + ")",
                     fix);
  }
  const ReleaseTag& tag = existing.release;
  if (!SameRelease(tag.manifest, manifest)) {
    return RepoError(path,
                     "tag '" + name + "' already holds another release (run " +
                         tag.manifest.run_id + ", " + tag.manifest.source_env + "→" +
                         tag.manifest.target_env + ", " +
                         std::to_string(tag.manifest.services.size()) + " services)",
                     fix);
  }
  if (tag.commit_id != head_id) {
    return RepoError(path,
                     "tag '" + name + "' already holds this release but on commit " +
                         tag.commit_id + ", while HEAD is " + head_id,
                     fix);
  }
  return CreatedRelease{tag, TagOutcome::kAlreadyThere};
}

Result<SignaturePtr> SignatureNow(const fs::path& path, const Signature& who) {
  git_signature* raw = nullptr;
  if (git_signature_now(&raw, who.name.c_str(), who.email.c_str()) < 0) {
    return GitError(path, "signature '" + who.name + " <" + who.email + ">'",
                    "give a non-empty name and email without '<' or '>'");
  }
  return SignaturePtr(raw);
}

/// Push bookkeeping shared with libgit2's callbacks.
struct PushState {
  int credential_attempts = 0;
  std::vector<std::string> rejected;  ///< "refs/tags/x: reason"
};

int OnPushUpdate(const char* refname, const char* status, void* payload) {
  if (status) {
    static_cast<PushState*>(payload)->rejected.push_back(std::string(refname) + ": " + status);
  }
  return 0;
}

/// ssh-agent for SSH remotes, the platform's default credentials otherwise; one attempt only,
/// so a refused credential ends the push instead of looping.
int AcquireCredential(git_credential** out, const char* /*url*/, const char* username_from_url,
                      unsigned int allowed_types, void* payload) {
  auto* state = static_cast<PushState*>(payload);
  if (++state->credential_attempts > 1) return GIT_PASSTHROUGH;
  if (allowed_types & GIT_CREDENTIAL_SSH_KEY) {
    return git_credential_ssh_key_from_agent(out, username_from_url ? username_from_url : "git");
  }
  if (allowed_types & GIT_CREDENTIAL_DEFAULT) return git_credential_default_new(out);
  return GIT_PASSTHROUGH;
}

}  // namespace

ReleaseRepo::ReleaseRepo(git_repository* repo, fs::path path)
    : repo_(repo), path_(std::move(path)) {}

ReleaseRepo::ReleaseRepo(ReleaseRepo&& other) noexcept
    : repo_(std::exchange(other.repo_, nullptr)), path_(std::move(other.path_)) {}

ReleaseRepo& ReleaseRepo::operator=(ReleaseRepo&& other) noexcept {
  if (this != &other) {
    if (repo_) git_repository_free(repo_);
    repo_ = std::exchange(other.repo_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

ReleaseRepo::~ReleaseRepo() {
  if (repo_) git_repository_free(repo_);
}

Result<ReleaseRepo> ReleaseRepo::Open(const fs::path& path) {
  EnsureLibgit2();
  const std::string fix =
      "point `releases.repo` in the plan at a git repository, or create one: "
      "git init " +
      path.string() + " && commit something";
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return RepoError(path, "no such directory", fix);
  }
  git_repository* repo = nullptr;
  const int rc =
      git_repository_open_ext(&repo, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
  if (rc == GIT_ENOTFOUND) return RepoError(path, "not a git repository", fix);
  if (rc < 0) return GitError(path, "opening the repository", fix);
  return ReleaseRepo(repo, path);
}

Result<std::vector<ReleaseTag>> ReleaseRepo::Releases() const {
  std::vector<std::string> names;
  auto collect = [](const char* refname, git_oid*, void* payload) -> int {
    std::string name = refname;
    if (name.starts_with("refs/tags/")) name.erase(0, 10);
    static_cast<std::vector<std::string>*>(payload)->push_back(std::move(name));
    return 0;
  };
  if (git_tag_foreach(repo_, collect, &names) < 0) return GitError(path_, "listing tags");

  std::vector<ReleaseTag> releases;
  for (const auto& name : names) {
    auto lookup = LookupTag(repo_, path_, name);
    if (!lookup) return std::move(lookup).error();
    if (lookup->kind == TagLookup::Kind::kRelease) releases.push_back(std::move(lookup->release));
  }
  std::sort(releases.begin(), releases.end(), [](const ReleaseTag& a, const ReleaseTag& b) {
    if (a.tagged_at != b.tagged_at) return a.tagged_at < b.tagged_at;
    return NameBefore(a.name, b.name);
  });
  return releases;
}

Result<std::optional<ReleaseTag>> ReleaseRepo::Find(const std::string& name) const {
  if (auto valid = CheckTagName(path_, name); !valid) return std::move(valid).error();
  auto lookup = LookupTag(repo_, path_, name);
  if (!lookup) return std::move(lookup).error();
  switch (lookup->kind) {
    case TagLookup::Kind::kMissing:
      return std::optional<ReleaseTag>();
    case TagLookup::Kind::kForeign:
      return RepoError(
          path_, "tag '" + name + "' is not a promote release (" + lookup->foreign_reason + ")",
          "name a release tag: `promote history ENV` lists them");
    case TagLookup::Kind::kRelease:
      break;
  }
  return std::optional<ReleaseTag>(std::move(lookup->release));
}

Result<std::vector<std::string>> ReleaseRepo::TagNames() const {
  git_strarray names{};
  if (git_tag_list(&names, repo_) < 0) return GitError(path_, "listing tags");
  std::vector<std::string> out(names.strings, names.strings + names.count);
  git_strarray_dispose(&names);
  return out;
}

Result<std::vector<std::string>> ReleaseRepo::RemoteTagNames(const std::string& remote_name) const {
  git_remote* raw_remote = nullptr;
  if (git_remote_lookup(&raw_remote, repo_, remote_name.c_str()) < 0) {
    return GitError(path_, "finding remote '" + remote_name + "'",
                    "add it: git -C " + path_.string() + " remote add " + remote_name + " URL");
  }
  RemotePtr remote(raw_remote);
  PushState state;  // for its credential attempt count
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.credentials = AcquireCredential;
  callbacks.payload = &state;
  if (git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr) < 0) {
    return GitError(path_, "listing the tags of remote '" + remote_name + "'",
                    "check the remote's URL and credentials");
  }
  const git_remote_head** heads = nullptr;
  std::size_t count = 0;
  std::vector<std::string> names;
  if (git_remote_ls(&heads, &count, remote.get()) == 0) {
    constexpr std::string_view kTags = "refs/tags/";
    for (std::size_t i = 0; i < count; ++i) {
      std::string_view name = heads[i]->name;
      if (name.substr(0, kTags.size()) != kTags) continue;
      name.remove_prefix(kTags.size());
      if (name.size() > 3 && name.substr(name.size() - 3) == "^{}") continue;  // peeled copy
      names.emplace_back(name);
    }
  }
  git_remote_disconnect(remote.get());
  return names;
}

Result<std::string> ReleaseRepo::NextFreeName(const std::string& base,
                                              const std::optional<std::string>& remote) const {
  if (auto valid = CheckTagName(path_, base); !valid) return std::move(valid).error();
  auto taken = TagNames();
  if (!taken) return std::move(taken).error();
  if (remote) {
    // Two runners tag the same day: the name the remote already has is taken as well.
    auto theirs = RemoteTagNames(*remote);
    if (!theirs) return std::move(theirs).error();
    taken->insert(taken->end(), theirs->begin(), theirs->end());
  }
  std::string free = FirstFreeName(base, *taken);
  if (free.empty()) {
    return RepoError(
        path_, "tags '" + base + "' to '" + base + ".999' all exist",
        "use a tag template with more detail (e.g. a time), such as prod-{date}-{run}");
  }
  return free;
}

Result<CreatedRelease> ReleaseRepo::CreateRelease(const std::string& name,
                                                  const ReleaseManifest& manifest,
                                                  const Signature& tagger) {
  if (auto valid = CheckTagName(path_, name); !valid) return std::move(valid).error();

  // The tag must read back as the same release, or listing and idempotent re-runs break later.
  const std::string message = Render(manifest);
  auto readback = ParseManifest(message);
  if (!readback || !SameRelease(*readback, manifest)) {
    return Error{ErrorKind::kInternal,
                 "release manifest for '" + name + "' does not read back as written" +
                     (readback ? std::string() : ": " + readback.error().what),
                 Where(path_), "every service needs a non-empty image"};
  }

  const std::string empty_fix =
      "commit something first (a release tag points at a commit): git -C " + path_.string() +
      " commit --allow-empty -m 'releases'";
  if (git_repository_head_unborn(repo_) == 1) {
    return RepoError(path_, "the repository has no commit yet (HEAD is unborn)", empty_fix);
  }
  git_reference* raw_head = nullptr;
  if (git_repository_head(&raw_head, repo_) < 0) return GitError(path_, "reading HEAD", empty_fix);
  ReferencePtr head(raw_head);
  git_object* raw_commit = nullptr;
  if (git_reference_peel(&raw_commit, head.get(), GIT_OBJECT_COMMIT) < 0) {
    return GitError(path_, "resolving HEAD to a commit", empty_fix);
  }
  ObjectPtr commit(raw_commit);
  const std::string head_id = Hex(*git_object_id(commit.get()));

  auto existing = LookupTag(repo_, path_, name);
  if (!existing) return std::move(existing).error();
  if (existing->kind != TagLookup::Kind::kMissing) {
    return ExistingOrConflict(path_, name, *existing, manifest, head_id);
  }

  auto signature = SignatureNow(path_, tagger);
  if (!signature) return std::move(signature).error();
  git_oid tag_id;
  const int rc = git_tag_create(&tag_id, repo_, name.c_str(), commit.get(), signature->get(),
                                message.c_str(), /*force=*/0);
  if (rc == GIT_EEXISTS) {
    // Someone created it between our look and our write: judge what is there now.
    auto now = LookupTag(repo_, path_, name);
    if (!now) return std::move(now).error();
    return ExistingOrConflict(path_, name, *now, manifest, head_id);
  }
  if (rc < 0) return GitError(path_, "creating tag '" + name + "'");

  auto created = LookupTag(repo_, path_, name);
  if (!created) return std::move(created).error();
  if (created->kind != TagLookup::Kind::kRelease) {
    return RepoError(path_, "tag '" + name + "' was created but does not read back as a release");
  }
  return CreatedRelease{std::move(created->release), TagOutcome::kCreated};
}

Status ReleaseRepo::MarkRelease(const std::string& name, const ReleaseNote& note,
                                const Signature& who) {
  auto found = Find(name);
  if (!found) return std::move(found).error();
  if (!*found) {
    return RepoError(
        path_, "no release tag named '" + name + "' to mark " + ReleaseStatusName(note.status),
        "`promote history ENV` lists the release tags");
  }
  const ReleaseTag& release = **found;
  if (release.note) {
    ReleaseNote same = note;
    same.at = release.note->at;
    if (NoteJson(same) == NoteJson(*release.note)) return Done{};
  }

  auto signature = SignatureNow(path_, who);
  if (!signature) return std::move(signature).error();
  git_oid tag_id;
  if (git_oid_fromstr(&tag_id, release.tag_id.c_str()) < 0) {
    return GitError(path_, "reading tag id " + release.tag_id);
  }
  ReleaseNote stamped = note;
  stamped.at = NowRfc3339();
  const std::string text =
      NoteJson(stamped).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  git_oid note_id;
  if (git_note_create(&note_id, repo_, kNotesRef, signature->get(), signature->get(), &tag_id,
                      text.c_str(), /*force=*/1) < 0) {
    return GitError(path_, std::string("writing the ") + ReleaseStatusName(note.status) +
                               " note of release '" + name + "'");
  }
  return Done{};
}

Status ReleaseRepo::Push(const std::string& remote_name, const std::string& tag) {
  if (auto valid = CheckTagName(path_, tag); !valid) return std::move(valid).error();
  git_oid ignored;
  if (git_reference_name_to_id(&ignored, repo_, TagRef(tag).c_str()) < 0) {
    return RepoError(path_, "no tag named '" + tag + "' to push");
  }
  git_remote* raw_remote = nullptr;
  if (git_remote_lookup(&raw_remote, repo_, remote_name.c_str()) < 0) {
    return GitError(path_, "finding remote '" + remote_name + "'",
                    "add it: git -C " + path_.string() + " remote add " + remote_name + " URL");
  }
  RemotePtr remote(raw_remote);

  std::vector<std::string> refspecs = {TagRef(tag) + ":" + TagRef(tag)};
  if (git_reference_name_to_id(&ignored, repo_, kNotesRef) == 0) {
    refspecs.push_back(std::string(kNotesRef) + ":" + kNotesRef);
  }
  std::vector<char*> specs;
  for (auto& spec : refspecs) specs.push_back(spec.data());
  const git_strarray array{specs.data(), specs.size()};

  PushState state;
  git_push_options options;
  git_push_options_init(&options, GIT_PUSH_OPTIONS_VERSION);
  options.callbacks.push_update_reference = OnPushUpdate;
  options.callbacks.credentials = AcquireCredential;
  options.callbacks.payload = &state;

  const std::string doing = "pushing tag '" + tag + "' to remote '" + remote_name + "' (" +
                            (git_remote_url(remote.get()) ? git_remote_url(remote.get()) : "") +
                            ")";
  const std::string fix =
      "check the remote's URL and credentials; if the remote already has a different tag of "
      "that name, pick another name (promote never moves a release tag)";
  if (git_remote_push(remote.get(), &array, &options) < 0) return GitError(path_, doing, fix);
  if (!state.rejected.empty()) {
    std::string what = doing + ": rejected";
    for (const auto& line : state.rejected) what += "; " + line;
    return RepoError(path_, what, fix);
  }
  return Done{};
}

json JudgedImageJson(const JudgedImage& judged) {
  return {{"service", judged.service},
          {"image", judged.image.image},
          {"digest", judged.image.digest ? json(*judged.image.digest) : json()},
          {"reason", judged.reason}};
}

JudgedImage JudgedImageFromJson(const json& entry) {
  JudgedImage judged{
      Text(entry, "service"), {Text(entry, "image"), std::nullopt}, Text(entry, "reason")};
  if (const std::string digest = Text(entry, "digest"); !digest.empty()) {
    judged.image.digest = digest;
  }
  return judged;
}

const char* ReleaseStatusName(ReleaseStatus status) {
  switch (status) {
    case ReleaseStatus::kBad:
      return "failed";
    case ReleaseStatus::kUnverified:
      return "unverified";
    case ReleaseStatus::kNotDeployed:
      return "not-deployed";
  }
  return "failed";
}

std::string FirstFreeName(const std::string& base, const std::vector<std::string>& taken) {
  constexpr int kMaxSuffix = 999;
  for (int n = 1; n <= kMaxSuffix; ++n) {
    const std::string candidate = n == 1 ? base : base + "." + std::to_string(n);
    if (std::find(taken.begin(), taken.end(), candidate) == taken.end()) return candidate;
  }
  return "";
}

}  // namespace promote::adapters::git
