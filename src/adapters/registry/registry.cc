// Implementation details: one easy handle per request, made and cleaned up on the calling
// thread (no shared curl state but the global init), so Lookup is safe from several threads.
// A token fetched for a 401 is used for that lookup only: lookups are few (one an image that
// changes) and a cache would be one more thing to expire correctly.
#include "adapters/registry/registry.h"

#include <curl/curl.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "adapters/http/curl_global.h"
#include "adapters/http/transient.h"
#include "core/text.h"
#include "core/version.h"
#include "plan/plan.h"

namespace promote::adapters::registry {
namespace {

/// The manifest types a container runtime accepts; without an Accept the registry may answer
/// with the old schema 1 or refuse (docker-registry 2.8: 400 MANIFEST_INVALID on GET).
constexpr const char* kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

/// One HTTP answer: status (0 when none came), the headers kept, the body (token requests).
struct Answer {
  long status = 0;
  CURLcode code = CURLE_OK;
  std::string error;  ///< curl's words when no answer came
  std::string digest;
  std::string challenge;  ///< WWW-Authenticate
  std::string body;
};

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* sink) {
  auto& answer = *static_cast<Answer*>(sink);
  const std::string line(data, size * count);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    const std::string name = Lower(line.substr(0, colon));
    if (name == "docker-content-digest") answer.digest = Trim(line.substr(colon + 1));
    if (name == "www-authenticate") answer.challenge = Trim(line.substr(colon + 1));
  }
  return size * count;
}

/// Keeps at most 64 KiB of a body: a token answer is small, anything larger is not one.
std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* sink) {
  auto& body = static_cast<Answer*>(sink)->body;
  const std::size_t bytes = size * count;
  if (body.size() < 65536) body.append(data, std::min(bytes, 65536 - body.size()));
  return bytes;
}

/// One request; `head` asks for headers only. `authorization` is a whole header value or "";
/// `user_password` goes to curl as Basic credentials when not empty.
Answer Send(const std::string& url, bool head, const std::string& authorization,
            const std::string& user_password, std::chrono::milliseconds timeout) {
  http::EnsureCurlInitialised();
  Answer answer;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    answer.code = CURLE_OUT_OF_MEMORY;
    answer.error = "libcurl could not make a request";
    return answer;
  }
  std::array<char, CURL_ERROR_SIZE> why{};
  curl_slist* headers = curl_slist_append(nullptr, kManifestAccept);
  const std::string auth_line = "Authorization: " + authorization;
  if (!authorization.empty()) headers = curl_slist_append(headers, auth_line.c_str());
  const std::string agent = std::string("promote/") + kVersion;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, why.data());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer);
  if (head) curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  if (!user_password.empty()) {
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(easy, CURLOPT_USERPWD, user_password.c_str());
  }
  answer.code = curl_easy_perform(easy);
  if (answer.code == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &answer.status);
  } else {
    answer.error = why[0] != '\0' ? why.data() : curl_easy_strerror(answer.code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return answer;
}

/// The parameters of a `Bearer realm="…",service="…",scope="…"` challenge; empty when the
/// challenge is not Bearer.
std::map<std::string, std::string> BearerParameters(const std::string& challenge) {
  std::map<std::string, std::string> parameters;
  if (Lower(challenge.substr(0, 7)) != "bearer ") return parameters;
  std::size_t at = 7;
  while (at < challenge.size()) {
    while (at < challenge.size() && (challenge[at] == ' ' || challenge[at] == ',')) ++at;
    const auto equals = challenge.find('=', at);
    if (equals == std::string::npos) break;
    const std::string key = Lower(Trim(challenge.substr(at, equals - at)));
    std::string value;
    at = equals + 1;
    if (at < challenge.size() && challenge[at] == '"') {
      const auto close = challenge.find('"', at + 1);
      if (close == std::string::npos) break;
      value = challenge.substr(at + 1, close - at - 1);
      at = close + 1;
    } else {
      const auto comma = challenge.find(',', at);
      value =
          Trim(challenge.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      at = comma == std::string::npos ? challenge.size() : comma;
    }
    parameters[key] = value;
  }
  return parameters;
}

std::string Escape(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

/// "docker.io/library/nginx" → ("docker.io", "library/nginx").
std::pair<std::string, std::string> HostAndName(const ImageReference& image) {
  const std::string normalized = image.NormalizedRepository();
  const auto slash = normalized.find('/');
  return {normalized.substr(0, slash), normalized.substr(slash + 1)};
}

Error Failure(std::string what, std::string fix, bool transient = false) {
  Error error{ErrorKind::kExternal, std::move(what), "registry", std::move(fix)};
  error.transient = transient;
  return error;
}

}  // namespace

ImageRegistry::~ImageRegistry() = default;

HttpRegistry::HttpRegistry(std::shared_ptr<spdlog::logger> logger,
                           std::chrono::milliseconds request_timeout)
    : logger_(std::move(logger)), request_timeout_(request_timeout) {}

HttpRegistry::~HttpRegistry() = default;

Result<ImageLookup> HttpRegistry::Lookup(const ImageReference& image,
                                         const RegistryAccess& access) {
  // Plain variables, not a structured binding: clang 14 (the fuzz build's) cannot capture one
  // in the lambda below.
  const auto host_and_name = HostAndName(image);
  const std::string& host = host_and_name.first;
  const std::string& name = host_and_name.second;
  std::string base = access.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string reference =
      !image.digest.empty() ? image.digest : (!image.tag.empty() ? image.tag : "latest");
  ImageLookup lookup;
  lookup.url = base + "/v2/" + name + "/manifests/" + reference;
  const std::string shown = image.Repository() + (image.digest.empty() ? ":" : "@") + reference;

  std::string credentials;  // USER:PASSWORD, read only once the registry asks
  const auto read_credentials = [&]() -> Status {
    if (!access.credentials_variable) {
      return Failure("registry " + base + " asks for credentials to read " + shown,
                     "name the environment variable that holds USER:PASSWORD for " + host +
                         " under the target's registry.credentials");
    }
    const char* value = std::getenv(access.credentials_variable->c_str());
    if (value == nullptr || *value == '\0') {
      return Failure("registry " + base + " asks for credentials to read " + shown + ", and $" +
                         *access.credentials_variable + " is not set",
                     "set " + *access.credentials_variable + " to USER:PASSWORD (or USER:TOKEN)");
    }
    credentials = value;
    return Done{};
  };

  std::string authorization;  // "Bearer TOKEN" once a token was fetched
  bool basic = false;         // send `credentials` as Basic
  bool answered_challenge = false;
  Answer answer;
  for (int retry = 0;; ++retry) {
    answer =
        Send(lookup.url, /*head=*/true, authorization, basic ? credentials : "", request_timeout_);
    if (logger_) {
      logger_->debug("registry: HEAD {} → {}", lookup.url,
                     answer.status ? std::to_string(answer.status) : answer.error);
    }
    if (answer.status == 401 && !answered_challenge) {
      // The distribution spec's auth: a Bearer challenge names a token endpoint (anonymous
      // tokens are common for public images); a Basic one wants the credentials themselves.
      answered_challenge = true;
      const auto bearer = BearerParameters(answer.challenge);
      if (bearer.count("realm")) {
        const std::string& realm = bearer.at("realm");
        if (realm.rfind("https://", 0) != 0 && realm.rfind("http://", 0) != 0) {
          return Failure("registry " + base + " names a token service that is not an http(s) URL",
                         "check the registry's auth configuration");
        }
        if (access.credentials_variable) {
          if (auto read = read_credentials(); !read) return std::move(read).error();
        }
        std::string token_url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
        if (bearer.count("service")) token_url += "service=" + Escape(bearer.at("service")) + "&";
        token_url += "scope=" + Escape(bearer.count("scope") ? bearer.at("scope")
                                                             : "repository:" + name + ":pull");
        const Answer token = Send(token_url, /*head=*/false, "", credentials, request_timeout_);
        if (token.status != 200) {
          return Failure("registry " + base + "'s token service answered " +
                             (token.status ? std::to_string(token.status) : token.error) + " for " +
                             shown,
                         access.credentials_variable
                             ? "check that $" + *access.credentials_variable +
                                   " holds credentials that may pull " + image.Repository()
                             : "name a variable holding USER:PASSWORD for " + host +
                                   " under the target's registry.credentials");
        }
        const auto json = nlohmann::json::parse(token.body, nullptr, /*allow_exceptions=*/false);
        std::string value;
        for (const char* key : {"token", "access_token"}) {
          if (json.is_object() && json.contains(key) && json[key].is_string()) {
            value = json[key].get<std::string>();
            if (!value.empty()) break;
          }
        }
        if (value.empty()) {
          return Failure("registry " + base + "'s token service answered without a token",
                         "check the registry's auth configuration");
        }
        authorization = "Bearer " + value;
      } else {
        if (auto read = read_credentials(); !read) return std::move(read).error();
        basic = true;
      }
      --retry;  // the challenge was not a failure
      continue;
    }
    const bool transient = answer.status == 0 || http::TransientStatus(answer.status);
    if (!transient || retry >= http::kTransientRetries) break;
    std::this_thread::sleep_for(http::RetryPause(retry));
    ++lookup.tries;
  }

  if (answer.status == 200) {
    lookup.presence = ImagePresence::kPresent;
    lookup.digest = answer.digest;
    if (!image.digest.empty() && !answer.digest.empty() && answer.digest != image.digest) {
      return Failure(
          "registry " + base + " answered " + shown + " with another digest, " + answer.digest,
          "check the mirror " + base + " serves " + host + " as it is");
    }
    return lookup;
  }
  if (answer.status == 404) {
    lookup.presence = ImagePresence::kMissing;
    return lookup;
  }
  if (answer.status == 401 || answer.status == 403) {
    return Failure("registry " + base + " refused to show " + shown + " (" +
                       std::to_string(answer.status) + ")",
                   access.credentials_variable
                       ? "check that $" + *access.credentials_variable +
                             " holds credentials that may pull " + image.Repository()
                       : "name a variable holding USER:PASSWORD for " + host +
                             " under the target's registry.credentials");
  }
  const std::string tries =
      " on " + std::to_string(lookup.tries) + (lookup.tries == 1 ? " try" : " tries in a row");
  if (answer.status == 0) {
    return Failure("could not reach registry " + base + ": " + answer.error + tries,
                   "check that " + base + " is the registry the target pulls " + host +
                       " from (registry.mirrors) and that it is up",
                   /*transient=*/true);
  }
  return Failure(
      "registry " + base + " answered " + std::to_string(answer.status) + " for " + shown + tries,
      "check the registry; audit again once it answers", http::TransientStatus(answer.status));
}

RegistryAccess AccessFor(const plan::RegistryCheck& check, const ImageReference& image) {
  RegistryAccess access;
  const std::string host = RegistryHost(image);
  if (auto mirror = check.mirrors.find(host); mirror != check.mirrors.end()) {
    access.base_url = mirror->second;
  } else {
    access.base_url = host == "docker.io" ? "https://registry-1.docker.io" : "https://" + host;
  }
  if (auto variable = check.credentials.find(host); variable != check.credentials.end()) {
    access.credentials_variable = variable->second;
  }
  return access;
}

std::string RegistryHost(const ImageReference& image) {
  return HostAndName(image).first;
}

}  // namespace promote::adapters::registry
