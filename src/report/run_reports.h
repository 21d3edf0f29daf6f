// The reports of a run, written as the engine tells of its audits and its end (engine's
// RunObserver): the audit reports of each stage in a folder of their own, then the run report.
// A report that cannot be written is logged, not fatal: the journal already holds the outcome.
#pragma once

#include <filesystem>
#include <string>

#include "engine/promotion.h"

namespace spdlog {
class logger;
}

namespace promote {
class Redactor;
}

namespace promote::report {

/// Writes DIR/<stage>/audit.{md,json,junit.xml} for each audit and DIR/promotion.{md,json} at
/// the end of a run, every byte redacted.
class RunReports final : public engine::RunObserver {
 public:
  RunReports(std::filesystem::path dir, const Redactor& redactor, spdlog::logger& logger);

  void Audited(const phases::AuditReport& audit, const engine::RunPlan* plan,
               const std::string& stage) override;
  void Ended(const engine::PromotionResult& result) override;

 private:
  std::filesystem::path dir_;
  const Redactor& redactor_;
  spdlog::logger& logger_;
};

}  // namespace promote::report
