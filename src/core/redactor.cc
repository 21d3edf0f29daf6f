// Implementation details: registered values are replaced first (exact matches, longest first,
// overlapping matches merged). The patterns are then found by small hand-written scanners, not
// std::regex: libstdc++'s regex recurses per character and can overflow the stack on a long
// process output, and it is slow. Every scanner only reports spans [begin, end) of the text to
// hide; the spans are merged and each merged span becomes `***` in one final rebuild, so two
// patterns matching the same credential cannot leave a piece of it behind.
#include "core/redactor.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <utility>

namespace promote {
namespace {

constexpr std::string_view kMask = "***";
constexpr std::string_view kMarkerOpen = "<redacted:";

/// A half-open range of the text to hide.
struct Span {
  std::size_t begin;
  std::size_t end;
};

char Lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool IsAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool IsKeyChar(char c) {
  return IsAlnum(c) || c == '_' || c == '-' || c == '.';
}
bool IsFlagChar(char c) {
  return IsAlnum(c) || c == '_' || c == '-';
}
bool IsQuote(char c) {
  return c == '"' || c == '\'';
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

/// True for keys and flag names that name a credential: lower-cased, with `-` and `_` dropped,
/// they end in one of a few words (`--client-secret`, `db.password`, `API_KEY`, `accessToken`).
/// `--token-file` or `--password-stdin` end in another word and are left alone.
bool IsSensitiveKey(std::string_view key) {
  std::string normal;
  normal.reserve(key.size());
  for (char c : key) {
    if (c != '-' && c != '_') normal.push_back(Lower(c));
  }
  static constexpr std::array<std::string_view, 6> kSuffixes = {"password", "passwd", "passphrase",
                                                                "token",    "secret", "apikey"};
  return std::any_of(kSuffixes.begin(), kSuffixes.end(), [&](std::string_view suffix) {
    return normal.size() >= suffix.size() &&
           std::string_view(normal).substr(normal.size() - suffix.size()) == suffix;
  });
}

/// A value already hidden by this Redactor stays as it is (keeps Redact idempotent and keeps the
/// name of a registered secret visible).
bool AlreadyRedacted(std::string_view value) {
  return StartsWith(value, kMask) || StartsWith(value, kMarkerOpen);
}

/// End of an unquoted value starting at `pos`: whitespace, a quote or an escaped quote (`\"`
/// inside JSON text), or one of `extra_stops`.
std::size_t ValueEnd(std::string_view text, std::size_t pos, std::string_view extra_stops) {
  while (pos < text.size()) {
    char c = text[pos];
    if (IsSpace(c) || IsQuote(c) || extra_stops.find(c) != std::string_view::npos) break;
    if (c == '\\' && pos + 1 < text.size() && text[pos + 1] == '"') break;
    ++pos;
  }
  return pos;
}

/// The value starting at `pos`: inside its quotes when quoted (`'p w'` → `p w`), else up to
/// ValueEnd.
Span ValueAt(std::string_view text, std::size_t pos, std::string_view extra_stops) {
  if (pos < text.size() && IsQuote(text[pos])) {
    std::size_t close = text.find(text[pos], pos + 1);
    return {pos + 1, close == std::string_view::npos ? text.size() : close};
  }
  return {pos, ValueEnd(text, pos, extra_stops)};
}

void AddSpan(std::string_view text, std::size_t begin, std::size_t end, std::vector<Span>& spans) {
  if (end <= begin || AlreadyRedacted(text.substr(begin, end - begin))) return;
  spans.push_back({begin, end});
}

/// `scheme://user:pass@host` → the password; `http(s)://token@host` → the whole userinfo.
/// A user name alone is a secret only over http(s) (`ssh://git@host` names a user, nothing more).
void FindUrlUserinfo(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t sep = text.find("://"); sep != std::string_view::npos;
       sep = text.find("://", sep + 3)) {
    std::size_t scheme_begin = sep;
    while (scheme_begin > 0 && (IsAlnum(text[scheme_begin - 1]) || text[scheme_begin - 1] == '+' ||
                                text[scheme_begin - 1] == '.' || text[scheme_begin - 1] == '-')) {
      --scheme_begin;
    }
    if (scheme_begin == sep) continue;
    std::string_view scheme = text.substr(scheme_begin, sep - scheme_begin);
    std::size_t begin = sep + 3;
    std::size_t end = begin;
    std::size_t at = std::string_view::npos;
    while (end < text.size()) {
      char c = text[end];
      if (c == '/' || c == '?' || c == '#' || IsSpace(c) || IsQuote(c) || c == '<' || c == '>' ||
          c == '\\') {
        break;
      }
      if (c == '@') at = end;
      ++end;
    }
    if (at == std::string_view::npos) continue;
    std::string_view userinfo = text.substr(begin, at - begin);
    std::size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      AddSpan(text, begin + colon + 1, at, spans);
    } else if (EqualsIgnoreCase(scheme, "http") || EqualsIgnoreCase(scheme, "https")) {
      AddSpan(text, begin, at, spans);
    }
  }
}

/// `Authorization: Bearer X`, `Authorization: Basic X`, `"Authorization":"Token X"`, and an
/// `Authorization: X` without a scheme: the credential.
void FindAuthorization(std::string_view text, std::vector<Span>& spans) {
  constexpr std::string_view kHeader = "authorization";
  for (std::size_t i = 0; i + kHeader.size() <= text.size(); ++i) {
    if (!EqualsIgnoreCase(text.substr(i, kHeader.size()), kHeader)) continue;
    std::size_t pos = i + kHeader.size();
    while (pos < text.size() && (IsQuote(text[pos]) || text[pos] == ' ' || text[pos] == '\\'))
      ++pos;
    if (pos >= text.size() || (text[pos] != ':' && text[pos] != '=')) continue;
    ++pos;
    while (pos < text.size() && (IsQuote(text[pos]) || text[pos] == ' ' || text[pos] == '\\'))
      ++pos;
    std::size_t word_end = ValueEnd(text, pos, ",");
    std::string_view word = text.substr(pos, word_end - pos);
    static constexpr std::array<std::string_view, 6> kSchemes = {"bearer", "basic",     "token",
                                                                 "digest", "negotiate", "apikey"};
    bool is_scheme = std::any_of(kSchemes.begin(), kSchemes.end(),
                                 [&](std::string_view s) { return EqualsIgnoreCase(word, s); });
    if (is_scheme) {
      std::size_t cred = word_end;
      while (cred < text.size() && text[cred] == ' ') ++cred;
      if (cred == word_end) continue;  // "Bearer" alone: nothing to hide
      AddSpan(text, cred, ValueEnd(text, cred, ","), spans);
    } else {
      AddSpan(text, pos, word_end, spans);
    }
    i = word_end > i ? word_end - 1 : i;
  }
}

/// `--token X` (a sensitive flag, a space, its value) inside a line of text. A following word that
/// starts with `--` is taken to be the next flag, not a value.
void FindSpacedFlagValue(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t i = text.find("--"); i != std::string_view::npos; i = text.find("--", i + 2)) {
    if (i > 0 && IsFlagChar(text[i - 1])) continue;
    std::size_t name_end = i + 2;
    while (name_end < text.size() && IsFlagChar(text[name_end])) ++name_end;
    if (name_end == i + 2 || !IsSensitiveKey(text.substr(i + 2, name_end - i - 2))) continue;
    std::size_t value = name_end;
    while (value < text.size() && (text[value] == ' ' || text[value] == '\t')) ++value;
    if (value == name_end || value >= text.size()) continue;
    if (StartsWith(text.substr(value), "--")) continue;
    Span span = ValueAt(text, value, "");
    AddSpan(text, span.begin, span.end, spans);
  }
}

/// `key=value` with a sensitive key (`--token=X`, `--set db.password=X,other=1`,
/// `?access_token=X&x=1`, `API_KEY='X'`): the value.
void FindKeyValue(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t eq = text.find('='); eq != std::string_view::npos; eq = text.find('=', eq + 1)) {
    std::size_t key_begin = eq;
    while (key_begin > 0 && IsKeyChar(text[key_begin - 1])) --key_begin;
    if (key_begin == eq || !IsSensitiveKey(text.substr(key_begin, eq - key_begin))) continue;
    Span span = ValueAt(text, eq + 1, ",&;");
    AddSpan(text, span.begin, span.end, spans);
  }
}

/// `"key": "value"` with a sensitive key (JSON output of kubectl, helm, registries): the value.
void FindJsonValue(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t colon = text.find(':'); colon != std::string_view::npos;
       colon = text.find(':', colon + 1)) {
    std::size_t key_end = colon;
    while (key_end > 0 && text[key_end - 1] == ' ') --key_end;
    if (key_end == 0 || text[key_end - 1] != '"') continue;
    std::size_t key_begin = key_end - 1;
    while (key_begin > 0 && IsKeyChar(text[key_begin - 1])) --key_begin;
    if (key_begin == 0 || text[key_begin - 1] != '"') continue;
    if (!IsSensitiveKey(text.substr(key_begin, key_end - 1 - key_begin))) continue;
    std::size_t value = colon + 1;
    while (value < text.size() && text[value] == ' ') ++value;
    if (value >= text.size() || text[value] != '"') continue;
    std::size_t end = value + 1;
    while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
    AddSpan(text, value + 1, std::min(end, text.size()), spans);
  }
}

/// `"name": "DB_PASSWORD", "value": "X"` (a container's env entry in object JSON, the key
/// order the API server keeps) with a secret-looking name: the value.
void FindEnvEntryValue(std::string_view text, std::vector<Span>& spans) {
  constexpr std::string_view kName = "\"name\"";
  constexpr std::string_view kValue = "\"value\"";
  // The quoted string starting at `pos` (after spaces and one `sep`): its inside, or npos.
  const auto quoted_after = [&](std::size_t pos, char sep) -> Span {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size() || text[pos] != sep) return {std::string_view::npos, 0};
    ++pos;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size() || text[pos] != '"') return {std::string_view::npos, 0};
    std::size_t end = pos + 1;
    while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
    return {pos + 1, std::min(end, text.size())};
  };
  for (std::size_t at = text.find(kName); at != std::string_view::npos;
       at = text.find(kName, at + kName.size())) {
    const Span name = quoted_after(at + kName.size(), ':');
    if (name.begin == std::string_view::npos ||
        !Redactor::SecretLookingName(text.substr(name.begin, name.end - name.begin))) {
      continue;
    }
    std::size_t pos = name.end + 1;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size() || text[pos] != ',') continue;
    ++pos;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (text.substr(pos, kValue.size()) != kValue) continue;
    const Span value = quoted_after(pos + kValue.size(), ':');
    if (value.begin != std::string_view::npos) AddSpan(text, value.begin, value.end, spans);
  }
}

/// Sorts and merges overlapping spans, then rebuilds the text with each span as `***`.
std::string Mask(std::string_view text, std::vector<Span> spans) {
  if (spans.empty()) return std::string(text);
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t i = 0; i < spans.size();) {
    std::size_t begin = spans[i].begin;
    std::size_t end = spans[i].end;
    for (++i; i < spans.size() && spans[i].begin < end; ++i) end = std::max(end, spans[i].end);
    out.append(text.substr(copied, begin - copied));
    out.append(kMask);
    copied = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace

struct Redactor::Learned {
  mutable std::shared_mutex mutex;
  std::vector<Secret> secrets;  ///< longest value first
};

namespace {

/// Inserts keeping the longest value first; false when `value` is already there.
template <typename Secret>
bool InsertLongestFirst(std::vector<Secret>& secrets, std::string name, std::string value) {
  for (const auto& secret : secrets) {
    if (secret.value == value) return false;
  }
  auto pos = std::find_if(secrets.begin(), secrets.end(),
                          [&](const Secret& s) { return s.value.size() < value.size(); });
  secrets.insert(pos, Secret{std::move(name), std::move(value)});
  return true;
}

}  // namespace

Redactor::Redactor() : learned_(std::make_shared<Learned>()) {}

Redactor::Added Redactor::AddSecret(std::string name, std::string value) {
  if (value.size() < kMinSecretLength) return Added::kTooShort;
  InsertLongestFirst(secrets_, std::move(name), std::move(value));
  return Added::kYes;
}

Redactor::Added Redactor::Learn(std::string name, std::string value) const {
  if (value.size() < kMinSecretLength) return Added::kTooShort;
  std::unique_lock lock(learned_->mutex);
  InsertLongestFirst(learned_->secrets, std::move(name), std::move(value));
  return Added::kYes;
}

bool Redactor::SecretLookingName(std::string_view name) {
  std::string upper;
  upper.reserve(name.size());
  for (char c : name)
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  static constexpr std::array<std::string_view, 5> kWords = {"PASSWORD", "PASSWD", "TOKEN",
                                                             "SECRET", "KEY"};
  return std::any_of(kWords.begin(), kWords.end(),
                     [&](std::string_view word) { return upper.find(word) != std::string::npos; });
}

std::size_t Redactor::secret_count() const {
  std::shared_lock lock(learned_->mutex);
  return secrets_.size() + learned_->secrets.size();
}

Redactor Redactor::FromEnvironment(const std::vector<std::string>& variable_names) {
  Redactor redactor;
  for (const std::string& name : variable_names) {
    // getenv is safe here: this runs during setup, before promote starts threads.
    if (const char* value = std::getenv(name.c_str())) redactor.AddSecret(name, value);
  }
  return redactor;
}

void Redactor::RedactRegistered(std::string& text) const {
  std::shared_lock lock(learned_->mutex);
  // The registered and the learned values, longest first (a learned value is seldom there).
  std::vector<const Secret*> all;
  all.reserve(secrets_.size() + learned_->secrets.size());
  for (const auto& secret : secrets_) all.push_back(&secret);
  if (!learned_->secrets.empty()) {
    for (const auto& secret : learned_->secrets) all.push_back(&secret);
    std::stable_sort(all.begin(), all.end(), [](const Secret* a, const Secret* b) {
      return a->value.size() > b->value.size();
    });
  }
  if (all.empty()) return;
  /// One occurrence of a registered value; `secret` indexes secrets_.
  struct Match {
    std::size_t begin;
    std::size_t end;
    std::size_t secret;
  };
  std::vector<Match> matches;
  for (std::size_t s = 0; s < all.size(); ++s) {
    const std::string& value = all[s]->value;
    for (std::size_t pos = text.find(value); pos != std::string_view::npos;
         pos = text.find(value, pos + 1)) {
      matches.push_back({pos, pos + value.size(), s});
    }
  }
  if (matches.empty()) return;
  // Earliest first; at equal starts the longer (lower index) secret names the merged span.
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.secret < b.secret;
  });
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t i = 0; i < matches.size();) {
    std::size_t begin = matches[i].begin;
    std::size_t end = matches[i].end;
    const std::string& name = all[matches[i].secret]->name;
    for (++i; i < matches.size() && matches[i].begin < end; ++i) {
      end = std::max(end, matches[i].end);
    }
    out.append(text, copied, begin - copied);
    out.append(kMarkerOpen).append(name).append(">");
    copied = end;
  }
  out.append(text, copied);
  text = std::move(out);
}

std::string Redactor::Redact(std::string_view text) const {
  std::string out(text);
  RedactInPlace(out);
  return out;
}

void Redactor::RedactInPlace(std::string& text) const {
  RedactRegistered(text);
  std::vector<Span> spans;
  FindUrlUserinfo(text, spans);
  FindAuthorization(text, spans);
  FindSpacedFlagValue(text, spans);
  FindKeyValue(text, spans);
  FindJsonValue(text, spans);
  FindEnvEntryValue(text, spans);
  if (!spans.empty()) text = Mask(text, std::move(spans));
}

std::vector<std::string> Redactor::RedactArgv(const std::vector<std::string>& argv) const {
  std::vector<std::string> out;
  out.reserve(argv.size());
  bool value_follows = false;
  for (const std::string& arg : argv) {
    std::string redacted = Redact(arg);
    // A registered secret keeps its <redacted:NAME> marker; any other flag value becomes ***.
    out.push_back(value_follows && !AlreadyRedacted(redacted) ? std::string(kMask)
                                                              : std::move(redacted));
    // A bare `--token` (no `=`) takes the next element as its value.
    value_follows = StartsWith(arg, "--") && arg.size() > 2 &&
                    std::all_of(arg.begin() + 2, arg.end(), IsFlagChar) &&
                    IsSensitiveKey(std::string_view(arg).substr(2));
  }
  return out;
}

}  // namespace promote
