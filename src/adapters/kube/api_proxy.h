// ApiProxy: one long-lived `kubectl proxy` per cluster context, so that reading an environment
// costs one kubectl process however many services it has, while authentication (kubeconfig,
// exec credential plugins, client certificates) stays kubectl's business as before.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "adapters/process/process.h"
#include "core/error.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote::adapters::kube {

/// One answer of the API server: its HTTP status and body (a Status object on errors).
struct ApiResponse {
  long status = 0;
  std::string body;
  int tries = 1;  ///< requests made: more than 1 when transient failures were repeated
};

/// Accept header of a metadata-only list: names and labels, never a Secret's data.
inline constexpr const char* kMetadataListAccept =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

/// A `kubectl proxy` listening on a Unix socket in a folder only this user can open (a loopback
/// TCP port would lend our credentials to every local user), started on the first Get and
/// restarted if it dies (at most kMaxStarts times). Get may be called from several threads.
class ApiProxy {
 public:
  /// `kubectl` is the kubectl argv prefix (binary, --kubeconfig, --context…) without "proxy".
  ApiProxy(ProcessRunner& runner, Command kubectl, std::chrono::milliseconds request_timeout,
           std::shared_ptr<spdlog::logger> logger = nullptr);
  ~ApiProxy();
  ApiProxy(const ApiProxy&) = delete;
  ApiProxy& operator=(const ApiProxy&) = delete;

  /// GET `path` (with its query, already escaped) from the API server. A 404 is a response,
  /// not an Error; an Error means no answer came (the proxy could not start or answer).
  Result<ApiResponse> Get(const std::string& path, const std::string& accept = "application/json");

  /// How many times a proxy process was started (for tests: restarts are bounded).
  int starts() const;

  static constexpr int kMaxStarts = 3;

 private:
  /// The socket of a running proxy, starting one when none runs.
  Result<std::string> Socket();

  ProcessRunner& runner_;
  Command kubectl_;
  std::chrono::milliseconds request_timeout_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string session_;  ///< sent as Kubectl-Session, so the API server's log groups our reads

  mutable std::mutex mutex_;
  std::unique_ptr<BackgroundProcess> process_;
  std::filesystem::path folder_;
  std::string socket_;
  int starts_ = 0;
};

/// "a/b c" → "a%2Fb%20c": a value for a URL's query or path segment.
std::string EscapeUrl(const std::string& text);

}  // namespace promote::adapters::kube
