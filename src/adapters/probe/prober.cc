// Implementation details: one curl multi handle per Run, driven from the calling thread; no
// worker threads. Each attempt is an easy handle; at most options.max_in_flight are attached at
// once and the rest wait in a queue (a retry rejoins the queue with a "not before" time, so a
// backoff never blocks other probes). Results are written into a vector indexed like the input,
// so the order of completion never leaks into the order of results.
#include "adapters/probe/prober.h"

#include <curl/curl.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <deque>
#include <memory>
#include <string_view>
#include <thread>

#include "adapters/http/curl_global.h"
#include "core/text.h"
#include "core/version.h"

namespace promote::adapters::probe {
namespace {

using Clock = std::chrono::steady_clock;

/// "Name: value" of a request header as curl wants it; an empty value needs "Name;".
std::string HeaderLine(const std::string& name, const std::string& value) {
  return value.empty() ? name + ";" : name + ": " + value;
}

/// The first `limit` bytes of `body`, never cutting a UTF-8 sequence in half.
std::string Excerpt(const std::string& body, size_t limit) {
  if (body.size() <= limit) return body;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;
  return body.substr(0, cut);
}

/// One attempt of one target in flight: the easy handle and everything its callbacks fill.
struct Transfer {
  size_t index = 0;  ///< into the targets (and results) vector
  CURL* easy = nullptr;
  curl_slist* request_headers = nullptr;
  std::string request_body;
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(request_headers);
  }
};

/// CURLOPT_WRITEFUNCTION: keeps the first kMaxBodyBytes, reads (and drops) the rest.
size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  std::string& body = transfer->response.body;
  if (body.size() < kMaxBodyBytes) body.append(data, std::min(bytes, kMaxBodyBytes - body.size()));
  return bytes;
}

/// CURLOPT_HEADERFUNCTION: one header line per call; a status line starts a new header set
/// (an interim "100 Continue" must not leave its headers behind).
size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  const std::string_view line(data, bytes);
  if (line.rfind("HTTP/", 0) == 0) {
    transfer->response.headers.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  const std::string name = Lower(Trim(line.substr(0, colon)));
  const std::string value = Trim(line.substr(colon + 1));
  auto [it, inserted] = transfer->response.headers.emplace(name, value);
  if (!inserted) it->second += ", " + value;
  return bytes;
}

/// Maps a libcurl error onto the transport failures an audit names.
TransportFailure Classify(CURLcode code, long os_errno) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportFailure::kTimeout;
    case CURLE_COULDNT_CONNECT:
      return os_errno == ECONNREFUSED ? TransportFailure::kConnectionRefused
                                      : TransportFailure::kCannotConnect;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportFailure::kDns;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return TransportFailure::kTls;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
      return TransportFailure::kNoReply;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:  // "Received HTTP/0.9 when not allowed": a bare banner
      return TransportFailure::kNotHttp;
    default:
      return TransportFailure::kOther;
  }
}

/// Sets up the easy handle of one attempt; false when libcurl refuses (out of memory).
bool Prepare(Transfer& transfer, const ProbeTarget& target, const std::string& url,
             const std::string& user_agent) {
  const plan::Probe& probe = target.probe;
  transfer.easy = curl_easy_init();
  if (transfer.easy == nullptr) return false;
  CURL* easy = transfer.easy;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: we share threads
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(probe.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer);

  bool has_content_type = false;
  for (const auto& [name, value] : probe.headers) {
    if (Lower(name) == "content-type") has_content_type = true;
    transfer.request_headers =
        curl_slist_append(transfer.request_headers, HeaderLine(name, value).c_str());
  }
  if (probe.body && !has_content_type) {
    transfer.request_headers =
        curl_slist_append(transfer.request_headers, "Content-Type: application/json");
  }
  // curl would otherwise ask large bodies for "100-continue" and wait for the server to agree.
  transfer.request_headers = curl_slist_append(transfer.request_headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.request_headers);

  const std::string& method = probe.method;
  if (probe.body || method == "POST") {
    // POSTFIELDS sends a body (possibly empty, with Content-Length: 0) with any method.
    transfer.request_body = probe.body.value_or("");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(transfer.request_body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.request_body.c_str());
    if (method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  return true;
}

/// A probe waiting for its (next) attempt, not to start before `not_before`.
struct Pending {
  size_t index = 0;
  Clock::time_point not_before;
};

/// Everything one Run needs; lives on Run's stack.
class Batch {
 public:
  Batch(const std::vector<ProbeTarget>& targets, const HttpProberOptions& options,
        spdlog::logger* logger)
      : targets_(targets),
        options_(options),
        logger_(logger),
        user_agent_(std::string("promote/") + kVersion),
        max_in_flight_(static_cast<size_t>(std::max(1, options.max_in_flight))) {
    results_.reserve(targets.size());
    for (size_t i = 0; i < targets.size(); ++i) {
      results_.push_back(ResultFor(targets[i]));
      pending_.push_back({i, Clock::now()});
    }
  }

  std::vector<ProbeResult> Run() {
    CURLM* multi = curl_multi_init();
    if (multi == nullptr) {
      for (const Pending& waiting : pending_) FailWithoutTransfer(waiting.index);
      return std::move(results_);
    }
    // The multi handle's connection cache is what lets the next probe of a host reuse an idle
    // keep-alive connection; as many as may be in flight is enough, and bounds open sockets.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_in_flight_));
    while (!pending_.empty() || !in_flight_.empty()) {
      StartDue(multi);
      int running = 0;
      curl_multi_perform(multi, &running);
      CollectFinished(multi);
      Wait(multi);
    }
    curl_multi_cleanup(multi);
    return std::move(results_);
  }

 private:
  /// Attaches queued attempts whose time has come, oldest first, up to the in-flight limit.
  void StartDue(CURLM* multi) {
    const Clock::time_point now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end() && in_flight_.size() < max_in_flight_;) {
      if (it->not_before > now) {
        ++it;
        continue;
      }
      const size_t index = it->index;
      it = pending_.erase(it);
      auto transfer = std::make_unique<Transfer>();
      transfer->index = index;
      if (!Prepare(*transfer, targets_[index], results_[index].url, user_agent_) ||
          curl_multi_add_handle(multi, transfer->easy) != CURLM_OK) {
        FailWithoutTransfer(index);
        continue;
      }
      in_flight_.push_back(std::move(transfer));
    }
  }

  /// Records every finished transfer and queues a retry where one is due.
  void CollectFinished(CURLM* multi) {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode code = message->data.result;
      curl_multi_remove_handle(multi, easy);
      auto it =
          std::find_if(in_flight_.begin(), in_flight_.end(),
                       [easy](const std::unique_ptr<Transfer>& t) { return t->easy == easy; });
      if (it == in_flight_.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(*it);
      in_flight_.erase(it);
      Finish(*transfer, code);
    }
  }

  /// Turns a finished transfer into an attempt, and decides whether another one follows.
  void Finish(Transfer& transfer, CURLcode code) {
    const ProbeTarget& target = targets_[transfer.index];
    curl_off_t total_us = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_TOTAL_TIME_T, &total_us);
    const auto latency =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::microseconds(total_us));

    ProbeVerdict verdict;
    int status = -1;
    if (code == CURLE_OK) {
      long response_code = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &response_code);
      status = static_cast<int>(response_code);
      transfer.response.status = status;
      transfer.response.latency = latency;
      verdict = Evaluate(target.probe, transfer.response);
    } else {
      long os_errno = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_OS_ERRNO, &os_errno);
      const TransportFailure failure = Classify(code, os_errno);
      // curl's own text repeats the timeout; for other failures it names host and port.
      std::string detail;
      if (failure != TransportFailure::kTimeout) {
        detail = transfer.error[0] != '\0' ? transfer.error : curl_easy_strerror(code);
      }
      verdict = EvaluateFailure(target.probe, failure, detail);
      transfer.response.body.clear();
    }
    Record(transfer.index, std::move(verdict), status, latency, transfer.response.body);
  }

  /// An attempt that could not even be started (libcurl out of resources).
  void FailWithoutTransfer(size_t index) {
    Record(index,
           EvaluateFailure(targets_[index].probe, TransportFailure::kOther,
                           "could not set up the HTTP request"),
           -1, std::chrono::milliseconds(0), "");
  }

  void Record(size_t index, ProbeVerdict verdict, int status, std::chrono::milliseconds latency,
              const std::string& body) {
    const ProbeTarget& target = targets_[index];
    ProbeResult& result = results_[index];
    const int attempts_allowed = 1 + std::max(0, target.probe.retries);
    result.attempts.push_back({verdict.outcome, status, latency, verdict.reason, verdict.note});
    const int attempt = static_cast<int>(result.attempts.size());
    // should_log first: the arguments (and the excerpt) cost more than the line at 1,000 probes.
    if (logger_ != nullptr && logger_->should_log(spdlog::level::debug)) {
      logger_->debug("probe {} {} {} -> {} ({}) in {} ms, attempt {}/{}", target.service,
                     target.probe.method, result.url,
                     status < 0 ? std::string("no answer") : std::to_string(status), verdict.note,
                     latency.count(), attempt, attempts_allowed);
      // The size only: an audit probes while it is still reading the workloads, before it has
      // learned the secret-looking env values a body may echo. The excerpt is in the reports,
      // which are redacted when written, after the audit.
      if (!body.empty() && logger_->should_log(spdlog::level::trace)) {
        logger_->trace("probe {} {} body: {} bytes", target.probe.method, result.url, body.size());
      }
    }
    result.status = status;
    result.latency = latency;
    result.body_excerpt = Excerpt(body, options_.body_excerpt_bytes);
    const bool retry = verdict.outcome != ProbeOutcome::kPassed && attempt < attempts_allowed;
    result.verdict = std::move(verdict);
    if (retry) pending_.push_back({index, Clock::now() + options_.retry_backoff});
  }

  /// Sleeps until a transfer has something to do or, when there is room in flight, the next
  /// queued attempt is due. A full house waits for transfers only (no busy loop).
  void Wait(CURLM* multi) {
    if (pending_.empty() && in_flight_.empty()) return;
    constexpr auto kMaxWait = std::chrono::milliseconds(1000);
    auto wait = kMaxWait;
    const Clock::time_point now = Clock::now();
    const bool room = in_flight_.size() < max_in_flight_;
    for (const Pending& waiting : pending_) {
      if (!room) break;
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(waiting.not_before - now);
      wait = std::min(wait, std::max(until, std::chrono::milliseconds(0)));
    }
    if (in_flight_.empty()) {
      std::this_thread::sleep_for(wait);
      return;
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }

  const std::vector<ProbeTarget>& targets_;
  const HttpProberOptions& options_;
  spdlog::logger* logger_;
  const std::string user_agent_;
  const size_t max_in_flight_;
  std::vector<ProbeResult> results_;
  std::deque<Pending> pending_;
  std::vector<std::unique_ptr<Transfer>> in_flight_;
};

}  // namespace

Prober::~Prober() = default;

HttpProber::HttpProber(std::shared_ptr<spdlog::logger> logger, HttpProberOptions options)
    : logger_(std::move(logger)), options_(options) {
  adapters::http::EnsureCurlInitialised();
}

HttpProber::~HttpProber() = default;

std::vector<ProbeResult> HttpProber::Run(const std::vector<ProbeTarget>& targets) {
  return Batch(targets, options_, logger_.get()).Run();
}

ProbeResult ResultFor(const ProbeTarget& target) {
  ProbeResult result;
  result.service = target.service;
  result.environment = target.environment;
  result.probe_name = target.probe.name;
  result.method = target.probe.method;
  result.path = target.probe.path;
  result.url = ProbeUrl(target.base_url, target.probe.path);
  result.golden = target.probe.golden;
  result.metric = target.probe.metric.has_value();
  if (result.metric) result.query = target.probe.metric->query;
  return result;
}

std::string ProbeUrl(const std::string& base_url, const std::string& path) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (path.empty()) return url + "/";
  return path.front() == '/' ? url + path : url + "/" + path;
}

}  // namespace promote::adapters::probe
