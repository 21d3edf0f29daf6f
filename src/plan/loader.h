// Reads a plan file (YAML or JSON; one parser, since JSON is YAML's flow style) and checks it
// against the schema before anything else sees it. A plan that loads is safe to act on: every
// name that reaches a kubectl/helm argv is a valid Kubernetes name that cannot pass for an option.
//
// Every failure is Error{kInvalidPlan, what, where = "FILE:LINE:COL", fix}: `what` starts with
// the field path (`services[1].probes[0].expect`) and says what was expected and what was found.
// Only the first problem is reported. Defaults worth knowing:
//   - releases.tag defaults to "{env}-{date}"; placeholders are {date} {env} {plan}.
//   - a service's container defaults to its name, its probes' expect to "2xx", their name to
//     "METHOD PATH", their timeout to 5s.
//   - helm: when any environment uses driver helm, every service needs a `helm:` block with
//     `chart`; `release` defaults to the service name and `valuesKey` to "image.tag".
//   - helm.chart: oci://, http:// and https:// references are kept as written; a file or folder
//     of that name in the plan's folder (or an existing absolute path) becomes its absolute path;
//     a missing path that can only be local (/, ./, ../, *.tgz) is an error; anything else is a
//     `repo/name` chart kept as written. HelmTarget::chart_source says which.
//   - rollback: soak defaults to 3 × validate.interval, successes to 2, timeout to 5m.
//   - kube context names follow a looser rule than other names (real ones look like
//     "gke_project_zone_cluster" or "arn:aws:eks:…"): no whitespace or control characters, not
//     starting with '-', at most 253 characters.
#pragma once

#include <filesystem>
#include <string>

#include "core/error.h"
#include "plan/plan.h"

namespace promote::plan {

/// Reads and validates `file`; Plan::source_file is `file` as given.
Result<Plan> LoadPlan(const std::filesystem::path& file);

/// Parses and validates plan text; `source_name` is used in error locations and as source_file,
/// and its folder (the current directory for a bare name) is where local helm charts are looked
/// for: the only thing parsing reads from the filesystem.
Result<Plan> ParsePlan(const std::string& text, const std::string& source_name);

}  // namespace promote::plan
