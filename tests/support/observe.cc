// What a run left behind, read from outside (see observe.h).
#include "support/observe.h"

#include <sstream>

#include "support/files.h"

namespace promote::testing {

namespace fs = std::filesystem;

std::map<std::string, std::string> ProdImages(const StandIn& standin) {
  const auto list = nlohmann::json::parse(
      standin.Kubectl("prod", "default", {"get", "deployments", "--all-namespaces", "-o", "json"}));
  std::map<std::string, std::string> images;
  for (const auto& item : list["items"]) {
    const std::string where = item["metadata"]["namespace"].get<std::string>() + "/" +
                              item["metadata"]["name"].get<std::string>() + "/";
    for (const auto& container : item["spec"]["template"]["spec"]["containers"]) {
      images[where + container["name"].get<std::string>()] = container["image"].get<std::string>();
    }
  }
  return images;
}

std::map<std::string, int> DeploymentPatches(const StandIn& standin, std::size_t from) {
  const auto requests = standin.Requests();
  std::map<std::string, int> patches;
  for (std::size_t i = from; i < requests.size(); ++i) {
    const auto& request = requests[i];
    if (request["env"] == "prod" && request["verb"] == "patch" &&
        request["resource"] == "deployments") {
      ++patches[request["namespace"].get<std::string>() + "/" + request["name"].get<std::string>()];
    }
  }
  return patches;
}

std::vector<std::string> Tags(const StandIn& standin, const fs::path& releases) {
  std::istringstream lines(standin.RunOk({"git", "-C", releases.string(), "tag"}));
  std::vector<std::string> tags;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) tags.push_back(line);
  }
  return tags;
}

std::set<std::string> Runs(const fs::path& state) {
  std::set<std::string> runs;
  if (!fs::exists(state / "runs")) return runs;
  for (const auto& entry : fs::directory_iterator(state / "runs")) {
    runs.insert(entry.path().filename().string());
  }
  return runs;
}

std::vector<nlohmann::json> JournalLines(const fs::path& state, const std::string& run) {
  std::istringstream text(ReadFile(state / "runs" / run / "events.jsonl"));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(text, line);) {
    lines.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  return lines;
}

std::string LastState(const fs::path& state, const std::string& run) {
  std::string last;
  for (const auto& line : JournalLines(state, run)) {
    if (line.is_object() && line.value("kind", "") == "transition") last = line.value("state", "");
  }
  return last;
}

}  // namespace promote::testing
