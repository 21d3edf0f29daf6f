#include "engine/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "core/durable.h"
#include "core/time_format.h"

namespace promote::engine {
namespace {

namespace fs = std::filesystem;

/// How many times Acquire retries when the lock it found vanished before it could be read (its
/// holder released it in between).
constexpr int kAttempts = 5;

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

bool ValidEnvName(const std::string& env) {
  if (env.empty() || env == "." || env == "..") return false;
  for (char c : env) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

/// The whole content of an open file, read from its start.
Result<std::string> ReadAll(int fd, const fs::path& path) {
  std::string text;
  char buffer[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read the lock file", path, errno);
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
  return text;
}

std::optional<LockHolder> ParseHolder(const std::string& text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) return std::nullopt;
  const auto run = json.find("run");
  const auto pid = json.find("pid");
  if (run == json.end() || !run->is_string() || pid == json.end() || !pid->is_number_integer()) {
    return std::nullopt;
  }
  LockHolder holder;
  holder.run_id = run->get<std::string>();
  holder.pid = pid->get<int>();
  holder.host = json.value("host", "");
  holder.since = json.value("since", "");
  return holder;
}

std::string Serialize(const LockHolder& holder, const std::string& env) {
  nlohmann::ordered_json json;
  json["run"] = holder.run_id;
  json["pid"] = holder.pid;
  json["host"] = holder.host;
  json["since"] = holder.since;
  json["env"] = env;
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool SameFile(int fd, const fs::path& path) {
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(fd, &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0) return false;
  return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

/// What a contender learns about the lock in place.
enum class Found { kVanished, kHeld };

/// Reads the lock at `path` that stopped our link(2). kVanished: it was released meanwhile, try
/// again. Otherwise the kLocked error that describes it.
Result<Found> DescribeConflict(const fs::path& path, const std::string& env, Error& conflict) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Found::kVanished;
    return IoError("cannot open the lock file held by another run", path, errno);
  }
  auto text = ReadAll(fd, path);
  // A free flock means nobody holds the file any more; unlock at once: we never take it over.
  bool flock_free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (flock_free) {
    ::flock(fd, LOCK_UN);
    // Its holder may have just released it (unlink, then close): then it is not stale, it is gone.
    if (!SameFile(fd, path)) {
      ::close(fd);
      return Found::kVanished;
    }
  }
  ::close(fd);
  if (!text) return std::move(text).error();

  const auto holder = ParseHolder(*text);
  conflict.kind = ErrorKind::kLocked;
  conflict.where = path.string();
  if (!holder) {
    conflict.what = env + " is locked by a lock file promote cannot read" +
                    (flock_free ? std::string(", and nobody holds it") : std::string());
    conflict.fix = "look at " + path.string() + "; remove it once no promote run of " + env +
                   " is running (promote never steals a lock)";
    return Found::kHeld;
  }
  const bool stale = flock_free || ProcessIsGone(*holder);
  if (stale) {
    conflict.what = env + " is locked by run " + holder->run_id + " (pid " +
                    std::to_string(holder->pid) + " on host " + holder->host + ", since " +
                    holder->since + "), which is no longer running";
    conflict.fix = "check the run with `promote status " + holder->run_id + "`, then remove " +
                   path.string() + " (promote never steals a lock)";
  } else {
    conflict.what = env + " is locked by run " + holder->run_id + " (pid " +
                    std::to_string(holder->pid) + ", host " + holder->host + ", since " +
                    holder->since + ")";
    conflict.fix = "wait for it to finish, or see `promote status " + holder->run_id + "`";
  }
  return Found::kHeld;
}

/// A lock left by an earlier life of the same run (killed: its flock is gone) is that run's to
/// take back, so `promote resume` can go on; anyone else's stale lock is never touched. The old
/// file's flock is held while `temp` is renamed over it, so of two resumes racing for one run
/// only one gets that flock and the other finds a live holder.
bool ReclaimOwnStale(const fs::path& path, const fs::path& temp, const std::string& run_id) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool reclaimed = false;
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && SameFile(fd, path)) {
    auto text = ReadAll(fd, path);
    const auto holder = text ? ParseHolder(*text) : std::nullopt;
    reclaimed = holder && holder->run_id == run_id && ::rename(temp.c_str(), path.c_str()) == 0;
  }
  ::close(fd);
  return reclaimed;
}

}  // namespace

bool ProcessIsGone(const LockHolder& holder) {
  if (holder.host != HostName() || holder.pid <= 0) return false;
  return ::kill(holder.pid, 0) != 0 && errno == ESRCH;
}

LockHolder LockHolder::Current(const std::string& run_id,
                               std::chrono::system_clock::time_point now) {
  return LockHolder{run_id, static_cast<int>(::getpid()), HostName(), Rfc3339(now)};
}

fs::path EnvironmentLock::PathFor(const fs::path& state_dir, const std::string& env) {
  return state_dir / "locks" / (env + ".lock");
}

Result<EnvironmentLock> EnvironmentLock::Acquire(const fs::path& state_dir, const std::string& env,
                                                 const LockHolder& me) {
  if (!ValidEnvName(env)) {
    return Error{ErrorKind::kUsage, "\"" + env + "\" cannot name a lock file", "",
                 "environment names use letters, digits, '-', '_' and '.'"};
  }
  const fs::path path = PathFor(state_dir, env);
  const fs::path dir = path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error{ErrorKind::kExternal, "cannot create the locks folder: " + ec.message(),
                 dir.string(), ""};
  }

  // Write and flock the lock under a private name, so it appears complete and already held.
  std::random_device random;
  const fs::path temp = dir / ("." + env + ".lock." + std::to_string(::getpid()) + "." +
                               std::to_string(random()) + ".tmp");
  const int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create a lock file", temp, errno);
  auto fail = [&](Error error) {
    ::unlink(temp.c_str());
    ::close(fd);
    return error;
  };
  const std::string content = Serialize(me, env);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return fail(IoError("cannot flock", temp, errno));
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()) ||
      ::fsync(fd) != 0) {
    return fail(IoError("cannot write the lock file", temp, errno));
  }

  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (::link(temp.c_str(), path.c_str()) == 0) {
      ::unlink(temp.c_str());
      Status synced = SyncDirectory(dir);
      EnvironmentLock lock(path, me, fd);
      if (!synced) return std::move(synced).error();  // the lock releases itself
      return lock;
    }
    if (errno != EEXIST) return fail(IoError("cannot create the lock file", path, errno));
    if (ReclaimOwnStale(path, temp, me.run_id)) {
      Status synced = SyncDirectory(dir);
      EnvironmentLock lock(path, me, fd);
      if (!synced) return std::move(synced).error();
      return lock;
    }
    Error conflict;
    auto found = DescribeConflict(path, env, conflict);
    if (!found) return fail(std::move(found).error());
    if (*found == Found::kHeld) return fail(std::move(conflict));
  }
  return fail(Error{ErrorKind::kLocked,
                    env + " is locked and released again and again: another promote keeps "
                          "taking it",
                    path.string(), "try again in a moment"});
}

Result<std::optional<LockHolder>> EnvironmentLock::Inspect(const fs::path& state_dir,
                                                           const std::string& env) {
  if (!ValidEnvName(env)) {
    return Error{ErrorKind::kUsage, "\"" + env + "\" cannot name a lock file", "", ""};
  }
  const fs::path path = PathFor(state_dir, env);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<LockHolder>();
    return IoError("cannot open the lock file", path, errno);
  }
  auto text = ReadAll(fd, path);
  ::close(fd);
  if (!text) return std::move(text).error();
  auto holder = ParseHolder(*text);
  if (!holder) {
    return Error{ErrorKind::kExternal, "the lock file is not a promote lock", path.string(),
                 "look at it; remove it once no promote run of " + env + " is running"};
  }
  return std::optional<LockHolder>(std::move(holder));
}

EnvironmentLock::EnvironmentLock(EnvironmentLock&& other) noexcept
    : path_(std::move(other.path_)),
      holder_(std::move(other.holder_)),
      fd_(std::exchange(other.fd_, -1)) {}

EnvironmentLock& EnvironmentLock::operator=(EnvironmentLock&& other) noexcept {
  if (this != &other) {
    // Replaced by another lock: a file not removed here is reported stale, never stolen.
    static_cast<void>(Release());
    path_ = std::move(other.path_);
    holder_ = std::move(other.holder_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

EnvironmentLock::~EnvironmentLock() {
  // A destructor cannot report: a file not removed here is reported stale, never stolen.
  static_cast<void>(Release());
}

void EnvironmentLock::Keep() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
}

Status EnvironmentLock::Release() {
  if (fd_ < 0) return Done{};
  // Ours only if the path is still our file and it still names our run; unlink before close, so
  // nobody sees our content without our flock.
  Status result = Done{};
  if (SameFile(fd_, path_)) {
    auto text = ReadAll(fd_, path_);
    const auto holder = text ? ParseHolder(*text) : std::nullopt;
    if (holder && holder->run_id == holder_.run_id) {
      if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
        result = IoError("cannot remove the lock file", path_, errno);
      } else {
        result = SyncDirectory(path_.parent_path());
      }
    }
  }
  ::close(fd_);
  fd_ = -1;
  return result;
}

}  // namespace promote::engine
