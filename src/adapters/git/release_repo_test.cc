// Real repositories in temp folders. libgit2 builds the fixtures (init, commits, foreign tags);
// the git CLI, run through SystemProcessRunner, is only an independent witness of the result.
#include "adapters/git/release_repo.h"

#include <git2.h>

#include <catch2/catch.hpp>
#include <random>

#include "adapters/process/process.h"
#include "support/files.h"

namespace promote::adapters::git {
namespace {

using promote::testing::ReadFile;
using promote::testing::TempDir;

namespace fs = std::filesystem;

void GitOk(int rc) {
  if (rc < 0) {
    const git_error* error = git_error_last();
    FAIL("libgit2: " << (error ? error->message : "?"));
  }
}

/// Initialises a repository at `dir` (bare or not) and returns it; the caller frees it.
git_repository* InitRepo(const fs::path& dir, bool bare = false) {
  git_libgit2_init();  // reference-counted; the fixtures may run before any ReleaseRepo::Open
  git_repository* repo = nullptr;
  GitOk(git_repository_init(&repo, dir.c_str(), bare ? 1 : 0));
  return repo;
}

/// Commits the (empty) index on top of HEAD, if any; returns the new commit's hex id.
std::string Commit(git_repository* repo, const std::string& message) {
  git_index* index = nullptr;
  GitOk(git_repository_index(&index, repo));
  git_oid tree_id;
  GitOk(git_index_write_tree(&tree_id, index));
  git_index_free(index);
  git_tree* tree = nullptr;
  GitOk(git_tree_lookup(&tree, repo, &tree_id));
  git_signature* sig = nullptr;
  GitOk(git_signature_now(&sig, "Fixture", "fixture@example.test"));
  git_object* parent = nullptr;
  const bool has_parent = git_revparse_single(&parent, repo, "HEAD^{commit}") == 0;
  const git_commit* parents[] = {reinterpret_cast<git_commit*>(parent)};
  git_oid commit_id;
  GitOk(git_commit_create(&commit_id, repo, "HEAD", sig, sig, nullptr, message.c_str(), tree,
                          has_parent ? 1 : 0, has_parent ? parents : nullptr));
  if (has_parent) git_object_free(parent);
  git_signature_free(sig);
  git_tree_free(tree);
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, &commit_id);
  return hex;
}

/// A non-bare repository with one commit.
fs::path RepoWithCommit(const TempDir& dir) {
  const fs::path path = dir.path() / "releases";
  git_repository* repo = InitRepo(path);
  Commit(repo, "releases");
  git_repository_free(repo);
  return path;
}

ReleaseManifest Manifest(const std::string& run_id, const std::string& api_tag = "v0.4.31") {
  ReleaseManifest manifest;
  manifest.plan = "keybuzz";
  manifest.source_env = "dev";
  manifest.target_env = "prod";
  manifest.run_id = run_id;
  manifest.initiator = "ops-lead";
  manifest.created_at = "2026-02-01T10:00:00Z";
  manifest.services["api"] = {"ghcr.io/keybuzz/api:" + api_tag, "sha256:" + std::string(64, 'a')};
  manifest.services["website"] = {"ghcr.io/keybuzz/website:v2", std::nullopt};
  return manifest;
}

const Signature kTagger{"Promote Bot", "promote@example.test"};

template <typename T>
T Must(Result<T> result) {
  if (!result.ok()) FAIL(result.error().Format());
  return std::move(result).value();
}

ReleaseRepo OpenRepo(const fs::path& path) {
  return Must(ReleaseRepo::Open(path));
}

/// `git ARGS…` through the project's process runner; the test fails when git does.
std::string GitCli(std::vector<std::string> args) {
  SystemProcessRunner runner(nullptr, nullptr);
  Command command;
  command.argv = {"git"};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  command.env = {{"GIT_CONFIG_NOSYSTEM", "1"}, {"LC_ALL", "C"}};
  command.timeout = std::chrono::milliseconds(60000);
  ProcessResult result = Must(runner.Run(command));
  INFO("git " << args.front() << " …: " << result.Describe() << "\n" << result.err);
  REQUIRE(result.ok());
  return result.out;
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("opening something that is not a release repository is an error naming it", "[git]") {
  TempDir dir("promote-git-test");
  SECTION("a plain folder") {
    auto repo = ReleaseRepo::Open(dir.path());
    REQUIRE_FALSE(repo.ok());
    CHECK(repo.error().kind == ErrorKind::kExternal);
    CHECK(Contains(repo.error().where, dir.path().string()));
    CHECK(Contains(repo.error().what, "not a git repository"));
    CHECK(Contains(repo.error().fix, "git init"));
  }
  SECTION("a missing folder") {
    auto repo = ReleaseRepo::Open(dir.path() / "nope");
    REQUIRE_FALSE(repo.ok());
    CHECK(Contains(repo.error().where, (dir.path() / "nope").string()));
    CHECK(Contains(repo.error().what, "no such directory"));
  }
  SECTION("a folder inside a repository: no search upwards") {
    const fs::path repo_path = RepoWithCommit(dir);
    fs::create_directories(repo_path / "sub");
    auto repo = ReleaseRepo::Open(repo_path / "sub");
    REQUIRE_FALSE(repo.ok());
    CHECK(Contains(repo.error().what, "not a git repository"));
  }
}

TEST_CASE("an empty repository asks for a first commit", "[git]") {
  TempDir dir("promote-git-test");
  git_repository_free(InitRepo(dir.path()));
  ReleaseRepo repo = OpenRepo(dir.path());
  auto created = repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger);
  REQUIRE_FALSE(created.ok());
  CHECK(created.error().kind == ErrorKind::kExternal);
  CHECK(Contains(created.error().fix, "commit something first"));
  CHECK(Must(repo.Releases()).empty());
}

TEST_CASE("a release is an annotated tag on HEAD that reads back as written", "[git]") {
  TempDir dir("promote-git-test");
  const fs::path path = RepoWithCommit(dir);
  ReleaseRepo repo = OpenRepo(path);
  const ReleaseManifest manifest = Manifest("run-1");

  const CreatedRelease created = Must(repo.CreateRelease("prod-2026-02-01", manifest, kTagger));
  CHECK(created.outcome == TagOutcome::kCreated);
  CHECK(created.tag.name == "prod-2026-02-01");
  CHECK(created.tag.manifest == manifest);
  CHECK(created.tag.tagger_name == kTagger.name);
  CHECK(created.tag.tagger_email == kTagger.email);
  CHECK_FALSE(created.tag.note.has_value());
  CHECK(created.tag.tagged_at.time_since_epoch().count() > 0);

  const auto releases = Must(repo.Releases());
  REQUIRE(releases.size() == 1);
  CHECK(releases[0].tag_id == created.tag.tag_id);
  CHECK(releases[0].manifest == manifest);
  const auto found = Must(repo.Find("prod-2026-02-01"));
  REQUIRE(found.has_value());
  CHECK(found->commit_id == created.tag.commit_id);
  CHECK_FALSE(Must(repo.Find("prod-2026-01-01")).has_value());

  // The git CLI agrees: an annotated tag object on HEAD's commit carrying the manifest.
  const std::string d = path.string();
  CHECK(Trimmed(GitCli({"-C", d, "rev-parse", "prod-2026-02-01"})) == created.tag.tag_id);
  CHECK(Trimmed(GitCli({"-C", d, "rev-parse", "HEAD"})) == created.tag.commit_id);
  CHECK(Trimmed(GitCli({"-C", d, "cat-file", "-t", "prod-2026-02-01"})) == "tag");
  const std::string object = GitCli({"-C", d, "cat-file", "-p", "prod-2026-02-01"});
  CHECK(Contains(object, "object " + created.tag.commit_id));
  CHECK(Contains(object, "type commit"));
  CHECK(Contains(object, "tagger Promote Bot <promote@example.test>"));
  CHECK(Contains(object, "\"schema\": \"promote/release/v1\""));
  CHECK(Contains(GitCli({"-C", d, "tag", "-n1", "-l", "prod-*"}),
                 "promote release keybuzz dev→prod (2 services)"));
}

TEST_CASE("NextFreeName counts up per day and never reuses a name", "[git]") {
  TempDir dir("promote-git-test");
  ReleaseRepo repo = OpenRepo(RepoWithCommit(dir));
  CHECK(Must(repo.NextFreeName("prod-2026-02-01")) == "prod-2026-02-01");
  Must(repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger));
  CHECK(Must(repo.NextFreeName("prod-2026-02-01")) == "prod-2026-02-01.2");
  Must(repo.CreateRelease("prod-2026-02-01.2", Manifest("run-2"), kTagger));
  CHECK(Must(repo.NextFreeName("prod-2026-02-01")) == "prod-2026-02-01.3");
  CHECK(Must(repo.NextFreeName("prod-2026-02-02")) == "prod-2026-02-02");

  // Same second, so the name orders them: .2 after the base, .10 after .9 would too.
  const auto releases = Must(repo.Releases());
  REQUIRE(releases.size() == 2);
  CHECK(releases[0].name == "prod-2026-02-01");
  CHECK(releases[1].name == "prod-2026-02-01.2");

  auto bad = repo.NextFreeName("prod 2026");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind == ErrorKind::kUsage);
}

TEST_CASE("re-creating the same release finds it instead of writing again", "[git]") {
  TempDir dir("promote-git-test");
  ReleaseRepo repo = OpenRepo(RepoWithCommit(dir));
  const CreatedRelease first =
      Must(repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger));
  // A resumed run renders its manifest again, later and maybe resumed by someone else.
  ReleaseManifest again = Manifest("run-1");
  again.created_at = "2026-02-01T10:05:00Z";
  again.initiator = "cto";
  const CreatedRelease second = Must(repo.CreateRelease("prod-2026-02-01", again, kTagger));
  CHECK(second.outcome == TagOutcome::kAlreadyThere);
  CHECK(second.tag.tag_id == first.tag.tag_id);
  CHECK(second.tag.manifest.created_at == "2026-02-01T10:00:00Z");
  CHECK(Must(repo.Releases()).size() == 1);
}

TEST_CASE("an existing tag is never moved or overwritten", "[git]") {
  TempDir dir("promote-git-test");
  const fs::path path = RepoWithCommit(dir);
  ReleaseRepo repo = OpenRepo(path);
  const CreatedRelease first =
      Must(repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger));
  const std::string witness_before = GitCli({"-C", path.string(), "rev-parse", "prod-2026-02-01"});

  SECTION("another release under the same name") {
    auto clash = repo.CreateRelease("prod-2026-02-01", Manifest("run-2", "v0.9.29"), kTagger);
    REQUIRE_FALSE(clash.ok());
    CHECK(clash.error().kind == ErrorKind::kExternal);
    CHECK(Contains(clash.error().what, "already holds another release (run run-1"));
    CHECK(Contains(clash.error().fix, "pick another name"));
  }
  SECTION("the same release while HEAD has moved on") {
    git_repository* raw = InitRepo(path);  // reopens the existing repository
    Commit(raw, "later");
    git_repository_free(raw);
    auto moved = repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger);
    REQUIRE_FALSE(moved.ok());
    CHECK(Contains(moved.error().what, "on commit " + first.tag.commit_id));
    CHECK(Contains(moved.error().fix, "never moves"));
  }
  SECTION("a foreign tag of that name") {
    git_repository* raw = InitRepo(path);
    git_object* head = nullptr;
    GitOk(git_revparse_single(&head, raw, "HEAD"));
    git_oid id;
    GitOk(git_tag_create_lightweight(&id, raw, "v1", head, 0));
    git_object_free(head);
    git_repository_free(raw);
    auto foreign = repo.CreateRelease("v1", Manifest("run-2"), kTagger);
    REQUIRE_FALSE(foreign.ok());
    CHECK(Contains(foreign.error().what, "not a promote release (a lightweight tag"));
  }

  const auto after = Must(repo.Find("prod-2026-02-01"));
  REQUIRE(after.has_value());
  CHECK(after->tag_id == first.tag.tag_id);
  CHECK(after->manifest.run_id == "run-1");
  CHECK(GitCli({"-C", path.string(), "rev-parse", "prod-2026-02-01"}) == witness_before);
}

TEST_CASE("foreign tags are skipped by the release listing", "[git]") {
  TempDir dir("promote-git-test");
  const fs::path path = RepoWithCommit(dir);
  {
    git_repository* raw = InitRepo(path);
    git_object* head = nullptr;
    GitOk(git_revparse_single(&head, raw, "HEAD"));
    git_signature* sig = nullptr;
    GitOk(git_signature_now(&sig, "Someone", "someone@example.test"));
    git_oid id;
    GitOk(git_tag_create_lightweight(&id, raw, "light", head, 0));
    GitOk(git_tag_create(&id, raw, "v1.0", head, sig, "Release 1.0\n\nHand-made.\n", 0));
    git_signature_free(sig);
    git_object_free(head);
    git_repository_free(raw);
  }
  ReleaseRepo repo = OpenRepo(path);
  Must(repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger));

  const auto releases = Must(repo.Releases());
  REQUIRE(releases.size() == 1);
  CHECK(releases[0].name == "prod-2026-02-01");

  auto light = repo.Find("light");
  REQUIRE_FALSE(light.ok());
  CHECK(Contains(light.error().what, "lightweight"));
  auto annotated = repo.Find("v1.0");
  REQUIRE_FALSE(annotated.ok());
  CHECK(Contains(annotated.error().what, "no promote manifest"));
}

TEST_CASE("a release tag with a broken manifest is an error naming it", "[git]") {
  TempDir dir("promote-git-test");
  const fs::path path = RepoWithCommit(dir);
  {
    git_repository* raw = InitRepo(path);
    git_object* head = nullptr;
    GitOk(git_revparse_single(&head, raw, "HEAD"));
    git_signature* sig = nullptr;
    GitOk(git_signature_now(&sig, "Someone", "someone@example.test"));
    git_oid id;
    const std::string message = Render(Manifest("run-1")).substr(0, 100);
    GitOk(git_tag_create(&id, raw, "prod-edited", head, sig, message.c_str(), 0));
    git_signature_free(sig);
    git_object_free(head);
    git_repository_free(raw);
  }
  ReleaseRepo repo = OpenRepo(path);
  auto releases = repo.Releases();
  REQUIRE_FALSE(releases.ok());
  CHECK(Contains(releases.error().what, "tag 'prod-edited'"));
  CHECK(Contains(releases.error().fix, "git cat-file -p prod-edited"));
}

TEST_CASE("a failed release is marked bad with a git note on its tag", "[git]") {
  TempDir dir("promote-git-test");
  const fs::path path = RepoWithCommit(dir);
  const std::string d = path.string();
  ReleaseRepo repo = OpenRepo(path);
  const CreatedRelease good =
      Must(repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger));
  const CreatedRelease bad =
      Must(repo.CreateRelease("prod-2026-02-01.2", Manifest("run-2", "v0.9.29"), kTagger));

  const ReleaseNote failed{
      ReleaseStatus::kBad,
      "validation failed: login answered 500",
      "",
      {{"api",
        {"ghcr.io/keybuzz/api:v0.9.29", std::string("sha256:") + std::string(64, 'b')},
        "POST /auth/login answered 500"}}};
  Must(repo.MarkRelease("prod-2026-02-01.2", failed, kTagger));
  const auto releases = Must(repo.Releases());
  REQUIRE(releases.size() == 2);
  CHECK_FALSE(releases[0].note.has_value());
  REQUIRE(releases[1].note.has_value());
  CHECK(releases[1].note->bad());
  CHECK(releases[1].note->reason == "validation failed: login answered 500");
  // The failing image reads back with its digest and reason: later runs refuse exactly it.
  REQUIRE(releases[1].note->images.size() == 1);
  CHECK(releases[1].note->images[0].service == "api");
  CHECK(releases[1].note->images[0].image.image == "ghcr.io/keybuzz/api:v0.9.29");
  CHECK(releases[1].note->images[0].image.digest == std::string("sha256:") + std::string(64, 'b'));
  CHECK(releases[1].note->images[0].reason == "POST /auth/login answered 500");

  const std::string note = GitCli({"-C", d, "notes", "--ref=promote", "show", "prod-2026-02-01.2"});
  CHECK(Contains(note, "\"status\":\"failed\""));
  CHECK(Contains(note, "login answered 500"));
  CHECK(Contains(note, "\"at\":\"20"));
  // The note hangs on the tag object, not on the commit both tags share.
  CHECK(Trimmed(GitCli({"-C", d, "notes", "--ref=promote", "list"})) ==
        Trimmed(GitCli({"-C", d, "notes", "--ref=promote", "list", bad.tag.tag_id})) + " " +
            bad.tag.tag_id);

  SECTION("marking again with the same note writes nothing") {
    const std::string notes_before = GitCli({"-C", d, "rev-parse", "refs/notes/promote"});
    Must(repo.MarkRelease("prod-2026-02-01.2", failed, kTagger));
    CHECK(GitCli({"-C", d, "rev-parse", "refs/notes/promote"}) == notes_before);
  }
  SECTION("marking again with another reason replaces the note, never the tag") {
    Must(repo.MarkRelease("prod-2026-02-01.2", {ReleaseStatus::kBad, "rolled back by hand", "", {}},
                          kTagger));
    const auto again = Must(repo.Find("prod-2026-02-01.2"));
    REQUIRE(again.has_value());
    REQUIRE(again->note.has_value());
    CHECK(again->note->reason == "rolled back by hand");
    CHECK(again->tag_id == bad.tag.tag_id);
  }
  SECTION("an unverified release is recorded as such, not as bad") {
    Must(repo.MarkRelease("prod-2026-02-01.2",
                          {ReleaseStatus::kUnverified, "kubectl timed out", "", {}}, kTagger));
    const auto again = Must(repo.Find("prod-2026-02-01.2"));
    REQUIRE(again->note.has_value());
    CHECK_FALSE(again->note->bad());
    CHECK(again->note->status == ReleaseStatus::kUnverified);
    CHECK(Contains(GitCli({"-C", d, "notes", "--ref=promote", "show", "prod-2026-02-01.2"}),
                   "\"status\":\"unverified\""));
  }
  SECTION("only releases can be marked") {
    auto missing = repo.MarkRelease("prod-2030-01-01", failed, kTagger);
    REQUIRE_FALSE(missing.ok());
    CHECK(Contains(missing.error().what, "no release tag named 'prod-2030-01-01'"));
  }
  CHECK(Must(repo.Find("prod-2026-02-01"))->tag_id == good.tag.tag_id);
}

// A repository with a first commit whose remote "origin" is the bare repository `remote`.
fs::path CloneWithOrigin(const TempDir& dir, const fs::path& remote) {
  const fs::path path = RepoWithCommit(dir);
  git_repository* raw = InitRepo(path);
  git_remote* origin = nullptr;
  GitOk(git_remote_create(&origin, raw, "origin", remote.c_str()));
  git_remote_free(origin);
  git_repository_free(raw);
  return path;
}

TEST_CASE("a release is pushed to a remote with its failure notes", "[git]") {
  TempDir dir("promote-git-test");
  const fs::path remote_path = dir.path() / "origin.git";
  git_repository_free(InitRepo(remote_path, /*bare=*/true));
  const fs::path path = CloneWithOrigin(dir, remote_path);
  ReleaseRepo repo = OpenRepo(path);
  const CreatedRelease created =
      Must(repo.CreateRelease("prod-2026-02-01", Manifest("run-1"), kTagger));

  SECTION("the tag alone, then again (nothing to do is fine)") {
    Must(repo.Push("origin", "prod-2026-02-01"));
    Must(repo.Push("origin", "prod-2026-02-01"));
    CHECK(Trimmed(GitCli({"-C", remote_path.string(), "tag", "-l"})) == "prod-2026-02-01");
    CHECK(Trimmed(GitCli({"-C", remote_path.string(), "rev-parse", "prod-2026-02-01"})) ==
          created.tag.tag_id);
    const auto there = Must(OpenRepo(remote_path).Releases());
    REQUIRE(there.size() == 1);
    CHECK_FALSE(there[0].note.has_value());
  }
  SECTION("with the note that marks it bad") {
    Must(repo.MarkRelease("prod-2026-02-01", {ReleaseStatus::kBad, "validation failed", "", {}},
                          kTagger));
    Must(repo.Push("origin", "prod-2026-02-01"));
    CHECK(Contains(
        GitCli({"-C", remote_path.string(), "notes", "--ref=promote", "show", "prod-2026-02-01"}),
        "validation failed"));
    const auto there = Must(OpenRepo(remote_path).Releases());
    REQUIRE(there.size() == 1);
    REQUIRE(there[0].note.has_value());
    CHECK(there[0].note->reason == "validation failed");
  }
  SECTION("a remote holding another tag of that name refuses it") {
    TempDir other_dir;
    const fs::path other_path = CloneWithOrigin(other_dir, remote_path);
    ReleaseRepo other = OpenRepo(other_path);
    Must(other.CreateRelease("prod-2026-02-01", Manifest("run-9", "v9"), kTagger));
    Must(other.Push("origin", "prod-2026-02-01"));
    auto refused = repo.Push("origin", "prod-2026-02-01");
    REQUIRE_FALSE(refused.ok());
    CHECK(Contains(refused.error().what, "pushing tag 'prod-2026-02-01'"));
    CHECK(Must(OpenRepo(remote_path).Find("prod-2026-02-01"))->manifest.run_id == "run-9");
  }
  SECTION("a name the remote already has is taken, though this clone lacks the tag") {
    TempDir other_dir;
    const fs::path other_path = CloneWithOrigin(other_dir, remote_path);
    // Another runner tagged and pushed today's release; this clone never fetched it.
    Must(repo.Push("origin", "prod-2026-02-01"));
    ReleaseRepo other = OpenRepo(other_path);
    CHECK(Must(other.RemoteTagNames("origin")) == std::vector<std::string>{"prod-2026-02-01"});
    CHECK(Must(other.NextFreeName("prod-2026-02-01")) == "prod-2026-02-01");
    CHECK(Must(other.NextFreeName("prod-2026-02-01", "origin")) == "prod-2026-02-01.2");
    auto unknown = other.RemoteTagNames("upstream");
    REQUIRE_FALSE(unknown.ok());
    CHECK(Contains(unknown.error().fix, "remote add upstream"));
  }
  SECTION("an unknown remote or tag") {
    auto no_remote = repo.Push("upstream", "prod-2026-02-01");
    REQUIRE_FALSE(no_remote.ok());
    CHECK(Contains(no_remote.error().fix, "remote add upstream"));
    auto no_tag = repo.Push("origin", "prod-2030-01-01");
    REQUIRE_FALSE(no_tag.ok());
    CHECK(Contains(no_tag.error().what, "no tag named 'prod-2030-01-01'"));
  }
}

}  // namespace
}  // namespace promote::adapters::git
