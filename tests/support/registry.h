// Test fixture: a real OCI registry (Debian's docker-registry 2.8) on loopback, so promote's
// registry digest check is tested against what a registry really answers, not a fake's idea of it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "adapters/process/process.h"
#include "support/files.h"

namespace promote::testing {

/// A real OCI registry (Debian's docker-registry 2.8) on 127.0.0.1 in its own temporary folder,
/// for the tests of promote's registry check; stopped and its folder removed on destruction.
class LocalRegistry {
 public:
  /// Writes a config (filesystem storage in the folder, a free loopback port, no auth), starts
  /// `docker-registry serve CONFIG` and waits until GET /v2/ answers 200: at most 10 s, else
  /// FAIL with its stderr. A port taken in the meantime is retried with a new one (3 times).
  LocalRegistry();
  /// SIGTERM, SIGKILL after a bounded wait, then the folder is removed.
  ~LocalRegistry();
  LocalRegistry(const LocalRegistry&) = delete;
  LocalRegistry& operator=(const LocalRegistry&) = delete;

  /// "http://127.0.0.1:PORT"
  std::string url() const;
  /// "127.0.0.1:PORT", the registry part of an image reference.
  std::string host() const;
  /// Pushes a tiny image as `repository`:`tag` through the distribution API (a config blob, one
  /// layer blob whose bytes are `content`, an OCI image manifest); returns the manifest's digest
  /// "sha256:<64 hex>" as the registry reports it, checked against the bytes sent.
  std::string Push(const std::string& repository, const std::string& tag,
                   const std::string& content = "layer");
  /// Whether HEAD /v2/`repository`/manifests/`reference` (a tag or a digest) answers 200. Any
  /// answer other than 200 or 404 fails the test: a dead registry must not read as "absent".
  bool Has(const std::string& repository, const std::string& reference) const;

 private:
  /// Starts the registry on `port` and waits for it until `deadline`; false when the port
  /// turned out to be taken (the caller tries another).
  bool StartOn(int port, std::chrono::steady_clock::time_point deadline);

  TempDir dir_{"promote-registry"};
  int port_ = 0;
  /// Sent back in a response header by this instance only: tells it from whatever else answers.
  std::string token_;
  // The runner outlives the process it started (the process uses the runner's launch lock).
  std::unique_ptr<adapters::ProcessRunner> runner_;
  std::unique_ptr<adapters::BackgroundProcess> process_;
};

}  // namespace promote::testing
