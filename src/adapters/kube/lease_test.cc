#include "adapters/kube/lease.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/standin.h"

namespace promote::adapters::kube {
namespace {

using nlohmann::json;
using promote::testing::StandIn;
using std::chrono::seconds;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

LeaseHolder Holder(const std::string& run, int pid = 4242) {
  return LeaseHolder{run, pid, "runner-a", "2026-02-01T10:00:00Z"};
}

LeaseRef Ref(const std::string& ns = "default") {
  return LeaseRef{"prod", std::nullopt, ns, "promote-prod"};
}

/// The Lease as the real kubectl reads it back; null when there is none.
json ReadLease(const StandIn& standin, const std::string& ns = "default") {
  const std::string out = standin.Kubectl(
      "prod", ns, {"get", "lease", "promote-prod", "--ignore-not-found", "-o", "json"});
  return out.empty() ? json() : json::parse(out);
}

/// Writes `lease` to a file and `kubectl apply`s it (as an operator or another tool would).
void ApplyLease(const StandIn& standin, const json& lease) {
  const auto file = standin.dir() / "lease.json";
  std::ofstream(file) << lease.dump();
  standin.Kubectl("prod", "default", {"apply", "-f", file.string()});
}

json ForeignLease(const std::string& holder, const std::string& renewed) {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", {{"name", "promote-prod"}, {"namespace", "default"}}},
          {"spec",
           {{"holderIdentity", holder},
            {"leaseDurationSeconds", 60},
            {"acquireTime", renewed},
            {"renewTime", renewed}}}};
}

/// Waits (at most ~10 s, polling) until `done` holds; returns whether it did.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 50; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

/// The real runner, with a hook that runs before each command (to stage a race).
class HookedRunner final : public ProcessRunner {
 public:
  explicit HookedRunner(std::function<void(const Command&)> before)
      : real_(nullptr, nullptr), before_(std::move(before)) {}
  Result<ProcessResult> Run(const Command& command) override {
    before_(command);
    return real_.Run(command);
  }

 private:
  SystemProcessRunner real_;
  std::function<void(const Command&)> before_;
};

TEST_CASE("MicroTime writes and ParseMicroTime reads Kubernetes MicroTime", "[lease]") {
  const auto at = std::chrono::system_clock::time_point(seconds(1769940000)) +
                  std::chrono::microseconds(123456);
  CHECK(MicroTime(at) == "2026-02-01T10:00:00.123456Z");
  REQUIRE(ParseMicroTime("2026-02-01T10:00:00.123456Z") == at);
  REQUIRE(ParseMicroTime("2026-02-01T10:00:00Z") ==
          std::chrono::system_clock::time_point(seconds(1769940000)));
  CHECK(ParseMicroTime("2026-02-01T10:00:00.5Z") ==
        std::chrono::system_clock::time_point(seconds(1769940000)) +
            std::chrono::milliseconds(500));
  CHECK_FALSE(ParseMicroTime("2026-02-01T10:00:00+02:00"));
  CHECK_FALSE(ParseMicroTime("yesterday"));
}

TEST_CASE("ParseLease reads the holder and judges staleness by renewTime + duration", "[lease]") {
  json lease = ForeignLease("run-1", "2026-02-01T10:00:00.000000Z");
  lease["metadata"]["resourceVersion"] = "7";
  lease["metadata"]["annotations"] = {
      {"promote.dev/holder", R"({"run":"run-1","pid":12,"host":"h","since":"s"})"}};
  const auto now = std::chrono::system_clock::time_point(seconds(1769940000));
  auto fresh = ParseLease(lease.dump(), now + seconds(59));
  REQUIRE(fresh);
  CHECK(fresh->holder.run_id == "run-1");
  CHECK(fresh->holder.pid == 12);
  CHECK(fresh->holder.host == "h");
  CHECK(fresh->resource_version == "7");
  CHECK(fresh->duration == seconds(60));
  CHECK_FALSE(fresh->stale);
  CHECK(ParseLease(lease.dump(), now + seconds(61))->stale);
  // An annotation left behind for another run does not describe this holder.
  lease["spec"]["holderIdentity"] = "run-2";
  CHECK(ParseLease(lease.dump(), now)->holder.pid == 0);
  CHECK_FALSE(ParseLease(R"({"kind":"ConfigMap"})", now));
}

TEST_CASE("A Lease lock is exclusive, names its holder and is released", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  KubeLease first(runner, standin.Tooling(), Ref());
  REQUIRE(first.Acquire(Holder("run-1"), seconds(60)));
  CHECK(first.held());

  const json lease = ReadLease(standin);
  REQUIRE(lease.is_object());
  CHECK(lease["spec"]["holderIdentity"] == "run-1");
  CHECK(lease["spec"]["leaseDurationSeconds"] == 60);
  CHECK(ParseMicroTime(lease["spec"]["renewTime"].get<std::string>()));
  const json details =
      json::parse(lease["metadata"]["annotations"]["promote.dev/holder"].get<std::string>());
  CHECK(details["pid"] == 4242);
  CHECK(details["host"] == "runner-a");

  KubeLease second(runner, standin.Tooling(), Ref());
  auto refused = second.Acquire(Holder("run-2"), seconds(60));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kLocked);
  CHECK(Contains(refused.error().what, "run run-1 (pid 4242, host runner-a"));
  CHECK_FALSE(Contains(refused.error().what, "stopped renewing"));
  CHECK(Contains(refused.error().fix, "promote status run-1"));
  CHECK_FALSE(second.held());
  CHECK(ReadLease(standin)["spec"]["holderIdentity"] == "run-1");

  auto holder = first.Inspect();
  REQUIRE(holder);
  REQUIRE(*holder);
  CHECK((*holder)->holder.run_id == "run-1");

  REQUIRE(first.Release());
  CHECK(ReadLease(standin).is_null());
  REQUIRE(first.Release());  // idempotent
  auto none = first.Inspect();
  REQUIRE(none);
  CHECK_FALSE(*none);

  REQUIRE(second.Acquire(Holder("run-2"), seconds(60)));
  CHECK(ReadLease(standin)["spec"]["holderIdentity"] == "run-2");
  REQUIRE(second.Release());
  CHECK(ReadLease(standin).is_null());
}

TEST_CASE("A stale Lease is reported stale and never stolen", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  ApplyLease(standin, ForeignLease("run-old", "2020-01-01T00:00:00.000000Z"));
  const std::string version = ReadLease(standin)["metadata"]["resourceVersion"];

  KubeLease lease(runner, standin.Tooling(), Ref());
  auto refused = lease.Acquire(Holder("run-new"), seconds(60));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kLocked);
  CHECK(Contains(refused.error().what, "run run-old"));
  CHECK(Contains(refused.error().what, "stopped renewing"));
  CHECK(Contains(refused.error().what, "2020-01-01T00:00:00"));
  CHECK(Contains(refused.error().fix, "promote status run-old"));
  CHECK(Contains(refused.error().fix,
                 "kubectl delete lease promote-prod --context prod "
                 "--namespace default"));
  const json after = ReadLease(standin);
  CHECK(after["spec"]["holderIdentity"] == "run-old");
  CHECK(after["metadata"]["resourceVersion"] == version);
  auto inspected = lease.Inspect();
  REQUIRE(inspected);
  REQUIRE(*inspected);
  CHECK((*inspected)->stale);
}

TEST_CASE("A Lease is taken over only when released, or by its own run when stale", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  KubeLease lease(runner, standin.Tooling(), Ref());

  SECTION("released: an empty holderIdentity") {
    ApplyLease(standin, ForeignLease("", "2026-02-01T10:00:00.000000Z"));
    REQUIRE(lease.Acquire(Holder("run-1"), seconds(60)));
    CHECK(ReadLease(standin)["spec"]["holderIdentity"] == "run-1");
  }
  SECTION("left stale by an earlier life of the same run (a resume)") {
    ApplyLease(standin, ForeignLease("run-1", "2020-01-01T00:00:00.000000Z"));
    REQUIRE(lease.Acquire(Holder("run-1"), seconds(60)));
    const json now = ReadLease(standin);
    CHECK(now["spec"]["holderIdentity"] == "run-1");
    CHECK(now["spec"]["renewTime"] != "2020-01-01T00:00:00.000000Z");
  }
  REQUIRE(lease.Release());
  CHECK(ReadLease(standin).is_null());
}

TEST_CASE("A kept Lease stays, is not renewed, and only its own run's resume takes it", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  // The stopped run's process, gone by the time of its resume: a child that exited, reaped.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const int dead = static_cast<int>(child);
  {
    KubeLease stopped(runner, standin.Tooling(), Ref());
    REQUIRE(stopped.Acquire(Holder("run-1", dead), seconds(3)));
    stopped.Keep();  // the run could not journal its next step: it stops, resumable
    CHECK_FALSE(stopped.held());
  }  // nor does its destructor delete it
  const json kept = ReadLease(standin);
  REQUIRE_FALSE(kept.is_null());
  CHECK(Contains(kept["spec"]["holderIdentity"].get<std::string>(), "run-1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past a renewal period (1 s)
  CHECK(ReadLease(standin)["metadata"]["resourceVersion"] == kept["metadata"]["resourceVersion"]);

  KubeLease other(runner, standin.Tooling(), Ref());
  auto refused = other.Acquire(Holder("run-2"), seconds(60));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kLocked);

  KubeLease resumed(runner, standin.Tooling(), Ref());
  REQUIRE(resumed.Acquire(Holder("run-1", static_cast<int>(::getpid())), seconds(60)));
  CHECK(ReadLease(standin)["metadata"]["resourceVersion"] != kept["metadata"]["resourceVersion"]);
  REQUIRE(resumed.Release());
  CHECK(ReadLease(standin).is_null());
}

TEST_CASE("A held Lease is renewed until released", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  KubeLease lease(runner, standin.Tooling(), Ref());
  REQUIRE(lease.Acquire(Holder("run-1"), seconds(3)));  // renewed every second
  const json before = ReadLease(standin);
  const auto renewed = ParseMicroTime(before["spec"]["renewTime"].get<std::string>());
  REQUIRE(renewed);

  json after;
  REQUIRE(Eventually([&] {
    after = ReadLease(standin);
    return after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"];
  }));
  CHECK(ParseMicroTime(after["spec"]["renewTime"].get<std::string>()) > renewed);
  CHECK(after["spec"]["acquireTime"] == before["spec"]["acquireTime"]);
  CHECK(after["spec"]["holderIdentity"] == "run-1");
  CHECK(Eventually([&] { return lease.renewals() >= 1; }));  // counted once kubectl returns
  CHECK_FALSE(lease.lost());

  REQUIRE(lease.Release());
  CHECK(ReadLease(standin).is_null());
}

TEST_CASE("A Lease taken over while held is reported lost and left to its new holder", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  KubeLease lease(runner, standin.Tooling(), Ref());
  REQUIRE(lease.Acquire(Holder("run-1"), seconds(3)));

  // An operator hands it to another run (a blind replace: no resourceVersion).
  json theirs = ReadLease(standin);
  theirs["metadata"].erase("resourceVersion");
  theirs["metadata"].erase("annotations");
  theirs["spec"]["holderIdentity"] = "run-other";
  const auto file = standin.dir() / "theirs.json";
  std::ofstream(file) << theirs.dump();
  // kubectl fetches the latest resourceVersion itself; a renewal in between makes it retry.
  bool replaced = false;
  for (int attempt = 0; attempt < 5 && !replaced; ++attempt) {
    replaced = standin
                   .Run({promote::testing::PinnedTool("kubectl"),
                         "--kubeconfig=" + standin.kubeconfig().string(),
                         "--cache-dir=" + (standin.dir() / "cache").string(), "--context=prod",
                         "--namespace=default", "replace", "-f", file.string()})
                   .ok();
  }
  REQUIRE(replaced);

  REQUIRE(Eventually([&] { return lease.lost(); }));
  CHECK(Contains(lease.lost_reason(), "run-other"));
  REQUIRE(lease.Release());
  CHECK(ReadLease(standin)["spec"]["holderIdentity"] == "run-other");
}

TEST_CASE("Release deletes only the version it read as its own", "[lease]") {
  StandIn standin;
  // Between Release's read and its delete, someone hands the Lease to another run.
  bool raced = false;
  HookedRunner runner([&](const Command& command) {
    const bool raw_delete =
        std::find(command.argv.begin(), command.argv.end(), "--raw") != command.argv.end();
    if (!raw_delete || raced) return;
    raced = true;
    json theirs = ReadLease(standin);
    theirs["spec"]["holderIdentity"] = "run-other";  // keeps the resourceVersion read: no race
    const auto file = standin.dir() / "theirs.json";
    std::ofstream(file) << theirs.dump();
    standin.Kubectl("prod", "default", {"replace", "-f", file.string()});
  });
  KubeLease lease(runner, standin.Tooling(), Ref());
  REQUIRE(lease.Acquire(Holder("run-1"), seconds(60)));
  REQUIRE(lease.Release());
  CHECK(raced);
  CHECK(ReadLease(standin)["spec"]["holderIdentity"] == "run-other");
}

TEST_CASE("A Lease in a namespace that does not exist is an external error", "[lease]") {
  StandIn standin;
  SystemProcessRunner runner(nullptr, nullptr);
  KubeLease lease(runner, standin.Tooling(), Ref("no-such-namespace"));
  auto failed = lease.Acquire(Holder("run-1"), seconds(60));
  REQUIRE_FALSE(failed);
  CHECK(failed.error().kind == ErrorKind::kExternal);
  CHECK(Contains(failed.error().what, "no-such-namespace"));
  CHECK_FALSE(lease.held());
}

}  // namespace
}  // namespace promote::adapters::kube
