#include "support/worlds.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#include "support/files.h"

namespace promote::testing {
namespace fs = std::filesystem;

std::string ReplaceFirst(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

KeybuzzWorld::KeybuzzWorld(Gate gate)
    : standin_({"--rollout-seconds", "0.3", "--deadline-seconds", "3"}) {
  root_ = standin_.dir().parent_path();
  std::string plan = ReadFile(fs::path(PROMOTE_SOURCE_DIR) / "plans" / "keybuzz.yaml");
  if (gate == Gate::kOff) {
    plan = ReplaceFirst(plan, "approval: { required: true", "approval: { required: false");
  }
  plan = ReplaceFirst(plan, "initialDelay: 1s", "initialDelay: 0s");
  plan = ReplaceFirst(plan, "interval: 1s", "interval: 300ms");
  plan = ReplaceFirst(plan, "soak: 5s", "soak: 600ms");
  plan = ReplaceFirst(plan, "successes: 3", "successes: 2");
  plan_ = root_ / "plan.yaml";
  std::ofstream(plan_) << plan;
  fs::create_directories(hooks());
  Git({"init", "-q", releases().string()});
  Git({"-C", releases().string(), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit",
       "-q", "--allow-empty", "-m", "releases"});
}

std::vector<std::string> KeybuzzWorld::Argv(std::vector<std::string> args) const {
  std::vector<std::string> argv = {PROMOTE_BINARY,
                                   "--plan=" + plan_.string(),
                                   "--kubectl=" + PinnedTool("kubectl"),
                                   "--kubeconfig=" + standin_.kubeconfig().string(),
                                   "--endpoints=" + (standin_.dir() / "endpoints.json").string(),
                                   "--releases=" + releases().string(),
                                   "--state-dir=" + state().string(),
                                   "--hooks=" + hooks().string(),
                                   "--output=json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

adapters::ProcessResult KeybuzzWorld::Cli(std::vector<std::string> args, const std::string& actor,
                                          std::map<std::string, std::string> env) {
  env["GITHUB_ACTOR"] = actor;
  return standin_.Run(Argv(std::move(args)), env);
}

adapters::ProcessResult KeybuzzWorld::Promote(std::vector<std::string> args,
                                              const std::string& actor,
                                              std::map<std::string, std::string> env) {
  args.insert(args.end(), {"dev", "prod"});
  if (std::find(args.begin(), args.end(), "--dry-run") != args.end()) {
    return Cli(args, actor, std::move(env));
  }
  std::vector<std::string> dry = args;
  dry.push_back("--dry-run");
  const auto planned = Cli(dry, actor, env);
  auto run = Cli(args, actor, std::move(env));
  ExpectSameDecision(planned, run);
  return run;
}

void KeybuzzWorld::EditPlan(const std::string& from, const std::string& to) {
  const std::string plan = ReplaceFirst(ReadFile(plan_), from, to);
  std::ofstream(plan_) << plan;
}

void KeybuzzWorld::MovePlan(const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::rename(plan_, to);
  plan_ = to;
}

void KeybuzzWorld::InstallHook(const std::string& point, const std::string& example) {
  fs::create_directories(hooks());
  fs::create_symlink(fs::path(PROMOTE_SOURCE_DIR) / "hooks" / "examples" / example,
                     hooks() / point);
}

std::string KeybuzzWorld::Git(std::vector<std::string> args) {
  args.insert(args.begin(), "git");
  return standin_.RunOk(args);
}

std::string KeybuzzWorld::Kubectl(const std::string& context, const std::string& ns,
                                  std::vector<std::string> args) {
  return standin_.Kubectl(context, ns, std::move(args));
}

std::string KeybuzzWorld::Image(const std::string& context, const std::string& service) {
  return Kubectl(context, "keybuzz-" + service + "-" + context,
                 {"get", "deployment/keybuzz-" + service, "-o",
                  "jsonpath={.spec.template.spec.containers[0].image}"});
}

void KeybuzzWorld::ShipToDev(const std::string& image) {
  Kubectl("dev", "keybuzz-api-dev", {"set", "image", "deployment/keybuzz-api", "api=" + image});
  Kubectl("dev", "keybuzz-api-dev", {"rollout", "status", "deployment/keybuzz-api"});
}

KeybuzzWorld::FirstRelease KeybuzzWorld::TwoReleases(const std::string& newer) {
  const auto first = Promote();
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  FirstRelease release{Outcome(first)["tag"], Image("prod", "api")};
  for (const char* env : {"dev", "prod"}) {
    Control(env, "images",
            R"({"image":")" + newer +
                R"(","spec":{"routes":["api-common","api-auth-ok","api-fallback"]}})");
  }
  ShipToDev(newer);
  const auto second = Promote();
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  REQUIRE(Image("prod", "api").rfind(newer, 0) == 0);
  return release;
}

void KeybuzzWorld::Control(const std::string& env, const std::string& what,
                           const std::string& body) {
  standin_.Control(env, what, body);
}

std::string KeybuzzWorld::PromoteAndKillWhen(
    const std::function<bool(const nlohmann::json&)>& when) {
  auto running = std::async(std::launch::async, [this] { return Cli({"dev", "prod"}); });
  const fs::path runs = state() / "runs";
  std::string run;
  bool seen = false;
  for (int i = 0; i < 3000 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (running.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
    if (!fs::exists(runs)) continue;
    for (const auto& entry : fs::directory_iterator(runs)) run = entry.path().filename();
    std::istringstream lines(ReadFile(runs / run / "events.jsonl"));
    for (std::string line; std::getline(lines, line) && !seen;) {
      const auto event = nlohmann::json::parse(line, nullptr, false);
      seen = event.is_object() && when(event);
    }
  }
  REQUIRE(seen);
  const auto holder = nlohmann::json::parse(ReadFile(state() / "locks" / "prod.lock"));
  REQUIRE(::kill(holder["pid"].get<int>(), SIGKILL) == 0);
  const auto killed = running.get();
  REQUIRE(killed.status == adapters::ExitStatus::kSignaled);
  return run;
}

std::vector<std::string> KeybuzzWorld::States(const std::string& run) const {
  return JournalStates(state() / "runs" / run);
}

ShopWorldFile::ShopWorldFile() {
  std::random_device random;
  dir_ = fs::temp_directory_path() /
         ("promote-helm-world-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  fs::create_directories(dir_);
  auto world = nlohmann::json::parse(
      ReadFile(fs::path(PROMOTE_SOURCE_DIR) / "scripts" / "standin" / "worlds" / "keybuzz.json"));
  world["environments"] = nlohmann::json::object();
  for (const auto& [env, tag] :
       {std::pair{"dev", HelmWorld::kDevTag}, std::pair{"prod", HelmWorld::kProdTag}}) {
    const std::string ns = std::string("shop-") + env;
    world["environments"][env] = {{"namespaces", {ns}},
                                  {"deployments",
                                   {{{"service", "shop"},
                                     {"namespace", ns},
                                     {"name", "shop"},
                                     {"container", "api"},
                                     {"image", kKeybuzzApi + ":" + tag},
                                     {"replicas", 1},
                                     {"port", 3001}}}},
                                  {"secrets", nlohmann::json::array()}};
  }
  std::ofstream(file()) << world.dump(2);
}

ShopWorldFile::~ShopWorldFile() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

HelmWorld::HelmWorld()
    : standin_({"--world", world_.file().string(), "--rollout-seconds", "0.3", "--deadline-seconds",
                "3"}) {
  root_ = standin_.dir().parent_path();
  for (const auto& [name, value] : standin_.Tooling().env) env_[name] = value;
  chart_ = (fs::path(PROMOTE_SOURCE_DIR) / "tests" / "standin" / "charts" / "tiny").string();
  std::string plan = R"(apiVersion: promote/v1
name: shop
releases: { repo: releases, tag: "prod-{date}" }
environments:
  dev:  { context: dev,  driver: helm, namespace: "{service}-dev",  url: "http://{service}.dev.test" }
  prod: { context: prod, driver: helm, namespace: "{service}-prod", url: "http://{service}.prod.test" }
services:
  - name: shop
    workload: deployment/shop
    container: api
    image: IMAGE
    helm: { release: shop, chart: "CHART", valuesKey: image.tag }
    probes:
      - name: login
        post: /auth/login
        body: '{}'
        expect: { range: [200, 499], not: 404 }
        golden: true
validate: { initialDelay: 0s, interval: 300ms, soak: 600ms, successes: 2, failureLimit: 2,
            errorLimit: 3, rolloutTimeout: 5s }
)";
  plan.replace(plan.find("IMAGE"), 5, kKeybuzzApi);
  plan.replace(plan.find("CHART"), 5, chart_);
  std::ofstream(root_ / "plan.yaml") << plan;
  Git({"init", "-q", releases().string()});
  Git({"-C", releases().string(), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit",
       "-q", "--allow-empty", "-m", "releases"});
  // Hand the seeded Deployments over to helm: same namespace and name, so the ports follow.
  for (const auto& [env, tag] : {std::pair{"dev", kDevTag}, std::pair{"prod", kProdTag}}) {
    Kubectl(env, {"delete", "deployment/shop", "--wait=true"});
    Helm(env, {"install", "shop", chart_, "--set", "image.tag=" + tag, "--wait", "--timeout=60s"});
  }
}

adapters::ProcessResult HelmWorld::Cli(std::vector<std::string> args,
                                       std::map<std::string, std::string> env) {
  std::vector<std::string> argv = {PROMOTE_BINARY,
                                   "--plan=" + (root_ / "plan.yaml").string(),
                                   "--kubectl=" + PinnedTool("kubectl"),
                                   "--helm=" + PinnedTool("helm"),
                                   "--kubeconfig=" + standin_.kubeconfig().string(),
                                   "--endpoints=" + (standin_.dir() / "endpoints.json").string(),
                                   "--releases=" + releases().string(),
                                   "--state-dir=" + state().string(),
                                   "--output=json"};
  argv.insert(argv.end(), args.begin(), args.end());
  env.insert(env_.begin(), env_.end());
  return standin_.Run(argv, env);
}

adapters::ProcessResult HelmWorld::Promote() {
  const auto planned = Cli({"dev", "prod", "--dry-run"});
  auto run = Cli({"dev", "prod"});
  ExpectSameDecision(planned, run);
  return run;
}

std::string HelmWorld::Git(std::vector<std::string> args) {
  args.insert(args.begin(), "git");
  return standin_.RunOk(args);
}

std::string HelmWorld::Kubectl(const std::string& env, std::vector<std::string> args) {
  return standin_.Kubectl(env, "shop-" + env, std::move(args));
}

std::string HelmWorld::Helm(const std::string& env, std::vector<std::string> args) {
  std::vector<std::string> argv = {PinnedTool("helm")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--kubeconfig=" + standin_.kubeconfig().string(),
                           "--kube-context=" + env, "--namespace=shop-" + env});
  return standin_.RunOk(argv, env_);
}

std::string HelmWorld::Image(const std::string& env) {
  return Kubectl(
      env, {"get", "deployment/shop", "-o", "jsonpath={.spec.template.spec.containers[0].image}"});
}

std::vector<std::pair<int, std::string>> HelmWorld::History(const std::string& env) {
  std::vector<std::pair<int, std::string>> history;
  for (const auto& entry : nlohmann::json::parse(Helm(env, {"history", "shop", "-o", "json"}))) {
    history.emplace_back(entry["revision"].get<int>(), entry["status"].get<std::string>());
  }
  return history;
}

void HelmWorld::Control(const std::string& env, const std::string& what, const std::string& body) {
  standin_.Control(env, what, body);
}

std::vector<std::string> HelmWorld::States(const std::string& run) const {
  return JournalStates(state() / "runs" / run);
}

}  // namespace promote::testing
