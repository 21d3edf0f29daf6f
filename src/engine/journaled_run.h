// A run's journal read back as the facts a resume needs (engine/promotion.cc): the change the
// run decided, its tag, the waves it validated, every service it touched, and how the change
// lists are journaled (ChangesJson) so that they read back the same.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "phases/audit.h"
#include "phases/deploy.h"
#include "phases/validate.h"

namespace promote::engine {

class Journal;

/// Services with their from/to images (and helm revision) as a transition's detail carries them.
nlohmann::json ChangesJson(const std::vector<phases::ServiceChange>& changes);

/// ChangesJson read back (a resumed run's rollback list); entries it cannot read are skipped.
std::vector<phases::ServiceChange> ChangesFromJson(const nlohmann::json& changes);

/// The helm revision each promoted service ran in the target when audited: what a rollback of
/// it goes back to. Journaled with the diff, so a resumed run restores the same revisions.
nlohmann::json RevisionsJson(const phases::AuditReport& audit);

/// What a killed run's journal says it had done, so that resume goes on from there: the change
/// it decided (the Audited diff), its tag, the waves already validated, the services it touched.
struct JournaledRun {
  nlohmann::json diff = nlohmann::json::array();
  std::string diff_hash;
  nlohmann::json revisions = nlohmann::json::object();
  std::string tag;         ///< Tagged: the release tag
  std::string tag_intent;  ///< a create-tag intent's name (killed while tagging)
  bool tag_pushed = false;
  int current_wave = 0;  ///< the wave of the last Deploying transition
  /// The current wave's validation failed (its note is journaled) but the run died before it
  /// moved to RollingBack: resume rolls back rather than validate again and hope.
  std::string failed_validation;
  std::set<int> validated_waves;
  std::vector<std::pair<std::string, phases::ValidationResult>> validations;
  std::vector<phases::ServiceChange> touched;  ///< every set-image intent, in order
  std::string rollback_reason;                 ///< RollingBack: why
  std::vector<phases::ServiceChange> rolling_back;
};

/// Reads `journal` from the first event to the last (throws nlohmann::json exceptions on a field
/// of another type than promote writes; the engine turns them into an Error).
JournaledRun ReadJournaledRun(const Journal& journal);

}  // namespace promote::engine
