#include "phases/step_log.h"

#include <spdlog/logger.h>

namespace promote::phases {

StepLog::~StepLog() = default;

void RecordFailed(StepLog& log, spdlog::logger& logger, long intent, nlohmann::json detail) {
  if (auto written = log.Failed(intent, std::move(detail)); !written) {
    logger.error("a failed step (intent {}) could not be journaled: {}", intent,
                 written.error().Format());
  }
}

}  // namespace promote::phases
