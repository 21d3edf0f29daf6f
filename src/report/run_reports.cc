#include "report/run_reports.h"

#include <spdlog/logger.h>

#include "report/promotion_report.h"
#include "report/report_writer.h"

namespace promote::report {

RunReports::RunReports(std::filesystem::path dir, const Redactor& redactor, spdlog::logger& logger)
    : dir_(std::move(dir)), redactor_(redactor), logger_(logger) {}

void RunReports::Audited(const phases::AuditReport& audit, const engine::RunPlan*,
                         const std::string& stage) {
  if (auto paths = WriteAuditReports(audit, dir_ / stage, redactor_); !paths) {
    logger_.warn("audit reports not written: {}", paths.error().Format());
  }
}

void RunReports::Ended(const engine::PromotionResult& result) {
  if (auto written = WritePromotionReports(result, result.run_id, dir_, redactor_); !written) {
    logger_.warn("run report not written: {}", written.error().Format());
  }
}

}  // namespace promote::report
