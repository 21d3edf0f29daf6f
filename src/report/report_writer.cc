// Implementation details: redaction happens twice on purpose. The report's strings are redacted
// before rendering, because escaping (`|` → `\|` in Markdown, `&` → `&amp;` in XML, `"` → `\"` in
// JSON) could split a secret so that a text-level pass no longer recognises it; the rendered text
// is redacted again so nothing a renderer adds escapes the Redactor either.
#include "report/report_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "core/redactor.h"
#include "phases/audit.h"
#include "report/audit_json.h"
#include "report/audit_markdown.h"
#include "report/html.h"
#include "report/junit.h"

namespace promote::report {
namespace {

namespace fs = std::filesystem;

void RedactInPlace(const Redactor& redactor, std::string& text) {
  redactor.RedactInPlace(text);
}

void RedactInPlace(const Redactor& redactor, std::optional<std::string>& text) {
  if (text) RedactInPlace(redactor, *text);
}

void RedactInPlace(const Redactor& redactor, std::vector<std::string>& texts) {
  for (auto& text : texts) RedactInPlace(redactor, text);
}

void RedactProbe(const Redactor& r, adapters::probe::ProbeResult& probe) {
  for (std::string* text : {&probe.service, &probe.environment, &probe.probe_name, &probe.method,
                            &probe.path, &probe.url, &probe.verdict.reason, &probe.verdict.note,
                            &probe.body_excerpt, &probe.query}) {
    RedactInPlace(r, *text);
  }
  for (auto& attempt : probe.attempts) {
    RedactInPlace(r, attempt.reason);
    RedactInPlace(r, attempt.note);
  }
}

void RedactEnvironment(const Redactor& r, phases::EnvironmentObservation& env) {
  RedactInPlace(r, env.name);
  RedactInPlace(r, env.context);
  RedactInPlace(r, env.secrets_error);
  for (auto& secret : env.secrets) {
    RedactInPlace(r, secret.name);
    RedactInPlace(r, secret.namespaces);
  }
  for (auto& s : env.services) {
    for (std::string* text : {&s.service, &s.environment, &s.ns, &s.workload, &s.status.image,
                              &s.status.message, &s.status.created}) {
      RedactInPlace(r, *text);
    }
    RedactInPlace(r, s.status.digest);
    RedactInPlace(r, s.read_error);
    for (auto& probe : s.probes) RedactProbe(r, probe);
  }
  for (auto& check : env.checks) RedactProbe(r, check);
}

// A copy of `report` with every string redacted.
phases::AuditReport Redacted(const phases::AuditReport& report, const Redactor& r) {
  phases::AuditReport out = report;
  for (std::string* text : {&out.plan_name, &out.plan_file, &out.source, &out.target,
                            &out.started_at, &out.source_verdict.reason, &out.target_verdict.reason,
                            &out.recommendation_reason, &out.command}) {
    RedactInPlace(r, *text);
  }
  RedactEnvironment(r, out.source_env);
  RedactEnvironment(r, out.target_env);
  for (auto& c : out.comparisons) {
    for (std::string* text : {&c.service, &c.source_image, &c.target_image, &c.reason}) {
      RedactInPlace(r, *text);
    }
    RedactInPlace(r, c.source_digest);
    RedactInPlace(r, c.target_digest);
  }
  RedactInPlace(r, out.drift);
  RedactInPlace(r, out.refusals);
  for (std::string* text : {&out.freeze.description, &out.freeze.refusal, &out.releases.repo}) {
    RedactInPlace(r, *text);
  }
  RedactInPlace(r, out.freeze.override_reason);
  RedactInPlace(r, out.force_reason);
  for (auto& bad : out.forced) {
    for (std::string* text : {&bad.service, &bad.image, &bad.release, &bad.reason}) {
      RedactInPlace(r, *text);
    }
  }
  for (auto& c : out.comparisons) {
    if (!c.known_bad) continue;
    for (std::string* text : {&c.known_bad->image, &c.known_bad->release, &c.known_bad->reason}) {
      RedactInPlace(r, *text);
    }
  }
  return out;
}

Error WriteError(const fs::path& path, const std::string& what, int error_number) {
  return Error{ErrorKind::kExternal, what + ": " + std::strerror(error_number), path.string(),
               "check that the report directory is writable and the disk is not full, or choose "
               "another one with --report-dir"};
}

// Writes all of `content` to `fd`, retrying short writes and interruptions.
bool WriteAll(int fd, const std::string& content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// PATH.tmp written and fsync'd, then renamed over PATH: a reader sees the old or the new report.
Status WriteAtomically(const fs::path& path, const std::string& content) {
  fs::path tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return WriteError(tmp, "cannot create the report", errno);
  if (!WriteAll(fd, content) || ::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return WriteError(tmp, "cannot write the report", saved);
  }
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return WriteError(tmp, "cannot write the report", saved);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return WriteError(path, "cannot move the report into place", saved);
  }
  return Done{};
}

// Appends to the job summary file; GitHub renders it on the run's page.
Status AppendSummary(const fs::path& path, const std::string& markdown) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error{ErrorKind::kExternal,
                 std::string("cannot open the job summary: ") + std::strerror(errno), path.string(),
                 "unset GITHUB_STEP_SUMMARY or point it at a writable file"};
  }
  const bool ok = WriteAll(fd, markdown + "\n");
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    return Error{ErrorKind::kExternal,
                 std::string("cannot append to the job summary: ") + std::strerror(saved),
                 path.string(), "unset GITHUB_STEP_SUMMARY or point it at a writable file"};
  }
  return Done{};
}

}  // namespace

Result<ReportPaths> WriteAuditReports(const phases::AuditReport& report, const fs::path& dir,
                                      const Redactor& redactor) {
  // At 200 services the JSON report is a megabyte: each rendering is redacted in place and let
  // go as soon as it is written, so promote's peak memory holds one rendering, not all of them.
  const phases::AuditReport clean = Redacted(report, redactor);
  std::string markdown = RenderAuditMarkdown(clean);
  redactor.RedactInPlace(markdown);
  // Invalid UTF-8 is replaced, not thrown: a body excerpt may be cut inside a character.
  std::string json = AuditJsonText(clean);
  json.push_back('\n');  // into the room AuditJsonText left for it
  redactor.RedactInPlace(json);
  if (!nlohmann::json::accept(json)) {
    return Error{ErrorKind::kInternal, "redaction broke the JSON report", "report_writer",
                 "report this bug; the Markdown and JUnit reports were not written either"};
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error{ErrorKind::kExternal, "cannot create the report directory: " + ec.message(),
                 dir.string(), "choose a writable directory with --report-dir"};
  }
  ReportPaths paths{dir / "audit.md", dir / "audit.json", dir / "audit.junit.xml",
                    dir / "audit.html"};
  if (Status written = WriteAtomically(paths.markdown, markdown); !written) {
    return std::move(written).error();
  }
  if (Status written = WriteAtomically(paths.json, json); !written) {
    return std::move(written).error();
  }
  std::string().swap(json);
  std::string junit = RenderJUnit(clean);
  redactor.RedactInPlace(junit);
  if (Status written = WriteAtomically(paths.junit, junit); !written) {
    return std::move(written).error();
  }
  std::string html = RenderHtmlPage(
      "Audit " + clean.plan_name + " " + clean.source + " → " + clean.target, markdown);
  redactor.RedactInPlace(html);
  if (Status written = WriteAtomically(paths.html, html); !written) {
    return std::move(written).error();
  }
  if (const char* summary = std::getenv("GITHUB_STEP_SUMMARY"); summary && *summary) {
    if (Status appended = AppendSummary(summary, markdown); !appended) {
      return std::move(appended).error();
    }
  }
  return paths;
}

Status WriteRedactedFile(const fs::path& path, const std::string& content,
                         const Redactor& redactor) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      return Error{ErrorKind::kExternal, "cannot create the report directory: " + ec.message(),
                   path.parent_path().string(), "choose a writable directory with --report-dir"};
    }
  }
  return WriteAtomically(path, redactor.Redact(content));
}

}  // namespace promote::report
