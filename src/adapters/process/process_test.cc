// Real processes only: sh, sleep, head, cat, env, pwd from the base system are the programs under
// test. `sh -c` appears here as the child's argv, never inside SystemProcessRunner.
#include "adapters/process/process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "core/redactor.h"

namespace promote::adapters {
namespace {

using std::chrono::milliseconds;
using namespace std::string_literals;

Command Cmd(std::vector<std::string> argv) {
  Command command;
  command.argv = std::move(argv);
  command.timeout = milliseconds(30000);
  return command;
}

ProcessResult MustRun(ProcessRunner& runner, const Command& command) {
  auto result = runner.Run(command);
  if (!result.ok()) FAIL(result.error().Format());
  return std::move(result).value();
}

/// True when `pid` is gone or a zombie (a killed orphan waits there for init to reap it). Waits
/// up to 10 s for the kernel to finish a kill already sent, so a busy machine cannot flake it.
bool ProcessIsDead(pid_t pid) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string content;
    std::getline(stat, content);
    if (!stat || content.empty()) return true;
    auto close_paren = content.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < content.size() &&
        content[close_paren + 2] == 'Z') {
      return true;
    }
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

TEST_CASE("exit codes are reported", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  ProcessResult ok = MustRun(runner, Cmd({"true"}));
  CHECK(ok.status == ExitStatus::kExited);
  CHECK(ok.exit_code == 0);
  CHECK(ok.ok());

  ProcessResult fail = MustRun(runner, Cmd({"false"}));
  CHECK(fail.status == ExitStatus::kExited);
  CHECK(fail.exit_code == 1);
  CHECK_FALSE(fail.ok());
  CHECK(fail.Describe() == "exited with code 1");

  CHECK(MustRun(runner, Cmd({"sh", "-c", "exit 42"})).exit_code == 42);
}

TEST_CASE("a terminating signal is reported", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  ProcessResult result = MustRun(runner, Cmd({"sh", "-c", "kill -9 $$"}));
  CHECK(result.status == ExitStatus::kSignaled);
  CHECK(result.signal == 9);
  CHECK_FALSE(result.ok());
  CHECK(result.Describe() == "killed by signal 9 (SIGKILL)");
}

TEST_CASE("a timeout kills the whole process group", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  SECTION("sleep 30 with a 300 ms budget") {
    Command command = Cmd({"sleep", "30"});
    command.timeout = milliseconds(300);
    ProcessResult result = MustRun(runner, command);
    CHECK(result.status == ExitStatus::kTimedOut);
    CHECK(result.signal == SIGTERM);
    CHECK(result.exit_code == -1);
    CHECK_FALSE(result.ok());
  }
  SECTION("a grandchild in the background dies too") {
    Command command = Cmd({"sh", "-c", "sleep 30 & echo $!; sleep 30; wait"});
    command.timeout = milliseconds(300);
    ProcessResult result = MustRun(runner, command);
    CHECK(result.status == ExitStatus::kTimedOut);
    pid_t grandchild = std::atoi(result.out.c_str());
    REQUIRE(grandchild > 1);
    CHECK(ProcessIsDead(grandchild));
  }
  SECTION("a child ignoring SIGTERM is killed after the grace") {
    Command command = Cmd({"sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"});
    command.timeout = milliseconds(300);
    command.kill_grace = milliseconds(200);
    ProcessResult result = MustRun(runner, command);
    CHECK(result.status == ExitStatus::kTimedOut);
    CHECK(result.signal == SIGKILL);
    pid_t grandchild = std::atoi(result.out.c_str());
    REQUIRE(grandchild > 1);
    CHECK(ProcessIsDead(grandchild));
  }
}

TEST_CASE("background leftovers are killed when the main process exits", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  // Without the cleanup the leftover sleep would hold stdout open until the timeout.
  Command command = Cmd({"sh", "-c", "sleep 60 & echo $!"});
  command.timeout = milliseconds(60000);
  ProcessResult result = MustRun(runner, command);
  CHECK(result.status == ExitStatus::kExited);
  CHECK(result.exit_code == 0);
  pid_t leftover = std::atoi(result.out.c_str());
  REQUIRE(leftover > 1);
  CHECK(ProcessIsDead(leftover));
}

TEST_CASE("10 MB on stdout and 10 MB on stderr at once are captured whole", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  ProcessResult result = MustRun(
      runner,
      Cmd({"sh", "-c", "head -c 10485760 /dev/zero >&2 & head -c 10485760 /dev/zero; wait"}));
  CHECK(result.ok());
  CHECK(result.out.size() == 10485760);
  CHECK(result.err.size() == 10485760);
  CHECK(result.out.find_first_not_of('\0') == std::string::npos);
}

TEST_CASE("stdin is written fully and closed", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  SECTION("round trip through cat") {
    Command command = Cmd({"cat"});
    command.stdin_data = "hello\nworld\0binary"s;
    ProcessResult result = MustRun(runner, command);
    CHECK(result.ok());
    CHECK(result.out == command.stdin_data);
  }
  SECTION("10 MB in and out at the same time") {
    Command command = Cmd({"cat"});
    command.stdin_data.assign(10485760, 'x');
    ProcessResult result = MustRun(runner, command);
    CHECK(result.ok());
    CHECK(result.out.size() == command.stdin_data.size());
    CHECK(result.out == command.stdin_data);
  }
  SECTION("a child that never reads stdin does not hurt promote") {
    Command command = Cmd({"true"});
    command.stdin_data.assign(4 * 1048576, 'x');
    CHECK(MustRun(runner, command).ok());
  }
  SECTION("no stdin data means end of file at once") {
    ProcessResult result = MustRun(runner, Cmd({"cat"}));
    CHECK(result.ok());
    CHECK(result.out.empty());
  }
}

TEST_CASE("a missing program is an Error naming it", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  auto result = runner.Run(Cmd({"promote-no-such-binary-xyz", "--version"}));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind == ErrorKind::kExternal);
  CHECK(result.error().what == "cannot run 'promote-no-such-binary-xyz': not found on PATH");
  CHECK_FALSE(result.error().fix.empty());

  auto by_path = runner.Run(Cmd({"/nonexistent/dir/tool"}));
  REQUIRE_FALSE(by_path.ok());
  CHECK(by_path.error().what.find("'/nonexistent/dir/tool'") != std::string::npos);

  auto empty = runner.Run(Cmd({}));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().kind == ErrorKind::kInternal);
}

TEST_CASE("the environment is exactly what the command says", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  SECTION("explicit: only the given variables") {
    Command command = Cmd({"env"});
    command.env_mode = EnvMode::kExplicit;
    command.env = {{"ONLY", "this"}, {"AND", "that one"}};
    ProcessResult result = MustRun(runner, command);
    CHECK(result.ok());
    CHECK((result.out == "AND=that one\nONLY=this\n" || result.out == "ONLY=this\nAND=that one\n"));
  }
  SECTION("explicit and empty: nothing at all") {
    Command command = Cmd({"env"});
    command.env_mode = EnvMode::kExplicit;
    ProcessResult result = MustRun(runner, command);
    CHECK(result.ok());
    CHECK(result.out.empty());
  }
  SECTION("inherit: promote's environment with overrides on top") {
    ::setenv("PROMOTE_PROCESS_TEST_INHERITED", "from-parent", 1);
    ::setenv("PROMOTE_PROCESS_TEST_OVERRIDDEN", "old", 1);
    Command command = Cmd({"env"});
    command.env = {{"PROMOTE_PROCESS_TEST_OVERRIDDEN", "new"}};
    ProcessResult result = MustRun(runner, command);
    ::unsetenv("PROMOTE_PROCESS_TEST_INHERITED");
    ::unsetenv("PROMOTE_PROCESS_TEST_OVERRIDDEN");
    CHECK(result.out.find("PROMOTE_PROCESS_TEST_INHERITED=from-parent\n") != std::string::npos);
    CHECK(result.out.find("PROMOTE_PROCESS_TEST_OVERRIDDEN=new\n") != std::string::npos);
    CHECK(result.out.find("PROMOTE_PROCESS_TEST_OVERRIDDEN=old") == std::string::npos);
  }
}

TEST_CASE("the working directory is honoured", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  Command command = Cmd({"pwd"});
  command.cwd = "/";
  CHECK(MustRun(runner, command).out == "/\n");

  command.cwd = "/nonexistent-promote-dir";
  auto missing = runner.Run(command);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().what.find("/nonexistent-promote-dir") != std::string::npos);
}

TEST_CASE("secrets never reach the log, in argv or in output", "[process]") {
  const std::string planted = "s3cr3t-planted-value";
  auto redactor = std::make_shared<Redactor>();
  redactor->AddSecret("PLANTED", planted);
  std::ostringstream log_lines;
  LogOptions options;
  options.level = spdlog::level::trace;
  options.stream = &log_lines;
  SECTION("text log") {
    options.format = LogFormat::kText;
  }
  SECTION("json log") {
    options.format = LogFormat::kJson;
  }
  SystemProcessRunner runner(redactor, MakeLogger(options, redactor));

  Command command = Cmd({"sh", "-c", "echo \"out $1\"; echo \"err $1\" >&2", "sh", planted,
                         "--password", "unregistered-pw-123"});
  ProcessResult result = MustRun(runner, command);
  CHECK(result.ok());
  // The result itself is raw: callers parse it.
  CHECK(result.out == "out " + planted + "\n");
  CHECK(result.err == "err " + planted + "\n");

  std::string log = log_lines.str();
  INFO(log);
  CHECK(log.find(planted) == std::string::npos);
  CHECK(log.find("unregistered-pw-123") == std::string::npos);
  CHECK(log.find("<redacted:PLANTED>") != std::string::npos);
  CHECK(log.find("***") != std::string::npos);
  CHECK(log.find("stdout of") != std::string::npos);  // the output was logged, redacted
  CHECK(log.find("exited with code 0") != std::string::npos);
}

TEST_CASE("runs from several threads do not disturb each other", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  std::vector<std::string> outputs(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        Command command = Cmd({"cat"});
        command.stdin_data = "thread " + std::to_string(i) + "\n";
        auto result = runner.Run(command);
        if (result.ok()) outputs[i] += result->out;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    std::string line = "thread " + std::to_string(i) + "\n";
    std::string expected;
    for (int round = 0; round < 5; ++round) expected += line;
    CHECK(outputs[i] == expected);
  }
}

/// A background child that prints its pid on a "ready" line, then sleeps until stopped.
Command ReadyThenSleep() {
  return Cmd({"sh", "-c", "echo \"ready pid $$\"; exec sleep 30"});
}

pid_t PidOfReadyLine(const std::string& line) {
  return static_cast<pid_t>(std::atoi(line.substr(line.rfind(' ') + 1).c_str()));
}

TEST_CASE("a background process reports its ready line and Stop ends it", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  auto started = runner.Start(ReadyThenSleep());
  REQUIRE(started.ok());
  auto line = (*started)->WaitForLine("ready pid", milliseconds(10000));
  REQUIRE(line.ok());
  const pid_t pid = PidOfReadyLine(*line);
  REQUIRE(pid > 0);
  CHECK((*started)->running());
  CHECK(::kill(pid, 0) == 0);  // alive until stopped
  (*started)->Stop();
  CHECK_FALSE((*started)->running());
  CHECK(ProcessIsDead(pid));
  (*started)->Stop();  // idempotent
}

TEST_CASE("a background process that exits before it is ready is an Error with its stderr",
          "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  auto started =
      runner.Start(Cmd({"sh", "-c", "echo 'cannot listen: address in use' >&2; exit 3"}));
  REQUIRE(started.ok());
  auto line = (*started)->WaitForLine("Starting to serve", milliseconds(10000));
  REQUIRE_FALSE(line.ok());
  CHECK(line.error().what.find("exited with code 3") != std::string::npos);
  CHECK(line.error().what.find("cannot listen: address in use") != std::string::npos);
  CHECK_FALSE((*started)->running());
}

TEST_CASE("a background process that never says it is ready times out, and is stopped",
          "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  auto started = runner.Start(Cmd({"sleep", "30"}));
  REQUIRE(started.ok());
  auto line = (*started)->WaitForLine("ready", milliseconds(200));
  REQUIRE_FALSE(line.ok());
  CHECK(line.error().what.find("said nothing ready within 200 ms") != std::string::npos);
  CHECK((*started)->running());
  started->reset();  // the destructor stops it
}

TEST_CASE("a missing background program is an Error at Start", "[process]") {
  SystemProcessRunner runner(nullptr, nullptr);
  auto started = runner.Start(Cmd({"/nonexistent/kubectl", "proxy"}));
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().what.find("/nonexistent/kubectl") != std::string::npos);
}

TEST_CASE("a background process dies with the promote that started it, even killed", "[process]") {
  // A child process stands in for promote: it starts the background process and is killed
  // (SIGKILL, no destructor runs); the background process must not outlive it.
  std::array<int, 2> fds{};
  REQUIRE(::pipe(fds.data()) == 0);
  const pid_t promote = ::fork();
  REQUIRE(promote >= 0);
  if (promote == 0) {
    ::close(fds[0]);
    SystemProcessRunner runner(nullptr, nullptr);
    auto started = runner.Start(ReadyThenSleep());
    std::string line = "0\n";
    if (started.ok()) {
      auto ready = (*started)->WaitForLine("ready pid", milliseconds(10000));
      if (ready.ok()) line = std::to_string(PidOfReadyLine(*ready)) + "\n";
    }
    [[maybe_unused]] auto n = ::write(fds[1], line.data(), line.size());
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string said;
  std::array<char, 64> buffer{};
  for (ssize_t n; (n = ::read(fds[0], buffer.data(), buffer.size())) > 0;) {
    said.append(buffer.data(), static_cast<std::size_t>(n));
    if (said.find('\n') != std::string::npos) break;
  }
  ::close(fds[0]);
  const pid_t background = static_cast<pid_t>(std::atoi(said.c_str()));
  ::kill(promote, SIGKILL);
  ::waitpid(promote, nullptr, 0);
  REQUIRE(background > 0);
  CHECK(ProcessIsDead(background));
}
}  // namespace
}  // namespace promote::adapters
