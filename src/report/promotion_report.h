// The report of one promotion run (`promote dev prod`), beside its journal: what a person reads
// afterwards (outcome first, then the changes, the validation evidence, the rollback and what to
// do now) and the same facts as JSON (schema `promote/promotion/v2`, docs/report-schema.md).
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/error.h"

namespace promote {
class Redactor;
}

namespace promote::engine {
struct PromotionResult;
}

namespace promote::report {

/// The run report in GitHub-flavoured Markdown. Pure: no redaction (WritePromotionReports does
/// it). Every failed or errored probe of every validation round is listed once per probe with
/// the number of rounds it was seen in, so an error a retry later fixed stays visible.
std::string RenderPromotionMarkdown(const engine::PromotionResult& result,
                                    const std::string& run_id);

/// The run report as JSON, `"schema": "promote/promotion/v2"`. Pure, like the Markdown.
nlohmann::json PromotionJson(const engine::PromotionResult& result, const std::string& run_id);

/// Writes DIR/promotion.md and DIR/promotion.json (DIR created with its parents), every string
/// redacted before rendering and every byte again after, each file replaced atomically through
/// WriteRedactedFile. Errors are kExternal and name the path.
Status WritePromotionReports(const engine::PromotionResult& result, const std::string& run_id,
                             const std::filesystem::path& dir, const Redactor& redactor);

}  // namespace promote::report
