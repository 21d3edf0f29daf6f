// Implementation details: the proxy's socket lives in a mkdtemp folder (mode 0700) that is
// removed with the proxy. Each Get uses an easy handle of its own, so threads share nothing but
// the proxy; a Unix-socket connect costs microseconds, and the proxy keeps its own connections
// to the API server alive. A Get that finds the proxy gone starts it again and retries once.
#include "adapters/kube/api_proxy.h"

#include <curl/curl.h>
#include <spdlog/logger.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <random>
#include <system_error>
#include <thread>

#include "adapters/http/curl_global.h"
#include "adapters/kube/retry.h"
#include "core/version.h"

namespace promote::adapters::kube {
namespace {

using std::chrono::milliseconds;

/// How long a starting proxy may take to say it serves.
constexpr milliseconds kStartTimeout{20000};
/// A socket path must fit sockaddr_un (108 bytes with its terminator).
constexpr std::size_t kMaxSocketPath = 100;

std::string RandomSession() {
  std::random_device device;
  std::mt19937_64 bits(device());
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) {
    id.push_back(kHex[bits() % 16]);
    if (i == 7 || i == 11 || i == 15 || i == 19) id.push_back('-');
  }
  return id;
}

std::size_t Append(char* data, std::size_t size, std::size_t count, void* sink) {
  static_cast<std::string*>(sink)->append(data, size * count);
  return size * count;
}

/// A private folder for the socket: under $TMPDIR unless that makes the path too long.
Result<std::filesystem::path> MakeSocketFolder() {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  if (ec || base.string().size() + 32 > kMaxSocketPath) base = "/tmp";
  std::string pattern = (base / "promote-kube-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Error{ErrorKind::kExternal, "cannot create a folder for kubectl proxy's socket", base,
                 "make " + base.string() + " writable, or set TMPDIR to a writable folder"};
  }
  return std::filesystem::path(pattern);
}

/// Whether a curl failure means nothing was listening (the proxy died), not a slow answer.
bool NobodyListening(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_GOT_NOTHING || code == CURLE_SEND_ERROR ||
         code == CURLE_RECV_ERROR;
}

}  // namespace

std::string EscapeUrl(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string escaped;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      escaped.push_back(static_cast<char>(c));
    } else {
      escaped += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return escaped;
}

ApiProxy::ApiProxy(ProcessRunner& runner, Command kubectl, milliseconds request_timeout,
                   std::shared_ptr<spdlog::logger> logger)
    : runner_(runner),
      kubectl_(std::move(kubectl)),
      request_timeout_(request_timeout),
      logger_(std::move(logger)),
      session_(RandomSession()) {
  http::EnsureCurlInitialised();
}

ApiProxy::~ApiProxy() {
  if (process_) process_->Stop();
  if (!folder_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(folder_, ec);
  }
}

int ApiProxy::starts() const {
  std::lock_guard lock(mutex_);
  return starts_;
}

Result<std::string> ApiProxy::Socket() {
  std::lock_guard lock(mutex_);
  if (process_ && process_->running()) return socket_;
  const std::string where = kubectl_.argv.empty() ? "kubectl" : kubectl_.argv.front();
  if (starts_ >= kMaxStarts) {
    return Error{
        ErrorKind::kExternal,
        "kubectl proxy stopped " + std::to_string(starts_) + " times; not starting it again", where,
        "run the same kubectl with `proxy` by hand to see why it stops"};
  }
  if (folder_.empty()) {
    auto folder = MakeSocketFolder();
    if (!folder) return std::move(folder).error();
    folder_ = *folder;
  }
  socket_ = (folder_ / "api.sock").string();
  std::error_code ec;
  std::filesystem::remove(socket_, ec);  // a dead proxy's socket file would make the next fail
  Command command = kubectl_;
  command.argv.push_back("proxy");
  command.argv.push_back("--unix-socket=" + socket_);
  ++starts_;
  auto started = runner_.Start(command);
  if (!started) return std::move(started).error().WithContext("starting kubectl proxy");
  auto ready = (*started)->WaitForLine("Starting to serve on", kStartTimeout);
  if (!ready) return std::move(ready).error().WithContext("starting kubectl proxy");
  process_ = std::move(*started);
  return socket_;
}

Result<ApiResponse> ApiProxy::Get(const std::string& path, const std::string& accept) {
  int retries = 0;
  for (int attempt = 0;; ++attempt) {
    auto socket = Socket();
    if (!socket) return std::move(socket).error();
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      return Error{ErrorKind::kExternal, "libcurl could not make a request handle", "GET " + path,
                   "the system is out of memory or file descriptors"};
    }
    ApiResponse response;
    std::array<char, CURL_ERROR_SIZE> why{};
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
    headers = curl_slist_append(headers, ("Kubectl-Session: " + session_).c_str());
    const std::string url = "http://localhost" + path;
    const std::string agent = std::string("promote/") + kVersion;
    curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, socket->c_str());
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request_timeout_.count()));
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // whatever the proxy compresses
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, why.data());
    const auto started = std::chrono::steady_clock::now();
    const CURLcode code = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    if (logger_) {
      logger_->debug(
          "GET {} → {} in {} ms", path, code == CURLE_OK ? response.status : -1L,
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started)
              .count());
    }
    // An API server that is restarting, overloaded or behind a failing load balancer answers
    // 429/5xx for a moment: a read is safe to repeat, a few times with a growing pause.
    const bool transient =
        code == CURLE_OK ? TransientStatus(response.status) : NobodyListening(code);
    if (transient && retries < kTransientRetries) {
      if (logger_)
        logger_->debug("GET {}: transient failure, retry {} of {}", path, retries + 1,
                       kTransientRetries);
      std::this_thread::sleep_for(RetryPause(retries));
      ++retries;
      --attempt;  // a retry is not a restart of the proxy
      continue;
    }
    response.tries = retries + 1;
    if (code == CURLE_OK) return response;
    // A proxy that just died may not be reaped yet: give its thread a moment to see the exit.
    bool dead = false;
    for (int tick = 0; NobodyListening(code) && !dead && tick < 50; ++tick) {
      {
        std::lock_guard lock(mutex_);
        dead = !(process_ && process_->running());
      }
      if (!dead) std::this_thread::sleep_for(milliseconds(20));
    }
    if (dead && attempt == 0) continue;  // the proxy died under us: start it again, once
    std::string detail = why[0] != '\0' ? why.data() : curl_easy_strerror(code);
    if (retries > 0) detail += " (" + std::to_string(retries + 1) + " tries)";
    Error failed{ErrorKind::kExternal,
                 "no answer from the API server through kubectl proxy: " + detail, "GET " + path,
                 code == CURLE_OPERATION_TIMEDOUT
                     ? "the API server is slow or unreachable; check it with `kubectl get --raw " +
                           path + "`"
                     : "check the cluster with `kubectl get --raw " + path + "`"};
    failed.transient = true;
    return failed;
  }
}

}  // namespace promote::adapters::kube
