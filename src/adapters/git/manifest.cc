#include "adapters/git/manifest.h"

#include <nlohmann/json.hpp>
#include <string_view>

namespace promote::adapters::git {
namespace {

using nlohmann::json;

constexpr std::string_view kHumanPrefix = "promote release ";
constexpr std::string_view kSchemaFamily = "promote/release/";

Error ManifestError(const std::string& what) {
  return Error{ErrorKind::kExternal, "release manifest: " + what, "",
               "a promote release tag is written by promote only; never edit its message by "
               "hand (create a new release instead)"};
}

/// The JSON document of a message: from the first line that opens with '{' to the end.
std::optional<std::string_view> JsonPart(std::string_view message) {
  if (!message.empty() && message.front() == '{') return message;
  const auto at = message.find("\n{");
  if (at == std::string_view::npos) return std::nullopt;
  return message.substr(at + 1);
}

/// A required string field; the error names it by its JSON path.
Result<std::string> RequireString(const json& object, const std::string& key,
                                  const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end()) return ManifestError("missing field '" + path + key + "'");
  if (!it->is_string()) return ManifestError("field '" + path + key + "' must be a string");
  return it->get<std::string>();
}

Result<ReleasedImage> ParseService(const std::string& name, const json& value) {
  const std::string path = "services." + name + ".";
  if (!value.is_object()) {
    return ManifestError("field 'services." + name + "' must be an object");
  }
  ReleasedImage released;
  auto image = RequireString(value, "image", path);
  if (!image) return std::move(image).error();
  if (image->empty()) return ManifestError("field '" + path + "image' is empty");
  released.image = std::move(image).value();
  const auto digest = value.find("digest");
  if (digest != value.end() && !digest->is_null()) {
    if (!digest->is_string()) return ManifestError("field '" + path + "digest' must be a string");
    const auto text = digest->get<std::string>();
    if (text.find(':') == std::string::npos || text.front() == ':' || text.back() == ':') {
      return ManifestError("field '" + path + "digest' is not a digest (\"sha256:…\"): '" + text +
                           "'");
    }
    released.digest = text;
  }
  return released;
}

}  // namespace

bool SameRelease(const ReleaseManifest& a, const ReleaseManifest& b) {
  return a.plan == b.plan && a.source_env == b.source_env && a.target_env == b.target_env &&
         a.run_id == b.run_id && a.services == b.services;
}

std::string Render(const ReleaseManifest& manifest) {
  // nlohmann's default object is a std::map, so keys come out sorted at every level.
  json services = json::object();
  for (const auto& [name, released] : manifest.services) {
    services[name] = {{"image", released.image},
                      {"digest", released.digest ? json(*released.digest) : json(nullptr)}};
  }
  const json document = {
      {"schema", kManifestSchema},         {"plan", manifest.plan},
      {"source_env", manifest.source_env}, {"target_env", manifest.target_env},
      {"run_id", manifest.run_id},         {"initiator", manifest.initiator},
      {"created_at", manifest.created_at}, {"services", services},
  };
  const auto count = manifest.services.size();
  std::string out(kHumanPrefix);
  out += manifest.plan + " " + manifest.source_env + "→" + manifest.target_env + " (" +
         std::to_string(count) + (count == 1 ? " service)" : " services)");
  out += "\n\n";
  // Replace (not throw on) invalid UTF-8: a tag message must always be writable.
  out += document.dump(2, ' ', false, json::error_handler_t::replace);
  out += "\n";
  return out;
}

bool IsReleaseMessage(const std::string& message) {
  return message.starts_with(kHumanPrefix) ||
         message.find("\"" + std::string(kSchemaFamily)) != std::string::npos;
}

Result<ReleaseManifest> ParseManifest(const std::string& message) {
  if (!IsReleaseMessage(message)) {
    return ManifestError("not a promote release (no '" + std::string(kManifestSchema) +
                         "' manifest in the tag message)");
  }
  const auto text = JsonPart(message);
  if (!text) return ManifestError("the tag message has no JSON document after its first line");
  json document;
  try {
    document = json::parse(text->begin(), text->end());
  } catch (const json::exception& e) {
    return ManifestError(std::string("unreadable JSON: ") + e.what());
  }
  if (!document.is_object()) return ManifestError("the JSON document is not an object");

  auto schema = RequireString(document, "schema", "");
  if (!schema) return std::move(schema).error();
  if (*schema != kManifestSchema) {
    return ManifestError("unsupported schema '" + *schema + "' (this promote reads '" +
                         kManifestSchema + "')");
  }

  ReleaseManifest manifest;
  const std::pair<const char*, std::string*> fields[] = {
      {"plan", &manifest.plan},
      {"source_env", &manifest.source_env},
      {"target_env", &manifest.target_env},
      {"run_id", &manifest.run_id},
      {"initiator", &manifest.initiator},
      {"created_at", &manifest.created_at},
  };
  for (const auto& [key, target] : fields) {
    auto value = RequireString(document, key, "");
    if (!value) return std::move(value).error();
    *target = std::move(value).value();
  }

  const auto services = document.find("services");
  if (services == document.end()) return ManifestError("missing field 'services'");
  if (!services->is_object()) return ManifestError("field 'services' must be an object");
  for (const auto& [name, value] : services->items()) {
    auto released = ParseService(name, value);
    if (!released) return std::move(released).error();
    manifest.services.emplace(name, std::move(released).value());
  }
  return manifest;
}

std::string PinnedImage(const ReleasedImage& released) {
  if (!released.digest) return released.image;
  const auto at = released.image.find('@');
  return released.image.substr(0, at) + "@" + *released.digest;
}

}  // namespace promote::adapters::git
