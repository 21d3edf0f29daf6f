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

/// `text` safe in XML and HTML text and attribute values: the five markup characters escaped,
/// and the control characters XML 1.0 cannot carry dropped (a service's answer may hold any).
std::string EscapeMarkup(std::string_view text);

/// `text` without the spaces, tabs, CR and LF around it (a header line's value).
std::string Trim(std::string_view text);

/// `text` on one line: every run of spaces, tabs, CR and LF one space, none around it (a PromQL
/// query written over several lines, as a report quotes it).
std::string CollapseSpaces(std::string_view text);

/// "1 round", "3 rounds": a count with its noun, in the plural unless the count is 1 (the nouns
/// of the reports all take an "s").
std::string Plural(long long count, std::string_view word);

/// A measured or configured number as a report writes it: up to 4 significant digits ("0.9",
/// "0.9512", "1250").
std::string NumberText(double value);

}  // namespace promote
