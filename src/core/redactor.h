// Secret redaction: every string that leaves promote (log line, report, journal entry, printed
// command) passes through a Redactor first, so a credential never ends up on disk or a terminal.
//
// Two layers:
//  - registered secrets: exact values promote knows (tokens read from the environment, passwords
//    from a plan), replaced by `<redacted:NAME>` so a reader still sees *which* secret was there;
//  - patterns that need no registration, replaced by `***`: the value of a flag whose name ends in
//    password/passwd/token/secret/apikey (`--token=X`, `--token X`, `--client-secret X`,
//    `--docker-password X`), `Authorization: Bearer X` / `Basic X`, the userinfo of a URL
//    (`https://user:pass@host` → `https://user:***@host`), `key=value` and `"key": "value"` where
//    the key ends in one of those words, case-insensitively (`--set db.password=X`,
//    `API_KEY=X`, `"client_secret":"X"`).
//
// A third layer is learned while promote runs: values of a container's plain `env` entries
// whose names look secret (`DB_PASSWORD`, `STRIPE_KEY`), which the audit reads in the workload
// specs and registers with Learn, so that a service's error page echoing one is redacted too. In
// raw object JSON such an entry (`{"name": "DB_PASSWORD", "value": "X"}`) is masked by pattern
// as well, before it is learned.
//
// Thread safety: configure the Redactor (AddSecret, FromEnvironment) before any thread uses it,
// then share it as `std::shared_ptr<const Redactor>`. Redact/RedactArgv may be called from any
// number of threads, and so may Learn, the one const member that adds (behind a lock): what a
// run learns about secrets only ever hides more. Copies of a Redactor share what they learn.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace promote {

/// Replaces known secret values and credential-looking patterns before text leaves promote.
class Redactor {
 public:
  /// Values shorter than this are not registered: replacing "abc" everywhere would shred ordinary
  /// text while protecting nothing (such a value is not a credential worth the name).
  static constexpr std::size_t kMinSecretLength = 4;

  /// Whether AddSecret registered the value.
  enum class Added { kYes, kTooShort };

  Redactor();

  /// Registers `value` to be replaced by `<redacted:NAME>` wherever it appears. Values shorter
  /// than kMinSecretLength are ignored (kTooShort). Not thread-safe: call during setup only.
  Added AddSecret(std::string name, std::string value);

  /// A Redactor knowing the values of the named environment variables (unset or short ones are
  /// skipped); each is reported as `<redacted:VARIABLE>`.
  static Redactor FromEnvironment(const std::vector<std::string>& variable_names);

  /// `text` with every registered secret and every credential pattern replaced. Idempotent:
  /// Redact(Redact(x)) == Redact(x).
  std::string Redact(std::string_view text) const;

  /// Redact, in place: a large text (a whole report) is copied only where something is replaced.
  void RedactInPlace(std::string& text) const;

  /// Each element redacted, and also the element following a bare sensitive flag (`--token`,
  /// `--password`, …), which is the flag's value in an argv.
  std::vector<std::string> RedactArgv(const std::vector<std::string>& argv) const;

  /// Registers `value` as AddSecret does, from any thread, while the Redactor is in use. Short
  /// values are ignored, as by AddSecret.
  Added Learn(std::string name, std::string value) const;

  /// Whether an environment variable's name says its value is a credential: it contains
  /// PASSWORD, PASSWD, TOKEN, SECRET or KEY, in any case (`DB_PASSWORD`, `stripeApiKey`).
  static bool SecretLookingName(std::string_view name);

  /// How many secret values are registered (for diagnostics and tests), learned ones included.
  std::size_t secret_count() const;

 private:
  /// One registered value and the name shown in its place.
  struct Secret {
    std::string name;
    std::string value;
  };

  /// Values learned while running (Learn), behind their own lock.
  struct Learned;

  void RedactRegistered(std::string& text) const;

  std::vector<Secret> secrets_;  ///< longest value first, so overlapping secrets redact fully
  std::shared_ptr<Learned> learned_;
};

}  // namespace promote
