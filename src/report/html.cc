// Implementation details: a line-based reader of exactly what report/markdown.h writes. Text is
// HTML-escaped first, then code spans, bold and the <br> that table cells use are turned back
// into markup, so nothing a service answered (a body excerpt) can become markup.
#include "report/html.h"

#include <cctype>
#include <sstream>
#include <vector>

#include "core/text.h"

namespace promote::report {
namespace {

/// Replaces every `from` in `text` with `to`.
void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

/// Inline markup of one line: `code` (and `` code `` around a backtick), **bold**, <br>.
std::string Inline(const std::string& line) {
  std::string out;
  std::size_t at = 0;
  while (at < line.size()) {
    if (line[at] == '`') {
      const bool doubled = line.compare(at, 3, "`` ") == 0;
      const std::string close = doubled ? " ``" : "`";
      const std::size_t from = at + (doubled ? 3 : 1);
      const std::size_t end = line.find(close, from);
      if (end != std::string::npos) {
        out += "<code>" + EscapeMarkup(line.substr(from, end - from)) + "</code>";
        at = end + close.size();
        continue;
      }
    }
    if (line.compare(at, 2, "**") == 0) {
      const std::size_t end = line.find("**", at + 2);
      if (end != std::string::npos) {
        out += "<strong>" + Inline(line.substr(at + 2, end - at - 2)) + "</strong>";
        at = end + 2;
        continue;
      }
    }
    const std::size_t next = line.find_first_of("`*", at + 1);
    std::string text = EscapeMarkup(line.substr(at, next == std::string::npos ? next : next - at));
    ReplaceAll(text, "&lt;br&gt;", "<br>");
    ReplaceAll(text, "\\|", "|");
    out += text;
    at = next == std::string::npos ? line.size() : next;
  }
  return out;
}

/// The cells of a table row "| a | b \| c |", split on the unescaped bars.
std::vector<std::string> Cells(const std::string& row) {
  std::vector<std::string> cells;
  std::string cell;
  bool in_code = false;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '`') in_code = !in_code;
    if (row[i] == '|' && row[i - 1] != '\\' && !in_code) {
      cells.push_back(cell);
      cell.clear();
      continue;
    }
    cell += row[i];
  }
  for (auto& c : cells) {
    const auto first = c.find_first_not_of(' ');
    const auto last = c.find_last_not_of(' ');
    c = first == std::string::npos ? "" : c.substr(first, last - first + 1);
  }
  return cells;
}

bool IsSeparator(const std::string& row) {
  return row.find_first_not_of("|-: ") == std::string::npos;
}

bool IsOrdered(const std::string& line) {
  std::size_t digits = 0;
  while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) ++digits;
  return digits > 0 && line.compare(digits, 2, ". ") == 0;
}

constexpr char kStyle[] =
    "body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;"
    "color:#1f2328;line-height:1.45}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}code{background:#f6f8fa;padding:.1em .3em;border-radius:4px;"
    "font-size:90%}pre{background:#f6f8fa;padding:.8em;overflow:auto}pre code{padding:0}"
    "h1,h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em}";

}  // namespace

std::string RenderHtmlPage(const std::string& title, const std::string& markdown,
                           const std::string& svg) {
  std::vector<std::string> lines;
  std::istringstream in(markdown);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::ostringstream body;
  std::string paragraph;
  const auto flush = [&] {
    if (!paragraph.empty()) body << "<p>" << paragraph << "</p>\n";
    paragraph.clear();
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("```", 0) == 0) {
      flush();
      const std::string info = line.substr(3);
      std::string code;
      for (++i; i < lines.size() && lines[i].rfind("```", 0) != 0; ++i) code += lines[i] + "\n";
      if (info == "mermaid" && !svg.empty()) {
        body << "<figure>" << svg << "</figure>\n";
      } else {
        body << "<pre><code>" << EscapeMarkup(code) << "</code></pre>\n";
      }
      continue;
    }
    if (line.rfind("|", 0) == 0) {
      flush();
      body << "<table>\n";
      bool header = true;
      for (; i < lines.size() && lines[i].rfind("|", 0) == 0; ++i) {
        if (IsSeparator(lines[i])) continue;
        body << "<tr>";
        for (const auto& cell : Cells(lines[i])) {
          body << (header ? "<th>" : "<td>") << Inline(cell) << (header ? "</th>" : "</td>");
        }
        body << "</tr>\n";
        header = false;
      }
      --i;
      body << "</table>\n";
      continue;
    }
    if (line.rfind("- ", 0) == 0 || IsOrdered(line)) {
      flush();
      const bool ordered = IsOrdered(line);
      body << (ordered ? "<ol>\n" : "<ul>\n");
      for (; i < lines.size() && (ordered ? IsOrdered(lines[i]) : lines[i].rfind("- ", 0) == 0);
           ++i) {
        const std::size_t text = lines[i].find(' ') + 1;
        body << "<li>" << Inline(lines[i].substr(text)) << "</li>\n";
      }
      --i;
      body << (ordered ? "</ol>\n" : "</ul>\n");
      continue;
    }
    if (line.rfind("#", 0) == 0) {
      flush();
      const std::size_t level = line.find_first_not_of('#');
      if (level != std::string::npos && level <= 6 && line[level] == ' ') {
        body << "<h" << level << ">" << Inline(line.substr(level + 1)) << "</h" << level << ">\n";
        continue;
      }
    }
    if (line.empty()) {
      flush();
      continue;
    }
    paragraph += (paragraph.empty() ? "" : "<br>\n") + Inline(line);
  }
  flush();
  std::ostringstream page;
  page << "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
       << EscapeMarkup(title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
       << body.str() << "</body>\n</html>\n";
  return page.str();
}

}  // namespace promote::report
