// The one door from phases to the outside world (Helm's action.Configuration): adapters,
// logger, redactor and clock. Phases never construct their own clients, so tests swap them.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

namespace spdlog {
class logger;
}

namespace promote {
class Redactor;
}

namespace promote::adapters {
class ProcessRunner;
}

namespace promote::adapters::kube {
class Cluster;
}

namespace promote::adapters::probe {
class Prober;
}

namespace promote::adapters::hooks {
class HookRunner;
}

namespace promote::adapters::registry {
class ImageRegistry;
}

namespace promote::adapters::metrics {
class MetricSource;
}

namespace promote::phases {

class StepLog;

/// What every phase shares. The referenced objects outlive the context.
struct Context {
  const Redactor& redactor;
  spdlog::logger& logger;
  adapters::ProcessRunner& processes;
  adapters::probe::Prober& prober;
  /// The cluster adapter of an environment (its plan driver: kubectl or helm).
  std::function<adapters::kube::Cluster&(const std::string& environment)> cluster;
  /// Base URLs that replace the plan's, per environment then service (--endpoints FILE).
  std::map<std::string, std::map<std::string, std::string>> endpoints;
  /// The release repository, resolved against the plan's folder; unset = not configured.
  std::optional<std::filesystem::path> releases_repo = std::nullopt;
  /// The remote release tags are pushed to (the plan's releases.remote); unset = not pushed.
  std::optional<std::string> releases_remote = std::nullopt;
  std::function<std::chrono::system_clock::time_point()> now = std::chrono::system_clock::now;
  /// Waits between probe rounds; tests pass one that advances a fake clock instead.
  std::function<void(std::chrono::milliseconds)> sleep = [](std::chrono::milliseconds duration) {
    std::this_thread::sleep_for(duration);
  };
  /// The run's record (its journal): every side effect is written there as intended before it
  /// is made. Null for read-only commands (audit, dry run), which have no side effects.
  StepLog* steps = nullptr;
  /// The operator's hooks (--hooks DIR, else hooks/ beside the plan); null = none.
  const adapters::hooks::HookRunner* hooks = nullptr;
  /// Where the audit asks whether the target's registry holds an image (registry.verify);
  /// null = no client, and a plan that asks for the check is then refused, never waved through.
  adapters::registry::ImageRegistry* registry = nullptr;
  /// Where metric checks are evaluated (the environments' Prometheus); null = none, and a metric
  /// check is then errored, never passed.
  adapters::metrics::MetricSource* metrics = nullptr;
};

}  // namespace promote::phases
