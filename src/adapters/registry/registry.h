// The only code that asks an OCI registry about images (the distribution API's manifest HEAD),
// so that promote can refuse an image the target cannot pull before it changes anything there,
// rather than learn it from an ImagePullBackOff halfway through a wave.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/image_reference.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace promote::plan {
struct RegistryCheck;
}  // namespace promote::plan

namespace promote::adapters::registry {

/// Where one image is looked up: the registry's base URL and the credentials that reach it.
struct RegistryAccess {
  std::string base_url;  ///< "https://ghcr.io", or the environment's mirror "http://127.0.0.1:5000"
  /// The environment variable holding "USER:PASSWORD" (or "USER:TOKEN") for this registry; its
  /// value is read only when the registry asks for credentials, and never written anywhere.
  std::optional<std::string> credentials_variable;
};

/// Whether a registry holds an image's manifest.
enum class ImagePresence { kPresent, kMissing };

/// One lookup's answer, with what was asked so a report can show it.
struct ImageLookup {
  ImagePresence presence = ImagePresence::kMissing;
  std::string url;     ///< the manifest URL asked
  std::string digest;  ///< the answer's Docker-Content-Digest, "" when missing or not given
  int tries = 1;       ///< HEAD requests made (more than 1 when transient failures were repeated)
};

/// Looks images up in registries; an interface so the audit's tests can take a fake.
class ImageRegistry {
 public:
  virtual ~ImageRegistry();
  /// Whether `image` (by its digest when it has one, else its tag, else `latest`) is in the
  /// registry `access` names. An Error when the registry could not tell: unreachable, failing
  /// after repeats, or refusing the credentials.
  virtual Result<ImageLookup> Lookup(const ImageReference& image, const RegistryAccess& access) = 0;
};

/// The real client (libcurl): HEAD /v2/NAME/manifests/REF asking for the OCI and Docker schema 2
/// manifest and index types; a 401 is answered as the distribution spec says (a Bearer token
/// from the challenge's realm, or Basic credentials); 429, 5xx and dropped connections are
/// repeated like the Kubernetes API's reads (adapters/http/transient.h). Redirects are not
/// followed. Lookup may be called from several threads at once.
class HttpRegistry final : public ImageRegistry {
 public:
  explicit HttpRegistry(std::shared_ptr<spdlog::logger> logger,
                        std::chrono::milliseconds request_timeout = std::chrono::seconds(10));
  ~HttpRegistry() override;

  Result<ImageLookup> Lookup(const ImageReference& image, const RegistryAccess& access) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::chrono::milliseconds request_timeout_;
};

/// Where an environment pulls `image` from, as its registry check says: the mirror it names for
/// the image's registry, else https://HOST (Docker Hub's is https://registry-1.docker.io), with
/// the credentials variable it names for that registry.
RegistryAccess AccessFor(const plan::RegistryCheck& check, const ImageReference& image);

/// The registry host an image names, as the plan's registry maps key it: "ghcr.io",
/// "localhost:5000"; "docker.io" for a reference that names none.
std::string RegistryHost(const ImageReference& image);

}  // namespace promote::adapters::registry
