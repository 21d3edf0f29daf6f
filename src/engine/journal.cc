// Implementation details: a line is built as an ordered JSON object (seq, at, run, state, kind,
// step, service, detail), its strings redacted one by one, serialized, then redacted again as a
// whole line (which catches `"password": "x"` pairs that span a key and its value). The whole
// line, newline included, goes out in one write(2) on an O_APPEND fd, then fdatasync. What
// events() keeps is the line as written, parsed back, so memory and file never disagree.
#include "engine/journal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/durable.h"
#include "core/redactor.h"
#include "core/time_format.h"
#include "engine/states.h"

namespace promote::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

std::optional<EventKind> KindFromName(const std::string& name) {
  for (EventKind kind : {EventKind::kIntent, EventKind::kDone, EventKind::kFailed,
                         EventKind::kTransition, EventKind::kNote}) {
    if (name == EventKindName(kind)) return kind;
  }
  return std::nullopt;
}

/// `value` with every string (object keys too) passed through the redactor.
json RedactTree(const json& value, const Redactor& redactor) {
  if (value.is_string()) return redactor.Redact(value.get_ref<const std::string&>());
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(RedactTree(item, redactor));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) {
      out[redactor.Redact(key)] = RedactTree(item, redactor);
    }
    return out;
  }
  return value;
}

/// One serialized line (no newline), in the documented field order; empty fields are left out.
std::string Serialize(const JournalEvent& event) {
  ordered_json line;
  line["seq"] = event.seq;
  line["at"] = event.at;
  line["run"] = event.run;
  if (!event.state.empty()) line["state"] = event.state;
  line["kind"] = EventKindName(event.kind);
  if (!event.step.empty()) line["step"] = event.step;
  if (!event.service.empty()) line["service"] = event.service;
  line["detail"] = ordered_json::parse(
      event.detail.dump(-1, ' ', false, json::error_handler_t::replace), nullptr, false);
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// The event a line holds, or what is wrong with it.
Result<JournalEvent> Parse(const std::string& text) {
  auto invalid = [](const std::string& why) {
    return Error{ErrorKind::kExternal, "corrupt journal line: " + why, "", ""};
  };
  const json line = json::parse(text, nullptr, false);
  if (line.is_discarded()) return invalid("not valid JSON");
  if (!line.is_object()) return invalid("not a JSON object");
  JournalEvent event;
  const auto seq = line.find("seq");
  if (seq == line.end() || !seq->is_number_integer() || seq->get<long>() < 1) {
    return invalid("no positive integer \"seq\"");
  }
  event.seq = seq->get<long>();
  const auto kind = line.find("kind");
  if (kind == line.end() || !kind->is_string()) return invalid("no \"kind\"");
  const auto known = KindFromName(kind->get<std::string>());
  if (!known) return invalid("unknown kind \"" + kind->get<std::string>() + "\"");
  event.kind = *known;
  for (auto [name, field] :
       {std::pair{"at", &event.at}, std::pair{"run", &event.run}, std::pair{"state", &event.state},
        std::pair{"step", &event.step}, std::pair{"service", &event.service}}) {
    const auto found = line.find(name);
    if (found == line.end()) continue;
    if (!found->is_string()) return invalid(std::string("\"") + name + "\" is not a string");
    *field = found->get<std::string>();
  }
  if (event.run.empty()) return invalid("no \"run\"");
  const auto detail = line.find("detail");
  if (detail != line.end()) event.detail = *detail;
  return event;
}

/// A test failpoint, for the kill harness (tests/e2e/kill_test.cc): with
/// PROMOTE_TEST_KILL_AFTER_JOURNAL_LINE=N the process SIGKILLs itself right after the N-th line
/// it appended is durable, so a kill lands exactly on a journal boundary, which a poller from
/// outside cannot hit. Read once per process (at the first Create/Open); unset or 0: never.
long KillAfterLine() {
  static const long after = [] {
    const char* set = std::getenv("PROMOTE_TEST_KILL_AFTER_JOURNAL_LINE");
    return set ? std::strtol(set, nullptr, 10) : 0L;
  }();
  return after;
}

/// Lines this process appended, to any journal: the failpoint counts a resume's lines alone.
std::atomic<long> lines_appended{0};

}  // namespace

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kIntent:
      return "intent";
    case EventKind::kDone:
      return "done";
    case EventKind::kFailed:
      return "failed";
    case EventKind::kTransition:
      return "transition";
    case EventKind::kNote:
      return "note";
  }
  return "note";
}

long JournalEvent::intent() const {
  if (!detail.is_object()) return 0;
  const auto found = detail.find("intent");
  if (found == detail.end() || !found->is_number_integer()) return 0;
  return found->get<long>();
}

Journal::Journal(fs::path path, std::string run_id, std::shared_ptr<const Redactor> redactor,
                 Clock clock)
    : path_(std::move(path)),
      run_id_(std::move(run_id)),
      redactor_(std::move(redactor)),
      clock_(clock ? std::move(clock) : Clock(&std::chrono::system_clock::now)),
      mutex_(std::make_unique<std::mutex>()) {
  KillAfterLine();  // the failpoint's variable is read when a journal is opened, not per line
}

Journal::Journal(Journal&& other) noexcept
    : path_(std::move(other.path_)),
      run_id_(std::move(other.run_id_)),
      redactor_(std::move(other.redactor_)),
      clock_(std::move(other.clock_)),
      mutex_(std::move(other.mutex_)),
      fd_(std::exchange(other.fd_, -1)),
      events_(std::move(other.events_)),
      current_state_(std::move(other.current_state_)),
      torn_tail_(std::move(other.torn_tail_)),
      write_failure_(std::move(other.write_failure_)),
      valid_size_(other.valid_size_),
      tail_cut_(other.tail_cut_) {}

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    run_id_ = std::move(other.run_id_);
    redactor_ = std::move(other.redactor_);
    clock_ = std::move(other.clock_);
    mutex_ = std::move(other.mutex_);
    fd_ = std::exchange(other.fd_, -1);
    events_ = std::move(other.events_);
    current_state_ = std::move(other.current_state_);
    torn_tail_ = std::move(other.torn_tail_);
    write_failure_ = std::move(other.write_failure_);
    valid_size_ = other.valid_size_;
    tail_cut_ = other.tail_cut_;
  }
  return *this;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Journal> Journal::Create(const fs::path& run_dir, const std::string& run_id,
                                std::shared_ptr<const Redactor> redactor, Clock clock) {
  if (!redactor) {
    return Error{ErrorKind::kInternal, "a journal needs a redactor", run_dir.string(), ""};
  }
  if (run_id.empty()) return Error{ErrorKind::kInternal, "empty run id", run_dir.string(), ""};
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) {
    return Error{ErrorKind::kExternal, "cannot create the run folder: " + ec.message(),
                 run_dir.string(), ""};
  }
  const fs::path path = run_dir / kFileName;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Error{ErrorKind::kInternal, "a journal already exists for run " + run_id,
                   path.string(), "use a new run id, or `promote resume " + run_id + "`"};
    }
    return IoError("cannot create the journal", path, errno);
  }
  Journal journal(path, run_id, std::move(redactor), std::move(clock));
  journal.fd_ = fd;
  // The new file and, when they are new too, the run folder itself must survive a crash.
  for (const fs::path& dir : {run_dir, run_dir.parent_path()}) {
    if (dir.empty()) continue;
    Status synced = SyncDirectory(dir);
    if (!synced) return std::move(synced).error();
  }
  return journal;
}

Result<Journal> Journal::Open(const fs::path& run_dir, std::shared_ptr<const Redactor> redactor,
                              Clock clock) {
  if (!redactor) {
    return Error{ErrorKind::kInternal, "a journal needs a redactor", run_dir.string(), ""};
  }
  const fs::path path = run_dir / kFileName;
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    // An ifstream opens a folder without complaint and reads nothing: an "empty journal".
    return Error{
        ErrorKind::kExternal, "the journal is not a file", path.string(),
        "this is not a promote run folder; see the runs in " + run_dir.parent_path().string()};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{ErrorKind::kExternal, "no journal here (is the run id right?)", path.string(),
                 "see the runs in " + run_dir.parent_path().string()};
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  // Complete lines end in '\n'; what follows the last '\n' is a torn tail.
  std::vector<std::pair<std::size_t, std::size_t>> lines;  // [begin, end) without the '\n'
  std::size_t begin = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', begin)) {
    lines.emplace_back(begin, nl);
    begin = nl + 1;
  }
  std::optional<std::string> torn;
  std::uintmax_t valid_size = begin;
  if (begin < text.size()) torn = text.substr(begin);

  std::vector<JournalEvent> events;
  std::string current_state;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto [from, to] = lines[i];
    const std::string where = path.string() + ":" + std::to_string(i + 1);
    auto parsed = Parse(text.substr(from, to - from));
    if (!parsed && i + 1 == lines.size() && !torn) {
      // The last line is newline-terminated but unreadable (e.g. zeros after a power loss): it
      // was never acknowledged either, so it is a torn tail like any other.
      torn = text.substr(from);
      valid_size = from;
      break;
    }
    if (!parsed) {
      Error error = std::move(parsed).error();
      error.where = where;
      error.fix =
          "the journal is damaged before its last line; keep it for inspection and "
          "check the environment by hand (`promote status`)";
      return error;
    }
    const long expected = events.empty() ? 1 : events.back().seq + 1;
    std::string problem;
    if (parsed->seq != expected) {
      problem = "seq " + std::to_string(parsed->seq) + " where " + std::to_string(expected) +
                " was expected";
    } else if (!events.empty() && parsed->run != events.front().run) {
      problem = "run \"" + parsed->run + "\" in the journal of run \"" + events.front().run + "\"";
    } else if (parsed->kind == EventKind::kTransition && !StateFromName(parsed->state)) {
      // A run in a state promote does not know could be neither resumed nor reported.
      problem = "unknown state \"" + parsed->state.substr(0, 64) + "\"";
    }
    if (!problem.empty()) {
      return Error{ErrorKind::kExternal, "corrupt journal line: " + problem, where,
                   "the journal is damaged; keep it for inspection"};
    }
    if (parsed->kind == EventKind::kTransition) current_state = parsed->state;
    events.push_back(std::move(parsed).value());
  }

  std::string run_id = events.empty() ? run_dir.filename().string() : events.front().run;
  if (run_id.empty()) run_id = run_dir.parent_path().filename().string();  // "runs/x/" spelling
  Journal journal(path, std::move(run_id), std::move(redactor), std::move(clock));
  journal.events_ = std::move(events);
  journal.current_state_ = std::move(current_state);
  journal.torn_tail_ = std::move(torn);
  journal.valid_size_ = valid_size;
  return journal;
}

Status Journal::OpenForAppendLocked() {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0)
      return BrokenLocked(IoError("cannot open the journal for appending", path_, errno));
  }
  if (!torn_tail_ || tail_cut_) return promote::Done{};
  // Cut the torn tail off, so that every line of the file stays valid after this append; the
  // torn bytes are kept in a note below. Only the run's lock holder appends, so nobody else can
  // have written since Open: a different size means the file is not what Open read.
  struct stat info {};
  if (::fstat(fd_, &info) != 0)
    return BrokenLocked(IoError("cannot stat the journal", path_, errno));
  if (static_cast<std::uintmax_t>(info.st_size) != valid_size_ + torn_tail_->size()) {
    return Error{
        ErrorKind::kExternal, "the journal changed since it was opened", path_.string(),
        "is another promote process running this run? see `promote status " + run_id_ + "`"};
  }
  if (::ftruncate(fd_, static_cast<off_t>(valid_size_)) != 0 || ::fdatasync(fd_) != 0) {
    return BrokenLocked(IoError("cannot cut the torn last line off the journal", path_, errno));
  }
  tail_cut_ = true;
  JournalEvent note;
  note.state = current_state_;
  note.kind = EventKind::kNote;
  note.detail = {{"message", "discarded a torn last line left by an interrupted write"},
                 {"torn", *torn_tail_},
                 {"bytes", torn_tail_->size()}};
  auto noted = AppendLocked(std::move(note));
  if (!noted) return std::move(noted).error();
  return promote::Done{};
}

Result<long> Journal::Append(JournalEvent event) {
  std::lock_guard<std::mutex> lock(*mutex_);
  Status ready = OpenForAppendLocked();
  if (!ready) return std::move(ready).error();
  return AppendLocked(std::move(event));
}

Result<long> Journal::AppendLocked(JournalEvent event) {
  event.seq = events_.empty() ? 1 : events_.back().seq + 1;
  event.at = Rfc3339(clock_());
  event.run = run_id_;
  if (event.detail.is_null()) event.detail = json::object();
  const Redactor& redactor = *redactor_;

  JournalEvent redacted = event;
  redacted.run = redactor.Redact(event.run);
  redacted.state = redactor.Redact(event.state);
  redacted.step = redactor.Redact(event.step);
  redacted.service = redactor.Redact(event.service);
  redacted.detail = RedactTree(event.detail, redactor);
  const std::string fallback = Serialize(redacted);
  std::string line = redactor.Redact(fallback);
  auto written = Parse(line);
  if (!written || written->seq != event.seq || line.find('\n') != std::string::npos) {
    // Redacting the whole line broke its JSON (a registered value that also spells a number or
    // a field name): the field-by-field redaction alone still keeps every string secret-free.
    line = fallback;
    written = Parse(line);
    if (!written) {
      return Error{ErrorKind::kInternal, "a journal line does not read back: " + line,
                   path_.string(), ""};
    }
  }
  line += '\n';

  // One write(2) of the whole line on an O_APPEND fd: a line is never interleaved with another
  // and, when the process dies, at most the last line is torn. A short write (the disk filling
  // up, the file size limit) is followed by another, whose errno names the real cause.
  std::size_t done = 0;
  int error = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (done != line.size()) {
    // Take a partial line back off, so the next append does not land behind it.
    if (done > 0 && ::ftruncate(fd_, static_cast<off_t>(valid_size_)) != 0) {
      torn_tail_ = line.substr(0, done);
      tail_cut_ = false;
    }
    return BrokenLocked(IoError("cannot write to the journal", path_, error));
  }
  valid_size_ += line.size();
  // The line is in the file (if not yet durable): memory follows the file either way.
  const int synced = ::fdatasync(fd_);
  error = errno;
  if (written->kind == EventKind::kTransition) current_state_ = written->state;
  events_.push_back(std::move(written).value());
  if (synced != 0) return BrokenLocked(IoError("cannot sync the journal", path_, error));
  if (KillAfterLine() > 0 && ++lines_appended == KillAfterLine()) ::raise(SIGKILL);
  return event.seq;
}

Result<long> Journal::Transition(const std::string& to_state, nlohmann::json detail) {
  std::lock_guard<std::mutex> lock(*mutex_);
  Status ready = OpenForAppendLocked();
  if (!ready) return std::move(ready).error();
  JournalEvent event;
  event.kind = EventKind::kTransition;
  event.state = to_state;
  if (!detail.is_object()) detail = detail.is_null() ? json::object() : json{{"value", detail}};
  if (!current_state_.empty() && !detail.contains("from")) detail["from"] = current_state_;
  event.detail = std::move(detail);
  return AppendLocked(std::move(event));
}

Result<long> Journal::Intent(const std::string& state, const std::string& step,
                             const std::string& service, nlohmann::json detail) {
  JournalEvent event;
  event.kind = EventKind::kIntent;
  event.state = state;
  event.step = step;
  event.service = service;
  event.detail = std::move(detail);
  return Append(std::move(event));
}

Result<long> Journal::Done(long intent_seq, nlohmann::json detail) {
  return Close(EventKind::kDone, intent_seq, std::move(detail));
}

Result<long> Journal::Failed(long intent_seq, nlohmann::json detail) {
  return Close(EventKind::kFailed, intent_seq, std::move(detail));
}

Result<long> Journal::Close(EventKind kind, long intent_seq, nlohmann::json detail) {
  std::lock_guard<std::mutex> lock(*mutex_);
  const JournalEvent* intent = nullptr;
  for (const auto& event : events_) {
    if (event.kind == EventKind::kIntent && event.seq == intent_seq) intent = &event;
    if ((event.kind == EventKind::kDone || event.kind == EventKind::kFailed) &&
        event.intent() == intent_seq) {
      return Error{ErrorKind::kInternal,
                   "intent #" + std::to_string(intent_seq) + " is already closed", path_.string(),
                   ""};
    }
  }
  if (intent == nullptr) {
    return Error{ErrorKind::kInternal, "no intent #" + std::to_string(intent_seq) + " to close",
                 path_.string(), ""};
  }
  JournalEvent event;
  event.kind = kind;
  event.state = intent->state;
  event.step = intent->step;
  event.service = intent->service;
  if (!detail.is_object()) detail = detail.is_null() ? json::object() : json{{"value", detail}};
  detail["intent"] = intent_seq;
  event.detail = std::move(detail);
  Status ready = OpenForAppendLocked();
  if (!ready) return std::move(ready).error();
  return AppendLocked(std::move(event));
}

Result<long> Journal::Note(const std::string& message, nlohmann::json detail) {
  std::lock_guard<std::mutex> lock(*mutex_);
  Status ready = OpenForAppendLocked();
  if (!ready) return std::move(ready).error();
  JournalEvent event;
  event.kind = EventKind::kNote;
  event.state = current_state_;
  if (!detail.is_object()) detail = detail.is_null() ? json::object() : json{{"value", detail}};
  detail["message"] = message;
  event.detail = std::move(detail);
  return AppendLocked(std::move(event));
}

std::vector<JournalEvent> Journal::events() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  return events_;
}

std::string Journal::CurrentState() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  return current_state_;
}

std::vector<JournalEvent> Journal::OpenIntents() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  std::vector<JournalEvent> open;
  for (const auto& event : events_) {
    if (event.kind == EventKind::kIntent) open.push_back(event);
    if (event.kind == EventKind::kDone || event.kind == EventKind::kFailed) {
      const long closed = event.intent();
      std::erase_if(open, [closed](const JournalEvent& intent) { return intent.seq == closed; });
    }
  }
  return open;
}

std::optional<JournalEvent> Journal::LastDone(const std::string& step,
                                              const std::string& service) const {
  std::lock_guard<std::mutex> lock(*mutex_);
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (it->kind == EventKind::kDone && it->step == step && it->service == service) return *it;
  }
  return std::nullopt;
}

Error Journal::BrokenLocked(Error error) {
  error.kind = ErrorKind::kInterrupted;
  if (!write_failure_) write_failure_ = error;
  return error;
}

std::optional<Error> Journal::write_failure() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  return write_failure_;
}

std::optional<std::string> Journal::torn_tail() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  return torn_tail_;
}

}  // namespace promote::engine
