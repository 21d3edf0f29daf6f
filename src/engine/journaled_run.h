// A run's journal read back as the facts a resume needs (engine/promotion.cc): the plan the run
// decided (and was approved for), its tag, the waves it validated, every service it touched,
// why it turned back, and how change lists are journaled (ChangesJson) so they read back alike.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/promotion.h"
#include "engine/run_plan.h"
#include "phases/deploy.h"
#include "phases/validate.h"

namespace promote::engine {

class Journal;

/// A RunFailure as the RollingBack transition carries it, and back.
nlohmann::json FailureJson(const RunFailure& failure);
RunFailure FailureFromJson(const nlohmann::json& detail);

/// What a killed run's journal says it had done, so that resume goes on from there.
struct JournaledRun {
  std::optional<RunPlan> plan;  ///< the Audited plan (or the one audited again on resume)
  std::string tag;              ///< Tagged: the release tag
  std::string tag_intent;       ///< a create-tag intent's name (killed while tagging)
  bool tag_pushed = false;
  int current_wave = 0;  ///< the wave of the last Deploying or Validating transition
  /// The current wave's validation failed (its note is journaled) but the run died before it
  /// moved to RollingBack: resume rolls back rather than validate again and hope.
  std::string failed_validation;
  bool failed_validation_judged = false;
  std::map<std::string, std::string> failed_services;             ///< of that failed validation
  std::map<std::string, std::vector<std::string>> failed_probes;  ///< of that failed validation
  std::set<int> validated_waves;
  std::vector<std::pair<std::string, phases::ValidationResult>> validations;
  std::vector<phases::ServiceChange> touched;  ///< every set-image intent, in order
  RunFailure failure;                          ///< RollingBack: why
  std::vector<phases::ServiceChange> rolling_back;
  /// The freeze override the run was let through with: its window and reason.
  std::optional<std::pair<std::string, std::string>> freeze_override;
};

/// Reads `journal` from the first event to the last (throws nlohmann::json exceptions on a field
/// of another type than promote writes; the engine turns them into an Error).
JournaledRun ReadJournaledRun(const Journal& journal);

}  // namespace promote::engine
