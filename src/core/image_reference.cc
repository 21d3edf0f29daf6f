// Implementation details: a hand-written scanner rather than std::regex (slow to build and to
// run); each rule below is named after the grammar's production it checks.
#include "core/image_reference.h"

#include <cctype>

namespace promote {
namespace {

constexpr std::size_t kMaxNameLength = 255;  // the grammar's limit on domain/path
constexpr std::size_t kMaxTagLength = 128;

bool LowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool Alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool Hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool PathComponent(std::string_view s) {
  if (s.empty() || !LowerAlnum(s.front()) || !LowerAlnum(s.back())) return false;
  for (std::size_t i = 0; i < s.size();) {
    if (LowerAlnum(s[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && !LowerAlnum(s[j])) ++j;
    const std::string_view sep = s.substr(i, j - i);
    const bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool DomainComponent(std::string_view s) {
  if (s.empty() || !Alnum(s.front()) || !Alnum(s.back())) return false;
  for (char c : s) {
    if (!Alnum(c) && c != '-') return false;
  }
  return true;
}

// domain := host [":" port]; host := domain-component ("." domain-component)* | "[" IPv6 "]"
bool Domain(std::string_view s) {
  std::string_view host = s;
  if (const auto colon = s.rfind(':'); colon != std::string_view::npos && s.back() != ']') {
    const std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
    host = s.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view inner = host.substr(1, host.size() - 2);
    return inner.find_first_not_of("0123456789abcdefABCDEF:.") == std::string_view::npos;
  }
  for (std::size_t start = 0;;) {
    const auto dot = host.find('.', start);
    if (!DomainComponent(host.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// tag := [\w][\w.-]{0,127}
bool Tag(std::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength) return false;
  auto word = [](char c) { return Alnum(c) || c == '_'; };
  if (!word(s.front())) return false;
  for (char c : s) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// digest := algorithm ":" encoded; sha256 and sha512 have their exact lowercase lengths.
std::string DigestProblem(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return "has no ':' between algorithm and hex";
  const std::string_view algorithm = s.substr(0, colon);
  const std::string_view encoded = s.substr(colon + 1);
  if (algorithm.empty() || !std::isalpha(static_cast<unsigned char>(algorithm.front()))) {
    return "has no algorithm";
  }
  for (char c : algorithm) {
    if (!Alnum(c) && c != '+' && c != '.' && c != '_' && c != '-') return "has a bad algorithm";
  }
  for (char c : encoded) {
    if (!Hex(c)) return "is not hexadecimal";
  }
  const std::size_t want = algorithm == "sha256" ? 64 : algorithm == "sha512" ? 128 : 0;
  if (want && encoded.size() != want) {
    return "has " + std::to_string(encoded.size()) + " hex digits where " + std::string(algorithm) +
           " has " + std::to_string(want);
  }
  if (want) {
    for (char c : encoded) {
      if (std::isupper(static_cast<unsigned char>(c))) return "must be lowercase";
    }
  }
  if (encoded.size() < 32) return "is shorter than 32 hex digits";
  return "";
}

Error Bad(std::string_view text, const std::string& why) {
  std::string shown(text.substr(0, 300));
  if (text.size() > 300) shown += "…";
  return Error{ErrorKind::kInvalidPlan, "'" + shown + "' is not an image reference: " + why, "",
               "write REGISTRY/PATH[:TAG][@sha256:HEX], e.g. ghcr.io/acme/api:1.4.2 (the path is "
               "lowercase letters, digits and . _ - separators)"};
}

// Whether `text` matches `pattern`, where '*' matches any run of characters but '/'.
bool Glob(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern.front() == '*') {
    for (std::size_t i = 0;; ++i) {
      if (Glob(pattern.substr(1), text.substr(i))) return true;
      if (i == text.size() || text[i] == '/') return false;
    }
  }
  return !text.empty() && pattern.front() == text.front() &&
         Glob(pattern.substr(1), text.substr(1));
}

// "docker.io" and "library/" as a runtime adds them to a reference that names no domain.
std::string Normalize(std::string_view domain, std::string_view path) {
  if (domain.empty() || domain == "index.docker.io") domain = "docker.io";
  std::string out(domain);
  out += '/';
  if (domain == "docker.io" && path.find('/') == std::string_view::npos) out += "library/";
  out += path;
  return out;
}

// A domain is the first component when it looks like one (Docker's own rule).
bool LooksLikeDomain(std::string_view first) {
  if (first == "localhost") return true;
  for (char c : first) {
    if (c == '.' || c == ':' || std::isupper(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

}  // namespace

std::string ImageReference::Repository() const {
  return domain.empty() ? path : domain + "/" + path;
}

std::string ImageReference::NormalizedRepository() const {
  return Normalize(domain, path);
}

Result<ImageReference> ParseImageReference(std::string_view text) {
  if (text.empty()) return Bad(text, "it is empty");
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      return Bad(text, "it contains whitespace or a control character");
    }
  }
  ImageReference ref;
  std::string_view name = text;
  if (const auto at = text.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(text.substr(at + 1));
    name = text.substr(0, at);
    if (const std::string problem = DigestProblem(ref.digest); !problem.empty()) {
      return Bad(text, "its digest " + problem);
    }
  }
  const auto last_slash = name.rfind('/');
  if (const auto colon = name.rfind(':');
      colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!Tag(ref.tag)) {
      return Bad(text, "its tag '" + ref.tag +
                           "' is not 1 to 128 of letters, digits, _ . - (starting with a "
                           "letter, digit or _)");
    }
  }
  if (name.empty()) return Bad(text, "it names no repository");
  if (name.size() > kMaxNameLength) return Bad(text, "its name is longer than 255 characters");
  std::string_view path = name;
  if (const auto slash = name.find('/');
      slash != std::string_view::npos && LooksLikeDomain(name.substr(0, slash))) {
    ref.domain = std::string(name.substr(0, slash));
    path = name.substr(slash + 1);
    if (!Domain(ref.domain))
      return Bad(text, "its registry '" + ref.domain + "' is not a host[:port]");
  }
  for (std::size_t start = 0;;) {
    const auto slash = path.find('/', start);
    const std::string_view component = path.substr(start, slash - start);
    if (!PathComponent(component)) {
      return Bad(text, "its path component '" + std::string(component) +
                           "' is not lowercase letters and digits joined by . _ __ or -");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  ref.path = std::string(path);
  return ref;
}

bool RepositoryAllowed(const ImageReference& image, const std::vector<std::string>& allowed) {
  const std::string repository = image.NormalizedRepository();
  for (const std::string& entry : allowed) {
    // A pattern is normalized as a repository would be; '*' cannot stand for the domain rule.
    auto parsed = ParseImageReference(entry);
    const std::string pattern =
        parsed ? parsed->NormalizedRepository()
               : (LooksLikeDomain(entry.substr(0, entry.find('/'))) ? entry : Normalize("", entry));
    if (Glob(pattern, repository)) return true;
  }
  return false;
}

std::string ShortDigest(const std::string& digest) {
  const auto colon = digest.find(':');
  const std::size_t keep = (colon == std::string::npos ? 0 : colon + 1) + 12;
  return digest.size() > keep ? digest.substr(0, keep) : digest;
}

}  // namespace promote
