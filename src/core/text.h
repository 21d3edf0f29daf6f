// Small text helpers shared by every layer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace promote {

/// `items` with `separator` between each two: Join({"a", "b"}, ", ") is "a, b".
std::string Join(const std::vector<std::string>& items, std::string_view separator);

/// `text` in ASCII lower case (header names, keys, what a person may write in any case).
std::string Lower(std::string_view text);

/// `text` without the spaces, tabs, CR and LF around it (a header line's value).
std::string Trim(std::string_view text);

}  // namespace promote
