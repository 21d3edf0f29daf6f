// Markdown pieces every report shares: table cells, code spans, short image names.
#pragma once

#include <optional>
#include <string>

namespace promote::report::markdown {

/// What an empty cell shows.
inline constexpr char kNone[] = "—";

/// Text safe inside a table cell: `|` escaped, line breaks and tabs flattened to spaces.
std::string Cell(const std::string& text);

/// An inline code span (a cell-safe one) that a backtick inside cannot close early; kNone when
/// empty.
std::string Code(const std::string& text);

/// The tag of an image as code, and its digest shortened on a second line when given.
std::string ShortImage(const std::string& image,
                       const std::optional<std::string>& digest = std::nullopt);

}  // namespace promote::report::markdown
