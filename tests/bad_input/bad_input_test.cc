// The bad-input corpus (issue 12): command lines, damaged journals, malformed kubectl answers and
// hostile probe answers, one table a kind in this folder, one loop a kind here. Every row names
// the input, the exit code or outcome it must give and a fragment of the message; the promote
// binary runs in a folder of its own, which must be byte for byte the same afterwards.
// tests/plans/bad/expected.tsv (run by src/plan/loader_test.cc) is the plans' part.
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "link promote_tests with PkgConfig::HTTPLIB (pkg-config cpp-httplib) for its ABI macros"
#endif

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/probe/prober.h"
#include "adapters/process/process.h"
#include "core/redactor.h"
#include "support/files.h"
#include "support/standin.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using promote::adapters::Command;
using promote::adapters::ProcessResult;
using promote::adapters::SystemProcessRunner;
using promote::testing::PinnedTool;
using promote::testing::ReadFile;
using promote::testing::StandIn;
using promote::testing::TempDir;
using std::chrono::milliseconds;

const fs::path kSource = PROMOTE_SOURCE_DIR;
const fs::path kCorpus = kSource / "tests" / "bad_input";
/// Messages are for people: a bad input never earns a wall of text.
constexpr std::size_t kMaxMessageBytes = 4000;

/// One data line of a table: where it is (for failures) and its tab-separated cells.
struct Row {
  std::string where;
  std::vector<std::string> cells;
};

/// The rows of `file` (lines that are empty or start with '#' are comments).
std::vector<Row> ReadTable(const std::string& file) {
  std::ifstream in(kCorpus / file);
  REQUIRE(in.good());
  std::vector<Row> rows;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    Row row{file + ":" + std::to_string(number), {}};
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, '\t');) row.cells.push_back(cell);
    if (!line.empty() && line.back() == '\t') row.cells.push_back("");
    rows.push_back(std::move(row));
  }
  return rows;
}

/// `text` with `{key}` replaced by each value of `values`, `{N*T}` by N copies of T (T without
/// braces; escapes apply in it), and the escapes \n, \r, \t, \0 and \\ by the bytes they name.
std::string Expand(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      const char next = text[++i];
      out += next == 'n'   ? '\n'
             : next == 'r' ? '\r'
             : next == 't' ? '\t'
             : next == '0' ? '\0'
                           : next;
      continue;
    }
    if (c == '{') {
      const auto close = text.find('}', i);
      if (close != std::string::npos) {
        const std::string key = text.substr(i + 1, close - i - 1);
        if (auto found = values.find(key); found != values.end()) {
          out += found->second;
          i = close;
          continue;
        }
        const auto star = key.find('*');
        if (star != std::string::npos && star > 0 && key.find_first_not_of("0123456789") == star) {
          const std::size_t count = std::stoul(key.substr(0, star));
          const std::string unit = Expand(key.substr(star + 1), values);
          out.reserve(out.size() + count * unit.size());
          for (std::size_t n = 0; n < count; ++n) out += unit;
          i = close;
          continue;
        }
      }
    }
    out += c;
  }
  return out;
}

/// Every file and folder under `root` with its bytes: two snapshots differ iff anything changed.
std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> seen;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string name = fs::relative(entry.path(), root).string();
    if (entry.is_symlink()) {
      seen[name] = "-> " + fs::read_symlink(entry.path()).string();
    } else if (entry.is_regular_file()) {
      seen[name] = ReadFile(entry.path());
    } else {
      seen[name] = "<folder>";
    }
  }
  return seen;
}

/// The names whose entries differ between two snapshots (added, removed or changed).
std::vector<std::string> Changes(const std::map<std::string, std::string>& before,
                                 const std::map<std::string, std::string>& after) {
  std::vector<std::string> changed;
  for (const auto& [name, bytes] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second != bytes) changed.push_back(name);
  }
  for (const auto& [name, bytes] : before) {
    if (!after.count(name)) changed.push_back(name + " (removed)");
  }
  return changed;
}

/// The promote binary run with `args` in `cwd` (a bounded time, its own summary file).
ProcessResult RunPromote(const fs::path& cwd, std::vector<std::string> args) {
  SystemProcessRunner runner(nullptr, nullptr);
  Command command;
  command.argv = {PROMOTE_BINARY};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  command.cwd = cwd;
  // Appending to a CI summary would be a change too: it goes into the folder under watch.
  command.env = {{"GITHUB_STEP_SUMMARY", (cwd / "step-summary.md").string()},
                 {"PROMOTE_PLAN", ""},
                 {"NO_COLOR", "1"}};
  command.timeout = milliseconds(120000);
  auto run = runner.Run(command);
  REQUIRE(run);
  return *run;
}

/// Checks one invocation: its code, the fragment in what it printed, the size of the message.
void CheckInvocation(const ProcessResult& run, int code, const std::string& fragment) {
  INFO("exit " << run.exit_code << "\nstdout: " << run.out.substr(0, 2000)
               << "\nstderr: " << run.err.substr(0, 2000));
  CHECK(run.status == promote::adapters::ExitStatus::kExited);
  CHECK(run.exit_code == code);
  CHECK((run.out + run.err).find(fragment) != std::string::npos);
  CHECK(run.err.size() < kMaxMessageBytes);
  if (code == 2) CHECK(run.out.size() < kMaxMessageBytes);
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

/// A kubeconfig whose contexts dev and prod point at `dev_url` and `prod_url`.
std::string Kubeconfig(const std::string& dev_url, const std::string& prod_url) {
  std::string text = "apiVersion: v1\nkind: Config\ncurrent-context: dev\nclusters:\n";
  for (const auto& [name, url] : {std::pair{"dev", dev_url}, std::pair{"prod", prod_url}}) {
    text += std::string("- name: ") + name + "\n  cluster: {server: \"" + url + "\"}\n";
  }
  text += "users:\n- name: u\n  user: {token: not-a-secret}\ncontexts:\n";
  for (const char* name : {"dev", "prod"}) {
    text += std::string("- name: ") + name + "\n  context: {cluster: " + name + ", user: u}\n";
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Command lines

TEST_CASE("bad command lines exit with their code and message and change nothing",
          "[bad-input][cli]") {
  StandIn standin;
  TempDir world("promote-bad-cli");
  const fs::path& dir = world.path();
  // What the rows point at: the real plan, binaries and stand-in, and files that are wrong.
  WriteFile(dir / "files/not-json.json", "{\"prod\": {\"api\": ");
  WriteFile(dir / "files/array.json", "[\"http://127.0.0.1:1\"]");
  WriteFile(dir / "files/unknown-env.json", "{\"staging\": {\"api\": \"http://127.0.0.1:1\"}}");
  WriteFile(dir / "files/unknown-service.json", "{\"prod\": {\"apii\": \"http://127.0.0.1:1\"}}");
  WriteFile(dir / "files/not-a-url.json", "{\"prod\": {\"api\": \"127.0.0.1:3001\"}}");
  WriteFile(dir / "files/number-url.json", "{\"prod\": {\"api\": 3001}}");
  WriteFile(dir / "files/not-executable", "#!/bin/sh\nexit 0\n");
  WriteFile(dir / "files/kubeconfig-garbage", "\x01\x02 not: [a kubeconfig\n");
  fs::create_directories(dir / "files/folder");
  fs::create_directories(dir / "files/not-a-repo");
  REQUIRE(standin.Run({"git", "init", "-q", (dir / "releases").string()}).ok());
  const std::map<std::string, std::string> values = {
      {"plan", (kSource / "plans" / "keybuzz.yaml").string()},
      {"files", (dir / "files").string()},
      {"releases", (dir / "releases").string()},
      {"kubectl", PinnedTool("kubectl")},
      {"helm", PinnedTool("helm")},
      {"kubeconfig", standin.kubeconfig().string()},
      {"endpoints", (standin.dir() / "endpoints.json").string()},
      {"empty", ""},
      {"huge", std::string(100 * 1024, 'x')},
  };
  // {cluster} stands for the flags that reach the stand-in: kubectl, kubeconfig, probes' URLs
  // and the release repository, so a row names only what it gets wrong.
  const std::vector<std::string> cluster = {
      "--kubectl=" + values.at("kubectl"), "--kubeconfig=" + values.at("kubeconfig"),
      "--endpoints=" + values.at("endpoints"), "--releases=" + values.at("releases")};

  const auto rows = ReadTable("command_lines.tsv");
  for (const Row& row : rows) {
    REQUIRE(row.cells.size() >= 3);
    std::vector<std::string> args;
    for (std::size_t i = 3; i < row.cells.size(); ++i) {
      if (row.cells[i] == "{cluster}") {
        args.insert(args.end(), cluster.begin(), cluster.end());
      } else {
        args.push_back(Expand(row.cells[i], values));
      }
    }
    {
      INFO(row.where << " " << row.cells[0]);
      const auto before = Snapshot(dir);
      const std::size_t writes = standin.Writes("dev").size() + standin.Writes("prod").size();
      const auto run = RunPromote(dir, args);
      CheckInvocation(run, std::stoi(row.cells[1]), Expand(row.cells[2], values));
      CHECK(Changes(before, Snapshot(dir)) == std::vector<std::string>{});
      CHECK(standin.Writes("dev").size() + standin.Writes("prod").size() == writes);
      // A huge argument is cut, whichever way it is wrong.
      if (row.cells[0].find("huge") != std::string::npos) {
        CHECK(run.err.find(std::string(300, 'x')) == std::string::npos);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Journals

TEST_CASE("damaged journals are named and refused, a torn tail is tolerated, nothing changes",
          "[bad-input][journal]") {
  TempDir world("promote-bad-journal");
  const fs::path& dir = world.path();
  const std::string run = "20261201T100000Z-dev-prod-0bad";
  const std::string plan = (kSource / "plans" / "keybuzz.yaml").string();
  // Nothing may reach a cluster: this kubeconfig points at a port nobody serves.
  WriteFile(dir / "kubeconfig", Kubeconfig("http://127.0.0.1:9", "http://127.0.0.1:9"));
  std::map<std::string, std::string> values = {{"run", run}, {"plan", plan}};
  const auto line = [&](int seq, const std::string& state, const std::string& detail) {
    return "{\"seq\":" + std::to_string(seq) + ",\"at\":\"2026-12-01T10:00:0" +
           std::to_string(seq % 10) + "Z\",\"run\":\"" + run + "\",\"state\":\"" + state +
           "\",\"kind\":\"transition\",\"detail\":" + detail + "}";
  };
  // {planned}: how every run starts; {refused:N}: the run ended (Refused) at seq N.
  values["planned"] = line(1, "Planned",
                           "{\"plan\":\"" + plan +
                               "\",\"source\":\"dev\",\"target\":\"prod\",\"initiator\":\"ci\","
                               "\"restore\":false,\"from\":\"\"}");
  for (int seq = 1; seq <= 5; ++seq) {
    values["refused:" + std::to_string(seq)] =
        line(seq, "Refused", "{\"from\":\"Planned\",\"summary\":\"refused: a test\"}");
  }

  const auto rows = ReadTable("journals.tsv");
  for (const Row& row : rows) {
    REQUIRE(row.cells.size() == 6);
    {
      INFO(row.where << " " << row.cells[0]);
      const fs::path state = dir / "state";
      fs::remove_all(state);
      const fs::path run_dir = state / "runs" / run;
      const std::string& input = row.cells[1];
      if (input == "<missing>") {
        fs::create_directories(run_dir);
      } else if (input == "<run-is-file>") {
        WriteFile(run_dir, Expand("{planned}\n", values));
      } else if (input == "<journal-is-folder>") {
        fs::create_directories(run_dir / "events.jsonl");
      } else {
        WriteFile(run_dir / "events.jsonl", Expand(input, values));
      }
      const std::vector<std::string> flags = {"--state-dir=state",
                                              "--kubectl=" + PinnedTool("kubectl"),
                                              "--kubeconfig=" + (dir / "kubeconfig").string()};
      for (const auto& [command, code, fragment] :
           {std::tuple{"status", row.cells[2], row.cells[3]},
            std::tuple{"resume", row.cells[4], row.cells[5]}}) {
        INFO(command);
        const auto before = Snapshot(dir);
        std::vector<std::string> args = flags;
        args.insert(args.end(), {command, run});
        const auto result = RunPromote(dir, args);
        CheckInvocation(result, std::stoi(code), Expand(fragment, values));
        CHECK(Changes(before, Snapshot(dir)) == std::vector<std::string>{});
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// kubectl output

/// A Kubernetes API server of its own on 127.0.0.1 that answers one Deployment and its pods
/// exactly as a row says, so the real kubectl (its proxy) carries shapes no real server sends.
class FakeApiServer {
 public:
  FakeApiServer() {
    server_.Get(
        R"(/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+))",
        [this](const httplib::Request&, httplib::Response& res) { Answer(res, deployment_); });
    server_.Get(R"(/api/v1/namespaces/([^/]+)/pods)",
                [this](const httplib::Request&, httplib::Response& res) { Answer(res, pods_); });
    server_.Get(R"(/api/v1/namespaces/([^/]+))",
                [](const httplib::Request& req, httplib::Response& res) {
                  res.set_content(json{{"kind", "Namespace"},
                                       {"apiVersion", "v1"},
                                       {"metadata", {{"name", req.matches[1].str()}}}}
                                      .dump(),
                                  "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeApiServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// The bodies to answer from now on (set before promote runs, not while).
  void Serve(std::string deployment, std::string pods) {
    deployment_ = std::move(deployment);
    pods_ = std::move(pods);
  }

 private:
  static void Answer(httplib::Response& res, const std::string& body) {
    res.set_content(body, "application/json");
  }
  httplib::Server server_;
  std::string deployment_;
  std::string pods_;
  int port_ = 0;
  std::thread thread_;
};

/// A healthy Deployment `web` of `ns` running `image`, as the API would answer it.
json GoodDeployment(const std::string& ns, const std::string& image) {
  return {{"kind", "Deployment"},
          {"apiVersion", "apps/v1"},
          {"metadata",
           {{"name", "web"},
            {"namespace", ns},
            {"generation", 2},
            {"creationTimestamp", "2026-11-01T10:00:00Z"},
            {"annotations", {{"deployment.kubernetes.io/revision", "2"}}}}},
          {"spec",
           {{"replicas", 1},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", json::array({{{"name", "web"}, {"image", image}}})}}}}}}},
          {"status",
           {{"observedGeneration", 2},
            {"replicas", 1},
            {"updatedReplicas", 1},
            {"readyReplicas", 1},
            {"availableReplicas", 1},
            {"conditions", json::array({{{"type", "Available"}, {"status", "True"}},
                                        {{"type", "Progressing"},
                                         {"status", "True"},
                                         {"reason", "NewReplicaSetAvailable"}}})}}}};
}

/// Its one pod, reporting the image's digest.
json GoodPods(const std::string& image, const std::string& digest) {
  const std::string repository = image.substr(0, image.rfind(':'));
  return {
      {"kind", "PodList"},
      {"apiVersion", "v1"},
      {"items", json::array({{{"metadata", {{"name", "web-1"}, {"labels", {{"app", "web"}}}}},
                              {"status",
                               {{"containerStatuses",
                                 json::array({{{"name", "web"},
                                               {"image", image},
                                               {"imageID", repository + "@" + digest},
                                               {"ready", true},
                                               {"state", {{"running", json::object()}}}}})}}}}})}};
}

/// A row's body: `raw:TEXT` as it is, else a JSON merge patch (RFC 7386) on `good`.
std::string Body(const std::string& cell, const json& good,
                 const std::map<std::string, std::string>& values) {
  const std::string text = Expand(cell, values);
  if (text.rfind("raw:", 0) == 0) return text.substr(4);
  if (text == "-") return good.dump();
  json patched = good;
  patched.merge_patch(json::parse(text));
  return patched.dump();
}

TEST_CASE("malformed objects from the API give a clear audit answer, never a crash or an ok",
          "[bad-input][kube]") {
  TempDir world("promote-bad-kube");
  const fs::path& dir = world.path();
  FakeApiServer dev_api;
  FakeApiServer prod_api;
  httplib::Server service;
  service.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"ok\":true}", "application/json");
  });
  const int service_port = service.bind_to_any_port("127.0.0.1");
  REQUIRE(service_port > 0);
  std::thread serving([&] { service.listen_after_bind(); });
  const std::string service_url = "http://127.0.0.1:" + std::to_string(service_port);

  WriteFile(dir / "kubeconfig", Kubeconfig(dev_api.url(), prod_api.url()));
  WriteFile(dir / "endpoints.json",
            json{{"dev", {{"web", service_url}}}, {"prod", {{"web", service_url}}}}.dump());
  WriteFile(dir / "plan/web.yaml",
            "apiVersion: promote/v1\nname: web\nreleases: { repo: ../releases, tag: "
            "\"prod-{date}\" }\nenvironments:\n"
            "  dev: { context: dev, namespace: web-dev, url: \"http://unused.test\" }\n"
            "  prod: { context: prod, namespace: web-prod, url: \"http://unused.test\" }\n"
            "services:\n  - name: web\n    workload: deployment/web\n"
            "    image: registry.test/shop/web\n    probes:\n      - { get: /health, expect: 200 "
            "}\n");
  SystemProcessRunner git(nullptr, nullptr);
  Command init;
  init.argv = {"git", "init", "-q", (dir / "releases").string()};
  REQUIRE(git.Run(init)->ok());
  const std::string dev_image = "registry.test/shop/web:v2";
  const std::string prod_image = "registry.test/shop/web:v1";
  const std::map<std::string, std::string> values = {{"digest", "sha256:" + std::string(64, 'a')}};
  const std::vector<std::string> flags = {"--plan=plan/web.yaml",
                                          "--kubectl=" + PinnedTool("kubectl"),
                                          "--kubeconfig=kubeconfig",
                                          "--endpoints=endpoints.json",
                                          "--state-dir=state",
                                          "--report-dir=report",
                                          "--output=json"};

  const auto rows = ReadTable("kube_objects.tsv");
  for (const Row& row : rows) {
    REQUIRE(row.cells.size() == 5);
    {
      INFO(row.where << " " << row.cells[0]);
      fs::remove_all(dir / "state");
      fs::remove_all(dir / "report");
      const std::string& where = row.cells[1];  // dev.deployment, prod.pods, …
      const bool in_dev = where.rfind("dev.", 0) == 0;
      const bool pods = where.find(".pods") != std::string::npos;
      const json dev_good = GoodDeployment("web-dev", dev_image);
      const json prod_good = GoodDeployment("web-prod", prod_image);
      const json dev_pods = GoodPods(dev_image, "sha256:" + std::string(64, 'b'));
      const json prod_pods = GoodPods(prod_image, "sha256:" + std::string(64, 'c'));
      const std::string& cell = row.cells[2];
      dev_api.Serve(in_dev && !pods ? Body(cell, dev_good, values) : dev_good.dump(),
                    in_dev && pods ? Body(cell, dev_pods, values) : dev_pods.dump());
      prod_api.Serve(!in_dev && !pods ? Body(cell, prod_good, values) : prod_good.dump(),
                     !in_dev && pods ? Body(cell, prod_pods, values) : prod_pods.dump());
      std::vector<std::string> args = flags;
      args.insert(args.end(), {"audit", "dev", "prod"});
      const auto run = RunPromote(dir, args);
      CheckInvocation(run, std::stoi(row.cells[3]), Expand(row.cells[4], values));
      CHECK(fs::exists(dir / "releases" / ".git"));
    }
  }
  service.stop();
  serving.join();
}

// ---------------------------------------------------------------------------------------------
// Probe answers

/// A TCP server on 127.0.0.1 that answers every connection with raw bytes a row spells, no
/// matter what was asked: HTTP that is broken in ways no HTTP library would send. A script
/// that starts with `{trickle}` sends one byte every 50 ms. Each connection is bounded: it
/// stops at the first failed send (the client gave up) or when the server is destroyed.
class RawServer {
 public:
  explicit RawServer(std::string script) : script_(std::move(script)) {
    if (script_.rfind("{trickle}", 0) == 0) {
      trickle_ = true;
      script_ = script_.substr(9);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    REQUIRE(::listen(fd_, 16) == 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    while (!stop_) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      Answer(client);
      ::close(client);
    }
  }
  void Answer(int client) {
    // Read the request head (bounded: 64 KB or 2 s), then answer whatever it was.
    std::string head;
    char buffer[4096];
    for (int waited = 0; head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 &&
                         waited < 40 && !stop_;) {
      pollfd ready{client, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) {
        ++waited;
        continue;
      }
      const ssize_t got = ::recv(client, buffer, sizeof(buffer), 0);
      if (got <= 0) return;
      head.append(buffer, static_cast<std::size_t>(got));
    }
    const std::size_t step = trickle_ ? 1 : 65536;
    for (std::size_t at = 0; at < script_.size() && !stop_; at += step) {
      const std::size_t size = std::min(step, script_.size() - at);
      if (::send(client, script_.data() + at, size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
        return;
      }
      if (trickle_) std::this_thread::sleep_for(milliseconds(50));
    }
  }

  std::string script_;
  bool trickle_ = false;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_CASE("hostile probe answers are judged, bounded and redacted", "[bad-input][probe]") {
  const auto rows = ReadTable("probe_answers.tsv");
  for (const Row& row : rows) {
    REQUIRE(row.cells.size() >= 4);
    {
      INFO(row.where << " " << row.cells[0]);
      RawServer server(Expand(row.cells[1], {}));
      promote::plan::Probe probe;
      probe.name = "health";
      probe.path = "/health";
      probe.expect.codes = {200};
      probe.timeout = milliseconds(2000);
      promote::adapters::probe::HttpProber prober(nullptr);
      const auto results = prober.Run({{"web", "prod", server.url(), probe}});
      REQUIRE(results.size() == 1);
      const auto& result = results.front();
      std::string evidence =
          result.verdict.reason + " | " + result.verdict.note + " | " + result.body_excerpt;
      for (const auto& attempt : result.attempts) evidence += " | " + attempt.note;
      // What reaches a report passes the redactor first; check what would reach it.
      const std::string reported = promote::Redactor().Redact(evidence);
      INFO("status " << result.status << "; evidence: " << reported.substr(0, 2000));
      CHECK(std::string(promote::adapters::probe::OutcomeName(result.verdict.outcome)) ==
            row.cells[2]);
      CHECK(reported.find(row.cells[3]) != std::string::npos);
      CHECK(result.body_excerpt.size() <= 1024);
      if (row.cells.size() >= 5 && !row.cells[4].empty()) {
        CHECK(reported.find(row.cells[4]) == std::string::npos);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The corpus as a whole

TEST_CASE("the bad-input corpus keeps at least 150 cases", "[bad-input]") {
  std::size_t plans = 0;
  std::ifstream expected(kSource / "tests/plans/bad/expected.tsv");
  for (std::string line; std::getline(expected, line);) {
    if (!line.empty() && line[0] != '#') ++plans;
  }
  const std::size_t command_lines = ReadTable("command_lines.tsv").size();
  const std::size_t journals = ReadTable("journals.tsv").size();
  const std::size_t kube = ReadTable("kube_objects.tsv").size();
  const std::size_t probes = ReadTable("probe_answers.tsv").size();
  INFO("plans " << plans << ", command lines " << command_lines << ", journals " << journals
                << ", kube objects " << kube << ", probe answers " << probes);
  CHECK(plans >= 85);
  CHECK(command_lines >= 35);
  CHECK(journals >= 15);
  CHECK(kube >= 10);
  CHECK(probes >= 8);
  CHECK(plans + command_lines + journals + kube + probes >= 150);
}

}  // namespace
