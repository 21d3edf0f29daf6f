// The reports as one self-contained HTML page each (audit.html, promotion.html) for people who
// read them outside a forge: the Markdown report rendered, its style inline, the timeline as an
// inline SVG, and nothing fetched from anywhere (no script, no font, no image).
#pragma once

#include <string>

namespace promote::report {

/// `markdown` (the subset promote's reports use: headings, paragraphs, lists, tables, code spans
/// and blocks, bold) as a whole HTML page titled `title`. A ```mermaid block is replaced by
/// `svg` when one is given (a page shows no Mermaid without a script), else kept as code.
std::string RenderHtmlPage(const std::string& title, const std::string& markdown,
                           const std::string& svg = "");

}  // namespace promote::report
