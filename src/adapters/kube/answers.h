// What promote keeps of the API server's and helm's answers, as pure functions of their text:
// the readers KubectlCluster and HelmCluster run on what they were told, reachable without a
// cluster so that the fuzz targets (fuzz/) and tests feed them hostile input directly.
//
// None of them throws: an answer of the wrong shape (a string where an object belongs, a label
// that is a number) reads as absent, as a missing field would; text that is not JSON is an Error
// (workloads) or nullopt (the others).
#pragma once

#include <optional>
#include <set>
#include <string>

#include "adapters/kube/cluster.h"
#include "core/error.h"

namespace promote::adapters::kube {

/// What a workload object (a GET's answer or a list's item) and a PodList of its namespace say
/// of `ref`, as ReadWorkload keeps it: image, replicas, rollout verdict, the pods' digest and the
/// first stuck pod. An Error when either is not JSON or the workload has no container
/// `ref.container`.
Result<WorkloadStatus> WorkloadFromAnswers(const std::string& workload, const std::string& pods,
                                           const WorkloadRef& ref);

/// The names in a (metadata-only) Secret list, as CheckSecrets keeps them; nullopt when the
/// answer is not JSON.
std::optional<std::set<std::string>> SecretNamesFromAnswer(const std::string& secret_list);

/// The revision `helm status -o json` reports, if any (the fallback for storage other than
/// helm's Secrets).
std::optional<int> HelmStatusRevision(const std::string& helm_status);

/// The highest revision among a list of helm's release Secrets (labels name=R, version=N), if
/// any is above 0.
std::optional<int> HighestReleaseRevision(const std::string& release_secrets);

}  // namespace promote::adapters::kube
