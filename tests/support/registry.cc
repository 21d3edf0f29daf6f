#include "support/registry.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "support/ports.h"

namespace promote::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr auto kReadyWithin = std::chrono::seconds(10);
constexpr int kPortRetries = 3;
constexpr char kIdentityHeader[] = "x-promote-fixture";

/// SHA-256 (FIPS 180-4) of `bytes` as 64 lower-case hex digits. Written out here because the
/// project links no crypto library and content_hash.h is FNV-1a, not what OCI digests are.
std::string Sha256Hex(const std::string& bytes) {
  static constexpr std::array<uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };

  // Padding: a 1 bit, zeros up to 56 mod 64, then the length in bits as 64-bit big-endian.
  std::string message = bytes;
  const uint64_t bits = static_cast<uint64_t>(bytes.size()) * 8;
  message += static_cast<char>(0x80);
  while (message.size() % 64 != 56) message += '\0';
  for (int shift = 56; shift >= 0; shift -= 8) message += static_cast<char>((bits >> shift) & 0xff);

  for (std::size_t block = 0; block < message.size(); block += 64) {
    std::array<uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i) {
      for (int j = 0; j < 4; ++j) {
        w[i] = (w[i] << 8) | static_cast<unsigned char>(message[block + 4 * i + j]);
      }
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, hh] = h;
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const std::array<uint32_t, 8> add = {a, b, c, d, e, f, g, hh};
    for (int i = 0; i < 8; ++i) h[i] += add[i];
  }

  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (const uint32_t word : h) {
    for (int shift = 28; shift >= 0; shift -= 4) hex += kHex[(word >> shift) & 0xf];
  }
  return hex;
}

/// One HTTP answer: status (-1 when nothing answered), headers (names lower-cased), body.
struct Answer {
  long status = -1;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string error;  ///< curl's reason when nothing answered

  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? "" : found->second;
  }
  /// For a failure message: what came back.
  std::string Describe() const {
    return status < 0 ? "no answer (" + error + ")" : std::to_string(status) + " " + body;
  }
};

/// libcurl's write callback: appends the body to a std::string.
size_t KeepBody(char* data, size_t size, size_t n, void* sink) {
  static_cast<std::string*>(sink)->append(data, size * n);
  return size * n;
}

/// libcurl's header callback: keeps each header of the last answer, its name lower-cased.
size_t KeepHeader(char* data, size_t size, size_t n, void* sink) {
  auto& kept = *static_cast<std::map<std::string, std::string>*>(sink);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) kept.clear();  // a new status line: a new answer
  if (const auto colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto start = line.find_first_not_of(' ', colon + 1);
    kept[name] = start == std::string::npos ? "" : line.substr(start);
  }
  return size * n;
}

/// One request to the registry with libcurl. Only loopback URLs are allowed: the fixture must
/// never reach the network, even when a Location header says otherwise. No proxy, no redirects.
Answer Request(const std::string& method, const std::string& url,
               const std::vector<std::string>& headers, const std::string& body = "",
               milliseconds timeout = milliseconds(5000)) {
  REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0);
  Answer answer;
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    // POST and PUT both send `body` as is (an empty one too).
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_slist* list = curl_slist_append(nullptr, "Expect:");  // no 100-continue round trip
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &KeepBody);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &KeepHeader);
  if (const CURLcode code = curl_easy_perform(curl); code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  } else {
    answer.error = curl_easy_strerror(code);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return answer;
}

/// What the registry wrote to stderr so far (its stdout when stderr is empty), with how it ended.
std::string SaidSoFar(adapters::BackgroundProcess& process) {
  // A marker it never prints and no wait: WaitForLine's Error carries the end of its output.
  auto said = process.WaitForLine("\x01", milliseconds(0));
  return said.ok() ? *said : said.error().what;
}

}  // namespace

LocalRegistry::LocalRegistry()
    : runner_(std::make_unique<adapters::SystemProcessRunner>(nullptr, nullptr)) {
  std::random_device random;
  token_ = std::to_string(random()) + std::to_string(random());
  const auto deadline = Clock::now() + kReadyWithin;
  for (int attempt = 0; attempt <= kPortRetries; ++attempt) {
    if (StartOn(ClosedPort(), deadline)) return;
  }
  FAIL("docker-registry found its port taken " << kPortRetries + 1 << " times in a row");
}

LocalRegistry::~LocalRegistry() {
  if (process_) process_->Stop();
  process_.reset();
}

bool LocalRegistry::StartOn(int port, Clock::time_point deadline) {
  port_ = port;
  const auto config = dir_.path() / "config.yml";
  {
    // The http.headers token lets the readiness check tell this registry from another server
    // that took the port first. The secret only quiets the warning about a generated one.
    std::ofstream out(config);
    out << "version: 0.1\n"
        << "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        << "storage:\n  filesystem:\n    rootdirectory: \"" << (dir_.path() / "storage").string()
        << "\"\n"
        << "http:\n  addr: " << host() << "\n  secret: promote-tests\n"
        << "  headers:\n    X-Promote-Fixture: [\"" << token_ << "\"]\n";
    REQUIRE(out.good());
  }

  adapters::Command command;
  command.argv = {"docker-registry", "serve", config.string()};
  // Only PATH from the caller: REGISTRY_* variables would override the config.
  const char* path = std::getenv("PATH");
  command.env = {{"PATH", path && *path ? path : "/usr/bin:/bin"}};
  command.env_mode = adapters::EnvMode::kExplicit;
  command.cwd = dir_.path();
  command.kill_grace = milliseconds(3000);
  auto started = runner_->Start(command);
  if (!started.ok()) {
    FAIL(started.error().Format()
         << "\n(install it: apt-get install docker-registry, or scripts/bootstrap.sh)");
  }
  process_ = std::move(*started);

  Answer last;
  while (true) {
    // One slow answer must not carry the wait past the deadline.
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    last = Request("GET", url() + "/v2/", {}, "",
                   std::clamp(left, milliseconds(50), milliseconds(1000)));
    if (last.status == 200 && last.header(kIdentityHeader) == token_) return true;
    if (!process_->running()) {
      const std::string said = SaidSoFar(*process_);
      process_.reset();
      if (said.find("address already in use") != std::string::npos) return false;
      FAIL("docker-registry did not start: " << said);
    }
    if (Clock::now() >= deadline) {
      const std::string said = SaidSoFar(*process_);
      FAIL("docker-registry did not answer GET /v2/ with 200 within "
           << std::chrono::duration_cast<std::chrono::seconds>(kReadyWithin).count()
           << " s (last answer: " << last.Describe() << "): " << said);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

std::string LocalRegistry::url() const {
  return "http://" + host();
}

std::string LocalRegistry::host() const {
  return "127.0.0.1:" + std::to_string(port_);
}

namespace {

/// Uploads `bytes` as one blob of `repository` (POST, then one monolithic PUT); its digest.
std::string PushBlob(const std::string& base, const std::string& repository,
                     const std::string& bytes) {
  const std::string digest = "sha256:" + Sha256Hex(bytes);
  const auto started = Request("POST", base + "/v2/" + repository + "/blobs/uploads/", {});
  INFO("POST blob upload of " << repository << ": " << started.Describe());
  REQUIRE(started.status == 202);
  std::string location = started.header("location");
  REQUIRE_FALSE(location.empty());
  if (location.front() == '/') location = base + location;  // the spec allows a relative one
  location +=
      (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  const auto put = Request("PUT", location, {"Content-Type: application/octet-stream"}, bytes);
  INFO("PUT blob " << digest << ": " << put.Describe());
  REQUIRE(put.status == 201);
  REQUIRE(put.header("docker-content-digest") == digest);
  return digest;
}

}  // namespace

std::string LocalRegistry::Push(const std::string& repository, const std::string& tag,
                                const std::string& content) {
  const std::string layer = PushBlob(url(), repository, content);
  // The layer is not a real tar: the registry stores blobs without looking inside them.
  nlohmann::json image = {{"architecture", "amd64"}, {"os", "linux"}};
  image["rootfs"] = {{"type", "layers"}, {"diff_ids", nlohmann::json::array({layer})}};
  const std::string config = image.dump();
  const std::string config_digest = PushBlob(url(), repository, config);
  nlohmann::json document = {{"schemaVersion", 2}, {"mediaType", kOciManifest}};
  document["config"] = {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                        {"digest", config_digest},
                        {"size", config.size()}};
  document["layers"] = nlohmann::json::array();
  document["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                {"digest", layer},
                                {"size", content.size()}});
  const std::string manifest = document.dump();
  const auto put = Request("PUT", url() + "/v2/" + repository + "/manifests/" + tag,
                           {std::string("Content-Type: ") + kOciManifest}, manifest);
  INFO("PUT manifest " << repository << ":" << tag << ": " << put.Describe());
  REQUIRE(put.status == 201);
  const std::string digest = put.header("docker-content-digest");
  REQUIRE(digest == "sha256:" + Sha256Hex(manifest));
  return digest;
}

bool LocalRegistry::Has(const std::string& repository, const std::string& reference) const {
  const auto head = Request("HEAD", url() + "/v2/" + repository + "/manifests/" + reference,
                            {std::string("Accept: ") + kOciManifest + ", " + kDockerManifest});
  INFO("HEAD " << repository << " manifest " << reference << ": " << head.Describe());
  REQUIRE((head.status == 200 || head.status == 404));
  return head.status == 200;
}

}  // namespace promote::testing
