// Implementation details: observation (cluster reads, then every probe of both environments in
// one concurrent batch) is kept apart from the conclusion (Conclude), which is pure so that the
// verdict rules are tested on hand-made observations. Nothing here writes to a cluster.
#include "phases/audit.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "adapters/git/release_repo.h"
#include "adapters/registry/registry.h"
#include "core/image_reference.h"
#include "core/parallel.h"
#include "core/redactor.h"
#include "core/shell_line.h"
#include "core/text.h"
#include "core/time_format.h"
#include "phases/context.h"
#include "phases/targets.h"
#include "plan/plan.h"

namespace promote::phases {
namespace {

using adapters::kube::RolloutState;
using adapters::probe::ProbeOutcome;
using adapters::probe::ProbeResult;

std::string ProbeLine(const ProbeResult& probe) {
  if (probe.metric) return probe.method + " " + probe.path + " → " + probe.verdict.note;
  std::string line = probe.method + " " + probe.path + " → ";
  line += probe.status >= 0 ? std::to_string(probe.status) : std::string("no answer");
  if (!probe.verdict.note.empty() && probe.verdict.note != "ok") {
    line += " (" + probe.verdict.note + ")";
  }
  return line;
}

const char* RolloutWord(RolloutState state) {
  switch (state) {
    case RolloutState::kComplete:
      return "rolled out";
    case RolloutState::kProgressing:
      return "still rolling out";
    case RolloutState::kDeadlineExceeded:
      return "stuck (progress deadline exceeded)";
    case RolloutState::kMissing:
      return "missing";
  }
  return "unknown";
}

// What users can do in `env`, capability by capability: a probe that was not run (its service
// has no result for it) counts as failed, never as working.
std::vector<CapabilityState> JudgeCapabilities(const plan::Plan& plan,
                                               const EnvironmentObservation& env) {
  std::vector<CapabilityState> states;
  for (const plan::Capability& capability : plan.CapabilitiesWithRest()) {
    CapabilityState& state = states.emplace_back();
    state.name = capability.name;
    state.golden = capability.golden;
    state.implicit = capability.implicit;
    for (const plan::ProbeRef& ref : capability.probes) {
      state.probes.push_back(ref.Name());
      const ServiceObservation* service = env.Find(ref.service);
      const ProbeResult* result = nullptr;
      if (service) {
        for (const auto& probe : service->probes) {
          if (probe.probe_name == ref.probe) result = &probe;
        }
      }
      if (result && result->passed()) continue;
      state.failed.push_back({ref.Name(), result ? ProbeLine(*result) : std::string("not probed"),
                              service ? service->ns : std::string(),
                              result && WithoutValue(*result)});
    }
  }
  return states;
}

// The reason an environment is not fully functional, or empty when it is: every golden
// capability and golden probe that fails makes it not functional, and the sentence names all of
// them, then the other capabilities that do not work.
Verdict JudgeEnvironment(const EnvironmentObservation& env) {
  std::vector<std::string> golden_failures;
  std::vector<std::string> other_problems;
  // Metric checks without a value: nothing is known of them, so they make the environment
  // neither degraded nor broken (a quiet PROD at night has no rate to compute), but the
  // verdict's sentence names them rather than claiming they pass.
  std::vector<std::string> unknown;
  std::set<std::string> told;  // probes a failing golden capability has named already
  for (const auto& capability : env.capabilities) {
    if (!capability.golden || capability.Works()) continue;
    const bool broken = std::any_of(capability.failed.begin(), capability.failed.end(),
                                    [](const CapabilityFailure& f) { return !f.unknown; });
    (broken ? golden_failures : unknown).push_back(capability.Impossible());
    for (const auto& failure : capability.failed) told.insert(failure.probe);
  }
  for (const auto& service : env.services) {
    if (service.read_error) {
      other_problems.push_back(service.service + " could not be read: " + *service.read_error);
    } else if (!service.status.namespace_present) {
      other_problems.push_back("namespace " + service.ns + " is missing");
    } else if (!service.status.workload_present) {
      other_problems.push_back(service.workload + " is missing in " + service.ns);
    } else if (service.status.rollout != RolloutState::kComplete) {
      other_problems.push_back(service.workload + " is " + RolloutWord(service.status.rollout));
    }
    for (const auto& probe : service.probes) {
      if (probe.passed()) continue;
      if (told.count(service.service + "/" + probe.probe_name)) continue;
      if (WithoutValue(probe)) {
        unknown.push_back(ProbeLine(probe) + " on " + service.ns);
      } else if (probe.golden) {
        golden_failures.push_back(probe.probe_name + " impossible: " + ProbeLine(probe) + " on " +
                                  service.ns);
      } else {
        other_problems.push_back(ProbeLine(probe) + " on " + service.ns);
      }
    }
  }
  for (const auto& check : env.checks) {
    if (check.passed()) continue;
    const std::string line = "the environment's " + ProbeLine(check) + " in " + env.name;
    if (WithoutValue(check)) {
      unknown.push_back(line);
    } else if (check.golden) {
      golden_failures.push_back(check.probe_name + " impossible: " + line);
    } else {
      other_problems.push_back(line);
    }
  }
  // Secrets that could not be checked are unknown, not missing: only one sentence says so.
  if (env.secrets_error) {
    other_problems.push_back("secrets unreadable: " + *env.secrets_error);
  } else {
    for (const auto& secret : env.secrets) {
      if (!secret.present()) other_problems.push_back("secret " + secret.name + " is missing");
    }
  }

  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : "; ") + part;
    return out;
  };
  if (!golden_failures.empty()) {
    std::vector<std::string> others;
    for (const auto& capability : env.capabilities) {
      if (!capability.golden && !capability.implicit && !capability.Works()) {
        others.push_back(capability.name);
      }
    }
    std::string reason = join(golden_failures);
    if (!others.empty()) reason += "; also not working: " + Join(others, ", ");
    return {Functional::kNotFunctional, reason};
  }
  const std::string no_data = unknown.empty() ? "" : "; no metric data: " + join(unknown);
  if (!other_problems.empty()) return {Functional::kDegraded, join(other_problems) + no_data};
  return {Functional::kFunctional,
          (unknown.empty() ? "every golden probe passes and every workload is rolled out"
                           : "every golden check with an answer passes and every workload is "
                             "rolled out") +
              no_data};
}

bool SameRelease(const ServiceObservation& source, const ServiceObservation& target) {
  if (source.status.digest && target.status.digest) {
    return *source.status.digest == *target.status.digest;
  }
  return source.status.image == target.status.image;
}

/// A release tag seen as an environment: each service at the image its manifest records, rolled
/// out (it was validated when it was released). Services the manifest lacks are left out.
EnvironmentObservation ObserveRelease(const plan::Plan& plan, const std::string& tag,
                                      const adapters::git::ReleaseManifest& manifest) {
  EnvironmentObservation observation;
  observation.name = tag;
  observation.context = "release " + tag;
  for (const auto& service : plan.services) {
    const auto released = manifest.services.find(service.name);
    if (released == manifest.services.end()) continue;
    ServiceObservation seen;
    seen.service = service.name;
    seen.environment = tag;
    seen.ns = manifest.target_env;
    seen.workload = service.workload_kind + "/" + service.workload_name;
    seen.status.namespace_present = true;
    seen.status.workload_present = true;
    seen.status.image = released->second.image;
    seen.status.digest = released->second.digest;
    seen.status.rollout = adapters::kube::RolloutState::kComplete;
    observation.services.push_back(std::move(seen));
  }
  return observation;
}

std::string Tag(const std::string& image) {
  return adapters::kube::ImageTag(image);
}

// The repository part of an image reference: "ghcr.io/x/api:v1@sha256:…" → "ghcr.io/x/api".
std::string Repository(const std::string& image) {
  auto ref = ParseImageReference(image);
  return ref ? ref->Repository() : image;
}

// Whether `image`/`digest` is the very image `bad` names: same repository and digest when both
// digests are known, else the same reference.
bool SameImage(const std::string& image, const std::optional<std::string>& digest,
               const BadImage& bad) {
  if (digest && bad.digest)
    return *digest == *bad.digest && Repository(image) == Repository(bad.image);
  return image == bad.image;
}

// Images the target runs that no release of the target records; none before the first release.
std::vector<std::string> Drift(const AuditReport& report) {
  std::vector<std::string> drift;
  if (!report.releases.known || report.releases.releases_of_target == 0) return drift;
  const auto& released = report.releases.released;
  auto recorded = [&](const std::string& what) { return released.count(what) != 0; };
  for (const auto& seen : report.target_env.services) {
    if (!seen.status.workload_present) continue;
    if (!recorded(seen.status.image) && !(seen.status.digest && recorded(*seen.status.digest))) {
      drift.push_back(seen.status.image);
    }
  }
  return drift;
}

// The bad image a promoted comparison would deploy again, if any (per image first; a legacy
// whole-release note only when this promotion would leave exactly that release in the target).
std::optional<BadImage> KnownBad(const AuditReport& report, const ServiceComparison& c,
                                 const std::map<std::string, adapters::git::ReleasedImage>& after) {
  for (const auto& bad : report.releases.bad_images) {
    if (bad.service == c.service && SameImage(c.source_image, c.source_digest, bad)) return bad;
  }
  for (size_t i = 0; i < report.releases.bad_whole.size(); ++i) {
    const auto& [name, manifest] = report.releases.bad_whole[i];
    if (manifest.services != after) continue;
    const auto released = manifest.services.find(c.service);
    if (released == manifest.services.end()) continue;
    return BadImage{c.service, released->second.image, released->second.digest, name,
                    report.releases.bad_whole_reasons[i]};
  }
  return std::nullopt;
}

// The probes of `seen` that fail without being golden, by name. A metric check without a value
// is not among them: no data in a quiet source proves nothing, and waiving it would let a
// release past the very check (a latency, a success rate) that only the target's traffic can
// answer.
std::vector<std::string> FailingProbes(const ServiceObservation* seen) {
  std::vector<std::string> names;
  if (!seen) return names;
  for (const auto& probe : seen->probes) {
    if (!probe.passed() && !probe.golden && !WithoutValue(probe)) {
      names.push_back(probe.probe_name);
    }
  }
  return names;
}

// A golden probe of `seen` that fails, as a sentence, or "".
std::string FailingGolden(const ServiceObservation* seen) {
  if (!seen) return "";
  for (const auto& probe : seen->probes) {
    if (probe.golden && !probe.passed() && !WithoutValue(probe)) {
      return ProbeLine(probe) + " on " + seen->ns;
    }
  }
  return "";
}

}  // namespace

std::string CapabilityState::Impossible() const {
  std::string out = name + " impossible: ";
  const bool one_namespace = std::all_of(
      failed.begin(), failed.end(),
      [&](const CapabilityFailure& failure) { return failure.ns == failed.front().ns; });
  for (std::size_t i = 0; i < failed.size(); ++i) {
    if (i > 0) out += ", ";
    out += failed[i].line;
    if (!one_namespace && !failed[i].ns.empty()) out += " on " + failed[i].ns;
  }
  if (one_namespace && !failed.empty() && !failed.front().ns.empty()) {
    out += " on " + failed.front().ns;
  }
  return out;
}

bool ServiceObservation::GoldenProbesPass() const {
  return std::all_of(probes.begin(), probes.end(), [](const ProbeResult& p) {
    return !p.golden || p.passed() || WithoutValue(p);
  });
}

bool ServiceObservation::Healthy() const {
  return !read_error && status.workload_present && status.rollout == RolloutState::kComplete &&
         GoldenProbesPass();
}

std::string ServiceObservation::UnhealthyReason() const {
  if (read_error) return "could not be read: " + *read_error;
  if (!status.namespace_present) return "namespace " + ns + " is missing";
  if (!status.workload_present) return workload + " is missing in " + ns;
  if (status.rollout != RolloutState::kComplete) {
    return workload + " is " + RolloutWord(status.rollout);
  }
  for (const auto& probe : probes) {
    if (probe.golden && !probe.passed() && !WithoutValue(probe)) {
      return ProbeLine(probe) + " on " + ns;
    }
  }
  return "";
}

const ServiceObservation* EnvironmentObservation::Find(const std::string& service) const {
  for (const auto& observation : services) {
    if (observation.service == service) return &observation;
  }
  return nullptr;
}

std::string ServiceComparison::ReleasedImage() const {
  return action == ServiceAction::kPromote ? source_image : target_image;
}

std::optional<std::string> ServiceComparison::ReleasedDigest() const {
  return action == ServiceAction::kPromote ? source_digest : target_digest;
}

std::string ServiceComparison::DeployImage() const {
  if (!source_digest || source_image.find('@') != std::string::npos) return source_image;
  return source_image + "@" + *source_digest;
}

const char* FunctionalName(Functional functional) {
  switch (functional) {
    case Functional::kFunctional:
      return "functional";
    case Functional::kDegraded:
      return "degraded";
    case Functional::kNotFunctional:
      return "not-functional";
  }
  return "unknown";
}

const char* ServiceActionName(ServiceAction action) {
  switch (action) {
    case ServiceAction::kPromote:
      return "promote";
    case ServiceAction::kUpToDate:
      return "up-to-date";
    case ServiceAction::kBlocked:
      return "blocked";
  }
  return "unknown";
}

const char* RecommendationName(Recommendation recommendation) {
  switch (recommendation) {
    case Recommendation::kPromote:
      return "promote";
    case Recommendation::kNothingToDo:
      return "nothing-to-do";
    case Recommendation::kDoNotPromote:
      return "do-not-promote";
  }
  return "unknown";
}

nlohmann::json BadImageJson(const BadImage& bad) {
  return {{"service", bad.service},
          {"image", bad.image},
          {"digest", bad.digest ? nlohmann::json(*bad.digest) : nlohmann::json()},
          {"release", bad.release},
          {"reason", bad.reason}};
}

BadImage BadImageFromJson(const nlohmann::json& entry) {
  auto text = [&](const char* key) {
    return entry.is_object() && entry.contains(key) && entry[key].is_string()
               ? entry[key].get<std::string>()
               : std::string();
  };
  BadImage bad{text("service"), text("image"), std::nullopt, text("release"), text("reason")};
  if (const std::string digest = text("digest"); !digest.empty()) bad.digest = digest;
  return bad;
}

const char* RootCauseKindName(RootCause::Kind kind) {
  switch (kind) {
    case RootCause::Kind::kImage:
      return "image";
    case RootCause::Kind::kEnvironment:
      return "environment";
    case RootCause::Kind::kEverywhere:
      return "everywhere";
  }
  return "unknown";
}

const char* OptionKindName(Option::Kind kind) {
  switch (kind) {
    case Option::Kind::kPromote:
      return "promote";
    case Option::Kind::kRestore:
      return "restore";
    case Option::Kind::kFixSource:
      return "fix-source";
    case Option::Kind::kFixTarget:
      return "fix-target";
    case Option::Kind::kUnblock:
      return "unblock";
    case Option::Kind::kNothing:
      return "nothing";
  }
  return "unknown";
}

const char* PresenceName(RegistryFinding::Presence presence) {
  switch (presence) {
    case RegistryFinding::Presence::kPresent:
      return "present";
    case RegistryFinding::Presence::kMissing:
      return "missing";
    case RegistryFinding::Presence::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string BadImage::Describe() const {
  return service + " " + image +
         (digest && image.find('@') == std::string::npos ? "@" + *digest : "") +
         " failed in release " + release + ": " + reason;
}

std::string AuditReport::Suggest(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = command_prefix;
  argv.insert(argv.end(), args.begin(), args.end());
  return ShellLine(argv);
}

namespace {

// Why the source's image must not reach the target, "" when it may: only a valid reference from
// the repositories the plan names goes, pinned by digest where the target requires one.
std::string SupplyChainProblem(const AuditReport& report, const plan::Service& service,
                               const plan::Environment* target, const ServiceComparison& c) {
  const std::string where = service.name + ": " + report.source + " runs ";
  auto image = ParseImageReference(c.source_image);
  if (!image) {
    return where + "an image promote will not deploy: " + image.error().what + "; fix " +
           service.name + " in " + report.source;
  }
  if (!RepositoryAllowed(*image, service.repositories)) {
    return where + c.source_image + ", which is not from the repositories the plan allows for " +
           service.name + " (" + Join(service.repositories, ", ") + "); fix " + report.source +
           ", or if this repository is yours add it to " + service.name + "'s repositories";
  }
  const std::string deploy = c.DeployImage();
  auto pinned = ParseImageReference(deploy);
  if (!pinned) {
    return service.name + ": the digest " + report.source + " reports for " + c.source_image +
           " does not make a valid reference: " + pinned.error().what;
  }
  if (target && target->require_digest && pinned->digest.empty()) {
    return service.name + ": " + report.target + " requires a digest (requireDigest), but none " +
           "is known for " + report.source + "'s " + c.source_image +
           " (its pods report no image ID yet); wait until they run, or deploy it by digest in " +
           report.source;
  }
  return "";
}

// One service's comparison, with its waived probes; `refusals` gets why it must not go.
ServiceComparison Compare(const AuditReport& report, const plan::Service& service,
                          const plan::Environment* target_env, const ServiceObservation& source,
                          const ServiceObservation& target) {
  ServiceComparison c;
  c.service = service.name;
  c.source_image = source.status.image;
  c.source_digest = source.status.digest;
  c.target_image = target.status.image;
  c.target_digest = target.status.digest;
  if (source.status.workload_present) {
    // Checked even when the target already runs it: the release tag would record it as proven.
    if (std::string problem = SupplyChainProblem(report, service, target_env, c);
        !problem.empty()) {
      c.action = ServiceAction::kBlocked;
      c.reason = std::move(problem);
      return c;
    }
  }
  // Not knowing what runs there, a run could neither tell a change nor restore one: an
  // unreadable side blocks the service, named as an API failure, never as a missing workload.
  for (const auto* side : {&target, &source}) {
    if (!side->read_error) continue;
    const std::string& env = side == &target ? report.target : report.source;
    c.action = ServiceAction::kBlocked;
    c.reason = service.name + " could not be read in " + env + ": " + *side->read_error +
               "; fix access to " + env + " and audit again";
    return c;
  }
  if (source.status.workload_present && target.status.workload_present &&
      SameRelease(source, target)) {
    c.action = ServiceAction::kUpToDate;
    c.reason = report.target + " already runs " + Tag(source.status.image);
    // Untouched by the run, but validated with its wave: held to not getting worse.
    c.waived_probes = FailingProbes(&source);
    for (const auto& name : FailingProbes(&target)) {
      if (std::find(c.waived_probes.begin(), c.waived_probes.end(), name) ==
          c.waived_probes.end()) {
        c.waived_probes.push_back(name);
      }
    }
  } else if (!source.Healthy()) {
    c.action = ServiceAction::kBlocked;
    c.reason = service.name + " is unhealthy in " + report.source + ": " + source.UnhealthyReason();
  } else {
    c.action = ServiceAction::kPromote;
    c.reason =
        (target.status.workload_present ? Tag(target.status.image) : std::string("nothing")) +
        " → " + Tag(source.status.image);
    c.waived_probes = FailingProbes(&source);
  }
  return c;
}

}  // namespace

namespace {

// The refusals that look past one service: images a bad release failed on, kept services whose
// golden probe fails, the target's secrets and its freeze. Only when something would change.
void RefuseWhatTheRunCannotPass(AuditReport& report) {
  std::map<std::string, adapters::git::ReleasedImage> after;
  for (const auto& c : report.comparisons) {
    after[c.service] = {c.ReleasedImage(), c.ReleasedDigest()};
  }
  for (auto& c : report.comparisons) {
    if (c.action == ServiceAction::kPromote) {
      c.known_bad = KnownBad(report, c, after);
      if (c.known_bad && report.force_reason) {
        report.forced.push_back(*c.known_bad);
      } else if (c.known_bad) {
        report.refusals.push_back(c.known_bad->Describe() +
                                  "; to promote it anyway pass --force --reason \"…\"");
      }
    } else if (c.action == ServiceAction::kUpToDate) {
      // Every wave is validated and a golden probe is never waived: a service the run keeps as
      // it is but whose golden probe fails would make the run roll back whatever it promotes.
      const std::string golden = FailingGolden(report.target_env.Find(c.service));
      if (!golden.empty()) {
        report.refusals.push_back(c.service + " keeps " + Tag(c.target_image) +
                                  ", whose golden probe fails: " + golden +
                                  "; every wave is validated, so the run would roll back; fix " +
                                  c.service + " in " + report.target + " first");
      }
    }
  }
  // A golden check of the whole environment failing in the source: the source does not prove
  // the release (as a source service failing a golden probe is blocked), and a golden check is
  // never waived, so its validation would fail the run at once.
  for (const auto& check : report.source_env.checks) {
    if (!check.golden || check.passed() || WithoutValue(check)) continue;
    report.refusals.push_back(report.source + "'s golden " + check.method + " " + check.path +
                              " of the environment fails (" + check.verdict.note + "), so " +
                              report.source + " does not prove the release; fix it in " +
                              report.source + " first");
  }
  if (const auto& findings = report.target_env.registry) {
    for (const auto& c : report.comparisons) {
      if (c.action != ServiceAction::kPromote) continue;
      const std::string image = c.DeployImage();
      const auto found =
          std::find_if(findings->begin(), findings->end(), [&](const RegistryFinding& finding) {
            return finding.service == c.service && finding.image == image;
          });
      if (found == findings->end()) {
        report.refusals.push_back(c.service + ": " + image + " was not looked up in " +
                                  report.target + "'s registry; audit again");
      } else if (found->presence == RegistryFinding::Presence::kMissing) {
        report.refusals.push_back(c.service + ": " + image + " is not in the registry " +
                                  report.target + " pulls it from (" + found->registry + "), so " +
                                  report.target + " could not pull it; push it there (or correct " +
                                  report.target + "'s registry.mirrors) and audit again");
      } else if (found->presence == RegistryFinding::Presence::kUnknown) {
        report.refusals.push_back(c.service + ": could not check that " + report.target +
                                  "'s registry holds " + image + ": " + found->detail);
      }
    }
  }
  std::vector<std::string> missing;
  for (const auto& secret : report.target_env.secrets) {
    if (!secret.present()) missing.push_back(secret.name);
  }
  if (report.target_env.secrets_error) {
    report.refusals.push_back("the required secrets of " + report.target +
                              " could not be checked: " + *report.target_env.secrets_error);
  } else if (!missing.empty()) {
    std::string names;
    for (const auto& name : missing) names += (names.empty() ? "" : ", ") + name;
    report.refusals.push_back(report.target + " lacks required secrets " + names);
  }
  if (report.freeze.refuses()) report.refusals.push_back(report.freeze.refusal);
  if (!report.releases.repo.empty() && !report.releases.known) {
    // Without the release notes no image can be told bad: refusing is the only safe answer.
    report.refusals.push_back("the release repository " + report.releases.repo +
                              " could not be read, so no image can be checked against the bad "
                              "releases: " +
                              report.releases.unknown_reason);
  }
}

// The recommendation from the refusals and the changes, with the command to run next.
void Recommend(AuditReport& report, const std::vector<std::string>& changes) {
  report.command.clear();
  if (!report.refusals.empty()) {
    report.recommendation = Recommendation::kDoNotPromote;
    report.recommendation_reason = "do not promote: " + report.refusals.front();
    if (report.refusals.size() > 1) {
      report.recommendation_reason +=
          " (and " + std::to_string(report.refusals.size() - 1) + " more reason(s))";
    }
    report.command = report.Suggest({"audit", report.source, report.target});
  } else if (!changes.empty()) {
    report.recommendation = Recommendation::kPromote;
    std::string what;
    for (const auto& change : changes) what += (what.empty() ? "" : ", ") + change;
    report.recommendation_reason =
        (report.restore ? "restore release " + report.source + " in "
                        : "promote the stable " + report.source + " to ") +
        report.target + ": " + what;
    report.command = report.restore
                         ? report.Suggest({"rollback", report.target, "--to", report.source})
                         : report.Suggest({report.source, report.target});
  } else {
    report.recommendation = Recommendation::kNothingToDo;
    report.recommendation_reason =
        report.TargetHealthy()
            ? "nothing to do: " + report.target + " runs what " + report.source + " runs"
            : "nothing to promote, but " + report.target + " is " +
                  FunctionalName(report.target_verdict.functional) + ": " +
                  report.target_verdict.reason;
  }
}

// --- root causes and options -----------------------------------------------------------------

// "v0.9.29-contact-fix (sha256:0f3c2a1b9d8e)": an image as a person quotes it.
std::string Quoted(const ServiceObservation& seen) {
  std::string out = Tag(seen.status.image);
  if (seen.status.digest) out += " (" + ShortDigest(*seen.status.digest) + ")";
  return out;
}

// "POST /auth/login" of a probe, and with its answer: "POST /auth/login (500)".
std::string Route(const ProbeResult& probe) {
  return probe.method + " " + probe.path;
}
std::string RouteAnswered(const ProbeResult& probe) {
  if (probe.metric) return Route(probe) + " (" + probe.verdict.note + ")";
  return Route(probe) + " (" +
         (probe.status >= 0 ? std::to_string(probe.status) : std::string("no answer")) + ")";
}

// A route the image does not have at all answers 404 (or 405 for a method it lacks).
bool RouteMissing(const ProbeResult& probe) {
  return probe.status == 404 || probe.status == 405;
}

RootCause ImageCause(const AuditReport& report, const ServiceObservation& source,
                     const ServiceObservation& target,
                     const std::vector<const ProbeResult*>& failing) {
  RootCause cause;
  cause.kind = RootCause::Kind::kImage;
  cause.service = target.service;
  std::vector<std::string> lacks;
  std::vector<std::string> breaks;
  for (const ProbeResult* probe : failing) {
    cause.probes.push_back(Route(*probe));
    (RouteMissing(*probe) ? lacks : breaks)
        .push_back(RouteMissing(*probe) ? Route(*probe) : RouteAnswered(*probe));
  }
  if (!target.status.workload_present) {
    cause.sentence = report.target + " runs no " + target.workload + " in " + target.ns + ", so " +
                     Join(cause.probes, ", ") + " get no service there that " + report.source +
                     "'s " + target.service + " " + Quoted(source) + " gives";
    return cause;
  }
  std::string what;
  if (!lacks.empty()) what = "lacks " + Join(lacks, ", ");
  if (!breaks.empty()) what += (what.empty() ? "" : " and ") + ("fails " + Join(breaks, ", "));
  cause.sentence = report.target + "'s " + target.service + " image " + Quoted(target) + " " +
                   what + " that " + report.source + "'s " + Quoted(source) + " serves";
  return cause;
}

RootCause EnvironmentCause(const AuditReport& report, const ServiceObservation& source,
                           const ServiceObservation& target,
                           const std::vector<const ProbeResult*>& failing) {
  RootCause cause;
  cause.kind = RootCause::Kind::kEnvironment;
  cause.service = target.service;
  std::vector<std::string> answered;
  for (const ProbeResult* probe : failing) {
    cause.probes.push_back(Route(*probe));
    answered.push_back(RouteAnswered(*probe));
  }
  cause.sentence = target.service + " runs the same image, " + Quoted(target) + ", in " +
                   report.source + " and " + report.target + ", yet " + Join(answered, ", ") +
                   " fails only in " + report.target + ": the difference is in " + report.target +
                   "'s environment";
  // Names only: what the source's container is configured with that the target's is not, and
  // the target's required secrets that are missing.
  std::vector<std::string> lacking;
  for (const auto& name : source.status.config) {
    if (!std::binary_search(target.status.config.begin(), target.status.config.end(), name)) {
      lacking.push_back(name);
    }
  }
  std::vector<std::string> missing;
  for (const auto& secret : report.target_env.secrets) {
    if (!secret.present()) missing.push_back(secret.name);
  }
  if (!lacking.empty()) {
    cause.sentence += "; " + report.target + "'s " + target.service + " lacks " +
                      Join(lacking, ", ") + " that " + report.source + "'s has";
  }
  if (!missing.empty()) {
    cause.sentence += "; " + report.target + " lacks required secrets " + Join(missing, ", ");
  }
  if (lacking.empty() && missing.empty()) {
    cause.sentence +=
        " (its data, or configuration promote does not read: the names of its "
        "env, Secrets and ConfigMaps match)";
  }
  return cause;
}

// The plan's environment checks failing in the target: no one service can be named, so one
// failing only there is the images' difference when some service runs another image in each
// environment, else the target environment's; one failing in both no promotion fixes.
void AttributeEnvironmentChecks(const AuditReport& report, std::vector<RootCause>& causes) {
  std::vector<std::string> only_target;
  std::vector<std::string> routes;
  std::vector<std::string> everywhere;
  std::vector<std::string> everywhere_routes;
  for (const auto& check : report.target_env.checks) {
    if (check.passed() || WithoutValue(check)) continue;  // no value blames nothing
    const auto theirs =
        std::find_if(report.source_env.checks.begin(), report.source_env.checks.end(),
                     [&](const ProbeResult& p) { return p.probe_name == check.probe_name; });
    if (theirs == report.source_env.checks.end() || WithoutValue(*theirs)) continue;
    const std::string line = Route(check) + " (" + theirs->verdict.note + " in " + report.source +
                             ", " + check.verdict.note + " in " + report.target + ")";
    (theirs->passed() ? only_target : everywhere).push_back(line);
    (theirs->passed() ? routes : everywhere_routes).push_back(Route(check));
  }
  if (!only_target.empty()) {
    bool images_differ = false;
    for (const auto& target : report.target_env.services) {
      const ServiceObservation* source = report.source_env.Find(target.service);
      images_differ |= source && !SameRelease(*source, target);
    }
    RootCause cause;
    cause.kind = images_differ ? RootCause::Kind::kImage : RootCause::Kind::kEnvironment;
    cause.probes = routes;
    cause.sentence =
        "the environment's " + Join(only_target, ", ") + " fails only in " + report.target +
        (images_differ ? ", whose images differ from " + report.source + "'s"
                       : ", which runs the same images as " + report.source +
                             ": the difference is in " + report.target + "'s environment");
    causes.push_back(std::move(cause));
  }
  if (!everywhere.empty()) {
    RootCause cause;
    cause.kind = RootCause::Kind::kEverywhere;
    cause.probes = everywhere_routes;
    cause.sentence = "the environment's " + Join(everywhere, ", ") + " fails in " + report.source +
                     " too: no promotion can fix it";
    causes.push_back(std::move(cause));
  }
}

// For every service, the probes failing in the target: those that pass in the source are the
// images' difference, or the environment's when both run one image; those failing in both no
// promotion fixes.
std::vector<RootCause> AttributeCauses(const AuditReport& report) {
  std::vector<RootCause> causes;
  if (report.restore) return causes;  // a release's manifest was not probed
  for (const auto& target : report.target_env.services) {
    const ServiceObservation* source = report.source_env.Find(target.service);
    if (!source || source->read_error || target.read_error) continue;
    std::vector<const ProbeResult*> only_target;
    std::vector<std::pair<const ProbeResult*, const ProbeResult*>> both;  // (target, source)
    for (const auto& probe : target.probes) {
      if (probe.passed() || WithoutValue(probe)) continue;  // no value blames nothing
      const auto theirs =
          std::find_if(source->probes.begin(), source->probes.end(),
                       [&](const ProbeResult& p) { return p.probe_name == probe.probe_name; });
      if (theirs == source->probes.end()) continue;
      if (theirs->passed()) {
        only_target.push_back(&probe);
      } else {
        both.emplace_back(&probe, &*theirs);
      }
    }
    if (!only_target.empty()) {
      const bool same = target.status.workload_present && SameRelease(*source, target);
      causes.push_back(same ? EnvironmentCause(report, *source, target, only_target)
                            : ImageCause(report, *source, target, only_target));
    }
    if (!both.empty()) {
      RootCause cause;
      cause.kind = RootCause::Kind::kEverywhere;
      cause.service = target.service;
      std::vector<std::string> answered;
      const auto status = [](const ProbeResult& probe) {
        if (probe.metric) return probe.verdict.note;
        return probe.status >= 0 ? std::to_string(probe.status) : std::string("no answer");
      };
      for (const auto& [theirs, ours] : both) {
        cause.probes.push_back(Route(*theirs));
        answered.push_back(Route(*theirs) + " (" + status(*ours) + " in " + report.source + ", " +
                           status(*theirs) + " in " + report.target + ")");
      }
      cause.sentence = Join(answered, ", ") + " fails in " + report.source + "'s " +
                       target.service + " " + Quoted(*source) + " too: no promotion can fix it; " +
                       target.service + " needs a fix and a new build";
      causes.push_back(std::move(cause));
    }
  }
  AttributeEnvironmentChecks(report, causes);
  return causes;
}

// The newest release of the target validated good that would change what it runs (a release
// equal to the target's present images restores nothing) and holds no image a bad release
// failed on.
const PastRelease* LastGoodRelease(const AuditReport& report) {
  for (const auto& release : report.releases.of_target) {
    if (!release.good) continue;
    bool changes = false;
    bool bad = false;
    for (const auto& [service, image] : release.services) {
      const ServiceObservation* now = report.target_env.Find(service);
      const bool same =
          now && ((image.digest && now->status.digest) ? *image.digest == *now->status.digest
                                                       : image.image == now->status.image);
      changes |= !same;
      for (const auto& known : report.releases.bad_images) {
        bad |= known.service == service && SameImage(image.image, image.digest, known);
      }
    }
    if (changes && !bad) return &release;
  }
  return nullptr;
}

std::vector<std::string> CauseSentences(const AuditReport& report, RootCause::Kind kind) {
  std::vector<std::string> sentences;
  for (const auto& cause : report.causes) {
    if (cause.kind == kind) sentences.push_back(cause.sentence);
  }
  return sentences;
}

// What could be done about the target, the recommended option first: the promotion when it
// may go; else, for a broken target, its last release validated good (unless its images are
// blameless); then the fixes no promotion makes, and what refuses the promotion.
std::vector<Option> RankOptions(const AuditReport& report) {
  const auto image = CauseSentences(report, RootCause::Kind::kImage);
  const auto environment = CauseSentences(report, RootCause::Kind::kEnvironment);
  const auto everywhere = CauseSentences(report, RootCause::Kind::kEverywhere);
  const bool broken = report.target_verdict.functional == Functional::kNotFunctional;
  std::vector<Option> options;
  if (report.recommendation == Recommendation::kPromote) {
    Option& promote = options.emplace_back();
    promote.kind = report.restore ? Option::Kind::kRestore : Option::Kind::kPromote;
    promote.title = report.restore ? "restore release " + report.source + " in " + report.target
                                   : "promote the stable " + report.source + " to " + report.target;
    promote.command = report.command;
    promote.why = !image.empty()
                      ? report.target + " fails where " + report.source +
                            " works because of its images (see the root cause), and " +
                            report.source +
                            "'s images are healthy and allowed: " + report.recommendation_reason
                      : report.recommendation_reason;
  }
  // A release validated good worked in the target; going back to it helps unless the target's
  // images are not the cause (the same image fails there for reasons of its environment).
  const bool images_blameless = image.empty() && everywhere.empty() && !environment.empty();
  if (report.recommendation != Recommendation::kPromote && broken && !images_blameless &&
      !report.restore) {
    if (const PastRelease* good = LastGoodRelease(report)) {
      Option& restore = options.emplace_back();
      restore.kind = Option::Kind::kRestore;
      restore.title =
          "restore " + good->tag + ", the last release of " + report.target + " validated good";
      restore.command = report.Suggest({"rollback", report.target, "--to", good->tag});
      restore.why =
          report.target + " is not functional (" + report.target_verdict.reason + ") and " +
          report.source + " cannot be promoted: " +
          (report.refusals.empty() ? report.recommendation_reason : report.refusals.front()) +
          "; " + good->tag + " was promoted and validated" +
          (good->created_at.empty() ? "" : " on " + good->created_at);
    }
  }
  if (!environment.empty()) {
    Option& fix = options.emplace_back();
    fix.kind = Option::Kind::kFixTarget;
    fix.title = "fix " + report.target + "'s environment: a promotion would not change it";
    fix.why = Join(environment, "; ");
  }
  if (!everywhere.empty()) {
    Option& fix = options.emplace_back();
    fix.kind = Option::Kind::kFixSource;
    fix.title = "fix the service in " + report.source +
                " and ship a new build: nothing a promotion can fix";
    fix.why = Join(everywhere, "; ");
  }
  if (report.recommendation == Recommendation::kDoNotPromote) {
    Option& unblock = options.emplace_back();
    unblock.kind = Option::Kind::kUnblock;
    unblock.title = "remove what refuses the promotion, then audit again";
    unblock.command = report.command;
    unblock.why = Join(report.refusals, "; ");
  }
  if (options.empty()) {
    Option& nothing = options.emplace_back();
    nothing.kind = Option::Kind::kNothing;
    nothing.title = "nothing to do";
    nothing.why = report.recommendation_reason;
  }
  return options;
}

}  // namespace

void Conclude(const plan::Plan& plan, AuditReport& report) {
  report.comparisons.clear();
  report.refusals.clear();
  report.forced.clear();
  std::vector<std::string> changes;
  for (const auto& service : plan.services) {
    const ServiceObservation* source = report.source_env.Find(service.name);
    const ServiceObservation* target = report.target_env.Find(service.name);
    if (!source || !target) continue;
    report.comparisons.push_back(
        Compare(report, service, plan.FindEnvironment(report.target), *source, *target));
    const ServiceComparison& c = report.comparisons.back();
    if (c.action == ServiceAction::kBlocked) report.refusals.push_back(c.reason);
    if (c.action == ServiceAction::kPromote) changes.push_back(service.name + " " + c.reason);
  }
  report.target_env.capabilities = JudgeCapabilities(plan, report.target_env);
  // A release's manifest (rollback --to) is not probed: it has no capabilities to judge.
  report.source_env.capabilities.clear();
  if (!report.restore) report.source_env.capabilities = JudgeCapabilities(plan, report.source_env);
  report.source_verdict = JudgeEnvironment(report.source_env);
  report.target_verdict = JudgeEnvironment(report.target_env);
  report.drift = Drift(report);
  if (!changes.empty()) RefuseWhatTheRunCannotPass(report);
  Recommend(report, changes);
  report.causes = AttributeCauses(report);
  report.options = RankOptions(report);
}

ReleaseFacts ReadReleaseFacts(Context& context, const std::string& target) {
  ReleaseFacts facts;
  if (!context.releases_repo) return facts;
  facts.repo = context.releases_repo->lexically_normal().string();
  auto repo = adapters::git::ReleaseRepo::Open(*context.releases_repo);
  if (!repo) {
    facts.unknown_reason = repo.error().Format();
    context.logger.debug("audit: releases unknown: {}", facts.unknown_reason);
    return facts;
  }
  auto releases = repo->Releases();
  auto names = repo->TagNames();
  if (!releases || !names) {
    facts.unknown_reason = (!releases ? releases.error() : names.error()).Format();
    context.logger.warn("audit: releases unknown: {}", facts.unknown_reason);
    return facts;
  }
  facts.known = true;
  facts.tag_names = std::move(*names);
  if (context.releases_remote) {
    // The next release's name must be free where it is pushed too: another runner may have
    // tagged today already. Unreachable, the push will say so; the name is chosen locally.
    if (auto theirs = repo->RemoteTagNames(*context.releases_remote)) {
      facts.tag_names.insert(facts.tag_names.end(), theirs->begin(), theirs->end());
    } else {
      context.logger.warn("audit: the tags of remote {} are unknown: {}", *context.releases_remote,
                          theirs.error().Format());
    }
  }
  for (auto release = releases->rbegin(); release != releases->rend(); ++release) {
    if (release->manifest.target_env != target) continue;
    facts.of_target.push_back({release->name, release->manifest.created_at,
                               !release->note.has_value(), release->manifest.services});
  }
  for (const auto& release : *releases) {
    if (release.manifest.target_env == target) {
      ++facts.releases_of_target;
      for (const auto& [service, image] : release.manifest.services) {
        facts.released.insert(image.image);
        facts.released.insert(adapters::git::PinnedImage(image));
        if (image.digest) facts.released.insert(*image.digest);
      }
    }
    if (!release.note || !release.note->bad()) continue;
    if (release.note->images.empty()) {
      facts.bad_whole.emplace_back(release.name, release.manifest);
      facts.bad_whole_reasons.push_back(release.note->reason);
    }
    for (const auto& judged : release.note->images) {
      facts.bad_images.push_back(
          {judged.service, judged.image.image, judged.image.digest, release.name, judged.reason});
    }
  }
  return facts;
}

Audit::Audit(const plan::Plan& plan, std::string source, std::string target, AuditRequest request)
    : plan_(plan),
      source_(std::move(source)),
      target_(std::move(target)),
      request_(std::move(request)) {}

Audit Audit::OfRestore(const plan::Plan& plan, const std::string& tag,
                       adapters::git::ReleaseManifest manifest, std::string target,
                       AuditRequest request) {
  Audit audit(plan, tag, std::move(target), std::move(request));
  audit.release_ = std::move(manifest);
  return audit;
}

EnvironmentObservation Audit::Observe(Context& context, const std::string& env_name) const {
  const plan::Environment& env = *plan_.FindEnvironment(env_name);
  adapters::kube::Cluster& cluster = context.cluster(env_name);
  EnvironmentObservation observation;
  observation.name = env_name;
  observation.context = env.context;
  // One batch: the cluster answers it with a fixed number of lists, whatever the services.
  std::vector<adapters::kube::WorkloadRef> refs;
  for (const plan::Service& service : plan_.services) refs.push_back(WorkloadRefFor(env, service));
  auto statuses = cluster.ReadWorkloads(refs);
  for (std::size_t i = 0; i < plan_.services.size(); ++i) {
    const plan::Service& service = plan_.services[i];
    ServiceObservation& seen = observation.services.emplace_back();
    seen.service = service.name;
    seen.environment = env_name;
    seen.ns = env.NamespaceFor(service.name);
    seen.workload = service.workload_kind + "/" + service.workload_name;
    if (statuses[i]) {
      seen.status = std::move(*statuses[i]);
      // A service may echo its own credentials in an error page: its probes' excerpts and
      // every later log line and report hide them, named; the values are kept nowhere else.
      for (auto& [variable, value] : seen.status.secret_env) {
        (void)context.redactor.Learn(env_name + "/" + service.name + " env " + variable,
                                     std::move(value));
      }
      seen.status.secret_env.clear();
    } else {
      seen.read_error = statuses[i].error().what;
      context.logger.warn("audit: {} in {}: {}", service.name, env_name, *seen.read_error);
    }
  }
  // Its namespaces, each once, as the hand-written audit's first table had them.
  std::vector<std::string> all_namespaces;
  for (const auto& seen : observation.services) {
    if (std::find(all_namespaces.begin(), all_namespaces.end(), seen.ns) == all_namespaces.end()) {
      all_namespaces.push_back(seen.ns);
    }
  }
  adapters::kube::WorkloadRef scope;
  scope.context = env.context;
  scope.kubeconfig = env.kubeconfig;
  if (auto namespaces = cluster.ReadNamespaces(scope, all_namespaces)) {
    observation.namespaces = std::move(*namespaces);
  } else {
    observation.namespaces_error = namespaces.error().what;
    context.logger.warn("audit: namespaces of {}: {}", env_name, *observation.namespaces_error);
  }
  // Required secrets may live in any of the environment's service namespaces, each listed once.
  // A namespace that could not be read leaves them unknown, never "missing".
  std::map<std::string, std::vector<std::string>> found;
  std::vector<std::string> namespaces;
  for (const auto& seen : observation.services) {
    if (env.secrets.empty()) break;
    if (seen.read_error) {
      observation.secrets_error = "not checked in " + seen.ns + ": " + *seen.read_error;
      continue;
    }
    if (!seen.status.namespace_present ||
        std::find(namespaces.begin(), namespaces.end(), seen.ns) != namespaces.end()) {
      continue;
    }
    namespaces.push_back(seen.ns);
  }
  std::vector<adapters::kube::WorkloadRef> wheres;
  for (const auto& ns : namespaces) {
    adapters::kube::WorkloadRef& where = wheres.emplace_back();
    where.context = env.context;
    where.kubeconfig = env.kubeconfig;
    where.ns = ns;
  }
  auto presences = cluster.CheckSecretsIn(wheres, env.secrets);
  for (std::size_t i = 0; i < namespaces.size(); ++i) {
    auto& presence = presences[i];
    if (!presence) {
      observation.secrets_error = presence.error().what;
      continue;
    }
    for (const auto& secret : *presence) {
      if (secret.present) found[secret.name].push_back(namespaces[i]);
    }
  }
  for (const auto& name : env.secrets) observation.secrets.push_back({name, found[name]});
  return observation;
}

bool Audit::CheckRegistry(Context& context, AuditReport& report) const {
  const plan::RegistryCheck& check = plan_.FindEnvironment(target_)->registry;
  if (!check.verify) return false;
  std::vector<RegistryFinding> findings;
  std::vector<ImageReference> images;
  for (const auto& c : report.comparisons) {
    if (c.action != ServiceAction::kPromote) continue;
    auto image = ParseImageReference(c.DeployImage());
    if (!image) continue;  // the supply-chain check has refused it already
    RegistryFinding& finding = findings.emplace_back();
    finding.service = c.service;
    finding.image = c.DeployImage();
    finding.registry = adapters::registry::AccessFor(check, *image).base_url;
    images.push_back(std::move(*image));
  }
  // Lookups are independent HEADs, often to a registry far away: a few at a time.
  ForEachConcurrently(findings.size(), 8, [&](std::size_t i) {
    RegistryFinding& finding = findings[i];
    if (!context.registry) {
      finding.detail = "this promote has no registry client";
      return;
    }
    auto lookup =
        context.registry->Lookup(images[i], adapters::registry::AccessFor(check, images[i]));
    if (!lookup) {
      finding.detail =
          lookup.error().what + (lookup.error().fix.empty() ? "" : "; " + lookup.error().fix);
      return;
    }
    finding.presence = lookup->presence == adapters::registry::ImagePresence::kPresent
                           ? RegistryFinding::Presence::kPresent
                           : RegistryFinding::Presence::kMissing;
  });
  for (const auto& finding : findings) {
    const bool present = finding.presence == RegistryFinding::Presence::kPresent;
    context.logger.log(present ? spdlog::level::debug : spdlog::level::warn,
                       "audit: {} in {}'s registry {}: {}", finding.image, target_,
                       finding.registry, PresenceName(finding.presence));
  }
  report.target_env.registry = std::move(findings);
  return true;
}

AuditReport Audit::Run(Context& context) const {
  const auto started = context.now();
  AuditReport report;
  report.plan_name = plan_.name;
  report.plan_file = plan_.source_file;
  report.source = source_;
  report.target = target_;
  report.started_at = Rfc3339(started);

  // Probes need only the plan, so every probe of the probed environments runs in one batch
  // while the clusters are read: the audit costs the longer of the two, not their sum. Only a
  // metric check whose query names {image} waits for the read, which says what runs.
  std::vector<std::string> probed = {source_, target_};
  if (release_) probed = {target_};  // a release's manifest is not a place to probe
  constexpr std::size_t kEnvironment = static_cast<std::size_t>(-1);
  struct Owner {
    std::size_t env = 0;      ///< index in `probed`
    std::size_t service = 0;  ///< index in the plan's services; kEnvironment for its own checks
    const plan::Probe* check = nullptr;
    bool after_read = false;  ///< its query needs the image the read finds
  };
  std::vector<Owner> owners;  // every check, in plan order
  std::vector<adapters::probe::ProbeTarget> targets;
  for (std::size_t e = 0; e < probed.size(); ++e) {
    const plan::Environment& planned = *plan_.FindEnvironment(probed[e]);
    for (std::size_t s = 0; s < plan_.services.size(); ++s) {
      const plan::Service& service = plan_.services[s];
      for (const auto& probe : service.probes) {
        const bool after_read = plan::Plan::NeedsImage(probe);
        owners.push_back({e, s, &probe, after_read});
        if (!after_read)
          targets.push_back(CheckTargetFor(context, plan_, planned, service.name, probe));
      }
    }
    for (const auto& check : plan_.environment_checks) {
      owners.push_back({e, kEnvironment, &check, false});
      targets.push_back(CheckTargetFor(context, plan_, planned, std::string(), check));
    }
  }
  auto probing = std::async(std::launch::async, [&] { return RunChecks(context, targets); });

  if (release_) {
    report.restore = true;
    report.target_env = Observe(context, target_);
    report.source_env = ObserveRelease(plan_, source_, *release_);
  } else {
    // Both environments are read side by side: each is a separate API server.
    auto source_read = std::async(std::launch::async, [&] { return Observe(context, source_); });
    report.target_env = Observe(context, target_);
    report.source_env = source_read.get();
  }

  // Observe keeps the plan's service order, so (env, service) finds each probe's owner.
  const auto environment = [&](const Owner& owner) -> EnvironmentObservation& {
    return probed[owner.env] == target_ ? report.target_env : report.source_env;
  };
  const auto observed = [&](const Owner& owner) -> ServiceObservation& {
    return environment(owner).services.at(owner.service);
  };
  std::vector<adapters::probe::ProbeTarget> with_image;
  for (const Owner& owner : owners) {
    if (!owner.after_read) continue;
    const ServiceObservation& seen = observed(owner);
    with_image.push_back(CheckTargetFor(context, plan_, *plan_.FindEnvironment(probed[owner.env]),
                                        seen.service, *owner.check, seen.status.image));
  }
  std::vector<adapters::probe::ProbeResult> answered = probing.get();
  std::vector<adapters::probe::ProbeResult> measured =
      with_image.empty() ? std::vector<adapters::probe::ProbeResult>{}
                         : RunChecks(context, with_image);
  std::size_t next_answered = 0;
  std::size_t next_measured = 0;
  for (const Owner& owner : owners) {
    auto& batch = owner.after_read ? measured : answered;
    std::size_t& next = owner.after_read ? next_measured : next_answered;
    if (next >= batch.size()) continue;  // RunChecks answers every target; never read past it
    auto& results =
        owner.service == kEnvironment ? environment(owner).checks : observed(owner).probes;
    results.push_back(std::move(batch[next++]));
  }

  report.force_reason = request_.force_reason;
  report.command_prefix = request_.command_prefix;
  report.freeze =
      plan::JudgeFreeze(plan_.FindEnvironment(target_)->freeze, target_, started, report.restore,
                        request_.override_freeze, request_.override_window);
  report.releases = ReadReleaseFacts(context, target_);
  Conclude(plan_, report);
  // The registry is asked only about what the conclusion would deploy; its answer can only add
  // refusals, so concluding again changes nothing else.
  if (CheckRegistry(context, report)) Conclude(plan_, report);
  report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(context.now() - started);
  return report;
}

bool WithoutValue(const ProbeResult& probe) {
  return probe.metric && probe.verdict.outcome == ProbeOutcome::kErrored;
}

}  // namespace promote::phases
