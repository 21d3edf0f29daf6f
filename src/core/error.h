// Errors as values: every layer returns Result<T> and adds context on the way up; only main
// turns an ErrorKind into an exit code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace promote {

/// The class of a failure; main maps each kind to one documented exit code.
enum class ErrorKind {
  kUsage,        ///< the command line is wrong (exit 2)
  kInvalidPlan,  ///< the plan file is unreadable or breaks the schema (exit 2)
  kLocked,       ///< another run holds the target environment's lock (exit 4)
  /// A run stopped before its end with nothing lost: its journal or state could not be
  /// written, or its lock was lost. It is resumable (exit 10).
  kInterrupted,
  kExternal,  ///< a process, cluster, repository or network call failed
  kInternal,  ///< a bug in promote itself
};

/// A failure with what went wrong, where (file:line:col, component) and how to fix it.
struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string what;
  std::string where;
  std::string fix;
  /// The failure may pass by itself (a 5xx, a dropped connection, a timeout): repeating the
  /// call is worth it. Set by the adapter that saw it; a rollback keeps trying while it holds.
  bool transient = false;

  /// One readable block: "where: what" then "  fix: …" when a fix is known.
  std::string Format() const {
    std::string out = where.empty() ? what : where + ": " + what;
    if (!fix.empty()) out += "\n  fix: " + fix;
    return out;
  }

  /// Prefixes what was being done when the error came up ("loading plan: …").
  Error WithContext(const std::string& doing) && {
    what = doing + ": " + what;
    return std::move(*this);
  }
};

/// Either a value or an Error; the small subset of std::expected (C++23) that promote needs.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<Error>(state_); }
  Error&& error() && { return std::get<Error>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

/// The value of an operation that returns nothing but may fail.
struct Done {};
using Status = Result<Done>;

}  // namespace promote
