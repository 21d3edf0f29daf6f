// Reading fields of the JSON that kubectl, helm and the API server answer, without trusting its
// shape: nlohmann's value() throws when the parent is not an object or the member has another
// type, and get<int>() on a number out of range is undefined. Here a member of the wrong shape
// reads as a missing one, as Kubernetes' own clients treat a field they cannot decode.
#pragma once

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace promote::adapters::kube {

/// `parent[key]` when `parent` is an object and that member is an object, else an empty object.
inline const nlohmann::json& ObjectAt(const nlohmann::json& parent, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (!parent.is_object()) return empty;
  const auto it = parent.find(key);
  return it != parent.end() && it->is_object() ? *it : empty;
}

/// `parent[key]` when `parent` is an object and that member is an array, else an empty array.
inline const nlohmann::json& ArrayAt(const nlohmann::json& parent, const char* key) {
  static const nlohmann::json empty = nlohmann::json::array();
  if (!parent.is_object()) return empty;
  const auto it = parent.find(key);
  return it != parent.end() && it->is_array() ? *it : empty;
}

/// The integer `value` holds when it is one and fits in T (a float, a string or a number out
/// of T's range is none).
template <typename T>
std::optional<T> IntegerIn(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
    return static_cast<T>(number);
  }
  if (!value.is_number_integer()) return std::nullopt;
  const auto number = value.get<std::int64_t>();
  if (number < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
      number > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
    return std::nullopt;
  }
  return static_cast<T>(number);
}

/// The integer a whole decimal string spells when it fits in int ("3"; not "3x", "", "9e9").
inline std::optional<int> IntegerText(const std::string& text) {
  int number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return number;
}

}  // namespace promote::adapters::kube
