// Implementation details: yaml-cpp builds a node tree (it reads JSON too) with a 0-based mark on
// every node; the schema walker below turns it into plan::Plan, one function per schema level.
// Each check is one line because a failure is raised as a file-local PlanFailure that ParsePlan
// catches and returns as an Error value: nothing thrown here leaves this file. Maps are read
// through MapView, which rejects duplicate and unknown keys (with a did-you-mean) before any
// field is looked at, so a misspelt key is reported as such and not as a missing field.
#include "plan/loader.h"

#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "core/content_hash.h"
#include "core/duration.h"
#include "core/image_reference.h"
#include "core/text.h"
#include "plan/freeze.h"

namespace promote::plan {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

/// The Error that ends parsing, carried from deep in the walker up to ParsePlan.
struct PlanFailure {
  Error error;
};

/// A value in the document with its field path ("services[1].probes[0].expect") and position.
struct Field {
  std::string path;
  YAML::Node node;
  YAML::Mark mark;
};

/// One key of a mapping: its text, where the key itself is written, and its value.
struct Entry {
  std::string key;
  YAML::Mark key_mark;
  Field value;
};

/// The entries of one mapping, in document order, already checked against the keys allowed.
class MapView {
 public:
  MapView(Field self, std::vector<Entry> entries)
      : self_(std::move(self)), entries_(std::move(entries)) {}

  std::optional<Field> Get(std::string_view key) const {
    for (const Entry& entry : entries_) {
      if (entry.key == key) return entry.value;
    }
    return std::nullopt;
  }
  const Entry* Find(std::string_view key) const {
    for (const Entry& entry : entries_) {
      if (entry.key == key) return &entry;
    }
    return nullptr;
  }
  const Field& self() const { return self_; }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  Field self_;
  std::vector<Entry> entries_;
};

/// Which Kubernetes (or kube-adjacent) naming rule a name must follow.
enum class NameRule { kDnsLabel, kDnsSubdomain, kHelmRelease, kContext };

/// Whether an empty string is an acceptable value for a text field.
enum class Empty { kAllowed, kRejected };

// ---------------------------------------------------------------------------------------------
// Small text helpers.

std::string Join(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string Index(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool HasSpaceOrControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c <= ' ' || c == 0x7f; });
}

/// Optimal-string-alignment distance, case-insensitive (a swap of two letters costs 1).
size_t EditDistance(std::string_view a_in, std::string_view b_in) {
  const std::string a = Lower(std::string(a_in));
  const std::string b = Lower(std::string(b_in));
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

/// The candidate closest to `got`, when it is close enough to be a plausible typo.
std::optional<std::string> Suggest(std::string_view got,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& candidate : candidates) {
    const size_t distance = EditDistance(got, candidate);
    const size_t allowed = std::max<size_t>(1, std::min<size_t>(3, candidate.size() / 3));
    if (distance <= allowed && (!best || distance < best_distance)) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

/// "did you mean 'x'?" or, without a close candidate, the list of what is allowed.
std::string SuggestionFix(std::string_view got, const std::vector<std::string>& candidates,
                          std::string_view what_they_are) {
  if (auto best = Suggest(got, candidates)) return "did you mean '" + *best + "'?";
  return std::string(what_they_are) + ": " + promote::Join(candidates, ", ");
}

/// How a node reads in "found …": the scalar itself, or what kind of thing it is.
std::string Found(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      std::string text = node.Scalar();
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      return "'" + text + "'";
    }
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing (null)";
  }
}

bool IsQuoted(const YAML::Node& node) {
  return node.Tag() == "!";
}

/// Parses a whole decimal integer ("42", "-1"); nullopt for anything else.
std::optional<long long> ParseInteger(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

/// The placeholders ("{service}") of a template, or nullopt when a brace is unbalanced.
std::optional<std::vector<std::string>> Placeholders(std::string_view text) {
  std::vector<std::string> found;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '}') return std::nullopt;
    if (text[i] != '{') continue;
    const size_t close = text.find_first_of("{}", i + 1);
    if (close == std::string_view::npos || text[close] != '}') return std::nullopt;
    found.emplace_back(text.substr(i, close - i + 1));
    i = close;
  }
  return found;
}

/// The bare words in braces of a PromQL query ("{service}"), without the braces: what promote
/// substitutes, told apart from the query's label matchers.
std::vector<std::string> QueryPlaceholders(std::string_view query) {
  std::vector<std::string> found;
  for (size_t open = query.find('{'); open != std::string_view::npos;
       open = query.find('{', open + 1)) {
    size_t end = open + 1;
    while (end < query.size() && ((query[end] >= 'a' && query[end] <= 'z') || query[end] == '_')) {
      ++end;
    }
    if (end < query.size() && query[end] == '}' && end > open + 1) {
      found.emplace_back(query.substr(open + 1, end - open - 1));
    }
  }
  return found;
}

/// `text` with every `placeholder` replaced by `value`, left to right; what was put in is never
/// searched again. The result is appended piece by piece rather than replaced in place: GCC 12
/// at -O3 inlines std::string::replace here into a false -Wrestrict error (a known GCC 12 bug).
std::string Substitute(std::string_view text, std::string_view placeholder,
                       std::string_view value) {
  if (placeholder.empty()) return std::string(text);
  std::string out;
  size_t done = 0;
  for (size_t at = text.find(placeholder); at != std::string_view::npos;
       at = text.find(placeholder, done)) {
    out.append(text.substr(done, at - done)).append(value);
    done = at + placeholder.size();
  }
  return out.append(text.substr(done));
}

// ---------------------------------------------------------------------------------------------
// Kubernetes names.

size_t MaxLength(NameRule rule) {
  switch (rule) {
    case NameRule::kDnsLabel:
      return 63;
    case NameRule::kHelmRelease:
      return 53;
    case NameRule::kDnsSubdomain:
    case NameRule::kContext:
      return 253;
  }
  return 63;
}

std::string RuleText(NameRule rule) {
  switch (rule) {
    case NameRule::kDnsLabel:
      return "RFC 1123 label: at most 63 characters, lowercase letters, digits and '-', "
             "starting and ending with a letter or digit";
    case NameRule::kDnsSubdomain:
      return "RFC 1123 subdomain: at most 253 characters, lowercase letters, digits, '-' and "
             "'.', each dot-separated part starting and ending with a letter or digit";
    case NameRule::kHelmRelease:
      return "Helm release name: an RFC 1123 label of at most 53 characters";
    case NameRule::kContext:
      return "kube context name: no whitespace or control characters, not starting with '-'";
  }
  return "";
}

/// Why `name` breaks `rule` ("it contains '_'"), or nullopt when it is fine.
std::optional<std::string> NameProblem(const std::string& name, NameRule rule) {
  if (name.empty()) return "it is empty";
  if (name.front() == '-') return "it starts with '-', so kubectl/helm would read it as an option";
  if (name.size() > MaxLength(rule)) {
    return "it is " + std::to_string(name.size()) + " characters long, more than " +
           std::to_string(MaxLength(rule));
  }
  if (rule == NameRule::kContext) {
    if (HasSpaceOrControl(name)) return "it contains whitespace or a control character";
    return std::nullopt;
  }
  const bool dots = rule == NameRule::kDnsSubdomain;
  for (char c : name) {
    if (IsLowerAlnum(c) || c == '-' || (dots && c == '.')) continue;
    if (c >= 'A' && c <= 'Z') return std::string("it contains uppercase '") + c + "'";
    return std::string("it contains '") + c + "'";
  }
  // Every part (the whole name for a label) must start and end with a letter or digit.
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = dots ? name.find('.', start) : std::string::npos;
    if (end == std::string::npos) end = name.size();
    const std::string_view part = std::string_view(name).substr(start, end - start);
    if (part.empty()) return "it has an empty part between dots";
    if (!IsLowerAlnum(part.front())) return "it starts with '" + std::string(1, part.front()) + "'";
    if (!IsLowerAlnum(part.back())) return "it ends with '" + std::string(1, part.back()) + "'";
    start = end + 1;
  }
  return std::nullopt;
}

/// A close valid name for a fix ("My_Service" → "my-service"); empty when none comes out.
std::string SanitizeName(const std::string& name, NameRule rule) {
  if (rule == NameRule::kContext) {
    std::string out = name.substr(std::min(name.find_first_not_of('-'), name.size()));
    for (char& c : out) c = static_cast<unsigned char>(c) <= ' ' ? '-' : c;
    return NameProblem(out, rule) ? std::string() : out;
  }
  std::string out;
  for (char c : Lower(name)) {
    const bool ok = IsLowerAlnum(c) || c == '-' || (rule == NameRule::kDnsSubdomain && c == '.');
    out += ok ? c : '-';
  }
  const auto trim = [](std::string& s) {
    while (!s.empty() && !IsLowerAlnum(s.front())) s.erase(s.begin());
    while (!s.empty() && !IsLowerAlnum(s.back())) s.pop_back();
  };
  trim(out);
  if (out.size() > MaxLength(rule)) out.resize(MaxLength(rule));
  trim(out);
  return NameProblem(out, rule) ? std::string() : out;
}

// ---------------------------------------------------------------------------------------------
// The schema walker.

const std::vector<std::string> kTopKeys = {"apiVersion",   "name",     "releases",    "secretEnv",
                                           "environments", "services", "metrics",     "validate",
                                           "rollback",     "hooks",    "capabilities"};
// What an environment's own checks cannot name: they belong to no service.
const std::vector<std::string> kServicePlaceholders = {"{service}", "{namespace}", "{image}"};
const std::vector<std::string> kCapabilityKeys = {"probes", "golden"};
const std::vector<std::string> kReleaseKeys = {"repo", "tag", "remote"};
const std::vector<std::string> kEnvironmentKeys = {
    "context",  "kubeconfig", "driver", "namespace",     "url",      "secrets",
    "approval", "lock",       "freeze", "requireDigest", "registry", "prometheus"};
const std::vector<std::string> kPrometheusKeys = {"url", "headers"};
const std::vector<std::string> kMetricKeys = {"name",
                                              "query",
                                              "min",
                                              "max",
                                              "golden",
                                              "interval",
                                              "count",
                                              "failureLimit",
                                              "consecutiveErrorLimit",
                                              "inconclusiveLimit",
                                              "noData",
                                              "analysisTemplate",
                                              "args"};
// A metric check's own measurement policy, named as in Argo Rollouts.
const std::vector<std::string> kMeasurementKeys = {"interval", "count", "failureLimit",
                                                   "consecutiveErrorLimit", "inconclusiveLimit"};
const std::vector<std::string> kNoDataValues = {"error", "inconclusive"};
// An Argo Rollouts AnalysisTemplate: what promote honours at each level, and the Argo fields it
// knows but does not (named as unsupported rather than as typos).
const std::vector<std::string> kTemplateKeys = {"apiVersion", "kind", "metadata", "spec"};
const std::vector<std::string> kTemplateSpecKeys = {"args", "metrics"};
const std::vector<std::string> kTemplateSpecUnsupported = {"dryRun", "measurementRetention"};
const std::vector<std::string> kTemplateArgKeys = {"name", "value"};
const std::vector<std::string> kTemplateArgUnsupported = {"valueFrom"};
const std::vector<std::string> kTemplateMetricKeys = {"name",
                                                      "interval",
                                                      "count",
                                                      "successCondition",
                                                      "failureCondition",
                                                      "failureLimit",
                                                      "inconclusiveLimit",
                                                      "consecutiveErrorLimit",
                                                      "provider"};
const std::vector<std::string> kTemplateMetricUnsupported = {"initialDelay",
                                                             "consecutiveSuccessLimit"};
const std::vector<std::string> kTemplateProviders = {"prometheus"};
const std::vector<std::string> kTemplateProvidersUnsupported = {
    "web",        "job",      "datadog",  "newRelic",   "wavefront", "kayenta",
    "cloudWatch", "graphite", "influxdb", "skywalking", "plugin"};
const std::vector<std::string> kTemplatePrometheusKeys = {"address", "query", "timeout"};
const std::vector<std::string> kTemplatePrometheusUnsupported = {"headers", "insecure",
                                                                 "authentication", "rangeQuery"};
const std::vector<std::string> kQueryPlaceholders = {"service", "namespace", "env", "interval",
                                                     "image"};
const std::vector<std::string> kRegistryKeys = {"verify", "mirrors", "credentials"};
const std::vector<std::string> kLockKeys = {"backend", "namespace", "name", "duration"};
const std::vector<std::string> kLockBackends = {"file", "lease"};
const std::vector<std::string> kFreezeKeys = {"timeZone", "windows"};
const std::vector<std::string> kFreezeWindowKeys = {"name", "schedule", "duration",
                                                    "from", "until",    "reason"};
const std::vector<std::string> kApprovalKeys = {"required", "approvers", "allowSelfApproval",
                                                "count"};
const std::vector<std::string> kServiceKeys = {
    "name", "workload", "container", "image", "helm", "wave", "repositories", "probes", "metrics"};
const std::vector<std::string> kHelmKeys = {"release", "chart", "valuesKey"};
const std::vector<std::string> kMethodKeys = {"get", "post", "put", "delete", "head", "patch"};
const std::vector<std::string> kProbeKeys = {
    "name",   "get",          "post", "put",  "delete",  "head",    "patch",   "method", "path",
    "expect", "bodyContains", "json", "body", "headers", "timeout", "retries", "golden", "base"};
const std::vector<std::string> kJsonKeys = {"path", "equals"};
const std::vector<std::string> kExpectKeys = {"not", "range"};
const std::vector<std::string> kValidateKeys = {"initialDelay",  "interval",     "soak",
                                                "successes",     "failureLimit", "errorLimit",
                                                "rolloutTimeout"};
const std::vector<std::string> kRollbackKeys = {"soak", "successes", "timeout"};
const std::vector<std::string> kHookKeys = {"pre-audit",   "post-audit",    "pre-deploy",
                                            "post-deploy", "post-validate", "on-rollback",
                                            "on-success",  "on-failure"};
const std::vector<std::string> kWorkloadKinds = {"deployment", "statefulset", "daemonset"};
const std::vector<std::string> kDrivers = {"kubectl", "helm"};
const std::vector<std::string> kTagPlaceholders = {"{date}", "{env}", "{plan}"};

constexpr std::string_view kExpectForms =
    "an HTTP status (200), a class (\"2xx\"), a list, or {not: 404}";
constexpr std::string_view kExpectFix =
    "write e.g. expect: 200, expect: \"2xx\", expect: [200, 401], expect: {not: 404} or "
    "expect: {range: [200, 399]}";

/// The absolute, lexically normal folder of the plan named `source` (the current directory for
/// a bare file name): what relative paths in the plan are resolved against.
fs::path PlanFolder(const std::string& source) {
  std::error_code ec;
  const fs::path parent = fs::path(source).parent_path();
  const fs::path folder = parent.empty() ? fs::current_path(ec) : fs::absolute(parent, ec);
  return ec ? parent : folder.lexically_normal();
}

/// Whether a chart text can only mean a file or folder: helm would never look it up in a
/// repository, so a missing one is a mistake in the plan, not a repository chart.
bool LooksLikeLocalChart(const std::string& chart) {
  for (std::string_view prefix : {"/", "./", "../"}) {
    if (chart.rfind(prefix, 0) == 0) return true;
  }
  const std::string lower = Lower(chart);
  return lower.size() >= 4 && lower.compare(lower.size() - 4, 4, ".tgz") == 0;
}

std::optional<YAML::Mark> ParserStuckAt(const std::string& text);

/// A `{{args.NAME}}` of an AnalysisTemplate's query: where it is and the name inside.
struct TemplateReference {
  size_t at = 0;
  size_t size = 0;
  std::string inside;  ///< trimmed: "args.service-name"
};

/// Every `{{...}}` of `text`, in order (an unclosed one is not a reference).
std::vector<TemplateReference> TemplateReferences(std::string_view text) {
  std::vector<TemplateReference> found;
  for (size_t open = text.find("{{"); open != std::string_view::npos;
       open = text.find("{{", open + 2)) {
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    found.push_back({open, close + 2 - open, Trim(text.substr(open + 2, close - open - 2))});
    open = close;
  }
  return found;
}

/// One argument an AnalysisTemplate declares, with its default when it has one.
struct TemplateArg {
  std::string name;
  std::optional<std::string> value;
};

/// What promote takes from an AnalysisTemplate: its args and one check per metric, whose query
/// still holds its `{{args.NAME}}` references.
struct AnalysisTemplate {
  std::vector<TemplateArg> args;
  std::vector<Probe> checks;
};

/// Walks one parsed document and fills a Plan, raising PlanFailure at the first problem.
class SchemaReader {
 public:
  explicit SchemaReader(std::string source)
      : source_(std::move(source)), plan_folder_(PlanFolder(source_)), reading_(source_) {}

  Plan ReadPlan(const YAML::Node& root) {
    Plan plan;
    plan.source_file = source_;
    const Field root_field{"", root, root.Mark()};
    if (root.IsNull()) {
      Fail(YAML::Mark(), "the plan is empty",
           "start with apiVersion: promote/v1, name, releases, environments and services");
    }
    const MapView top = Map(root_field, kTopKeys, "a map with apiVersion, name, releases, ...");

    const Field api_version = Require(top, "apiVersion", "promote/v1");
    if (Text(api_version) != "promote/v1") {
      Fail(api_version.mark, "apiVersion: expected 'promote/v1', found " + Found(api_version.node),
           "set apiVersion: promote/v1");
    }
    plan.name = Name(Require(top, "name", "NAME"), NameRule::kDnsLabel, "plan name");
    plan.releases = ReadReleases(Require(top, "releases", "{ repo: ../releases }"));
    if (auto field = top.Get("secretEnv")) plan.secret_env = ReadSecretEnv(*field);
    std::vector<Field> service_fields;
    plan.services =
        ReadServices(Require(top, "services", "[ { name: api, workload: ... } ]"), service_fields);
    plan.environments = ReadEnvironments(
        Require(top, "environments", "{ dev: {...}, prod: {...} }"), plan.services);
    CheckHelmTargets(plan, service_fields);
    if (auto field = top.Get("metrics")) plan.environment_checks = ReadEnvironmentChecks(*field);
    CheckPrometheus(plan, top);
    if (auto field = top.Get("capabilities")) {
      plan.capabilities = ReadCapabilities(*field, plan.services);
      // A golden capability is golden probes: the audit, the validation and the source's health
      // then all hold it to the same rule, without a second notion of "golden" to keep in step.
      for (const Capability& capability : plan.capabilities) {
        if (!capability.golden) continue;
        for (const ProbeRef& ref : capability.probes) {
          for (Service& service : plan.services) {
            if (service.name != ref.service) continue;
            for (Probe& probe : service.probes) probe.golden |= probe.name == ref.probe;
          }
        }
      }
    }
    if (auto field = top.Get("validate")) plan.validate = ReadValidate(*field);
    // After validate, whatever the key order in the file: the soak's default is 3 intervals.
    plan.rollback = ReadRollback(top.Get("rollback"), plan.validate);
    if (auto field = top.Get("hooks")) plan.hooks = ReadHooks(*field);
    plan.included_files = std::move(included_);
    return plan;
  }

  /// Raises the problem at `mark` of the file being read: the plan, or a file it brings in.
  [[noreturn]] void Fail(const YAML::Mark& mark, std::string what, std::string fix) const {
    const int line = mark.is_null() ? 1 : mark.line + 1;
    const int column = mark.is_null() ? 1 : mark.column + 1;
    throw PlanFailure{Error{ErrorKind::kInvalidPlan, std::move(what),
                            reading_ + ":" + std::to_string(line) + ":" + std::to_string(column),
                            std::move(fix)}};
  }

  /// The YAML documents of `text` (the file being read), a syntax error raised as a problem.
  std::vector<YAML::Node> LoadDocuments(const std::string& text) const {
    try {
      if (const auto stuck = ParserStuckAt(text)) {
        const std::size_t pos = std::min<std::size_t>(stuck->pos, text.size());
        const std::string token = pos < text.size() ? std::string(1, text[pos]) : "end";
        throw YAML::ParserException(*stuck, "'" + token + "' cannot start a value here");
      }
      return YAML::LoadAll(text);
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp stops at a fixed depth (its stack would not last) with the text "bad file".
      Fail(e.mark, "YAML nested deeper than " + std::to_string(e.depth()) + " levels",
           "a plan nests a few levels; is this the right file, with its brackets closed?");
    } catch (const YAML::Exception& e) {
      const bool json =
          reading_.size() >= 5 && reading_.compare(reading_.size() - 5, 5, ".json") == 0;
      Fail(e.mark, std::string(json ? "JSON" : "YAML") + " syntax error: " + e.msg,
           json ? "check the brackets, quotes and commas just before this position"
                : "check the indentation, quotes and brackets just before this "
                  "position (tabs are not allowed for indentation)");
    }
  }

 private:
  // --- generic readers -----------------------------------------------------------------------

  [[noreturn]] void Expected(const Field& field, std::string_view expected, std::string fix) const {
    Fail(field.mark,
         (field.path.empty() ? "the plan" : field.path) + ": expected " + std::string(expected) +
             ", found " + Found(field.node),
         std::move(fix));
  }

  /// Checks that `field` is a map whose keys are unique and among `allowed`.
  MapView Map(const Field& field, const std::vector<std::string>& allowed,
              std::string_view expected) const {
    if (!field.node.IsMap()) Expected(field, expected, "write a map of key: value pairs here");
    std::vector<Entry> entries;
    for (auto it = field.node.begin(); it != field.node.end(); ++it) {
      // A copy: `it->` is a proxy that dies with this statement, so a reference to its `first`
      // dangles (ASan: stack-use-after-scope, found by fuzz/plan_yaml on every plan).
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        Fail(key.Mark(),
             (field.path.empty() ? "top level" : field.path) + ": expected a key name, found " +
                 Found(key),
             "keys are plain names like 'name' or 'services'");
      }
      const std::string name = key.Scalar();
      for (const Entry& seen : entries) {
        if (seen.key == name) {
          const std::string where = field.path.empty() ? " at top level" : " in " + field.path;
          Fail(key.Mark(),
               "duplicate key '" + name + "'" + where + " (first on line " +
                   std::to_string(seen.key_mark.line + 1) + ")",
               "keep one '" + name + "' entry");
        }
      }
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        const std::string what = field.path.empty() ? "unknown key '" + name + "' at top level"
                                                    : field.path + ": unknown key '" + name + "'";
        Fail(key.Mark(), what, SuggestionFix(name, allowed, "valid keys here"));
      }
      const YAML::Node value = it->second;
      // yaml-cpp marks an implicit null ("key:" and nothing) on the following line.
      const YAML::Mark mark = value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
      entries.push_back(Entry{name, key.Mark(), Field{Join(field.path, name), value, mark}});
    }
    return MapView(field, std::move(entries));
  }

  Field Require(const MapView& map, std::string_view key, std::string_view example) const {
    if (auto field = map.Get(key)) return *field;
    const std::string& path = map.self().path;
    const std::string what = path.empty()
                                 ? "missing required field '" + std::string(key) + "' at top level"
                                 : path + ": missing required field '" + std::string(key) + "'";
    Fail(map.self().mark, what, "add " + std::string(key) + ": " + std::string(example));
  }

  std::vector<Field> List(const Field& field, std::string_view expected) const {
    if (!field.node.IsSequence()) Expected(field, expected, "write a list: [a, b] or '- a' lines");
    std::vector<Field> items;
    size_t i = 0;
    for (auto it = field.node.begin(); it != field.node.end(); ++it, ++i) {
      const YAML::Node item = *it;
      items.push_back(
          Field{Index(field.path, i), item, item.Mark().is_null() ? field.mark : item.Mark()});
    }
    return items;
  }

  std::string Text(const Field& field, Empty empty = Empty::kRejected) const {
    if (!field.node.IsScalar()) Expected(field, "a string", "write a single value here");
    const std::string& text = field.node.Scalar();
    if (text.empty() && empty == Empty::kRejected) {
      Fail(field.mark, field.path + ": expected a non-empty string, found an empty string",
           "give a value or remove the key");
    }
    return text;
  }

  /// A string that becomes an argv item or a path: not empty, no control characters, no '-'.
  std::string ArgText(const Field& field, std::string_view what) const {
    const std::string text = Text(field);
    if (text.front() == '-') {
      Fail(field.mark,
           field.path + ": " + std::string(what) + " '" + text +
               "' starts with '-', so a command would read it as an option",
           "remove the leading '-' (write ./" + text + " for a file of that name)");
    }
    if (std::any_of(text.begin(), text.end(),
                    [](unsigned char c) { return c < ' ' || c == 0x7f; })) {
      Fail(field.mark, field.path + ": " + std::string(what) + " contains a control character",
           "remove line breaks and tabs from the value");
    }
    return text;
  }

  long long Integer(const Field& field, long long min, long long max, std::string why_min) const {
    if (!field.node.IsScalar()) Expected(field, "an integer", "write a whole number like 3");
    const std::string& text = field.node.Scalar();
    const std::optional<long long> value = ParseInteger(text);
    if (!value) Expected(field, "an integer", "write a whole number like 3");
    if (IsQuoted(field.node)) {
      Fail(field.mark, field.path + ": expected an integer, found the string \"" + text + "\"",
           "remove the quotes: " + text);
    }
    if (*value < min) {
      Fail(field.mark, field.path + ": must be at least " + std::to_string(min) + ", found " + text,
           std::move(why_min));
    }
    if (*value > max) {
      Fail(field.mark, field.path + ": must be at most " + std::to_string(max) + ", found " + text,
           "use a value up to " + std::to_string(max));
    }
    return *value;
  }

  bool Bool(const Field& field) const {
    static constexpr std::string_view kForms = "true or false";
    if (!field.node.IsScalar()) Expected(field, kForms, "write true or false");
    const std::string text = field.node.Scalar();
    if (IsQuoted(field.node)) {
      Fail(field.mark, field.path + ": expected true or false, found the string \"" + text + "\"",
           "remove the quotes: " + text);
    }
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    Expected(field, kForms, "write true or false");
  }

  /// Whether a zero duration makes sense for a field (a delay yes, an interval no).
  enum class ZeroDuration { kAllowed, kRejected };

  milliseconds Duration(const Field& field, ZeroDuration zero) const {
    static constexpr std::string_view kForms = "a duration like 500ms, 5s, 2m or 1h";
    const std::string fix = "write a number followed by ms, s, m or h (e.g. 30s or 1m30s)";
    if (!field.node.IsScalar()) Expected(field, kForms, fix);
    const std::optional<milliseconds> value = ParseDuration(field.node.Scalar());
    if (!value) Expected(field, kForms, fix);
    if (zero == ZeroDuration::kRejected && value->count() == 0) {
      Fail(field.mark, field.path + ": must be longer than 0, found " + Found(field.node),
           "give a positive duration such as 5s");
    }
    return *value;
  }

  std::string Name(const Field& field, NameRule rule, std::string_view kind) const {
    const std::string name = Text(field, Empty::kAllowed);
    CheckName(field, name, rule, kind);
    return name;
  }

  void CheckName(const Field& field, const std::string& name, NameRule rule,
                 std::string_view kind) const {
    const std::optional<std::string> problem = NameProblem(name, rule);
    if (!problem) return;
    const std::string suggestion = SanitizeName(name, rule);
    Fail(field.mark,
         field.path + ": '" + name + "' is not a valid " + std::string(kind) + ": " + *problem +
             " (" + RuleText(rule) + ")",
         suggestion.empty() ? "use lowercase letters, digits and '-', e.g. 'api'"
                            : "rename it, e.g. '" + suggestion + "'");
  }

  // --- plan sections -------------------------------------------------------------------------

  ReleaseRepo ReadReleases(const Field& field) const {
    const MapView map = Map(field, kReleaseKeys, "a map { repo, tag, remote }");
    ReleaseRepo releases;
    releases.repo = ArgText(Require(map, "repo", "../releases"), "releases repository path");
    if (auto tag = map.Get("tag")) {
      releases.tag_template = Text(*tag);
      CheckTagTemplate(*tag, releases.tag_template);
    }
    if (auto remote = map.Get("remote")) {
      releases.remote = ArgText(*remote, "remote");
      if (HasSpaceOrControl(*releases.remote)) {
        Fail(remote->mark, remote->path + ": remote '" + *releases.remote + "' contains a space",
             "name a git remote like 'origin'");
      }
    }
    return releases;
  }

  void CheckTagTemplate(const Field& field, const std::string& tag) const {
    const auto placeholders = Placeholders(tag);
    if (!placeholders) {
      Fail(field.mark, field.path + ": unbalanced '{' or '}' in tag template '" + tag + "'",
           "placeholders are written {date}, {env} or {plan}");
    }
    for (const std::string& placeholder : *placeholders) {
      if (std::find(kTagPlaceholders.begin(), kTagPlaceholders.end(), placeholder) ==
          kTagPlaceholders.end()) {
        Fail(field.mark,
             field.path + ": unknown placeholder '" + placeholder + "' in tag template '" + tag +
                 "'",
             SuggestionFix(placeholder, kTagPlaceholders, "placeholders are"));
      }
    }
    // What is left after substitution must be a valid git tag name.
    std::string literal = tag;
    for (const std::string& placeholder : kTagPlaceholders)
      literal = Substitute(literal, placeholder, "x");
    const std::string bad_chars = " ~^:?*[\\";
    std::string problem;
    if (literal.front() == '-' || literal.front() == '.' || literal.front() == '/') {
      problem = "it starts with '" + std::string(1, literal.front()) + "'";
    } else if (literal.back() == '/' || literal.back() == '.') {
      problem = "it ends with '" + std::string(1, literal.back()) + "'";
    } else if (literal.find("..") != std::string::npos || literal.find("@{") != std::string::npos ||
               literal.find("//") != std::string::npos) {
      problem = "it contains '..', '//' or '@{'";
    } else if (HasSpaceOrControl(literal) ||
               literal.find_first_of(bad_chars) != std::string::npos) {
      problem = "it contains a space or one of ~ ^ : ? * [ \\";
    }
    if (!problem.empty()) {
      Fail(field.mark, field.path + ": '" + tag + "' does not make a valid git tag: " + problem,
           "use letters, digits, '-', '_', '.' and '/' plus placeholders, e.g. 'prod-{date}'");
    }
  }

  // The name of an environment variable whose value promote reads and redacts.
  std::string VariableName(const Field& item) const {
    const std::string name = Text(item);
    const bool valid = (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                       std::all_of(name.begin(), name.end(),
                                   [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    if (!valid) {
      Fail(item.mark, item.path + ": '" + name + "' is not an environment variable name",
           "use letters, digits and '_', not starting with a digit, e.g. KEYBUZZ_API_TOKEN");
    }
    return name;
  }

  std::vector<std::string> ReadSecretEnv(const Field& field) const {
    std::vector<std::string> names;
    for (const Field& item : List(field, "a list of environment variable names")) {
      names.push_back(VariableName(item));
    }
    return names;
  }

  // --- services ------------------------------------------------------------------------------

  std::vector<Service> ReadServices(const Field& field, std::vector<Field>& items) const {
    items = List(field, "a list of services");
    if (items.empty()) {
      Fail(field.mark, field.path + ": expected at least one service, found an empty list",
           "add a service: - { name: api, workload: deployment/api }");
    }
    std::vector<Service> services;
    std::vector<Field> name_fields;
    for (const Field& item : items) {
      Field name_field;
      Service service = ReadService(item, name_field);
      for (size_t i = 0; i < services.size(); ++i) {
        if (services[i].name == service.name) {
          Fail(name_field.mark,
               name_field.path + ": duplicate service name '" + service.name + "' (first at " +
                   name_fields[i].path + ", line " + std::to_string(name_fields[i].mark.line + 1) +
                   ")",
               "service names must be unique: rename one entry or merge the two");
        }
      }
      services.push_back(std::move(service));
      name_fields.push_back(name_field);
    }
    return services;
  }

  Service ReadService(const Field& field, Field& name_field) const {
    const MapView map = Map(field, kServiceKeys, "a service map { name, workload, ... }");
    Service service;
    name_field = Require(map, "name", "api");
    service.name = Name(name_field, NameRule::kDnsLabel, "service name");

    const Field workload = Require(map, "workload", "deployment/" + service.name);
    const std::string text = Text(workload);
    const size_t slash = text.find('/');
    if (slash == std::string::npos || text.find('/', slash + 1) != std::string::npos) {
      Expected(workload, "'KIND/NAME' (e.g. deployment/keybuzz-api)",
               "write deployment/" + text + " (or statefulset/, daemonset/)");
    }
    service.workload_kind = Lower(text.substr(0, slash));
    service.workload_name = text.substr(slash + 1);
    if (std::find(kWorkloadKinds.begin(), kWorkloadKinds.end(), service.workload_kind) ==
        kWorkloadKinds.end()) {
      Fail(workload.mark,
           workload.path + ": unknown workload kind '" + text.substr(0, slash) +
               "', expected deployment, statefulset or daemonset",
           SuggestionFix(service.workload_kind, kWorkloadKinds, "kinds are"));
    }
    CheckName(workload, service.workload_name, NameRule::kDnsSubdomain, "workload name");

    service.container = service.name;
    if (auto container = map.Get("container")) {
      service.container = Name(*container, NameRule::kDnsLabel, "container name");
    }
    // Only what the plan names is ever deployed: a service without its repository could be
    // promoted from anywhere.
    service.image = ReadImage(Require(map, "image", "ghcr.io/acme/" + service.name));
    service.repositories = {service.image};
    if (auto repositories = map.Get("repositories")) {
      for (const Field& item : List(*repositories, "a list of image repositories or patterns")) {
        service.repositories.push_back(ReadRepositoryPattern(item));
      }
    }
    if (auto helm = map.Get("helm")) service.helm = ReadHelm(*helm, service.name);
    if (auto wave = map.Get("wave")) {
      service.wave = static_cast<int>(
          Integer(*wave, 1, 1000, "waves are numbered from 1 (the first services to roll out)"));
    }
    if (auto probes = map.Get("probes")) service.probes = ReadProbes(*probes, service.name);
    if (auto metrics = map.Get("metrics")) ReadMetrics(*metrics, service);
    return service;
  }

  /// The plan's top-level `metrics:`, checks of each environment as a whole: written as a
  /// service's are, but with no service to fill {service}, {namespace} or {image} from.
  std::vector<Probe> ReadEnvironmentChecks(const Field& field) const {
    Service environment;  // the checks' one namespace of names
    ReadMetrics(field, environment, Owner::kEnvironment);
    return std::move(environment.probes);
  }

  /// Whose metric checks are read: a service's, or the environment's (the plan's own).
  enum class Owner { kService, kEnvironment };

  // A service's metric checks join its probes: one list of checks, one namespace of names.
  void ReadMetrics(const Field& field, Service& service, Owner owner = Owner::kService) const {
    for (const Field& item : List(field, "a list of metric checks")) {
      const MapView map = Map(item, kMetricKeys,
                              "a metric check { name, query, min, max, golden } or "
                              "{ analysisTemplate, args, golden }");
      std::vector<Probe> checks;
      if (auto file = map.Get("analysisTemplate")) {
        for (const char* key : {"name", "query", "min", "max", "interval", "count", "failureLimit",
                                "consecutiveErrorLimit", "inconclusiveLimit", "noData"}) {
          if (const Entry* entry = map.Find(key)) {
            Fail(entry->key_mark,
                 item.path + ": '" + key + "' beside analysisTemplate: the template's metrics " +
                     "bring their own names, queries, conditions and limits",
                 std::string("remove ") + key + ", or write the check without analysisTemplate");
          }
        }
        checks = ReadTemplateChecks(item, *file, map.Get("args"));
      } else {
        if (const Entry* args = map.Find("args")) {
          Fail(args->key_mark,
               item.path + ": args without analysisTemplate (args fill in a template's " +
                   "{{args.NAME}})",
               "add analysisTemplate: FILE, or remove args");
        }
        checks.push_back(ReadMetricCheck(item, map));
      }
      const bool golden = map.Get("golden") ? Bool(*map.Get("golden")) : false;
      for (const Probe& check : checks) {
        for (const std::string& placeholder : kServicePlaceholders) {
          if (owner == Owner::kService ||
              check.metric->query.find(placeholder) == std::string::npos) {
            continue;
          }
          Fail(item.mark,
               item.path + ": metric '" + check.name + "' of the environment uses " + placeholder +
                   ", which only a service's check has",
               "use {env} and {interval}, or move the check under a service's metrics");
        }
      }
      for (Probe& check : checks) {
        for (const Probe& probe : service.probes) {
          if (probe.name == check.name) {
            Fail(item.mark,
                 item.path + ": duplicate check name '" + check.name + "' " +
                     (owner == Owner::kService
                          ? "in service '" + service.name + "' (a probe or another metric has it)"
                          : std::string("among the environment's metrics")),
                 "give the metric a distinct name");
          }
        }
        check.golden = golden;
        check.method = "METRIC";
        check.path = check.name;
        service.probes.push_back(std::move(check));
      }
    }
  }

  /// A metric check written in the plan: name, query and range.
  Probe ReadMetricCheck(const Field& item, const MapView& map) const {
    Probe check;
    check.name = Name(Require(map, "name", "success-rate"), NameRule::kDnsLabel, "metric name");
    MetricQuery metric;
    const Field query = Require(map, "query", "'sum(rate(...[{interval}]))'");
    metric.query = Text(query);
    CheckQueryPlaceholders(query, metric.query);
    if (auto min = map.Get("min")) metric.min = Number(*min);
    if (auto max = map.Get("max")) metric.max = Number(*max);
    if (!metric.min && !metric.max) {
      Fail(item.mark, item.path + ": metric '" + check.name + "' has no range",
           "give min (a success rate: min: 0.95), max (a latency: max: 0.5) or both");
    }
    if (metric.min && metric.max && *metric.min > *metric.max) {
      Fail(item.mark, item.path + ": min is above max, so no value can pass",
           "write the lower bound as min");
    }
    // Any of Argo's per-metric keys gives the check its own measurement policy; without them
    // it is counted by the plan's rounds and limits.
    if (std::any_of(kMeasurementKeys.begin(), kMeasurementKeys.end(),
                    [&](const std::string& key) { return map.Find(key) != nullptr; })) {
      metric.limits = Limits(map);
    }
    if (auto no_data = map.Get("noData")) {
      const std::string text = Text(*no_data);
      if (text != "error" && text != "inconclusive") {
        Fail(no_data->mark,
             no_data->path + ": expected error or inconclusive, found " + Found(no_data->node),
             SuggestionFix(text, kNoDataValues, "choices are"));
      }
      metric.no_data_inconclusive = text == "inconclusive";
      if (metric.no_data_inconclusive && !map.Find("inconclusiveLimit")) {
        Fail(no_data->mark,
             no_data->path + ": inconclusive counts a query without data against the " +
                 "check's inconclusiveLimit, which it does not give (0 would end the validation " +
                 "at the first measurement without data)",
             "add inconclusiveLimit: N (the measurements without data it tolerates)");
      }
    }
    check.metric = std::move(metric);
    return check;
  }

  /// A metric's own measurement policy from Argo Rollouts' keys; Argo's defaults for the rest.
  MeasurementLimits Limits(const MapView& map) const {
    MeasurementLimits limits;
    if (auto interval = map.Get("interval")) {
      limits.interval = Duration(*interval, ZeroDuration::kRejected);
    }
    if (auto count = map.Get("count")) {
      limits.count = static_cast<int>(Integer(*count, 1, 100000, "measure at least once"));
    }
    const auto limit = [&](const char* key, int& into) {
      if (auto field = map.Get(key)) {
        into = static_cast<int>(Integer(*field, 0, 100000, "0 tolerates none"));
      }
    };
    limit("failureLimit", limits.failure_limit);
    limit("consecutiveErrorLimit", limits.consecutive_error_limit);
    limit("inconclusiveLimit", limits.inconclusive_limit);
    return limits;
  }

  // PromQL has braces of its own (label matchers, `{code="500"}`): a placeholder is a bare
  // lower-case word in braces, and each must be one promote fills in.
  void CheckQueryPlaceholders(const Field& field, const std::string& query) const {
    for (const std::string& name : QueryPlaceholders(query)) {
      if (std::find(kQueryPlaceholders.begin(), kQueryPlaceholders.end(), name) ==
          kQueryPlaceholders.end()) {
        Fail(field.mark, field.path + ": unknown placeholder '{" + name + "}'",
             SuggestionFix(name, kQueryPlaceholders, "placeholders are"));
      }
    }
  }

  /// Restores the file problems are raised in when the reading of an included file ends.
  class ReadingFile {
   public:
    ReadingFile(const SchemaReader& reader, std::string file)
        : reader_(reader), saved_(std::exchange(reader.reading_, std::move(file))) {}
    ~ReadingFile() { reader_.reading_ = std::move(saved_); }
    ReadingFile(const ReadingFile&) = delete;
    ReadingFile& operator=(const ReadingFile&) = delete;

   private:
    const SchemaReader& reader_;
    std::string saved_;
  };

  /// The checks of the Argo Rollouts AnalysisTemplate `file` names (relative to the plan's
  /// folder), its `{{args.NAME}}` filled in from the plan's `args` (whose values may hold
  /// promote's own placeholders) or the template's defaults. Problems in the template name the
  /// template's file and line; problems with the reference, the plan's.
  std::vector<Probe> ReadTemplateChecks(const Field& item, const Field& file,
                                        const std::optional<Field>& args_field) const {
    const std::string written = Text(file);
    const fs::path path =
        (fs::path(written).is_absolute() ? fs::path(written) : plan_folder_ / written)
            .lexically_normal();
    const std::string text = ReadIncludedFile(file, path);
    std::map<std::string, std::pair<std::string, Field>> given;
    if (args_field) {
      const MapView args = Map(*args_field, {}, "a map of argument name: value");
      for (const Entry& entry : args.entries()) {
        given.emplace(entry.key, std::make_pair(Text(entry.value, Empty::kAllowed), entry.value));
      }
    }
    AnalysisTemplate parsed;
    {
      const ReadingFile reading(*this, path.string());
      const std::vector<YAML::Node> documents = LoadDocuments(text);
      if (documents.size() != 1) {
        Fail(documents.size() > 1 ? documents[1].Mark() : YAML::Mark(),
             "the file holds " + std::to_string(documents.size()) +
                 " YAML documents; an AnalysisTemplate file is exactly one",
             "keep the AnalysisTemplate alone in its file");
      }
      parsed = ReadAnalysisTemplate(documents.front());
    }
    included_.emplace_back(written, ContentHash(text));
    std::vector<std::string> declared;
    std::map<std::string, std::string> values;
    for (const TemplateArg& arg : parsed.args) {
      declared.push_back(arg.name);
      if (auto it = given.find(arg.name); it != given.end()) {
        values[arg.name] = it->second.first;
      } else if (arg.value) {
        values[arg.name] = *arg.value;
      } else {
        Fail(args_field ? args_field->mark : item.mark,
             item.path + ": the AnalysisTemplate " + written + " needs arg '" + arg.name +
                 "', which has no value",
             "add args: { " + arg.name +
                 ": ... } ({service}, {namespace}, {env} and {interval} are filled in)");
      }
    }
    for (const auto& [name, value] : given) {
      if (!values.count(name)) {
        Fail(value.second.mark,
             args_field->path + ": the AnalysisTemplate " + written + " has no arg '" + name + "'",
             declared.empty() ? std::string("it declares no args: remove args")
                              : SuggestionFix(name, declared, "its args are"));
      }
    }
    for (Probe& check : parsed.checks) {
      std::string query;
      size_t done = 0;
      for (const TemplateReference& reference : TemplateReferences(check.metric->query)) {
        query.append(check.metric->query, done, reference.at - done);
        query += values.at(reference.inside.substr(5));  // checked: "args." + a declared name
        done = reference.at + reference.size;
      }
      query.append(check.metric->query, done);
      check.metric->query = std::move(query);
      check.metric->template_file = written;
      if (args_field) CheckQueryPlaceholders(*args_field, check.metric->query);
    }
    return std::move(parsed.checks);
  }

  /// The text of a file the plan brings in; problems are raised at `field`, which names it.
  std::string ReadIncludedFile(const Field& field, const fs::path& path) const {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      Fail(field.mark,
           field.path + ": " + (fs::exists(path, ec) ? "not a regular file: " : "no such file: ") +
               path.string(),
           "give the file's path relative to the plan's folder " + plan_folder_.string());
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      Fail(field.mark, field.path + ": cannot read " + path.string(),
           "check the file's permissions");
    }
    constexpr std::size_t kLargest = 1024 * 1024;
    if (text.str().size() > kLargest || text.str().find('\0') != std::string::npos) {
      Fail(field.mark, field.path + ": " + path.string() + " is not a YAML file of at most 1 MB",
           "is this the right file?");
    }
    return text.str();
  }

  /// `field` as a map of the keys promote honours (`supported`) or knows to be Argo's but does
  /// not honour (`unsupported`, each a problem of its own); anything else is a typo.
  MapView TemplateMap(const Field& field, const std::vector<std::string>& supported,
                      const std::vector<std::string>& unsupported,
                      std::string_view expected) const {
    std::vector<std::string> known = supported;
    known.insert(known.end(), unsupported.begin(), unsupported.end());
    const MapView map = Map(field, known, expected);
    for (const std::string& key : unsupported) {
      if (const Entry* entry = map.Find(key)) {
        Fail(entry->key_mark, Join(field.path, key) + " is not supported by promote",
             "remove it; promote honours " + promote::Join(supported, ", ") + " here");
      }
    }
    return map;
  }

  AnalysisTemplate ReadAnalysisTemplate(const YAML::Node& root) const {
    const Field root_field{"", root, root.Mark()};
    if (root.IsNull()) {
      Fail(YAML::Mark(), "the AnalysisTemplate is empty",
           "give an Argo Rollouts AnalysisTemplate (apiVersion: argoproj.io/v1alpha1)");
    }
    const MapView top =
        Map(root_field, kTemplateKeys, "an AnalysisTemplate { apiVersion, kind, metadata, spec }");
    const Field api_version = Require(top, "apiVersion", "argoproj.io/v1alpha1");
    if (Text(api_version) != "argoproj.io/v1alpha1") {
      Fail(api_version.mark,
           "apiVersion: expected 'argoproj.io/v1alpha1', found " + Found(api_version.node),
           "promote reads Argo Rollouts' AnalysisTemplate of argoproj.io/v1alpha1");
    }
    const Field kind = Require(top, "kind", "AnalysisTemplate");
    if (Text(kind) != "AnalysisTemplate" && Text(kind) != "ClusterAnalysisTemplate") {
      Fail(kind.mark, "kind: expected AnalysisTemplate, found " + Found(kind.node),
           "promote reads AnalysisTemplate and ClusterAnalysisTemplate");
    }
    const MapView spec = TemplateMap(Require(top, "spec", "{ metrics: [...] }"), kTemplateSpecKeys,
                                     kTemplateSpecUnsupported, "a spec { args, metrics }");
    AnalysisTemplate parsed;
    if (auto args = spec.Get("args")) {
      for (const Field& item : List(*args, "a list of args { name, value }")) {
        const MapView arg =
            TemplateMap(item, kTemplateArgKeys, kTemplateArgUnsupported, "an arg { name, value }");
        TemplateArg read{Text(Require(arg, "name", "service-name")), std::nullopt};
        if (auto value = arg.Get("value")) read.value = Text(*value, Empty::kAllowed);
        parsed.args.push_back(std::move(read));
      }
    }
    for (const Field& item :
         List(Require(spec, "metrics", "[ { name, provider, ... } ]"), "a list of metrics")) {
      parsed.checks.push_back(ReadTemplateMetric(item, parsed.args));
    }
    if (parsed.checks.empty()) {
      Fail(spec.self().mark, "spec.metrics: the template has no metrics", "give at least one");
    }
    return parsed;
  }

  Probe ReadTemplateMetric(const Field& item, const std::vector<TemplateArg>& args) const {
    const MapView map = TemplateMap(item, kTemplateMetricKeys, kTemplateMetricUnsupported,
                                    "a metric { name, successCondition, provider, ... }");
    Probe check;
    check.name = Name(Require(map, "name", "success-rate"), NameRule::kDnsLabel, "metric name");
    MetricQuery metric;
    MeasurementLimits limits = Limits(map);
    if (!limits.count && !limits.interval) limits.count = 1;  // Argo: one measurement
    metric.limits = limits;
    if (auto success = map.Get("successCondition")) metric.success = Condition(*success);
    if (auto failure = map.Get("failureCondition")) metric.failure = Condition(*failure);
    if (!metric.success && !metric.failure) {
      Fail(item.mark,
           item.path + ": metric '" + check.name +
               "' has neither successCondition nor failureCondition, so it could "
               "never fail",
           "add successCondition: result[0] >= 0.95 (or a failureCondition)");
    }
    const MapView provider =
        TemplateMap(Require(map, "provider", "{ prometheus: { query: ... } }"), kTemplateProviders,
                    kTemplateProvidersUnsupported, "a provider { prometheus }");
    const MapView prometheus = TemplateMap(Require(provider, "prometheus", "{ query: ... }"),
                                           kTemplatePrometheusKeys, kTemplatePrometheusUnsupported,
                                           "a prometheus provider { address, query, timeout }");
    // The address is the environment's (its prometheus.url, or --endpoints): one template
    // serves DEV and PROD alike, as the audit compares them.
    const Field query = Require(prometheus, "query", "sum(rate(...))");
    metric.query = Text(query);
    for (const TemplateReference& reference : TemplateReferences(metric.query)) {
      const bool arg = reference.inside.rfind("args.", 0) == 0 &&
                       std::any_of(args.begin(), args.end(), [&](const TemplateArg& declared) {
                         return declared.name == reference.inside.substr(5);
                       });
      if (!arg) {
        Fail(query.mark,
             query.path + ": '{{" + reference.inside + "}}' is not supported by promote " +
                 "(only the template's own {{args.NAME}} are filled in)",
             "declare it in spec.args and reference it as {{args.NAME}}");
      }
    }
    if (auto timeout = prometheus.Get("timeout")) {
      check.timeout =
          std::chrono::seconds(Integer(*timeout, 1, 3600, "Argo's timeout is in seconds"));
    }
    check.metric = std::move(metric);
    return check;
  }

  /// An Argo condition of the forms promote evaluates: `result[0] OP number` joined by && and ||.
  MetricCondition Condition(const Field& field) const {
    MetricCondition condition;
    condition.text = Trim(Text(field));
    const std::string fix =
        "write comparisons result[0] OP number (OP one of < <= > >= == !=) joined with && or ||";
    const auto split = [](std::string_view text, std::string_view separator) {
      std::vector<std::string_view> parts;
      for (size_t at = text.find(separator); at != std::string_view::npos;
           at = text.find(separator)) {
        parts.push_back(text.substr(0, at));
        text.remove_prefix(at + separator.size());
      }
      parts.push_back(text);
      return parts;
    };
    for (std::string_view any : split(condition.text, "||")) {
      std::vector<MetricComparison>& group = condition.any_of.emplace_back();
      for (std::string_view term : split(any, "&&")) {
        const std::string written = Trim(term);
        std::string_view rest = written;
        constexpr std::string_view kResult = "result[0]";
        if (rest.rfind(kResult, 0) != 0) {
          Fail(field.mark, field.path + ": '" + written + "' is not supported by promote", fix);
        }
        rest.remove_prefix(kResult.size());
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        static const std::vector<std::pair<std::string_view, MetricComparison::Op>> kOps = {
            {"<=", MetricComparison::Op::kLessEqual}, {">=", MetricComparison::Op::kGreaterEqual},
            {"==", MetricComparison::Op::kEqual},     {"!=", MetricComparison::Op::kNotEqual},
            {"<", MetricComparison::Op::kLess},       {">", MetricComparison::Op::kGreater}};
        std::optional<MetricComparison> comparison;
        for (const auto& [text, op] : kOps) {
          if (rest.rfind(text, 0) != 0) continue;
          const std::string number = Trim(rest.substr(text.size()));
          char* end = nullptr;
          const double value = std::strtod(number.c_str(), &end);
          if (!number.empty() && end == number.c_str() + number.size() && std::isfinite(value)) {
            comparison = MetricComparison{op, value};
          }
          break;
        }
        if (!comparison) {
          Fail(field.mark, field.path + ": '" + written + "' is not supported by promote", fix);
        }
        group.push_back(*comparison);
      }
    }
    return condition;
  }

  double Number(const Field& field) const {
    if (!field.node.IsScalar()) Expected(field, "a number", "write a number like 0.95 or 500");
    const std::string& text = field.node.Scalar();
    if (IsQuoted(field.node)) {
      Fail(field.mark, field.path + ": expected a number, found the string \"" + text + "\"",
           "remove the quotes: " + text);
    }
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
      Expected(field, "a number", "write a number like 0.95 or 500");
    }
    return value;
  }

  std::string ReadImage(const Field& field) const {
    const std::string image = ArgText(field, "image");
    auto parsed = ParseImageReference(image);
    if (!parsed) Fail(field.mark, field.path + ": " + parsed.error().what, parsed.error().fix);
    if (!parsed->tag.empty() || !parsed->digest.empty()) {
      Fail(field.mark,
           field.path + ": expected an image repository without tag or digest, found '" + image +
               "'",
           "write '" + parsed->Repository() +
               "': promote chooses the tag (the one proven in the source environment)");
    }
    return image;
  }

  // A repository, or one where '*' stands for any characters but '/' (ghcr.io/acme/*).
  std::string ReadRepositoryPattern(const Field& field) const {
    const std::string pattern = ArgText(field, "image repository");
    std::string probe = pattern;  // '*' checked as a letter, so the rest obeys the grammar
    std::replace(probe.begin(), probe.end(), '*', 'x');
    auto parsed = ParseImageReference(probe);
    if (!parsed) {
      Fail(field.mark, field.path + ": " + parsed.error().what,
           "write a repository like ghcr.io/acme/api, or ghcr.io/acme/* for every repository "
           "under ghcr.io/acme");
    }
    if (!parsed->tag.empty() || !parsed->digest.empty()) {
      Fail(field.mark,
           field.path + ": expected an image repository without tag or digest, found '" + pattern +
               "'",
           "list repositories only: the tag is the one proven in the source environment");
    }
    if (pattern.find('*') != std::string::npos && pattern.find('*') < pattern.find('/')) {
      Fail(field.mark, field.path + ": '" + pattern + "' puts a '*' in the registry",
           "name the registry exactly (ghcr.io/acme/*): a pattern over registries would let any "
           "registry in");
    }
    return pattern;
  }

  HelmTarget ReadHelm(const Field& field, const std::string& service_name) const {
    const MapView map = Map(field, kHelmKeys, "a map { release, chart, valuesKey }");
    HelmTarget helm;
    helm.release = service_name;
    if (auto release = map.Get("release")) {
      helm.release = Name(*release, NameRule::kHelmRelease, "helm release name");
    } else {
      CheckName(field, helm.release, NameRule::kHelmRelease,
                "helm release name (defaulted from the service name)");
    }
    const Field chart = Require(map, "chart", "charts/" + service_name);
    helm.chart = ArgText(chart, "chart");
    ResolveChart(chart, helm);
    if (auto values_key = map.Get("valuesKey")) {
      helm.values_key = Text(*values_key);
      const std::string& key = helm.values_key;
      const bool valid = key.front() != '.' && key.back() != '.' &&
                         key.find("..") == std::string::npos &&
                         std::all_of(key.begin(), key.end(), [](unsigned char c) {
                           return std::isalnum(c) || c == '.' || c == '_' || c == '-';
                         });
      if (!valid) {
        Fail(values_key->mark, values_key->path + ": '" + key + "' is not a dotted values key",
             "write a key path like image.tag");
      }
    }
    return helm;
  }

  /// Decides where helm finds the chart and, for a local one, replaces the text with its absolute
  /// path. Like releases.repo and the hooks, a chart path is relative to the plan's folder: helm
  /// itself would resolve it against whatever directory promote happens to run in.
  void ResolveChart(const Field& field, HelmTarget& helm) const {
    using Source = HelmTarget::ChartSource;
    for (std::string_view scheme : {"oci://", "http://", "https://"}) {
      if (helm.chart.rfind(scheme, 0) == 0) {
        helm.chart_source = Source::kRemote;
        return;
      }
    }
    const fs::path written(helm.chart);
    fs::path candidate =
        (written.is_absolute() ? written : plan_folder_ / written).lexically_normal();
    // "charts/tiny/" names the folder "charts/tiny": drop the empty last part a slash leaves.
    if (candidate.filename().empty() && candidate.has_parent_path() &&
        candidate != candidate.root_path()) {
      candidate = candidate.parent_path();
    }
    std::error_code ec;
    const fs::file_status status = fs::status(candidate, ec);
    if (fs::exists(status)) {
      helm.chart = candidate.string();
      helm.chart_source = fs::is_directory(status) ? Source::kLocalFolder : Source::kLocalArchive;
      return;
    }
    if (LooksLikeLocalChart(helm.chart)) {
      const bool unreadable =
          ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory;
      Fail(field.mark,
           field.path + ": local chart '" + helm.chart + "' not found: looked for " +
               candidate.string() + (unreadable ? " (" + ec.message() + ")" : ""),
           "create the chart there, or give a path relative to the plan's folder " +
               plan_folder_.string());
    }
    // Nothing of that name beside the plan: "repo/name", which helm looks up in its repositories.
    helm.chart_source = Source::kRepository;
  }

  std::vector<Probe> ReadProbes(const Field& field, const std::string& service_name) const {
    std::vector<Probe> probes;
    std::vector<Field> probe_fields;
    for (const Field& item : List(field, "a list of probes")) {
      Probe probe = ReadProbe(item);
      for (size_t i = 0; i < probes.size(); ++i) {
        if (probes[i].name == probe.name) {
          Fail(item.mark,
               item.path + ": duplicate probe name '" + probe.name + "' in service '" +
                   service_name + "' (first at " + probe_fields[i].path + ")",
               "give one of them a distinct name: name: ...");
        }
      }
      probes.push_back(std::move(probe));
      probe_fields.push_back(item);
    }
    return probes;
  }

  Probe ReadProbe(const Field& field) const {
    const MapView map = Map(field, kProbeKeys, "a probe map { get: /path, expect: 200 }");
    Probe probe;

    const Entry* shorthand = nullptr;
    for (const Entry& entry : map.entries()) {
      if (std::find(kMethodKeys.begin(), kMethodKeys.end(), entry.key) == kMethodKeys.end()) {
        continue;
      }
      if (shorthand) {
        Fail(entry.key_mark,
             field.path + ": give exactly one of get/post/put/delete/head/patch, found both '" +
                 shorthand->key + "' and '" + entry.key + "'",
             "split it into two probes, one per request");
      }
      shorthand = &entry;
    }
    const Entry* method = map.Find("method");
    const Entry* path = map.Find("path");
    if (shorthand && (method || path)) {
      const Entry* other = method ? method : path;
      Fail(other->key_mark,
           field.path + ": '" + shorthand->key + "' and '" + other->key + "' cannot be combined",
           "use either " + shorthand->key + ": PATH, or method: + path:");
    }
    Field path_field;
    if (shorthand) {
      std::string upper = shorthand->key;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      probe.method = upper;
      path_field = shorthand->value;
    } else if (path) {
      path_field = path->value;
      if (method) {
        std::string upper = Text(method->value);
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (std::find(kMethodKeys.begin(), kMethodKeys.end(), Lower(upper)) == kMethodKeys.end()) {
          Fail(method->value.mark,
               method->value.path + ": expected GET, POST, PUT, DELETE, HEAD or PATCH, found " +
                   Found(method->value.node),
               SuggestionFix(Lower(upper), kMethodKeys, "methods are"));
        }
        probe.method = upper;
      }
    } else {
      Fail(field.mark, field.path + ": missing the request (get/post/put/delete/head/patch)",
           method ? "add path: /PATH next to method:" : "add get: /PATH (or post: /PATH, ...)");
    }
    probe.path = Text(path_field);
    if (probe.path.front() != '/' || HasSpaceOrControl(probe.path)) {
      Fail(path_field.mark,
           path_field.path + ": expected a URL path starting with '/' and without spaces, found " +
               Found(path_field.node),
           probe.path.front() != '/' ? "write '/" + probe.path + "'" : "encode spaces as %20");
    }

    probe.name = probe.method + " " + probe.path;
    if (auto name = map.Get("name")) probe.name = Text(*name);

    probe.expect.ranges = {{200, 299}};
    if (auto expect = map.Get("expect")) probe.expect = ReadExpect(*expect);
    if (auto contains = map.Get("bodyContains")) probe.body_contains = Text(*contains);
    if (auto json = map.Get("json")) probe.json = ReadJsonMatch(*json);
    if (auto body = map.Get("body")) probe.body = Text(*body, Empty::kAllowed);
    if (auto headers = map.Get("headers")) probe.headers = ReadHeaders(*headers);
    if (auto timeout = map.Get("timeout"))
      probe.timeout = Duration(*timeout, ZeroDuration::kRejected);
    if (auto retries = map.Get("retries")) {
      probe.retries =
          static_cast<int>(Integer(*retries, 0, 100, "retries counts extra attempts: 0 or more"));
    }
    if (auto golden = map.Get("golden")) probe.golden = Bool(*golden);
    if (auto base = map.Get("base")) probe.base = Name(*base, NameRule::kDnsLabel, "URL name");
    return probe;
  }

  int StatusCode(const Field& field) const {
    if (!field.node.IsScalar()) Expected(field, kExpectForms, std::string(kExpectFix));
    const std::optional<long long> code = ParseInteger(field.node.Scalar());
    if (!code) Expected(field, kExpectForms, std::string(kExpectFix));
    if (*code < 100 || *code > 599) {
      Fail(field.mark, field.path + ": " + field.node.Scalar() + " is not an HTTP status (100-599)",
           "use a status between 100 and 599, e.g. 200");
    }
    return static_cast<int>(*code);
  }

  /// A single code (200 or "200") or a class ("2xx") into `expect`.
  void StatusOrClass(const Field& field, StatusExpectation& expect) const {
    if (field.node.IsScalar()) {
      const std::string text = Lower(field.node.Scalar());
      if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && text.substr(1) == "xx") {
        const int low = (text[0] - '0') * 100;
        expect.ranges.emplace_back(low, low + 99);
        return;
      }
    }
    expect.codes.push_back(StatusCode(field));
  }

  StatusExpectation ReadExpect(const Field& field) const {
    StatusExpectation expect;
    if (field.node.IsSequence()) {
      const std::vector<Field> items = List(field, kExpectForms);
      if (items.empty()) {
        Fail(field.mark, field.path + ": expected at least one status, found an empty list",
             std::string(kExpectFix));
      }
      for (const Field& item : items) StatusOrClass(item, expect);
      return expect;
    }
    if (!field.node.IsMap()) {
      StatusOrClass(field, expect);
      return expect;
    }
    const MapView map = Map(field, kExpectKeys, kExpectForms);
    if (map.entries().empty()) Expected(field, kExpectForms, std::string(kExpectFix));
    if (auto not_codes = map.Get("not")) {
      if (not_codes->node.IsSequence()) {
        for (const Field& item : List(*not_codes, "a list of statuses")) {
          expect.not_codes.push_back(StatusCode(item));
        }
      } else {
        expect.not_codes.push_back(StatusCode(*not_codes));
      }
    }
    if (auto range = map.Get("range")) {
      const std::string form = "a range [LOW, HIGH] like [200, 399]";
      if (!range->node.IsSequence() || range->node.size() != 2) {
        Expected(*range, form, "write range: [200, 399]");
      }
      const std::vector<Field> bounds = List(*range, form);
      const int low = StatusCode(bounds[0]);
      const int high = StatusCode(bounds[1]);
      if (low > high) {
        Fail(range->mark,
             range->path + ": range [" + std::to_string(low) + ", " + std::to_string(high) +
                 "] is empty (low is above high)",
             "write the lower bound first: [" + std::to_string(high) + ", " + std::to_string(low) +
                 "]");
      }
      expect.ranges.emplace_back(low, high);
    }
    return expect;
  }

  JsonFieldMatch ReadJsonMatch(const Field& field) const {
    const MapView map = Map(field, kJsonKeys, "a map { path: data.service, equals: VALUE }");
    JsonFieldMatch match;
    const Field path = Require(map, "path", "data.service");
    match.path = Text(path);
    if (match.path.front() == '.' || match.path.back() == '.' ||
        match.path.find("..") != std::string::npos || HasSpaceOrControl(match.path)) {
      Fail(path.mark, path.path + ": '" + match.path + "' is not a dotted JSON path",
           "write field names joined by dots, e.g. data.service");
    }
    match.equals = Text(Require(map, "equals", "VALUE"), Empty::kAllowed);
    return match;
  }

  std::map<std::string, std::string> ReadHeaders(const Field& field) const {
    const MapView map = Map(field, {}, "a map of header names to values");
    std::map<std::string, std::string> headers;
    for (const Entry& entry : map.entries()) {
      // RFC 9110 token characters.
      const bool valid_name =
          !entry.key.empty() &&
          std::all_of(entry.key.begin(), entry.key.end(), [](unsigned char c) {
            return std::isalnum(c) ||
                   std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
          });
      if (!valid_name) {
        Fail(entry.key_mark, entry.value.path + ": '" + entry.key + "' is not an HTTP header name",
             "use letters, digits and '-', e.g. X-Probe");
      }
      const std::string value = Text(entry.value, Empty::kAllowed);
      if (value.find_first_of("\r\n") != std::string::npos) {
        Fail(entry.value.mark, entry.value.path + ": header value contains a line break",
             "write the value on one line");
      }
      headers[entry.key] = value;
    }
    return headers;
  }

  /// Metric checks are queried in every environment promote judges: each must name a Prometheus.
  void CheckPrometheus(const Plan& plan, const MapView& top) const {
    if (!plan.HasMetrics()) return;
    const Field environments = *top.Get("environments");
    for (const auto& [name, environment] : plan.environments) {
      if (environment.prometheus) continue;
      Fail(environments.mark,
           environments.path + "." + name +
               ": no prometheus, which the plan's metric checks "
               "query",
           "add prometheus: { url: http://prometheus.example:9090 } to environment '" + name + "'");
    }
  }

  /// helm upgrade needs a chart: every service must say which, once any environment uses helm.
  void CheckHelmTargets(const Plan& plan, const std::vector<Field>& service_fields) const {
    for (const auto& [name, environment] : plan.environments) {
      if (environment.driver != Driver::kHelm) continue;
      for (size_t i = 0; i < plan.services.size(); ++i) {
        if (plan.services[i].helm) continue;
        Fail(service_fields[i].mark,
             service_fields[i].path + ": environment '" + name +
                 "' uses driver helm, so service '" + plan.services[i].name +
                 "' needs a helm: block with its chart",
             "add helm: { chart: charts/" + plan.services[i].name +
                 " } (release defaults to the service name, valuesKey to image.tag)");
      }
    }
  }

  // --- capabilities --------------------------------------------------------------------------

  std::vector<Capability> ReadCapabilities(const Field& field,
                                           const std::vector<Service>& services) const {
    const MapView map = Map(field, {}, "a map of capability name to its probes");
    std::vector<Capability> capabilities;
    for (const Entry& entry : map.entries()) {
      const Field key_field{entry.value.path, YAML::Node(entry.key), entry.key_mark};
      Capability capability;
      capability.name = entry.key;
      CheckName(key_field, capability.name, NameRule::kDnsLabel, "capability name");
      Field probes = entry.value;
      if (entry.value.node.IsMap()) {
        const MapView form = Map(entry.value, kCapabilityKeys, "a map { probes, golden }");
        probes = Require(form, "probes", "[login, signup]");
        if (auto golden = form.Get("golden")) capability.golden = Bool(*golden);
      }
      const std::vector<Field> items =
          List(probes, "a list of probe names (PROBE, or SERVICE/PROBE when names repeat)");
      if (items.empty()) {
        Fail(probes.mark, probes.path + ": capability '" + capability.name + "' names no probe",
             "list the probes users need for it, e.g. [login, signup]");
      }
      for (const Field& item : items) {
        ProbeRef ref = ResolveProbe(item, services);
        if (std::find(capability.probes.begin(), capability.probes.end(), ref) !=
            capability.probes.end()) {
          Fail(item.mark, item.path + ": probe '" + ref.Name() + "' is listed twice",
               "list each probe once");
        }
        capability.probes.push_back(std::move(ref));
      }
      capabilities.push_back(std::move(capability));
    }
    return capabilities;
  }

  // "login" (a probe name only one service has) or "api/login"; the probe's default name
  // ("GET /health") may be used too, so only a service name counts as the part before '/'.
  ProbeRef ResolveProbe(const Field& item, const std::vector<Service>& services) const {
    const std::string text = Text(item);
    std::vector<ProbeRef> matches;
    std::vector<std::string> known;    // SERVICE/PROBE
    std::vector<std::string> spelled;  // both ways, for the nearest to a typo
    for (const Service& service : services) {
      for (const Probe& probe : service.probes) {
        known.push_back(service.name + "/" + probe.name);
        spelled.push_back(known.back());
        spelled.push_back(probe.name);
        const bool qualified = text == service.name + "/" + probe.name;
        if (qualified) return {service.name, probe.name};
        if (text == probe.name) matches.push_back({service.name, probe.name});
      }
    }
    if (matches.size() == 1) return matches.front();
    if (matches.size() > 1) {
      std::vector<std::string> names;
      for (const auto& match : matches) names.push_back(match.Name());
      Fail(item.mark,
           item.path + ": probe '" + text + "' is in several services (" +
               promote::Join(names, ", ") + ")",
           "write SERVICE/PROBE, e.g. " + names.front());
    }
    const auto nearest = Suggest(text, spelled);
    Fail(
        item.mark, item.path + ": no probe '" + text + "' in the plan's services",
        nearest ? "did you mean '" + *nearest + "'?" : "probes are: " + promote::Join(known, ", "));
  }

  // --- environments --------------------------------------------------------------------------

  std::map<std::string, Environment> ReadEnvironments(const Field& field,
                                                      const std::vector<Service>& services) const {
    const MapView map = Map(field, {}, "a map of environment name to settings");
    if (map.entries().size() < 2) {
      Fail(field.mark,
           field.path + ": expected at least 2 environments (a source and a target), found " +
               std::to_string(map.entries().size()),
           "add both, e.g. dev: {...} and prod: {...}");
    }
    std::map<std::string, Environment> environments;
    for (const Entry& entry : map.entries()) {
      const Field key_field{entry.value.path, YAML::Node(entry.key), entry.key_mark};
      CheckName(key_field, entry.key, NameRule::kDnsLabel, "environment name");
      Environment environment = ReadEnvironment(entry.value, services);
      environment.name = entry.key;
      environments.emplace(entry.key, std::move(environment));
    }
    return environments;
  }

  Environment ReadEnvironment(const Field& field, const std::vector<Service>& services) const {
    const MapView map = Map(field, kEnvironmentKeys, "a map { context, namespace, url, ... }");
    Environment environment;
    const Field context = Require(map, "context", "CONTEXT-NAME");
    environment.context = Name(context, NameRule::kContext, "kube context name");
    if (auto kubeconfig = map.Get("kubeconfig")) {
      environment.kubeconfig = ArgText(*kubeconfig, "kubeconfig path");
    }
    if (auto driver = map.Get("driver")) {
      const std::string text = Text(*driver);
      if (text == "kubectl") {
        environment.driver = Driver::kKubectl;
      } else if (text == "helm") {
        environment.driver = Driver::kHelm;
      } else {
        Fail(driver->mark,
             driver->path + ": expected kubectl or helm, found " + Found(driver->node),
             SuggestionFix(text, kDrivers, "drivers are"));
      }
    }
    const Field namespace_field = Require(map, "namespace", "\"myapp-{service}-prod\"");
    environment.namespace_template = Text(namespace_field);
    CheckNamespace(namespace_field, environment.namespace_template, services);

    ReadUrls(Require(map, "url", "\"http://{service}.example.test\""), services, environment);
    if (auto secrets = map.Get("secrets")) {
      for (const Field& item : List(*secrets, "a list of Secret names")) {
        environment.secrets.push_back(Name(item, NameRule::kDnsSubdomain, "Secret name"));
      }
    }
    if (auto approval = map.Get("approval")) environment.approval = ReadApproval(*approval);
    if (auto lock = map.Get("lock")) environment.lock = ReadLock(*lock);
    if (auto freeze = map.Get("freeze")) environment.freeze = ReadFreeze(*freeze);
    if (auto digest = map.Get("requireDigest")) environment.require_digest = Bool(*digest);
    if (auto registry = map.Get("registry")) environment.registry = ReadRegistry(*registry);
    if (auto prometheus = map.Get("prometheus")) {
      const MapView source = Map(*prometheus, kPrometheusKeys, "a map { url, headers }");
      PrometheusSource where;
      const Field url = Require(source, "url", "http://prometheus.monitoring:9090");
      where.url = Text(url);
      CheckUrl(url, where.url, "");
      if (auto headers = source.Get("headers")) {
        const MapView names = Map(*headers, {}, "a map of header name to variable");
        for (const Entry& entry : names.entries()) {
          where.headers[entry.key] = VariableName(entry.value);
        }
      }
      environment.prometheus = std::move(where);
    }
    return environment;
  }

  // A registry host as an image reference names it: "ghcr.io", "localhost:5000", "docker.io".
  std::string RegistryHost(const Field& field, const std::string& host) const {
    const auto colon = host.find(':');
    const std::string name = host.substr(0, colon);
    const std::string port = colon == std::string::npos ? "" : host.substr(colon + 1);
    const bool name_ok = !name.empty() && name.front() != '.' && name.front() != '-' &&
                         std::all_of(name.begin(), name.end(), [](unsigned char c) {
                           return std::islower(c) || std::isdigit(c) || c == '.' || c == '-';
                         });
    const bool port_ok =
        colon == std::string::npos ||
        (!port.empty() && port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }));
    if (!name_ok || !port_ok) {
      Fail(field.mark, field.path + ": '" + host + "' is not a registry host",
           "write the registry as image references name it, e.g. ghcr.io or localhost:5000 "
           "(lower case, no scheme, no path)");
    }
    return host;
  }

  RegistryCheck ReadRegistry(const Field& field) const {
    const MapView map = Map(field, kRegistryKeys,
                            "a map { verify, mirrors: {HOST: URL}, credentials: {HOST: VAR} }");
    RegistryCheck registry;
    // Writing the block at all asks for the check; `verify: false` keeps it written but off.
    registry.verify = true;
    if (auto verify = map.Get("verify")) registry.verify = Bool(*verify);
    if (auto mirrors = map.Get("mirrors")) {
      const MapView hosts = Map(*mirrors, {}, "a map of registry host to URL");
      for (const Entry& entry : hosts.entries()) {
        const Field key{entry.value.path, YAML::Node(entry.key), entry.key_mark};
        const std::string url = Text(entry.value);
        CheckUrl(entry.value, url, "");
        registry.mirrors[RegistryHost(key, entry.key)] = url;
      }
    }
    if (auto credentials = map.Get("credentials")) {
      const MapView hosts = Map(*credentials, {}, "a map of registry host to variable name");
      for (const Entry& entry : hosts.entries()) {
        const Field key{entry.value.path, YAML::Node(entry.key), entry.key_mark};
        registry.credentials[RegistryHost(key, entry.key)] = VariableName(entry.value);
      }
    }
    return registry;
  }

  LockPolicy ReadLock(const Field& field) const {
    const MapView map = Map(field, kLockKeys, "a map { backend, namespace, name, duration }");
    LockPolicy lock;
    if (auto backend = map.Get("backend")) {
      const std::string text = Text(*backend);
      if (text == "file") {
        lock.backend = LockPolicy::Backend::kFile;
      } else if (text == "lease") {
        lock.backend = LockPolicy::Backend::kLease;
      } else {
        Fail(backend->mark,
             backend->path + ": expected file or lease, found " + Found(backend->node),
             SuggestionFix(text, kLockBackends, "backends are"));
      }
    }
    if (lock.backend == LockPolicy::Backend::kFile) {
      // A lease setting under a file lock would be silently ignored: say so instead.
      for (const char* key : {"namespace", "name", "duration"}) {
        if (const Entry* entry = map.Find(key)) {
          Fail(entry->key_mark,
               entry->value.path + ": only used by the lease backend, but this lock is a file",
               "add backend: lease, or remove " + std::string(key));
        }
      }
      return lock;
    }
    if (auto ns = map.Get("namespace")) {
      lock.lease_namespace = Name(*ns, NameRule::kDnsLabel, "namespace");
    }
    if (auto name = map.Get("name"))
      lock.lease_name = Name(*name, NameRule::kDnsSubdomain, "Lease name");
    if (auto duration = map.Get("duration")) {
      const milliseconds value = Duration(*duration, ZeroDuration::kRejected);
      if (value.count() % 1000 != 0) {
        Fail(duration->mark,
             duration->path + ": a Lease lasts whole seconds, found " + Found(duration->node),
             "round it to seconds, e.g. 60s");
      }
      lock.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(value);
    }
    return lock;
  }

  FreezePolicy ReadFreeze(const Field& field) const {
    const MapView map = Map(field, kFreezeKeys, "a map { timeZone, windows }");
    FreezePolicy freeze;
    if (auto zone = map.Get("timeZone")) {
      freeze.time_zone = Text(*zone);
      const Status known = CheckTimeZone(freeze.time_zone);
      if (!known) {
        std::string fix = known.error().fix;
        if (fix.empty()) {
          const std::optional<std::string> best = Suggest(freeze.time_zone, TimeZoneNames());
          fix = best ? "did you mean '" + *best + "'?"
                     : "use an IANA name such as Europe/Paris, America/New_York or UTC (the "
                       "names under /usr/share/zoneinfo)";
        }
        Fail(zone->mark, zone->path + ": " + known.error().what, fix);
      }
    }
    const Field windows = Require(map, "windows",
                                  "[ { name: weekend, schedule: \"0 18 * * FRI\", "
                                  "duration: 62h } ]");
    std::vector<std::string> names;
    for (const Field& item : List(windows, "a list of freeze windows")) {
      FreezeWindow window = ReadFreezeWindow(item);
      if (std::find(names.begin(), names.end(), window.name) != names.end()) {
        Fail(item.mark, item.path + ": a second window named '" + window.name + "'",
             "give each window its own name");
      }
      names.push_back(window.name);
      freeze.windows.push_back(std::move(window));
    }
    return freeze;
  }

  FreezeWindow ReadFreezeWindow(const Field& field) const {
    const MapView map = Map(field, kFreezeWindowKeys,
                            "a map { name, schedule, duration, reason } or { name, from, until, "
                            "reason }");
    FreezeWindow window;
    const std::optional<Field> schedule = map.Get("schedule");
    const std::optional<Field> duration = map.Get("duration");
    const std::optional<Field> from = map.Get("from");
    const std::optional<Field> until = map.Get("until");
    constexpr std::string_view kForms =
        "a window is either recurring (schedule + duration) or a date range (from + until)";
    if (schedule && (from || until)) {
      const Field& extra = from ? *from : *until;
      Fail(extra.mark,
           field.path + ": has both schedule and " + (from ? "from" : "until") + "; " +
               std::string(kForms),
           "split it into two windows");
    }
    if (schedule) {
      window.schedule = Text(*schedule);
      const Result<CronSchedule> cron = ParseCron(window.schedule);
      if (!cron) {
        Fail(schedule->mark, schedule->path + ": " + cron.error().what, cron.error().fix);
      }
      if (!duration) {
        Fail(schedule->mark,
             field.path + ": schedule gives only the start of each window; duration is missing",
             "add duration: 2h (how long each window lasts, e.g. 62h for Friday 18:00 to Monday "
             "08:00)");
      }
      window.duration = Duration(*duration, ZeroDuration::kRejected);
      window.name = window.schedule;
    } else if (from || until) {
      if (duration) {
        Fail(duration->mark,
             duration->path + ": only used with schedule; a date range ends at its until",
             "remove duration, or use schedule + duration for a recurring window");
      }
      const Field from_field = Require(map, "from", "\"2026-11-26T00:00\"");
      const Field until_field = Require(map, "until", "\"2026-11-30T23:59\"");
      window.from = LocalDateTime(from_field);
      window.until = LocalDateTime(until_field);
      if (*window.until <= *window.from) {
        Fail(until_field.mark,
             until_field.path + ": '" + until_field.node.Scalar() + "' is not after from '" +
                 from_field.node.Scalar() + "'",
             "a date range is frozen from 'from' up to 'until': swap them or fix the dates");
      }
      window.name = from_field.node.Scalar() + ".." + until_field.node.Scalar();
    } else {
      Fail(field.mark, field.path + ": " + std::string(kForms) + "; found neither",
           "add schedule: \"0 18 * * FRI\" and duration: 62h, or from: \"2026-11-26T00:00\" and "
           "until: \"2026-11-30T23:59\"");
    }
    if (auto name = map.Get("name")) window.name = Text(*name);
    if (auto reason = map.Get("reason")) window.reason = Text(*reason, Empty::kAllowed);
    return window;
  }

  std::chrono::local_seconds LocalDateTime(const Field& field) const {
    const std::optional<std::chrono::local_seconds> value =
        field.node.IsScalar() ? ParseLocalDateTime(field.node.Scalar()) : std::nullopt;
    if (!value) {
      Expected(field, "a local date-time like \"2026-11-26T00:00\"",
               "write YYYY-MM-DDTHH:MM, in the freeze's timeZone (UTC unless set)");
    }
    return *value;
  }

  void CheckNamespace(const Field& field, const std::string& tmpl,
                      const std::vector<Service>& services) const {
    const auto placeholders = Placeholders(tmpl);
    if (!placeholders) {
      Fail(field.mark, field.path + ": unbalanced '{' or '}' in '" + tmpl + "'",
           "the only placeholder is {service}");
    }
    for (const std::string& placeholder : *placeholders) {
      if (placeholder != "{service}") {
        Fail(field.mark,
             field.path + ": unknown placeholder '" + placeholder + "' in '" + tmpl + "'",
             "the only placeholder is {service}");
      }
    }
    for (const Service& service : services) {
      const std::string name = Substitute(tmpl, "{service}", service.name);
      const std::optional<std::string> problem = NameProblem(name, NameRule::kDnsLabel);
      if (!problem) continue;
      const std::string suggestion = SuggestNamespaceTemplate(tmpl, services);
      Fail(field.mark,
           field.path + ": '" + tmpl + "' gives '" + name + "' for service '" + service.name +
               "', which is not a valid namespace: " + *problem + " (" +
               RuleText(NameRule::kDnsLabel) + ")",
           suggestion.empty() ? "use lowercase letters, digits and '-' around {service}"
                              : "use e.g. '" + suggestion + "'");
    }
  }

  /// The template with each literal part made valid, if that gives valid names for all services.
  static std::string SuggestNamespaceTemplate(const std::string& tmpl,
                                              const std::vector<Service>& services) {
    std::string out;
    for (char c : Lower(tmpl))
      out += (IsLowerAlnum(c) || c == '-' || c == '{' || c == '}') ? c : '-';
    out = Substitute(out, "{service}", "\x01");
    while (!out.empty() && out.front() == '-') out.erase(out.begin());
    while (!out.empty() && out.back() == '-') out.pop_back();
    out = Substitute(out, "\x01", "{service}");
    for (const Service& service : services) {
      if (NameProblem(Substitute(out, "{service}", service.name), NameRule::kDnsLabel)) return "";
    }
    return out;
  }

  void CheckUrl(const Field& field, const std::string& url,
                std::string_view allowed_placeholder) const {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      Expected(field, "a URL starting with http:// or https://",
               url.find("://") == std::string::npos ? "write http://" + url
                                                    : "use an http:// or https:// URL");
    }
    if (HasSpaceOrControl(url)) {
      Fail(field.mark, field.path + ": URL '" + url + "' contains whitespace", "remove the spaces");
    }
    const auto placeholders = Placeholders(url);
    if (!placeholders) {
      Fail(field.mark, field.path + ": unbalanced '{' or '}' in '" + url + "'",
           allowed_placeholder.empty() ? "remove the braces" : "the only placeholder is {service}");
    }
    for (const std::string& placeholder : *placeholders) {
      if (placeholder != allowed_placeholder) {
        Fail(field.mark,
             field.path + ": unknown placeholder '" + placeholder + "' in '" + url + "'",
             allowed_placeholder.empty() ? "write the full URL of this service"
                                         : "the only placeholder is {service}");
      }
    }
  }

  void ReadUrls(const Field& field, const std::vector<Service>& services,
                Environment& environment) const {
    std::vector<std::string> names;
    for (const Service& service : services) names.push_back(service.name);
    // The other URLs probes name as their `base` (a website's www host) are keys here too.
    std::map<std::string, std::string> bases;  // base → the first probe that names it
    for (const Service& service : services) {
      for (const Probe& probe : service.probes) {
        if (probe.base.empty() || bases.count(probe.base)) continue;
        bases[probe.base] = service.name + "/" + probe.name;
        if (std::find(names.begin(), names.end(), probe.base) == names.end()) {
          names.push_back(probe.base);
        }
      }
    }
    if (field.node.IsScalar()) {
      environment.url_template = Text(field);
      CheckUrl(field, environment.url_template, "{service}");
      return;
    }
    if (!field.node.IsMap()) {
      Expected(field, "a URL template with {service} or a map of service name to URL",
               "write url: \"http://{service}.example.test\"");
    }
    const MapView map = Map(field, {}, "");
    for (const Entry& entry : map.entries()) {
      if (std::find(names.begin(), names.end(), entry.key) == names.end()) {
        Fail(entry.key_mark,
             entry.value.path + ": no service named '" + entry.key + "', nor a probe base",
             SuggestionFix(entry.key, names, "services and probe bases are"));
      }
      const std::string url = Text(entry.value);
      CheckUrl(entry.value, url, "");
      environment.urls[entry.key] = url;
    }
    for (const Service& service : services) {
      if (service.probes.empty() || environment.urls.count(service.name)) continue;
      Fail(field.mark, field.path + ": no URL for service '" + service.name + "', which has probes",
           "add " + service.name + ": http://... to this map, or use one template with {service}");
    }
    for (const auto& [base, probe] : bases) {
      if (environment.urls.count(base)) continue;
      Fail(field.mark, field.path + ": no URL for '" + base + "', the base of probe " + probe,
           "add " + base + ": https://... to this map, or use one template with {service}");
    }
  }

  ApprovalGate ReadApproval(const Field& field) const {
    const MapView map =
        Map(field, kApprovalKeys, "a map { required, approvers, allowSelfApproval, count }");
    ApprovalGate gate;
    if (auto required = map.Get("required")) gate.required = Bool(*required);
    if (auto approvers = map.Get("approvers")) {
      for (const Field& item : List(*approvers, "a list of approver names")) {
        const std::string approver = Text(item);
        if (std::find(gate.approvers.begin(), gate.approvers.end(), approver) !=
            gate.approvers.end()) {
          Fail(item.mark, item.path + ": approver '" + approver + "' is listed twice",
               "list each approver once");
        }
        gate.approvers.push_back(approver);
      }
    }
    if (auto self = map.Get("allowSelfApproval")) gate.allow_self_approval = Bool(*self);
    if (auto count = map.Get("count")) {
      gate.count = static_cast<int>(Integer(*count, 1, 100, "at least one approval is needed"));
      if (!gate.approvers.empty() && gate.count > static_cast<int>(gate.approvers.size())) {
        Fail(count->mark,
             count->path + ": " + std::to_string(gate.count) + " approvals needed but only " +
                 std::to_string(gate.approvers.size()) + " approvers are listed",
             "lower count to at most " + std::to_string(gate.approvers.size()) +
                 " or list more approvers");
      }
    }
    return gate;
  }

  // --- validation policy and hooks -----------------------------------------------------------

  ValidationPolicy ReadValidate(const Field& field) const {
    const MapView map = Map(field, kValidateKeys, "a map { initialDelay, interval, soak, ... }");
    ValidationPolicy policy;
    if (auto f = map.Get("initialDelay"))
      policy.initial_delay = Duration(*f, ZeroDuration::kAllowed);
    if (auto f = map.Get("interval")) policy.interval = Duration(*f, ZeroDuration::kRejected);
    if (auto f = map.Get("soak")) policy.soak = Duration(*f, ZeroDuration::kAllowed);
    if (auto f = map.Get("successes")) {
      policy.successes = static_cast<int>(
          Integer(*f, 1, 1000, "successes counts consecutive passing rounds: at least 1"));
    }
    if (auto f = map.Get("failureLimit")) {
      policy.failure_limit =
          static_cast<int>(Integer(*f, 0, 1000, "a limit cannot be negative: use 0 for none"));
    }
    if (auto f = map.Get("errorLimit")) {
      policy.error_limit =
          static_cast<int>(Integer(*f, 0, 1000, "a limit cannot be negative: use 0 for none"));
    }
    if (auto f = map.Get("rolloutTimeout")) {
      policy.rollout_timeout = Duration(*f, ZeroDuration::kRejected);
    }
    return policy;
  }

  /// The rollback policy; without a `rollback:` block (or a key of it) the defaults, the soak
  /// being three validation intervals.
  RollbackPolicy ReadRollback(const std::optional<Field>& field,
                              const ValidationPolicy& validate) const {
    RollbackPolicy policy;
    policy.soak = 3 * validate.interval;
    if (!field) return policy;
    const MapView map = Map(*field, kRollbackKeys, "a map { soak, successes, timeout }");
    if (auto f = map.Get("soak")) policy.soak = Duration(*f, ZeroDuration::kAllowed);
    if (auto f = map.Get("successes")) {
      policy.successes = static_cast<int>(Integer(
          *f, 1, 1000, "successes counts consecutive passing rounds after the soak: at least 1"));
    }
    if (auto f = map.Get("timeout")) policy.timeout = Duration(*f, ZeroDuration::kRejected);
    return policy;
  }

  // A listed hook that cannot run would stop (a gate) or be skipped at run time: say it now.
  void CheckHook(const Field& field, const std::string& hook) const {
    const fs::path written(hook);
    const fs::path path =
        (written.is_absolute() ? written : plan_folder_ / written).lexically_normal();
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    std::string why;
    if (!fs::exists(status)) {
      why = "not found: looked for " + path.string();
    } else if (!fs::is_regular_file(status)) {
      why = "is not a file: " + path.string();
    } else if (::access(path.c_str(), X_OK) != 0) {
      why = "is not executable: " + path.string();
    }
    if (why.empty()) return;
    Fail(field.mark, field.path + ": hook '" + hook + "' " + why,
         "create it there and chmod +x it, or give a path relative to the plan's folder " +
             plan_folder_.string());
  }

  std::map<std::string, std::vector<std::string>> ReadHooks(const Field& field) const {
    const MapView map = Map(field, kHookKeys, "a map of phase boundary to hook list");
    std::map<std::string, std::vector<std::string>> hooks;
    for (const Entry& entry : map.entries()) {
      std::vector<std::string>& list = hooks[entry.key];
      const std::vector<Field> items = List(entry.value, "a list of hook executables");
      for (const Field& item : items) list.push_back(ArgText(item, "hook"));
      for (std::size_t i = 0; i < items.size(); ++i) CheckHook(items[i], list[i]);
    }
    return hooks;
  }

  std::string source_;
  fs::path plan_folder_;  ///< absolute; relative chart paths are resolved against it
  /// The file problems are raised in: the plan, or while it is read, a template it brings in.
  mutable std::string reading_;
  /// Each file the plan brought in, with the ContentHash of what was read.
  mutable std::vector<std::pair<std::string, std::string>> included_;
};

/// Notes where each YAML document starts, and nothing else: enough to see the parser advance.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> last;
  bool stuck = false;  ///< a document began where the one before it did
  YAML::Mark at;

  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck = last && last->pos == mark.pos;
    at = mark;
    last = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

/// Where yaml-cpp 0.7's parser stops advancing, if it does. On a token no rule takes (a
/// leading ',') it hands out empty documents at one position for ever, and YAML::LoadAll
/// keeps them all until memory runs out; a document that starts where the last one did is
/// that loop. Each real document consumes text, so this walk ends.
std::optional<YAML::Mark> ParserStuckAt(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  while (parser.HandleNextDocument(starts)) {
    if (starts.stuck) return starts.at;
  }
  return std::nullopt;
}

}  // namespace

Result<Plan> ParsePlan(const std::string& text, const std::string& source_name) {
  // A binary file would read as thousands of YAML documents: say what it is instead.
  if (const auto nul = text.find('\0'); nul != std::string::npos) {
    return Error{ErrorKind::kInvalidPlan,
                 "not a text file: byte " + std::to_string(nul) + " is NUL", source_name,
                 "give a YAML or JSON plan (plans/NAME.yaml); is this the right path?"};
  }
  constexpr std::size_t kLargestPlan = 4 * 1024 * 1024;
  if (text.size() > kLargestPlan) {
    return Error{ErrorKind::kInvalidPlan,
                 "the plan is " + std::to_string(text.size()) + " bytes; the largest read is " +
                     std::to_string(kLargestPlan),
                 source_name, "is this the right file? a plan of 200 services is under 100 KB"};
  }
  SchemaReader reader(source_name);
  try {
    const std::vector<YAML::Node> documents = reader.LoadDocuments(text);
    if (documents.size() > 1) {
      reader.Fail(documents[1].Mark(),
                  "the file holds " + std::to_string(documents.size()) +
                      " YAML documents; a plan is exactly one",
                  "remove the '---' separators and keep one plan per file");
    }
    return reader.ReadPlan(documents.empty() ? YAML::Node() : documents.front());
  } catch (const PlanFailure& failure) {
    return failure.error;
  } catch (const YAML::Exception& e) {
    // Not expected: the walker only reads scalars as text. Report it rather than crash.
    return Error{ErrorKind::kInvalidPlan, "unreadable plan: " + e.msg,
                 source_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1),
                 "simplify the YAML near this position"};
  }
}

Result<Plan> LoadPlan(const std::filesystem::path& file) {
  const std::string source = file.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return Error{
        ErrorKind::kInvalidPlan,
        std::filesystem::exists(file, ec) ? "the plan is not a regular file" : "no such plan file",
        source, "check the path; plans live in plans/NAME.yaml or plans/NAME.json"};
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return Error{ErrorKind::kInvalidPlan, "cannot read the plan file", source,
                 "check the file's permissions"};
  }
  auto plan = ParsePlan(text.str(), source);
  if (plan) {
    // The files it brings in are part of it: a changed template is a changed plan.
    std::string identity = text.str();
    for (const auto& [file, hash] : plan->included_files) identity += "\n" + file + "\n" + hash;
    plan->content_hash = ContentHash(identity);
  }
  return plan;
}

}  // namespace promote::plan
