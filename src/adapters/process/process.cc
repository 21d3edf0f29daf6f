// Implementation details:
// - Boost.Process does the fork/exec: argv via bp::exe + bp::args (no shell), environment,
//   working directory, the three pipes, and an on_exec_setup hook that puts the child in its own
//   process group and gives it default SIGPIPE handling and an empty signal mask.
// - Everything after the launch is plain POSIX, in the calling thread: one poll() loop drains
//   stdout and stderr and feeds stdin (so 10 MB on both pipes cannot deadlock), and watches a
//   pidfd for the child's exit (a 20 ms tick where pidfd_open is unavailable). Boost's own
//   wait/exit_code is not used: after a kill it is meaningless (NOTES.md), so the child is
//   detached from bp::child and reaped here with waitpid.
// - The child's exit is first observed with waitid(WNOWAIT), which leaves it a zombie: its pid,
//   and so its process-group id, cannot be reused until the final waitpid, which makes
//   kill(-pgid) safe against hitting an unrelated group.
// - Pipes are created with O_CLOEXEC so that a concurrent Run in another thread does not leak
//   them into its child (which would hold our pipes open and delay EOF).
// - SIGPIPE is blocked in the calling thread while feeding stdin (a child that exits without
//   reading it must not kill promote) and a pending one is consumed before the mask is restored.
#include "adapters/process/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

// Boost.Process 1.74 is header-only and heavy: it stays in this file, out of process.h.
// Built with g++ 12 it is warning-free here (Boost comes in as a SYSTEM include path), so no
// diagnostic pragmas are needed around it.
#include <spdlog/logger.h>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/start_dir.hpp>

#include "core/redactor.h"

namespace promote::adapters {
namespace bp = boost::process;
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// How much of each output stream a trace-level log line shows.
constexpr std::size_t kTraceOutputBytes = 4096;
/// Poll interval while waiting for the child when no pidfd is available.
constexpr milliseconds kExitPollTick{20};

/// Owns one file descriptor; closes it once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }

  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  /// Gives up ownership (the descriptor is now someone else's to close).
  int release() { return std::exchange(fd_, -1); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// Both ends of a pipe, close-on-exec.
struct PipeFds {
  Fd read;
  Fd write;
};

Result<PipeFds> MakePipe() {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    return Error{ErrorKind::kExternal, std::string("cannot create a pipe: ") + std::strerror(errno),
                 "process", "the system is out of file descriptors; raise `ulimit -n`"};
  }
  return PipeFds{Fd(fds[0]), Fd(fds[1])};
}

void SetNonBlocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/// Blocks SIGPIPE in this thread for its lifetime, so a write to a closed stdin pipe is EPIPE
/// instead of the death of promote; a SIGPIPE raised meanwhile is consumed, not delivered later.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &previous_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    if (raised_ && !sigismember(&previous_, SIGPIPE)) {
      timespec zero{};
      while (sigtimedwait(&pipe_set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  void NoteRaised() { raised_ = true; }

 private:
  sigset_t pipe_set_{};
  sigset_t previous_{};
  bool raised_ = false;
};

/// A pollable descriptor that becomes readable when `pid` exits; not open where unsupported.
Fd OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) return Fd(static_cast<int>(fd));
#else
  (void)pid;
#endif
  return Fd();
}

/// The PATH the program is looked up in: the child's own when the command sets one, else ours.
std::string SearchPath(const Command& command) {
  if (auto it = command.env.find("PATH"); it != command.env.end()) return it->second;
  if (command.env_mode == EnvMode::kInherit) {
    // getenv: promote never modifies its environment once threads run.
    if (const char* path = std::getenv("PATH")) return path;
  } else if (const char* path = std::getenv("PATH")) {
    return path;  // an explicit env without PATH: the program is still found where promote sees it
  }
  return "/usr/local/bin:/usr/bin:/bin";
}

bool IsExecutableFile(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

/// The executable argv[0] names: a path when it contains `/` (relative to the command's working
/// directory), else the first executable of that name on the search PATH.
Result<std::filesystem::path> ResolveProgram(const Command& command) {
  const std::string& name = command.argv.front();
  if (name.find('/') != std::string::npos) {
    std::filesystem::path path = name;
    if (path.is_relative() && command.cwd) path = *command.cwd / path;
    if (IsExecutableFile(path)) return path;
    return Error{ErrorKind::kExternal, "cannot run '" + name + "': no executable file there",
                 "process", "check the path and that the file is executable"};
  }
  std::string path_list = SearchPath(command);
  std::size_t begin = 0;
  while (begin <= path_list.size()) {
    std::size_t end = path_list.find(':', begin);
    if (end == std::string::npos) end = path_list.size();
    std::string dir = path_list.substr(begin, end - begin);
    std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (IsExecutableFile(candidate)) return candidate;
    begin = end + 1;
  }
  return Error{ErrorKind::kExternal, "cannot run '" + name + "': not found on PATH", "process",
               "install " + name + " or add its directory to PATH (searched: " + path_list + ")"};
}

bp::environment ChildEnvironment(const Command& command) {
  bp::environment env = command.env_mode == EnvMode::kInherit
                            ? bp::environment(boost::this_process::environment())
                            : bp::environment();
  // set(), not env[name]: Boost 1.74's find() behind operator[] compares past the end of shorter
  // entries (a heap over-read AddressSanitizer reports); set() compares lengths first.
  for (const auto& [name, value] : command.env) env.set(name, value);
  return env;
}

/// argv as one readable line, quoting elements a shell would split.
std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& arg : argv) {
    if (!line.empty()) line.push_back(' ');
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    if (plain) {
      line += arg;
    } else {
      line.push_back('\'');
      for (char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
      line.push_back('\'');
    }
  }
  return line;
}

std::string SignalName(int signal) {
  switch (signal) {
    case SIGHUP:
      return "SIGHUP";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGABRT:
      return "SIGABRT";
    case SIGKILL:
      return "SIGKILL";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGALRM:
      return "SIGALRM";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "signal " + std::to_string(signal);
  }
}

/// Reads everything available from `fd` into `sink`; closes `fd` at end of file or on error.
void Drain(Fd& fd, std::string& sink) {
  std::array<char, 65536> buffer;
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n > 0) {
      sink.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      fd.Close();  // 0 = end of file; anything else: nothing more will come
      return;
    }
  }
}

/// Writes what it can of `data[written..]` to `fd`; closes `fd` when all is written or the reader
/// is gone.
void Feed(Fd& fd, const std::string& data, std::size_t& written, SigpipeBlock& sigpipe) {
  while (written < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + written, data.size() - written);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      if (n < 0 && errno == EPIPE) sigpipe.NoteRaised();
      break;  // the child closed its stdin: it does not want the rest
    }
  }
  fd.Close();
}

/// Everything one run keeps track of between launch and reaping.
struct Child {
  pid_t pid = -1;
  Fd out;
  Fd err;
  Fd in;
  Fd pidfd;
};

/// Launches the program with Boost.Process; on success the returned Child owns our pipe ends.
/// With `die_with_parent` the child gets SIGTERM when the thread that launched it ends (or promote
/// dies): what a background process needs, and why such a process is launched from a thread that
/// lives exactly as long as it should.
Result<Child> Launch(const Command& command, const std::filesystem::path& program,
                     bool die_with_parent = false) {
  auto out_pipe = MakePipe();
  if (!out_pipe) return std::move(out_pipe).error();
  auto err_pipe = MakePipe();
  if (!err_pipe) return std::move(err_pipe).error();
  auto in_pipe = MakePipe();
  if (!in_pipe) return std::move(in_pipe).error();

  // Boost's pipe_out/pipe_in take the child's ends (and close them in the parent once launched);
  // the bp::pipe objects are only the vehicle for that hand-over.
  bp::pipe out(-1, out_pipe->write.release());
  bp::pipe err(-1, err_pipe->write.release());
  bp::pipe in(in_pipe->read.release(), -1);

  const pid_t parent = ::getpid();
  auto child_setup = bp::extend::on_exec_setup([parent, die_with_parent](auto& /*executor*/) {
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);  // promote died before the prctl: so do we
    }
    ::setpgid(0, 0);  // own process group: a timeout kills everything the child started
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
  });
  // Boost leaves a child whose execve failed unreaped: reap it here, no zombie left behind.
  auto reap_failed = bp::extend::on_error([](auto& executor, const std::error_code&) {
    if (executor.pid > 0) ::waitpid(executor.pid, nullptr, 0);
  });
  std::vector<std::string> args(command.argv.begin() + 1, command.argv.end());
  std::error_code ec;
  bp::child child;
  try {
    if (command.cwd) {
      child = bp::child(bp::exe(program.string()), bp::args(args), ChildEnvironment(command),
                        bp::start_dir(command.cwd->string()), bp::std_out > out, bp::std_err > err,
                        bp::std_in < in, child_setup, reap_failed, ec);
    } else {
      child = bp::child(bp::exe(program.string()), bp::args(args), ChildEnvironment(command),
                        bp::std_out > out, bp::std_err > err, bp::std_in < in, child_setup,
                        reap_failed, ec);
    }
  } catch (const std::exception& e) {
    return Error{ErrorKind::kExternal,
                 "cannot run '" + command.argv.front() + "': " + std::string(e.what()), "process",
                 ""};
  }
  if (ec || !child.valid()) {
    std::string fix = command.cwd ? "check that " + command.cwd->string() +
                                        " exists and that the program can be executed"
                                  : "check that the program can be executed";
    return Error{ErrorKind::kExternal, "cannot run '" + command.argv.front() + "': " + ec.message(),
                 "process", fix};
  }
  Child result;
  result.pid = child.id();
  child.detach();                     // reaped by Run, not by Boost (see the top of this file)
  ::setpgid(result.pid, result.pid);  // harmless if the child did it first (it always has)
  result.out = std::move(out_pipe->read);
  result.err = std::move(err_pipe->read);
  result.in = std::move(in_pipe->write);
  result.pidfd = OpenPidFd(result.pid);
  return result;
}

/// Signals the child's whole process group; the child alone should the group not exist (it
/// always does once setpgid ran, this is belt and braces).
void KillGroup(pid_t pid, int signal) {
  if (::kill(-pid, signal) != 0 && errno == ESRCH) ::kill(pid, signal);
}

/// True once `pid` has exited; leaves it a zombie (WNOWAIT) so its group id stays reserved.
bool HasExited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno != EINTR;  // ECHILD: nothing left to wait for
  }
  return info.si_pid == pid;
}

/// How much of a background process's output is kept: the start of stdout (where the ready line
/// is) and the end of stderr (where the reason it died is).
constexpr std::size_t kBackgroundKeptBytes = 16384;

/// SystemProcessRunner's BackgroundProcess. Its thread launches the child (so PR_SET_PDEATHSIG
/// ties the child to this object's lifetime, not to whichever thread called Start), drains both
/// pipes, and on Stop terminates and reaps it.
class SystemBackgroundProcess final : public BackgroundProcess {
 public:
  SystemBackgroundProcess(Command command, std::filesystem::path program, std::string shown,
                          std::mutex& launch_mutex, std::shared_ptr<spdlog::logger> logger)
      : command_(std::move(command)),
        program_(std::move(program)),
        shown_(std::move(shown)),
        launch_mutex_(launch_mutex),
        logger_(std::move(logger)) {}
  ~SystemBackgroundProcess() override { Stop(); }

  /// Starts the thread and waits until the child was launched (or could not be).
  Status Begin() {
    auto wake = MakePipe();
    if (!wake) return std::move(wake).error();
    wake_read_ = std::move(wake->read);
    wake_write_ = std::move(wake->write);
    SetNonBlocking(wake_read_.get());
    thread_ = std::thread([this] { Loop(); });
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return launched_ || exited_; });
    if (launch_error_) return *launch_error_;
    return Done{};
  }

  Result<std::string> WaitForLine(const std::string& marker, milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    std::string line;
    auto found = [&] {
      for (std::size_t begin = 0; begin < out_.size();) {
        std::size_t end = out_.find('\n', begin);
        if (end == std::string::npos) break;  // only whole lines
        if (out_.substr(begin, end - begin).find(marker) != std::string::npos) {
          line = out_.substr(begin, end - begin);
          return true;
        }
        begin = end + 1;
      }
      return false;
    };
    const bool ready = changed_.wait_for(lock, timeout, [&] { return found() || exited_; });
    if (ready && !line.empty()) return line;
    std::string said = err_.empty() ? out_ : err_;
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
    return Error{
        ErrorKind::kExternal,
        "'" + command_.argv.front() + "' " +
            (exited_ ? ended_
                     : "said nothing ready within " + std::to_string(timeout.count()) + " ms") +
            (said.empty() ? "" : ": " + said),
        "process", "run `" + shown_ + "` by hand to see why it does not start"};
  }

  bool running() const override {
    std::lock_guard lock(mutex_);
    return launched_ && !exited_;
  }

  void Stop() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    if (wake_write_.open()) {
      const char byte = 's';
      [[maybe_unused]] ssize_t n = ::write(wake_write_.get(), &byte, 1);
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Keep(std::string& sink, const std::string& more, bool keep_end) {
    sink += more;
    if (sink.size() <= kBackgroundKeptBytes) return;
    if (keep_end) {
      sink.erase(0, sink.size() - kBackgroundKeptBytes);
    } else {
      sink.resize(kBackgroundKeptBytes);
    }
  }

  void Finish(std::string ended) {
    std::lock_guard lock(mutex_);
    exited_ = true;
    ended_ = std::move(ended);
    changed_.notify_all();
  }

  void Loop() {
    std::unique_lock launch_lock(launch_mutex_);
    auto launched = Launch(command_, program_, /*die_with_parent=*/true);
    launch_lock.unlock();
    if (!launched) {
      std::lock_guard lock(mutex_);
      launch_error_ = std::move(launched).error();
      exited_ = true;
      ended_ = "could not be started";
      changed_.notify_all();
      return;
    }
    Child& child = *launched;
    child.in.Close();
    SetNonBlocking(child.out.get());
    SetNonBlocking(child.err.get());
    {
      std::lock_guard lock(mutex_);
      launched_ = true;
      changed_.notify_all();
    }
    if (logger_) logger_->debug("started in the background (pid {}): {}", child.pid, shown_);

    bool terminating = false;
    Clock::time_point kill_at{};
    for (;;) {
      if (HasExited(child.pid)) break;
      bool stop = false;
      {
        std::lock_guard lock(mutex_);
        stop = stop_;
      }
      const auto now = Clock::now();
      if (stop && !terminating) {
        terminating = true;
        KillGroup(child.pid, SIGTERM);
        kill_at = now + command_.kill_grace;
      } else if (terminating && now >= kill_at) {
        KillGroup(child.pid, SIGKILL);
      }
      std::array<pollfd, 4> fds{};
      std::size_t count = 0;
      for (Fd* fd : {&child.out, &child.err, &child.pidfd, &wake_read_}) {
        if (fd->open()) fds[count++] = pollfd{fd->get(), POLLIN, 0};
      }
      const int wait = terminating || !child.pidfd.open() ? 20 : 1000;
      if (::poll(fds.data(), count, wait) < 0 && errno != EINTR) {
        KillGroup(child.pid, SIGKILL);
        break;
      }
      for (std::size_t i = 0; i < count; ++i) {
        if (fds[i].revents == 0) continue;
        std::string more;
        if (fds[i].fd == child.out.get() || fds[i].fd == child.err.get()) {
          const bool is_out = fds[i].fd == child.out.get();
          Drain(is_out ? child.out : child.err, more);
          std::lock_guard lock(mutex_);
          Keep(is_out ? out_ : err_, more, !is_out);
          changed_.notify_all();
        } else if (fds[i].fd == wake_read_.get()) {
          Drain(wake_read_, more);  // the byte only wakes the loop; stop_ says why
        }
      }
    }
    KillGroup(child.pid, SIGKILL);  // whatever it left in its group goes with it
    // What it wrote just before it exited is still in the pipes: keep it (its last words).
    for (Fd* fd : {&child.out, &child.err}) {
      if (!fd->open()) continue;
      std::string more;
      Drain(*fd, more);
      std::lock_guard lock(mutex_);
      Keep(fd == &child.out ? out_ : err_, more, fd == &child.err);
    }
    int wait_status = 0;
    while (::waitpid(child.pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    ProcessResult ended;
    ended.status = WIFSIGNALED(wait_status) ? ExitStatus::kSignaled : ExitStatus::kExited;
    ended.exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    ended.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
    if (logger_)
      logger_->debug("background process {} {}: {}", child.pid, ended.Describe(), shown_);
    Finish(ended.Describe());
  }

  Command command_;
  std::filesystem::path program_;
  std::string shown_;
  std::mutex& launch_mutex_;
  std::shared_ptr<spdlog::logger> logger_;
  Fd wake_read_;
  Fd wake_write_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool launched_ = false;
  bool exited_ = false;
  bool stop_ = false;
  std::optional<Error> launch_error_;
  std::string ended_;
  std::string out_;
  std::string err_;
};
}  // namespace

std::string ProcessResult::Describe() const {
  switch (status) {
    case ExitStatus::kExited:
      return "exited with code " + std::to_string(exit_code);
    case ExitStatus::kSignaled:
      return "killed by signal " + std::to_string(signal) + " (" + SignalName(signal) + ")";
    case ExitStatus::kTimedOut:
      return "timed out after " + std::to_string(elapsed.count()) + " ms (process group killed)";
  }
  return "ended in an unknown way";
}

ProcessRunner::~ProcessRunner() = default;

BackgroundProcess::~BackgroundProcess() = default;

Result<std::unique_ptr<BackgroundProcess>> ProcessRunner::Start(const Command& command) {
  return Error{ErrorKind::kInternal, "this process runner cannot start background processes",
               command.argv.empty() ? "process" : command.argv.front(),
               "use the system process runner"};
}

Result<std::unique_ptr<BackgroundProcess>> SystemProcessRunner::Start(const Command& command) {
  if (command.argv.empty() || command.argv.front().empty()) {
    return Error{ErrorKind::kInternal, "cannot start a command with an empty argv", "process",
                 "this is a bug in promote: please report it"};
  }
  const std::string shown = JoinArgv(redactor_->RedactArgv(command.argv));
  auto program = ResolveProgram(command);
  if (!program) return std::move(program).error();
  auto process =
      std::make_unique<SystemBackgroundProcess>(command, *program, shown, launch_mutex_, logger_);
  if (auto begun = process->Begin(); !begun) return std::move(begun).error();
  return std::unique_ptr<BackgroundProcess>(std::move(process));
}

SystemProcessRunner::SystemProcessRunner(std::shared_ptr<const Redactor> redactor,
                                         std::shared_ptr<spdlog::logger> logger)
    : redactor_(redactor ? std::move(redactor) : std::make_shared<const Redactor>()),
      logger_(std::move(logger)) {}

SystemProcessRunner::~SystemProcessRunner() = default;

Result<ProcessResult> SystemProcessRunner::Run(const Command& command) {
  if (command.argv.empty() || command.argv.front().empty()) {
    return Error{ErrorKind::kInternal, "cannot run a command with an empty argv", "process",
                 "this is a bug in promote: please report it"};
  }
  const std::string shown = JoinArgv(redactor_->RedactArgv(command.argv));
  if (logger_) logger_->debug("run: {}", shown);

  if (command.cwd) {
    std::error_code ec;
    if (!std::filesystem::is_directory(*command.cwd, ec)) {
      return Error{ErrorKind::kExternal,
                   "cannot run '" + command.argv.front() + "': working directory " +
                       command.cwd->string() + " does not exist",
                   "process", "create the directory or fix the path"};
    }
  }
  auto program = ResolveProgram(command);
  if (!program) return std::move(program).error();

  const auto start = Clock::now();
  // One launch at a time: Boost 1.74 creates its exec-error pipe without O_CLOEXEC and sets the
  // flag a moment later; a concurrent fork in that moment would inherit it and stall our launch.
  std::unique_lock launch_lock(launch_mutex_);
  auto launched = Launch(command, *program);
  launch_lock.unlock();
  if (!launched) return std::move(launched).error();
  Child& child = *launched;

  SigpipeBlock sigpipe;
  SetNonBlocking(child.out.get());
  SetNonBlocking(child.err.get());
  SetNonBlocking(child.in.get());
  std::size_t stdin_written = 0;
  if (command.stdin_data.empty()) child.in.Close();

  ProcessResult result;
  const auto deadline = start + command.timeout;
  bool exited = false;
  bool timed_out = false;
  bool killed = false;
  Clock::time_point kill_at{};
  Clock::time_point drain_until{};
  int poll_error = 0;

  for (;;) {
    if (!exited && HasExited(child.pid)) {
      exited = true;
      // The main process is done: whatever it left behind in its group goes too.
      KillGroup(child.pid, SIGKILL);
      child.in.Close();
      child.pidfd.Close();
      drain_until = Clock::now() + command.kill_grace;
    }
    if (exited && !child.out.open() && !child.err.open()) break;

    const auto now = Clock::now();
    if (!exited && !timed_out && now >= deadline) {
      timed_out = true;
      if (logger_) {
        logger_->debug("timed out after {} ms, terminating process group {}: {}",
                       command.timeout.count(), child.pid, shown);
      }
      KillGroup(child.pid, SIGTERM);
      kill_at = now + command.kill_grace;
    } else if (!exited && timed_out && !killed && now >= kill_at) {
      killed = true;
      KillGroup(child.pid, SIGKILL);
    } else if (exited && now >= drain_until) {
      // Something outside the group (a setsid daemon) still holds the pipes: stop waiting.
      if (logger_) logger_->debug("output pipes still open after exit; not waiting: {}", shown);
      break;
    }

    // Sleep until output, stdin space, the child's exit, or the next deadline.
    Clock::time_point wake = exited ? drain_until : (!timed_out ? deadline : kill_at);
    if (!exited && killed) wake = now + milliseconds(1000);
    auto wait = std::chrono::duration_cast<milliseconds>(wake - now) + milliseconds(1);
    if (!exited && !child.pidfd.open()) wait = std::min(wait, kExitPollTick);
    if (wait < milliseconds(0)) wait = milliseconds(0);

    std::array<pollfd, 4> fds{};
    std::size_t count = 0;
    auto watch = [&](Fd& fd, short events) {
      if (fd.open()) fds[count++] = pollfd{fd.get(), events, 0};
    };
    watch(child.out, POLLIN);
    watch(child.err, POLLIN);
    watch(child.in, POLLOUT);
    watch(child.pidfd, POLLIN);
    int ready = ::poll(fds.data(), count, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      poll_error = errno;  // cannot watch the child any more: do not leave it running unwatched
      KillGroup(child.pid, SIGKILL);
      break;
    }
    if (ready <= 0) continue;
    for (std::size_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == child.out.get()) {
        Drain(child.out, result.out);
      } else if (fds[i].fd == child.err.get()) {
        Drain(child.err, result.err);
      } else if (fds[i].fd == child.in.get()) {
        Feed(child.in, command.stdin_data, stdin_written, sigpipe);
      }
      // The pidfd needs no handling: HasExited at the top of the loop sees the exit.
    }
  }

  int wait_status = 0;
  int reaped = -1;
  while ((reaped = ::waitpid(child.pid, &wait_status, 0)) < 0 && errno == EINTR) {
  }
  if (reaped < 0 || poll_error != 0) {
    // ECHILD: something else reaped our child (SIGCHLD set to SIG_IGN makes the kernel do it).
    return Error{ErrorKind::kInternal,
                 "lost track of '" + command.argv.front() + "' (pid " + std::to_string(child.pid) +
                     "): " + std::strerror(poll_error != 0 ? poll_error : errno),
                 "process", "promote must not ignore SIGCHLD; this is a bug, please report it"};
  }
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  if (WIFSIGNALED(wait_status)) result.signal = WTERMSIG(wait_status);
  if (timed_out) {
    result.status = ExitStatus::kTimedOut;
  } else if (WIFSIGNALED(wait_status)) {
    result.status = ExitStatus::kSignaled;
  } else {
    result.status = ExitStatus::kExited;
    result.exit_code = WEXITSTATUS(wait_status);
  }

  if (logger_) {
    logger_->debug("{} in {} ms (stdout {} B, stderr {} B): {}", result.Describe(),
                   result.elapsed.count(), result.out.size(), result.err.size(), shown);
    if (logger_->should_log(spdlog::level::trace)) {
      // Redact everything, then cut: cutting first could split a secret and show half of it.
      auto excerpt = [&](const std::string& text) {
        std::string clean = redactor_->Redact(text);
        if (clean.size() > kTraceOutputBytes) {
          clean.resize(kTraceOutputBytes);
          clean += "…";
        }
        return clean;
      };
      if (!result.out.empty()) logger_->trace("stdout of {}: {}", shown, excerpt(result.out));
      if (!result.err.empty()) logger_->trace("stderr of {}: {}", shown, excerpt(result.err));
    }
  }
  return result;
}

}  // namespace promote::adapters
