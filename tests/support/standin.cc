#include "support/standin.h"

#include <curl/curl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <random>

namespace promote::testing {
namespace fs = std::filesystem;

std::string PinnedTool(const std::string& name) {
  const std::string variable = name == "helm" ? "PROMOTE_HELM" : "PROMOTE_KUBECTL";
  if (const char* set = std::getenv(variable.c_str()); set && *set) return set;
  return (fs::path(PROMOTE_SOURCE_DIR) / "tools" / "bin" / name).string();
}

StandIn::StandIn(std::vector<std::string> args)
    : runner_(std::make_unique<adapters::SystemProcessRunner>(nullptr, nullptr)) {
  std::random_device random;
  root_ = fs::temp_directory_path() /
          ("promote-standin-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  dir_ = root_ / "standin";
  fs::create_directories(root_);
  std::vector<std::string> argv = {
      (fs::path(PROMOTE_SOURCE_DIR) / "scripts" / "standin.sh").string(), "up", dir_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto up = Run(argv);
  INFO(up.out << up.err);
  REQUIRE(up.ok());
  std::ifstream in(dir_ / "endpoints.json");
  endpoints_ = nlohmann::json::parse(in);
}

StandIn::~StandIn() {
  Run({(fs::path(PROMOTE_SOURCE_DIR) / "scripts" / "standin.sh").string(), "down", dir_.string()});
  std::error_code ignored;
  fs::remove_all(root_, ignored);
}

std::string StandIn::Endpoint(const std::string& env, const std::string& service) const {
  return endpoints_.at(env).at(service).get<std::string>();
}

void StandIn::Control(const std::string& env, const std::string& what,
                      const std::string& body) const {
  const std::string url =
      endpoints_.at(env).at("api_server").get<std::string>() + "/_standin/" + what;
  REQUIRE(HttpStatus("POST", url, body) == 200);
}

std::vector<nlohmann::json> StandIn::Requests() const {
  std::vector<nlohmann::json> requests;
  std::ifstream in(dir_ / "requests.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) requests.push_back(nlohmann::json::parse(line));
  }
  return requests;
}

std::vector<nlohmann::json> StandIn::Writes(const std::string& env) const {
  std::vector<nlohmann::json> writes;
  for (auto& request : Requests()) {
    // Discovery and control requests carry no verb (null): they change nothing.
    const auto& verb = request["verb"];
    if (!verb.is_string() || request["env"] != env) continue;
    if (verb != "get" && verb != "list" && verb != "watch") {
      writes.push_back(std::move(request));
    }
  }
  return writes;
}

adapters::kube::Tooling StandIn::Tooling() const {
  adapters::kube::Tooling tooling;
  tooling.kubectl = PinnedTool("kubectl");
  tooling.helm = PinnedTool("helm");
  tooling.kubeconfig = kubeconfig();
  tooling.cache_dir = root_ / "kube-cache";
  tooling.env = {{"HELM_CACHE_HOME", (root_ / "helm-cache").string()},
                 {"HELM_CONFIG_HOME", (root_ / "helm-config").string()},
                 {"HELM_DATA_HOME", (root_ / "helm-data").string()}};
  return tooling;
}

adapters::ProcessResult StandIn::Run(std::vector<std::string> argv,
                                     std::map<std::string, std::string> env) const {
  adapters::Command command;
  command.argv = std::move(argv);
  command.env = std::move(env);
  command.timeout = std::chrono::seconds(120);
  auto result = runner_->Run(command);
  REQUIRE(result.ok());
  return *result;
}

std::string StandIn::RunOk(std::vector<std::string> argv,
                           std::map<std::string, std::string> env) const {
  const auto run = Run(std::move(argv), std::move(env));
  INFO(run.out << run.err);
  REQUIRE(run.ok());
  return run.out;
}

std::string StandIn::Kubectl(const std::string& context, const std::string& ns,
                             std::vector<std::string> args) const {
  std::vector<std::string> argv = {PinnedTool("kubectl"), "--kubeconfig=" + kubeconfig().string(),
                                   "--cache-dir=" + (root_ / "kube-cache").string(),
                                   "--context=" + context, "--namespace=" + ns};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunOk(std::move(argv));
}

int HttpStatus(const std::string& method, const std::string& url, const std::string& body) {
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = -1;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return static_cast<int>(status);
}

void ExpectSameDecision(const adapters::ProcessResult& dry_run,
                        const adapters::ProcessResult& run) {
  const auto done = nlohmann::json::parse(run.out, nullptr, false);
  if (!done.is_object() || !done.contains("decision")) return;
  const auto planned = Outcome(dry_run);
  INFO("dry run: " << dry_run.out << "\nrun: " << run.out);
  CHECK(planned["decision"] == done["decision"]);
  const int code = dry_run.exit_code;
  if (code == 7) return;
  const std::string decision = done["decision"];
  CHECK(code == (decision == "promote" ? 6 : decision == "refused" ? 8 : 0));
}

nlohmann::json Outcome(const adapters::ProcessResult& run) {
  INFO(run.out << run.err);
  return nlohmann::json::parse(run.out);
}

}  // namespace promote::testing
