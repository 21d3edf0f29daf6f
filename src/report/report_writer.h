// Writes the audit's three reports (Markdown, JSON, JUnit XML) into a report directory, every
// byte redacted first, each file replaced atomically; appends the Markdown to the GitHub Actions
// job summary when GITHUB_STEP_SUMMARY names a file.
#pragma once

#include <filesystem>
#include <string>

#include "core/error.h"

namespace promote {
class Redactor;
}

namespace promote::phases {
struct AuditReport;
}

namespace promote::report {

/// Where WriteAuditReports put each report.
struct ReportPaths {
  std::filesystem::path markdown;  ///< DIR/audit.md
  std::filesystem::path json;      ///< DIR/audit.json
  std::filesystem::path junit;     ///< DIR/audit.junit.xml
  std::filesystem::path html;      ///< DIR/audit.html, the Markdown as a self-contained page
};

/// Writes audit.md, audit.json, audit.junit.xml and audit.html into `dir` (created with its
/// parents). Every string of `report` and every byte of each file pass through `redactor` (probe
/// body excerpts come from services and may echo a credential). Each file is written to NAME.tmp,
/// flushed to disk, then renamed over NAME, so a reader never sees half a report. When
/// GITHUB_STEP_SUMMARY is set and not empty, the redacted Markdown is appended to the file it
/// names. Errors are kExternal and name the path.
Result<ReportPaths> WriteAuditReports(const phases::AuditReport& report,
                                      const std::filesystem::path& dir, const Redactor& redactor);

/// Writes `content`, redacted, to `path` the same atomic way (PATH.tmp, fsync, rename), creating
/// the parent directory; for other reports of a run (the dry run's promotion plan).
Status WriteRedactedFile(const std::filesystem::path& path, const std::string& content,
                         const Redactor& redactor);

}  // namespace promote::report
