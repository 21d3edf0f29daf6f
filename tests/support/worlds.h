// Test fixtures for end-to-end runs of the promote binary: a stand-in, a real release repository
// and a plan with short rollouts and soaks, all in one temporary folder. KeybuzzWorld deploys
// plans/keybuzz.yaml with kubectl; HelmWorld deploys one service `shop` as a helm release.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "adapters/process/process.h"
#include "support/standin.h"

namespace promote::testing {

/// The api image repository of plans/keybuzz.yaml (also the image of HelmWorld's `shop`).
inline const std::string kKeybuzzApi = "ghcr.io/keybuzz/keybuzz-api";

/// `text` with the first `from` replaced by `to`; fails the test when `from` is not there.
std::string ReplaceFirst(std::string text, const std::string& from, const std::string& to);

/// A stand-in, a release repository and plans/keybuzz.yaml without its approval gate and with
/// a short soak, all in one temporary folder.
class KeybuzzWorld {
 public:
  /// Whether PROD keeps the plan's approval gate.
  enum class Gate { kOff, kKept };

  explicit KeybuzzWorld(Gate gate = Gate::kOff);

  StandIn& standin() { return standin_; }
  std::filesystem::path releases() const { return root_ / "releases"; }
  std::filesystem::path state() const { return root_ / "state"; }

  /// The command line of promote with this world's flags, then `args`.
  std::vector<std::string> Argv(std::vector<std::string> args) const;

  /// promote with this world's flags, then `args`, as `actor` (GITHUB_ACTOR).
  adapters::ProcessResult Cli(std::vector<std::string> args, const std::string& actor = "ci-bot",
                              std::map<std::string, std::string> env = {});

  /// `promote dev prod` with `args`. Unless it is a dry run itself, its dry run goes first in
  /// the same state and must decide the same (the dry run is the run).
  adapters::ProcessResult Promote(std::vector<std::string> args = {},
                                  const std::string& actor = "ci-bot",
                                  std::map<std::string, std::string> env = {});

  /// Replaces `from` by `to` in this world's plan file (e.g. to declare a freeze window).
  void EditPlan(const std::string& from, const std::string& to);

  /// Moves the plan file to `to` (another checkout of the same repository, say); later runs
  /// and commands pass the new path.
  void MovePlan(const std::filesystem::path& to);

  /// The hooks folder the runs use (empty until a hook is installed).
  std::filesystem::path hooks() const { return root_ / "hooks"; }

  /// Installs the shipped hooks/examples/`example` as this world's `point` hook (a symlink, as
  /// hooks/README.md suggests).
  void InstallHook(const std::string& point, const std::string& example);

  std::string Git(std::vector<std::string> args);

  std::string Kubectl(const std::string& context, const std::string& ns,
                      std::vector<std::string> args);

  std::string Image(const std::string& context, const std::string& service);

  /// DEV now runs `image` for the api (a new build proven in DEV).
  void ShipToDev(const std::string& image);

  /// What PROD ran after its first release, before a second one replaced it.
  struct FirstRelease {
    std::string tag;
    std::string api;
  };

  /// Promotes DEV twice: DEV's api as it is, then `newer` (a healthy build in both
  /// environments). Returns the first release, which PROD no longer runs.
  FirstRelease TwoReleases(const std::string& newer);

  /// Posts to the stand-in's control API of `env`.
  void Control(const std::string& env, const std::string& what, const std::string& body);

  /// Starts `promote dev prod`, and once its journal has an event for which `when` is true,
  /// kills it with SIGKILL (as the OOM killer or a lost node would: no clean-up at all).
  /// Returns the run id. Bounded: fails the test after 60 s without such an event.
  std::string PromoteAndKillWhen(const std::function<bool(const nlohmann::json&)>& when);

  /// The states a run went through, from its journal.
  std::vector<std::string> States(const std::string& run) const;

 private:
  StandIn standin_;
  std::filesystem::path root_;
  std::filesystem::path plan_;  ///< the plan file every command is given
};

/// A world file for the stand-in: the images and routes of the default world, and one service
/// `shop` (the api images) in dev and prod. Removed with its folder on destruction.
class ShopWorldFile {
 public:
  ShopWorldFile();
  ~ShopWorldFile();
  ShopWorldFile(const ShopWorldFile&) = delete;
  ShopWorldFile& operator=(const ShopWorldFile&) = delete;

  std::filesystem::path file() const { return dir_ / "world.json"; }

 private:
  std::filesystem::path dir_;
};

/// A stand-in whose `shop` Deployments are helm releases of tests/standin/charts/tiny (dev on
/// kDevTag, prod on kProdTag), a release repository and a plan with driver helm on both sides.
///
/// The stand-in gives an HTTP port only to deployments of its world file, so it starts with a
/// world whose one service `shop` lives at shop-dev/shop-prod, deletes the seeded Deployment and
/// installs a helm release of the tiny chart under the same name: the port answers as whatever
/// Deployment `shop` serves, so probes reach the helm-managed workload.
class HelmWorld {
 public:
  static inline const std::string kDevTag = "v0.4.31-replacement";
  static inline const std::string kProdTag = "v0.9.29-contact-fix";

  HelmWorld();

  StandIn& standin() { return standin_; }
  std::filesystem::path releases() const { return root_ / "releases"; }
  std::filesystem::path state() const { return root_ / "state"; }
  const std::string& chart() const { return chart_; }

  /// promote with this world's flags (helm's private folders in its environment), then `args`,
  /// with `env` added.
  adapters::ProcessResult Cli(std::vector<std::string> args,
                              std::map<std::string, std::string> env = {});

  /// `promote dev prod`, after its dry run, which must decide the same.
  adapters::ProcessResult Promote();

  std::string Git(std::vector<std::string> args);

  std::string Kubectl(const std::string& env, std::vector<std::string> args);

  std::string Helm(const std::string& env, std::vector<std::string> args);

  std::string Image(const std::string& env);

  /// `helm history` of the release in `env`: (revision, status) in order.
  std::vector<std::pair<int, std::string>> History(const std::string& env);

  /// Posts to the stand-in's control API of `env`.
  void Control(const std::string& env, const std::string& what, const std::string& body);

  /// The states a run went through, from its journal.
  std::vector<std::string> States(const std::string& run) const;

 private:
  ShopWorldFile world_;
  StandIn standin_;
  std::filesystem::path root_;
  std::string chart_;
  std::map<std::string, std::string> env_;
};

}  // namespace promote::testing
