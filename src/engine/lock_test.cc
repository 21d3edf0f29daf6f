#include "engine/lock.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/files.h"

namespace promote::engine {
namespace {

using promote::testing::ReadFile;
using promote::testing::TempDir;

namespace fs = std::filesystem;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

LockHolder Me(const std::string& run) {
  return LockHolder::Current(run, std::chrono::system_clock::time_point(
                                      std::chrono::seconds(1769940000)));  // 2026-02-01T10:00Z
}

/// The pid of a process that existed and is gone: a child that exited and was reaped.
int DeadPid() {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  return static_cast<int>(child);
}

void WriteLockByHand(const fs::path& path, const LockHolder& holder) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << R"({"run":")" << holder.run_id << R"(","pid":)" << holder.pid
                      << R"(,"host":")" << holder.host << R"(","since":")" << holder.since
                      << R"(","env":"prod"})"
                      << "\n";
}

TEST_CASE("a second run on the same environment is refused, naming the holder", "[lock]") {
  TempDir tmp;
  auto first = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-1"));
  REQUIRE(first.ok());
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  CHECK(first->path() == path);
  const auto content = nlohmann::json::parse(ReadFile(path));
  CHECK(content["run"] == "run-1");
  CHECK(content["pid"] == static_cast<int>(::getpid()));
  CHECK(content["since"] == "2026-02-01T10:00:00Z");
  CHECK(content["env"] == "prod");
  CHECK_FALSE(content["host"].get<std::string>().empty());

  auto second = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-2"));
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().kind == ErrorKind::kLocked);
  CHECK(Contains(second.error().what, "prod is locked by run run-1 (pid "));
  CHECK_FALSE(Contains(second.error().what, "no longer running"));
  CHECK(Contains(second.error().fix, "promote status run-1"));
  CHECK(second.error().where == path.string());
  CHECK(nlohmann::json::parse(ReadFile(path))["run"] == "run-1");  // untouched

  auto holder = EnvironmentLock::Inspect(tmp.path(), "prod");
  REQUIRE(holder.ok());
  REQUIRE(holder->has_value());
  CHECK((*holder)->run_id == "run-1");
  CHECK((*holder)->pid == static_cast<int>(::getpid()));

  // No temporary files are left behind by either attempt.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(tmp.path() / "locks")) ++files;
  CHECK(files == 1);
}

TEST_CASE("release removes the lock, and the environment can be locked again", "[lock]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  {
    auto lock = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-1"));
    REQUIRE(lock.ok());
    SECTION("explicitly") {
      REQUIRE(lock->Release().ok());
      CHECK_FALSE(lock->held());
      CHECK_FALSE(fs::exists(path));
      CHECK(lock->Release().ok());  // idempotent
    }
    SECTION("by the destructor") {
      EnvironmentLock moved = std::move(lock).value();
      CHECK(moved.held());
      CHECK(fs::exists(path));
    }
  }
  CHECK_FALSE(fs::exists(path));
  auto holder = EnvironmentLock::Inspect(tmp.path(), "prod");
  REQUIRE(holder.ok());
  CHECK_FALSE(holder->has_value());
  auto again = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-2"));
  REQUIRE(again.ok());
}

TEST_CASE("different environments are locked independently", "[lock]") {
  TempDir tmp;
  auto prod = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-1"));
  auto staging = EnvironmentLock::Acquire(tmp.path(), "staging", Me("run-2"));
  REQUIRE(prod.ok());
  REQUIRE(staging.ok());
  CHECK(fs::exists(tmp.path() / "locks" / "prod.lock"));
  CHECK(fs::exists(tmp.path() / "locks" / "staging.lock"));
}

TEST_CASE("a lock left by a dead process is reported stale and never stolen", "[lock]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  LockHolder ghost = Me("run-ghost");
  ghost.pid = DeadPid();
  WriteLockByHand(path, ghost);
  const std::string before = ReadFile(path);

  int held_fd = -1;
  SECTION("nobody holds its flock") {}
  SECTION("its flock is held, but its pid is gone") {
    held_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(held_fd >= 0);
    REQUIRE(::flock(held_fd, LOCK_EX | LOCK_NB) == 0);
  }
  auto lock = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-2"));
  if (held_fd >= 0) ::close(held_fd);
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.error().kind == ErrorKind::kLocked);
  CHECK(Contains(lock.error().what,
                 "prod is locked by run run-ghost (pid " + std::to_string(ghost.pid) + " on host " +
                     ghost.host + ", since 2026-02-01T10:00:00Z), which is no longer running"));
  CHECK(Contains(lock.error().fix, "promote status run-ghost"));
  CHECK(Contains(lock.error().fix, path.string()));
  CHECK(Contains(lock.error().fix, "never steals"));
  REQUIRE(fs::exists(path));
  CHECK(ReadFile(path) == before);
}

TEST_CASE("a resumed run takes back the lock its killed earlier life left", "[lock]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  LockHolder earlier = Me("run-7");
  earlier.pid = DeadPid();
  WriteLockByHand(path, earlier);

  auto lock = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-7"));
  REQUIRE(lock.ok());
  const auto holder = nlohmann::json::parse(ReadFile(path));
  CHECK(holder["run"] == "run-7");
  CHECK(holder["pid"] == ::getpid());
  // Held for real now: another run is refused, naming run-7 as alive.
  auto other = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-8"));
  REQUIRE_FALSE(other.ok());
  CHECK(Contains(other.error().what, "locked by run run-7"));
  CHECK_FALSE(Contains(other.error().what, "no longer running"));
  REQUIRE(lock->Release().ok());
  CHECK_FALSE(fs::exists(path));
  // No temporary file is left behind by the take-over.
  CHECK(fs::directory_iterator(path.parent_path()) == fs::directory_iterator());
}

TEST_CASE("a run's own lock is not taken back while its flock is held", "[lock]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  LockHolder earlier = Me("run-7");
  earlier.pid = DeadPid();
  WriteLockByHand(path, earlier);
  const std::string before = ReadFile(path);
  const int held_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held_fd >= 0);
  REQUIRE(::flock(held_fd, LOCK_EX | LOCK_NB) == 0);  // a second resume of run-7, still alive

  auto lock = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-7"));
  ::close(held_fd);
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.error().kind == ErrorKind::kLocked);
  CHECK(ReadFile(path) == before);
}

TEST_CASE("a lock whose pid lives elsewhere and whose flock is held is not stale", "[lock]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  LockHolder remote = Me("run-remote");
  remote.host = "another-host.invalid";
  remote.pid = DeadPid();  // on another host, our process table says nothing about it
  WriteLockByHand(path, remote);
  const int held_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held_fd >= 0);
  REQUIRE(::flock(held_fd, LOCK_EX | LOCK_NB) == 0);
  auto lock = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-2"));
  ::close(held_fd);
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.error().kind == ErrorKind::kLocked);
  CHECK(Contains(lock.error().what, "host another-host.invalid"));
  CHECK_FALSE(Contains(lock.error().what, "no longer running"));
  CHECK(Contains(lock.error().fix, "wait for it to finish"));
}

TEST_CASE("release leaves a lock file that someone else replaced", "[lock]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "locks" / "prod.lock";
  auto lock = EnvironmentLock::Acquire(tmp.path(), "prod", Me("run-1"));
  REQUIRE(lock.ok());
  // An operator removed our lock, and another run took the environment.
  fs::remove(path);
  WriteLockByHand(path, Me("run-other"));
  const std::string theirs = ReadFile(path);
  REQUIRE(lock->Release().ok());
  REQUIRE(fs::exists(path));
  CHECK(ReadFile(path) == theirs);
}

TEST_CASE("an environment name that is not a plain file name is refused", "[lock]") {
  TempDir tmp;
  for (const char* env : {"", "..", "../prod", "a/b"}) {
    auto lock = EnvironmentLock::Acquire(tmp.path(), env, Me("run-1"));
    REQUIRE_FALSE(lock.ok());
    CHECK(lock.error().kind == ErrorKind::kUsage);
  }
}

}  // namespace
}  // namespace promote::engine
