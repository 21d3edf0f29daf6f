// Implementation details: steps are grouped by section in the order sections first appear and
// sorted by start within one, so a validation's rounds (which the engine lists last) sit in
// their wave. Names lose the characters Mermaid's gantt syntax reserves (':', '#', ';').
#include "report/timeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>

#include "core/text.h"
#include "core/time_format.h"

namespace promote::report {
namespace {

using engine::TimelineStep;
using Outcome = engine::TimelineStep::Outcome;

/// One step with its times read.
struct Bar {
  const TimelineStep* step;
  std::chrono::sys_seconds start;
  std::chrono::sys_seconds end;  ///< at least start + 1 s, but for a milestone
};

/// The sections in the order they first appear, each with its bars sorted by start.
std::vector<std::pair<std::string, std::vector<Bar>>> Sections(
    const std::vector<TimelineStep>& steps) {
  std::vector<std::pair<std::string, std::vector<Bar>>> sections;
  for (const TimelineStep& step : steps) {
    const auto start = ParseRfc3339(step.start);
    if (!start) continue;
    auto end = ParseRfc3339(step.end);
    if (step.outcome == Outcome::kMilestone) {
      end = *start;
    } else if (!end || *end < *start + std::chrono::seconds(1)) {
      end = *start + std::chrono::seconds(1);
    }
    auto section = std::find_if(sections.begin(), sections.end(),
                                [&](const auto& s) { return s.first == step.section; });
    if (section == sections.end()) {
      sections.push_back({step.section, {}});
      section = sections.end() - 1;
    }
    section->second.push_back({&step, *start, *end});
  }
  for (auto& [name, bars] : sections) {
    std::stable_sort(bars.begin(), bars.end(),
                     [](const Bar& a, const Bar& b) { return a.start < b.start; });
  }
  return sections;
}

std::string Plain(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == ':' || c == '#' || c == ';' || c == '\n') ? ' ' : c;
  return out;
}

std::string Local(std::chrono::sys_seconds at) {
  return FormatUtc(at, "%Y-%m-%d %H:%M:%S");
}

}  // namespace

std::string RenderMermaidGantt(const std::vector<TimelineStep>& steps, const std::string& title) {
  std::ostringstream out;
  out << "```mermaid\ngantt\n    title " << Plain(title) << "\n"
      << "    dateFormat YYYY-MM-DD HH:mm:ss\n    axisFormat %H:%M:%S\n";
  int id = 0;
  for (const auto& [section, bars] : Sections(steps)) {
    out << "    section " << Plain(section) << "\n";
    for (const Bar& bar : bars) {
      out << "    " << Plain(bar.step->name) << " :";
      switch (bar.step->outcome) {
        case Outcome::kDone:
          out << "done, ";
          break;
        case Outcome::kFailed:
          out << "crit, ";
          break;
        case Outcome::kOpen:
          out << "active, ";
          break;
        case Outcome::kMilestone:
          out << "milestone, ";
          break;
      }
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(bar.end - bar.start);
      out << "t" << ++id << ", " << Local(bar.start) << ", " << seconds.count() << "s\n";
    }
  }
  out << "```\n";
  return out.str();
}

std::string RenderSvgTimeline(const std::vector<TimelineStep>& steps) {
  const auto sections = Sections(steps);
  std::optional<std::chrono::sys_seconds> first;
  std::optional<std::chrono::sys_seconds> last;
  std::size_t rows = 0;
  for (const auto& [section, bars] : sections) {
    rows += 1 + bars.size();
    for (const Bar& bar : bars) {
      if (!first || bar.start < *first) first = bar.start;
      if (!last || bar.end > *last) last = bar.end;
    }
  }
  if (!first) return "";
  const double span = std::max<long long>(1, (*last - *first).count());
  constexpr int kLabel = 240;
  constexpr int kChart = 600;
  constexpr int kRow = 20;
  const int height = static_cast<int>(rows) * kRow + 30;
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kLabel + kChart + 20
      << "\" height=\"" << height << "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">";
  const auto x = [&](std::chrono::sys_seconds at) {
    return kLabel + static_cast<int>(kChart * ((at - *first).count() / span));
  };
  int y = 0;
  for (const auto& [section, bars] : sections) {
    out << "<text x=\"4\" y=\"" << y + 14 << "\" font-weight=\"bold\">" << EscapeMarkup(section)
        << "</text>";
    y += kRow;
    for (const Bar& bar : bars) {
      const char* color = bar.step->outcome == Outcome::kFailed ? "#cf222e"
                          : bar.step->outcome == Outcome::kOpen ? "#bf8700"
                                                                : "#2da44e";
      out << "<text x=\"16\" y=\"" << y + 14 << "\">" << EscapeMarkup(bar.step->name) << "</text>";
      if (bar.step->outcome == Outcome::kMilestone) {
        const int cx = x(bar.start);
        out << "<polygon points=\"" << cx << "," << y + 3 << " " << cx + 7 << "," << y + 10 << " "
            << cx << "," << y + 17 << " " << cx - 7 << "," << y + 10 << "\" fill=\"#0969da\"/>";
      } else {
        out << "<rect x=\"" << x(bar.start) << "\" y=\"" << y + 4 << "\" width=\""
            << std::max(3, x(bar.end) - x(bar.start)) << "\" height=\"12\" fill=\"" << color
            << "\"><title>" << EscapeMarkup(bar.step->name) << ": " << Local(bar.start) << " → "
            << Local(bar.end) << " UTC</title></rect>";
      }
      y += kRow;
    }
  }
  out << "<text x=\"" << kLabel << "\" y=\"" << height - 8 << "\">" << Local(*first)
      << " UTC</text><text x=\"" << kLabel + kChart << "\" y=\"" << height - 8
      << "\" text-anchor=\"end\">" << Local(*last) << " UTC</text></svg>";
  return out.str();
}

}  // namespace promote::report
