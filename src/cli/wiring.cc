#include "cli/wiring.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adapters/hooks/hooks.h"
#include "adapters/kube/helm_cluster.h"
#include "adapters/kube/kubectl_cluster.h"
#include "adapters/metrics/prometheus.h"
#include "adapters/probe/prober.h"
#include "adapters/process/process.h"
#include "adapters/registry/registry.h"
#include "core/redactor.h"
#include "plan/plan.h"

namespace promote::cli {

Result<std::map<std::string, std::map<std::string, std::string>>> LoadEndpoints(
    const std::filesystem::path& file) {
  std::ifstream in(file);
  const auto fail = [&](const std::string& what) {
    return Error{
        ErrorKind::kUsage, what, file.string(),
        "give --endpoints a JSON file like {\"prod\": {\"api\": \"http://127.0.0.1:3001\"}}"};
  };
  if (!in) return fail("cannot read the endpoints file");
  const auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return fail("not a JSON object of environment → service → URL");
  std::map<std::string, std::map<std::string, std::string>> endpoints;
  for (const auto& [env, services] : doc.items()) {
    if (!services.is_object()) return fail("'" + env + "' is not an object of service → URL");
    for (const auto& [service, url] : services.items()) {
      // Probes go only where a URL says http(s): a file:// or gopher:// would reach libcurl.
      const std::string text = url.is_string() ? url.get<std::string>() : std::string();
      if (text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0) {
        return fail(
            "'" + env + "." + service + "' is not an http:// or https:// URL: " +
            (url.is_string() ? "'" + text.substr(0, 200) + "'" : url.dump().substr(0, 200)));
      }
      endpoints[env][service] = text;
    }
  }
  return endpoints;
}

Status CheckEndpointsCover(
    const std::map<std::string, std::map<std::string, std::string>>& endpoints,
    const plan::Plan& plan, const std::filesystem::path& file) {
  const auto fail = [&](const std::string& what, const std::string& fix) {
    return Error{ErrorKind::kUsage, what, file.string(), fix};
  };
  for (const auto& [env, services] : endpoints) {
    if (!plan.FindEnvironment(env)) {
      std::string known;
      for (const auto& [name, unused] : plan.environments)
        known += (known.empty() ? "" : ", ") + name;
      return fail("'" + env + "' is not an environment of the plan",
                  "name environments of " + plan.source_file + " (" + known + ")");
    }
    // The file replaces the plan's URLs of that environment: a service it leaves out (or
    // misspells) would be probed at the plan's URL, which is the very address it replaces.
    std::vector<std::string> needed;
    for (const auto& service : plan.services) needed.push_back(service.name);
    for (const auto& base : plan.ProbeBases()) needed.push_back(base);
    // The metric checks' Prometheus is replaced too, or they would query the real one.
    if (plan.HasMetrics()) needed.push_back("prometheus");
    for (const auto& name : needed) {
      if (!services.count(name)) {
        std::string given;
        for (const auto& [known, unused] : services) given += (given.empty() ? "" : ", ") + known;
        return fail("'" + env + "." + name + "' has no URL (the file names " +
                        (given.empty() ? std::string("none") : given) + ")",
                    "give every service of the plan, every base its probes name (and "
                    "\"prometheus\" when it has metric checks) a URL "
                    "under \"" +
                        env + "\"");
      }
    }
  }
  return Done{};
}

Error UnreadableJournal(Error error) {
  if (error.kind == ErrorKind::kExternal || error.kind == ErrorKind::kInternal) {
    error.kind = ErrorKind::kUsage;
  }
  return error;
}

WiringOptions WiringOptionsFrom(const GlobalOptions& options) {
  WiringOptions wiring;
  wiring.kubectl = options.kubectl;
  wiring.helm = options.helm;
  if (!options.kubeconfig.empty()) wiring.kubeconfig = options.kubeconfig;
  if (!options.endpoints.empty()) wiring.endpoints = options.endpoints;
  if (!options.releases.empty()) wiring.releases = options.releases;
  if (!options.hooks.empty()) wiring.hooks = options.hooks;
  return wiring;
}

std::vector<std::string> CommandPrefix(const GlobalOptions& options, const plan::Plan& plan) {
  std::vector<std::string> prefix = {"promote", "--plan=" + plan.source_file};
  const std::pair<const char*, const std::string*> flags[] = {
      {"--kubectl=", &options.kubectl},       {"--helm=", &options.helm},
      {"--kubeconfig=", &options.kubeconfig}, {"--endpoints=", &options.endpoints},
      {"--releases=", &options.releases},     {"--hooks=", &options.hooks}};
  for (const auto& [flag, value] : flags) {
    if (!value->empty()) prefix.push_back(flag + *value);
  }
  if (options.state_dir != GlobalOptions().state_dir) {
    prefix.push_back("--state-dir=" + options.state_dir);
  }
  return prefix;
}

engine::RunRequest RequestFrom(const GlobalOptions& options, const plan::Plan& plan,
                               const std::string& source, const std::string& target, bool restore) {
  engine::RunRequest request;
  request.source = source;
  request.target = target;
  request.restore = restore;
  if (options.force) request.force_reason = options.reason;
  if (options.override_freeze) request.override_freeze = options.reason;
  request.command_prefix = CommandPrefix(options, plan);
  return request;
}

Result<std::unique_ptr<Wiring>> Wiring::Create(const WiringOptions& options, const plan::Plan& plan,
                                               std::shared_ptr<const Redactor> redactor,
                                               std::shared_ptr<spdlog::logger> logger) {
  if (options.hooks) {
    // A mistyped folder would otherwise mean "no hooks": a gating pre-deploy silently skipped.
    std::error_code ec;
    if (!std::filesystem::is_directory(*options.hooks, ec)) {
      return Error{
          ErrorKind::kUsage,
          "--hooks " + options.hooks->string() +
              (std::filesystem::exists(*options.hooks, ec) ? ": not a folder" : ": no such folder"),
          "",
          "give the folder that holds the hook executables, or leave --hooks out to "
          "use hooks/ beside the plan (a run without that folder has no hooks)"};
    }
  }
  std::unique_ptr<Wiring> wiring(new Wiring());
  wiring->redactor_ = redactor;
  wiring->logger_ = logger;
  wiring->runner_ = std::make_unique<adapters::SystemProcessRunner>(redactor, logger);
  wiring->prober_ = std::make_unique<adapters::probe::HttpProber>(logger);

  auto tooling = adapters::kube::ResolveTooling(options.kubectl, options.helm);
  if (options.kubeconfig) tooling.kubeconfig = options.kubeconfig;
  for (const auto& [name, env] : plan.environments) {
    if (env.driver == plan::Driver::kHelm) {
      wiring->clusters_[name] =
          std::make_unique<adapters::kube::HelmCluster>(tooling, *wiring->runner_);
    } else {
      wiring->clusters_[name] =
          std::make_unique<adapters::kube::KubectlCluster>(tooling, *wiring->runner_);
    }
  }

  std::map<std::string, std::map<std::string, std::string>> endpoints;
  if (options.endpoints) {
    auto loaded = LoadEndpoints(*options.endpoints);
    if (!loaded) return std::move(loaded).error();
    if (auto ok = CheckEndpointsCover(*loaded, plan, *options.endpoints); !ok) {
      return std::move(ok).error();
    }
    endpoints = std::move(*loaded);
  }
  std::optional<std::filesystem::path> releases = options.releases;
  // The release repository and the hooks are found beside the plan unless a flag says where.
  const std::filesystem::path plan_dir = std::filesystem::path(plan.source_file).parent_path();
  if (!releases && !plan.releases.repo.empty()) releases = plan_dir / plan.releases.repo;
  adapters::hooks::HookOptions hooks;
  hooks.dir = options.hooks ? *options.hooks : plan_dir / "hooks";
  hooks.listed = plan.hooks;  // the plan's `hooks:` map, paths relative to the plan's folder
  hooks.base_dir = plan_dir;
  wiring->hooks_ =
      std::make_unique<adapters::hooks::HookRunner>(*wiring->runner_, *redactor, std::move(hooks));
  Wiring* self = wiring.get();
  wiring->context_.reset(new phases::Context{
      *redactor, *logger, *wiring->runner_, *wiring->prober_,
      [self](const std::string& env) -> adapters::kube::Cluster& { return self->ClusterFor(env); },
      std::move(endpoints), std::move(releases), plan.releases.remote});
  wiring->context_->hooks = wiring->hooks_.get();
  wiring->registry_ = std::make_unique<adapters::registry::HttpRegistry>(logger);
  wiring->context_->registry = wiring->registry_.get();
  std::map<std::string, std::map<std::string, std::string>> prometheus_headers;
  for (const auto& [name, env] : plan.environments) {
    if (env.prometheus) prometheus_headers[name] = env.prometheus->headers;
  }
  wiring->metrics_ =
      std::make_unique<adapters::metrics::PrometheusClient>(std::move(prometheus_headers), logger);
  wiring->context_->metrics = wiring->metrics_.get();
  return wiring;
}

namespace {

/// The kubectl adapter of `env` from the global flags: a Lease is always reached through kubectl,
/// whatever the environment's deploy driver.
std::unique_ptr<adapters::kube::Cluster> KubectlFor(const GlobalOptions& options,
                                                    adapters::ProcessRunner& runner) {
  auto tooling = adapters::kube::ResolveTooling(options.kubectl, options.helm);
  if (!options.kubeconfig.empty()) tooling.kubeconfig = options.kubeconfig;
  return std::make_unique<adapters::kube::KubectlCluster>(std::move(tooling), runner);
}

}  // namespace

void RegisterPlanSecrets(const plan::Plan& plan, Redactor& redactor) {
  for (const auto& name : plan.secret_env) {
    if (const char* value = std::getenv(name.c_str())) redactor.AddSecret(name, value);
  }
  for (const auto& [env_name, env] : plan.environments) {
    if (env.prometheus) {
      for (const auto& [header, variable] : env.prometheus->headers) {
        if (const char* value = std::getenv(variable.c_str())) redactor.AddSecret(variable, value);
      }
    }
    for (const auto& [host, variable] : env.registry.credentials) {
      const char* value = std::getenv(variable.c_str());
      if (value == nullptr) continue;
      const std::string text = value;
      redactor.AddSecret(variable, text);
      // USER:PASSWORD: the password alone, echoed somewhere, must be hidden too.
      if (const auto colon = text.find(':'); colon != std::string::npos) {
        redactor.AddSecret(variable, text.substr(colon + 1));
      }
    }
  }
  // The shipped webhook hook's URL is a credential (Slack's carry their token in the path).
  if (const char* url = std::getenv("PROMOTE_WEBHOOK_URL")) {
    redactor.AddSecret("PROMOTE_WEBHOOK_URL", url);
  }
}

Result<CommandLock> TakeRunLock(const GlobalOptions& options, const plan::Plan& plan,
                                const std::string& target, const std::string& run_id,
                                std::shared_ptr<const Redactor> redactor) {
  CommandLock held;
  held.runner = std::make_unique<adapters::SystemProcessRunner>(redactor, nullptr);
  auto cluster = KubectlFor(options, *held.runner);
  auto lock = engine::AcquireRunLock(
      *plan.FindEnvironment(target), options.state_dir,
      engine::LockHolder::Current(run_id, std::chrono::system_clock::now()), *cluster);
  if (!lock) return std::move(lock).error();
  held.lock.emplace(std::move(*lock));
  return held;
}

Result<std::optional<engine::LockHolder>> InspectRunLockOf(
    const GlobalOptions& options, const plan::Plan& plan, const std::string& target,
    std::shared_ptr<const Redactor> redactor) {
  adapters::SystemProcessRunner runner(redactor, nullptr);
  auto cluster = KubectlFor(options, runner);
  return engine::InspectRunLock(*plan.FindEnvironment(target), options.state_dir, *cluster);
}

Wiring::~Wiring() = default;

adapters::kube::Cluster& Wiring::ClusterFor(const std::string& environment) {
  return *clusters_.at(environment);
}

}  // namespace promote::cli
