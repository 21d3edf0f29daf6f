// What a run left behind, read from outside as a person would check it: PROD's Deployments and
// their PATCHes in the stand-in's request log, the release repository's tags, the run folders and
// a run's journal lines. Shared by the kill harness and the fault matrix.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/standin.h"

namespace promote::testing {

/// PROD's Deployments: "namespace/name/container" → image.
std::map<std::string, std::string> ProdImages(const StandIn& standin);

/// PATCHes of PROD's Deployments among the stand-in's requests from index `from` on, by
/// "namespace/name".
std::map<std::string, int> DeploymentPatches(const StandIn& standin, std::size_t from);

/// The tags of the release repository at `releases` (`git tag`).
std::vector<std::string> Tags(const StandIn& standin, const std::filesystem::path& releases);

/// The run ids under `state`/runs.
std::set<std::string> Runs(const std::filesystem::path& state);

/// The journal's lines, each parsed ("null" for a line that is not JSON).
std::vector<nlohmann::json> JournalLines(const std::filesystem::path& state,
                                         const std::string& run);

/// The state of the journal's last transition ("" when there is none).
std::string LastState(const std::filesystem::path& state, const std::string& run);

}  // namespace promote::testing
