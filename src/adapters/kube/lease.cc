// Implementation details: every call is `kubectl [--kubeconfig] [--cache-dir] --context=C
// --namespace=N …` with the Lease as JSON on stdin; kubectl's answer is `-o json`, its failures
// are told apart by the status reason it prints ("Error from server (AlreadyExists|Conflict|
// NotFound): …"). The renewal thread and the caller share the fields under one mutex; kubectl
// runs with the mutex released.
#include "adapters/kube/lease.h"

#include <signal.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <utility>

#include "adapters/kube/json_fields.h"
#include "core/time_format.h"

namespace promote::adapters::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kHolderAnnotation = "promote.dev/holder";
/// Acquire retries when the Lease it found vanished or was taken between two of its calls.
constexpr int kAttempts = 5;
/// Release retries a conditional delete that lost a race with a change it then re-reads.
constexpr int kDeleteAttempts = 3;
/// A renewal's kubectl call may take this long at least (a busy machine, a slow API server).
constexpr milliseconds kMinRenewTimeout{5000};

std::string Said(const ProcessResult& run) {
  std::string said = run.err.empty() ? run.out : run.err;
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  return said;
}

bool Says(const ProcessResult& run, const char* reason) {
  return run.err.find(std::string("(") + reason + ")") != std::string::npos;
}

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string HolderText(const LeaseHolder& holder) {
  std::string text = "run " + holder.run_id;
  std::string details;
  if (holder.pid > 0) details += "pid " + std::to_string(holder.pid);
  if (!holder.host.empty()) details += (details.empty() ? "" : ", ") + ("host " + holder.host);
  if (!holder.since.empty()) details += (details.empty() ? "" : ", ") + ("since " + holder.since);
  return details.empty() ? text : text + " (" + details + ")";
}

/// Whether `lease` was left by an earlier, dead life of the run `me` runs (a resume of a killed
/// run), as the file lock lets a run take back its own stale lock: the same run id, and its
/// process certainly gone (on this host: no such pid) or, elsewhere, no longer renewing. A live
/// earlier life on this host is never displaced, even if it could not renew for a while.
/// Anyone else's lease is never taken.
bool OwnStale(const LeaseState& lease, const LeaseHolder& me) {
  if (lease.holder.run_id != me.run_id) return false;
  const bool here = !me.host.empty() && lease.holder.host == me.host && lease.holder.pid > 0;
  if (!here) return lease.stale;
  if (lease.holder.pid == me.pid) return false;
  return ::kill(lease.holder.pid, 0) != 0 && errno == ESRCH;
}

/// The same holder, not merely the same run: a resume of the run is another holder.
bool SameHolder(const LeaseHolder& a, const LeaseHolder& b) {
  return a.run_id == b.run_id && a.pid == b.pid && a.host == b.host;
}

}  // namespace

std::string MicroTime(std::chrono::system_clock::time_point at) {
  const auto whole = std::chrono::floor<seconds>(at);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(at - whole).count();
  char fraction[24];  // room for any long long, so -Wformat-truncation has nothing to say
  std::snprintf(fraction, sizeof fraction, "%06lld", static_cast<long long>(micros));
  return FormatUtc(whole, "%Y-%m-%dT%H:%M:%S") + "." + fraction + "Z";
}

std::optional<std::chrono::system_clock::time_point> ParseMicroTime(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::size_t at = static_cast<std::size_t>(consumed);
  long long micros = 0;
  if (at < text.size() && text[at] == '.') {
    int digits = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits) {
      if (digits < 6) micros = micros * 10 + (text[at] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 6; ++digits) micros *= 10;
  }
  if (at + 1 != text.size() || (text[at] != 'Z' && text[at] != 'z')) return std::nullopt;
  // The clock counts nanoseconds in 64 bits, up to 2262: a later year (or one a lease duration
  // would carry past it) overflows from_time_t (UBSan, found by fuzz/kube_json).
  if (tm.tm_year < 1970 || tm.tm_year > 2100) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t epoch = ::timegm(&tm);
  if (epoch == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(epoch) + std::chrono::microseconds(micros);
}

std::optional<LeaseState> ParseLease(const std::string& json_text,
                                     std::chrono::system_clock::time_point now) {
  const json lease = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!lease.is_object() || StringAt(lease, "kind") != "Lease") return std::nullopt;
  const json& metadata = ObjectAt(lease, "metadata");
  const json& spec = ObjectAt(lease, "spec");
  LeaseState state;
  state.resource_version = StringAt(metadata, "resourceVersion");
  state.uid = StringAt(metadata, "uid");
  state.holder.run_id = StringAt(spec, "holderIdentity");
  const auto duration = spec.find("leaseDurationSeconds");
  // An int32 of seconds, as the API declares it: a larger one would overflow the clock's
  // nanoseconds when added to renewTime (UBSan, found by fuzz/kube_json).
  if (duration != spec.end()) {
    if (const auto count = IntegerIn<std::int32_t>(*duration); count && *count > 0) {
      state.duration = seconds(*count);
    }
  }
  state.renew_time = StringAt(spec, "renewTime");
  if (state.renew_time.empty()) state.renew_time = StringAt(spec, "acquireTime");
  const json& annotations = ObjectAt(metadata, "annotations");
  const json details = json::parse(StringAt(annotations, kHolderAnnotation), nullptr, false);
  // The annotation describes the holder only if it names the same run (another tool may have
  // changed holderIdentity and left our annotation behind).
  if (details.is_object() && StringAt(details, "run") == state.holder.run_id) {
    const auto pid = details.find("pid");
    if (pid != details.end()) state.holder.pid = IntegerIn<int>(*pid).value_or(0);
    state.holder.host = StringAt(details, "host");
    state.holder.since = StringAt(details, "since");
  }
  const auto renewed = ParseMicroTime(state.renew_time);
  state.stale = !state.holder.run_id.empty() && renewed && state.duration.count() > 0 &&
                *renewed + state.duration < now;
  return state;
}

KubeLease::KubeLease(ProcessRunner& runner, Tooling tooling, LeaseRef ref)
    : runner_(runner), tooling_(std::move(tooling)), ref_(std::move(ref)) {}

KubeLease::~KubeLease() {
  // A destructor cannot report: a Lease not deleted here expires and is reported stale.
  static_cast<void>(Release());
}

std::string KubeLease::Describe() const {
  return "Lease " + ref_.ns + "/" + ref_.name + " (context " + ref_.context + ")";
}

std::string KubeLease::DeleteCommand() const {
  const auto kubeconfig = ref_.kubeconfig ? ref_.kubeconfig : tooling_.kubeconfig;
  return "kubectl delete lease " + ref_.name + " --context " + ref_.context + " --namespace " +
         ref_.ns + (kubeconfig ? " --kubeconfig " + kubeconfig->string() : std::string());
}

Command KubeLease::KubectlCommand(std::vector<std::string> args, milliseconds timeout,
                                  Scope scope) const {
  Command command;
  command.argv = {tooling_.kubectl};
  const auto kubeconfig = ref_.kubeconfig ? ref_.kubeconfig : tooling_.kubeconfig;
  if (kubeconfig) command.argv.push_back("--kubeconfig=" + kubeconfig->string());
  if (tooling_.cache_dir) command.argv.push_back("--cache-dir=" + tooling_.cache_dir->string());
  command.argv.push_back("--context=" + ref_.context);
  if (scope == Scope::kNamespace) command.argv.push_back("--namespace=" + ref_.ns);
  command.argv.insert(command.argv.end(), std::make_move_iterator(args.begin()),
                      std::make_move_iterator(args.end()));
  command.env = tooling_.env;
  command.timeout = timeout;
  return command;
}

Result<KubeLease::Written> KubeLease::Write(const std::string& verb, const LeaseHolder& me,
                                            const std::string& acquire_time,
                                            const std::string& resource_version,
                                            milliseconds timeout) {
  const auto now = std::chrono::system_clock::now();
  json details = {{"run", me.run_id}, {"pid", me.pid}, {"host", me.host}, {"since", me.since}};
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata",
                 {{"name", ref_.name},
                  {"namespace", ref_.ns},
                  {"labels", {{"app.kubernetes.io/managed-by", "promote"}}},
                  {"annotations", {{kHolderAnnotation, details.dump()}}}}},
                {"spec",
                 {{"holderIdentity", me.run_id},
                  {"leaseDurationSeconds", duration_.count()},
                  {"acquireTime", acquire_time.empty() ? MicroTime(now) : acquire_time},
                  {"renewTime", MicroTime(now)}}}};
  // replace always carries the resourceVersion it read: without one, kubectl would fetch the
  // latest and overwrite whatever is there.
  if (!resource_version.empty()) lease["metadata"]["resourceVersion"] = resource_version;
  Command command = KubectlCommand({verb, "-f", "-", "-o", "json"}, timeout);
  command.stdin_data = lease.dump();
  auto run = runner_.Run(command);
  if (!run) return std::move(run).error().WithContext(verb + " of " + Describe());
  Written written;
  if (run->ok()) {
    written.state = ParseLease(run->out, now);
    if (!written.state) {
      return Error{ErrorKind::kExternal,
                   verb + " of " + Describe() + ": kubectl printed something that is not a Lease",
                   "", "check that the kubectl binary is a real kubectl (promote --kubectl)"};
    }
    written.outcome = WriteOutcome::kWritten;
  } else if (Says(*run, "AlreadyExists")) {
    written.outcome = WriteOutcome::kAlreadyExists;
  } else if (Says(*run, "Conflict")) {
    written.outcome = WriteOutcome::kConflict;
  } else if (Says(*run, "NotFound")) {
    written.outcome = WriteOutcome::kNotFound;
  }
  if (written.outcome != WriteOutcome::kWritten) {
    written.detail = command.argv.front() + " " + verb + " " + run->Describe() +
                     (Said(*run).empty() ? "" : ": " + Said(*run));
  }
  return written;
}

Error KubeLease::LockedError(const LeaseState& state) const {
  Error error{ErrorKind::kLocked, "", Describe(), ""};
  const std::string& run = state.holder.run_id;
  if (state.stale) {
    error.what = "held by " + HolderText(state.holder) + ", which stopped renewing it (last at " +
                 state.renew_time + ", lease duration " + std::to_string(state.duration.count()) +
                 "s): it is likely no longer running";
    error.fix = "check the run with `promote status " + run + "`, then delete the Lease with `" +
                DeleteCommand() + "` (promote never steals a lock)";
  } else {
    error.what = "held by " + HolderText(state.holder) + ", last renewed at " + state.renew_time;
    error.fix = "wait for it to finish, or see `promote status " + run +
                "`; a holder that dies stops renewing, and its lease is reported stale after " +
                std::to_string(state.duration.count()) + "s";
  }
  return error;
}

Status KubeLease::Acquire(const LeaseHolder& me, seconds duration) {
  {
    std::lock_guard lock(mutex_);
    if (held_) {
      return Error{ErrorKind::kInternal, "acquired twice", Describe(), "release it first"};
    }
    duration_ = std::max(duration, seconds(1));
  }
  const milliseconds timeout = tooling_.read_timeout;
  const std::string acquire_time = MicroTime(std::chrono::system_clock::now());
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto created = Write("create", me, acquire_time, "", timeout);
    if (!created) return std::move(created).error();
    std::optional<LeaseState> taken;
    if (created->outcome == WriteOutcome::kWritten) {
      taken = created->state;
    } else if (created->outcome != WriteOutcome::kAlreadyExists) {
      return Error{ErrorKind::kExternal, "cannot create the lock's Lease: " + created->detail,
                   Describe(),
                   "check the namespace exists and the runner may create leases there (see "
                   "docs/lease-lock.md, RBAC)"};
    } else {
      auto found = Inspect();
      if (!found) return std::move(found).error();
      if (!*found) continue;  // released and deleted in between: create again
      if (!(*found)->holder.run_id.empty() && !OwnStale(**found, me)) return LockedError(**found);
      // Released by a client that empties holderIdentity instead of deleting, or left by an
      // earlier life of this same run: take it, only if nobody changed it since we read it.
      auto replaced = Write("replace", me, acquire_time, (*found)->resource_version, timeout);
      if (!replaced) return std::move(replaced).error();
      if (replaced->outcome == WriteOutcome::kConflict ||
          replaced->outcome == WriteOutcome::kNotFound) {
        continue;  // someone else won or it vanished: look again, and report the winner
      }
      if (replaced->outcome != WriteOutcome::kWritten) {
        return Error{ErrorKind::kExternal,
                     "cannot take the released Lease of the lock: " + replaced->detail, Describe(),
                     "check the runner may update leases there (see docs/lease-lock.md, RBAC)"};
      }
      taken = replaced->state;
    }
    std::lock_guard lock(mutex_);
    held_ = true;
    stopping_ = false;
    lost_ = false;
    lost_reason_.clear();
    renewals_ = 0;
    me_ = me;
    acquire_time_ = acquire_time;
    resource_version_ = taken->resource_version;
    uid_ = taken->uid;
    renewer_ = std::thread([this] { RenewLoop(); });
    return Done{};
  }
  return Error{ErrorKind::kLocked,
               "the lock is released and taken again and again: another promote keeps taking it",
               Describe(), "try again in a moment"};
}

void KubeLease::MarkLost(const std::string& reason) {
  // Called with mutex_ held.
  lost_ = true;
  lost_reason_ = reason;
  if (logger_) logger_->warn("{}: the run lost its lock: {}", Describe(), reason);
}

void KubeLease::RenewLoop() {
  std::unique_lock lock(mutex_);
  const milliseconds interval = std::chrono::duration_cast<milliseconds>(duration_) / 3;
  const milliseconds timeout =
      std::min(tooling_.read_timeout, std::max(kMinRenewTimeout, interval));
  while (!stopping_ && !lost_) {
    if (wake_.wait_for(lock, interval, [this] { return stopping_; })) break;
    const LeaseHolder me = me_;
    const std::string acquire_time = acquire_time_;
    const std::string version = resource_version_;
    lock.unlock();
    auto written = Write("replace", me, acquire_time, version, timeout);
    std::optional<std::optional<LeaseState>> reread;
    if (written && written->outcome == WriteOutcome::kConflict) {
      if (auto found = Inspect()) reread = *found;
    }
    lock.lock();
    if (!written) {
      if (logger_) logger_->warn("{}: renewal failed: {}", Describe(), written.error().what);
      continue;
    }
    switch (written->outcome) {
      case WriteOutcome::kWritten:
        resource_version_ = written->state->resource_version;
        ++renewals_;
        break;
      case WriteOutcome::kNotFound:
        MarkLost("the Lease was deleted while the run held it");
        break;
      case WriteOutcome::kConflict:
        if (!reread) break;  // could not read it: try again at the next tick
        if (!*reread) {
          MarkLost("the Lease was deleted while the run held it");
        } else if (!SameHolder((*reread)->holder, me)) {
          MarkLost("the Lease was taken over by " + HolderText((*reread)->holder));
        } else {
          resource_version_ = (*reread)->resource_version;  // changed, still ours: renew it
        }
        break;
      default:
        if (logger_) logger_->warn("{}: renewal failed: {}", Describe(), written->detail);
        break;
    }
  }
}

std::optional<LeaseHolder> KubeLease::StopRenewing() {
  LeaseHolder me;
  {
    std::lock_guard lock(mutex_);
    if (!held_) return std::nullopt;
    stopping_ = true;
    me = me_;
  }
  wake_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  std::lock_guard lock(mutex_);
  held_ = false;
  resource_version_.clear();
  return me;
}

void KubeLease::Keep() {
  static_cast<void>(StopRenewing());
}

Status KubeLease::Release() {
  const std::optional<LeaseHolder> held = StopRenewing();
  if (!held) return Done{};
  const LeaseHolder& me = *held;
  // Why `kubectl delete --raw PATH -f -` and not `kubectl delete lease NAME`: the latter has no
  // precondition flag, so read-compare-then-delete would remove a Lease that someone re-created
  // or took over between our read and our delete. --raw sends our DeleteOptions body as is, and
  // the API server deletes only if uid and resourceVersion are still those we read as ours (409
  // Conflict otherwise), atomically. Emptying holderIdentity with a replace (as client-go's
  // leader election does) would be safe too but leaves a Lease behind for every environment.
  const std::string path =
      "/apis/coordination.k8s.io/v1/namespaces/" + ref_.ns + "/leases/" + ref_.name;
  for (int attempt = 0; attempt < kDeleteAttempts; ++attempt) {
    auto found = Inspect();
    if (!found) return std::move(found).error().WithContext("releasing the lock");
    if (!*found) return Done{};                            // already gone
    if (!SameHolder((*found)->holder, me)) return Done{};  // someone else's: leave it
    // --raw takes the namespace from the path (kubectl ignores --namespace there).
    Command command = KubectlCommand({"delete", "--raw", path, "-f", "-"}, tooling_.read_timeout,
                                     Scope::kRawPath);
    command.stdin_data =
        json{{"apiVersion", "v1"},
             {"kind", "DeleteOptions"},
             {"preconditions",
              {{"uid", (*found)->uid}, {"resourceVersion", (*found)->resource_version}}}}
            .dump();
    auto run = runner_.Run(command);
    if (!run) return std::move(run).error().WithContext("releasing the lock (" + Describe() + ")");
    if (run->ok() || Says(*run, "NotFound")) return Done{};
    if (Says(*run, "Conflict")) continue;  // it changed since we read it: look again
    return Error{ErrorKind::kExternal,
                 "cannot delete the lock's Lease: kubectl " + run->Describe() + ": " + Said(*run),
                 Describe(),
                 "check the runner may delete leases there; remove it by hand with `" +
                     DeleteCommand() + "` once the run is over"};
  }
  return Error{ErrorKind::kExternal, "the lock's Lease kept changing while it was released",
               Describe(), "look at it with `kubectl get lease " + ref_.name + " -o yaml`"};
}

Result<std::optional<LeaseState>> KubeLease::Inspect() {
  const Command command = KubectlCommand(
      {"get", "lease", ref_.name, "--ignore-not-found", "-o", "json"}, tooling_.read_timeout);
  auto run = runner_.Run(command);
  if (!run) return std::move(run).error().WithContext("reading " + Describe());
  if (!run->ok()) {
    return Error{ErrorKind::kExternal,
                 "cannot read the lock's Lease: kubectl " + run->Describe() + ": " + Said(*run),
                 Describe(), "check the context and that the runner may get leases there"};
  }
  if (run->out.find_first_not_of(" \n\r\t") == std::string::npos) {
    return std::optional<LeaseState>();
  }
  auto state = ParseLease(run->out, std::chrono::system_clock::now());
  if (!state) {
    return Error{ErrorKind::kExternal, "kubectl printed something that is not a Lease", Describe(),
                 "check that the kubectl binary is a real kubectl (promote --kubectl)"};
  }
  return std::optional<LeaseState>(std::move(state));
}

bool KubeLease::held() const {
  std::lock_guard lock(mutex_);
  return held_;
}

bool KubeLease::lost() const {
  std::lock_guard lock(mutex_);
  return lost_;
}

std::string KubeLease::lost_reason() const {
  std::lock_guard lock(mutex_);
  return lost_reason_;
}

int KubeLease::renewals() const {
  std::lock_guard lock(mutex_);
  return renewals_;
}

std::string KubeLease::resource_version() const {
  std::lock_guard lock(mutex_);
  return resource_version_;
}

}  // namespace promote::adapters::kube
