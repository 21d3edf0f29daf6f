// A run's timeline (engine/timeline.h) drawn for people: a Mermaid gantt chart, which GitHub and
// GitLab render in a job summary without any plugin, and an SVG for the self-contained HTML
// report, which needs no script at all.
#pragma once

#include <string>
#include <vector>

#include "engine/timeline.h"

namespace promote::report {

/// A ```mermaid gantt block: one section a phase (audit, release, wave 1, rollback, decision),
/// a bar a step (done, crit when it failed, active when it never ended), the decision a
/// milestone. Times are the journal's, to the second; a step shorter than that shows as 1 s.
std::string RenderMermaidGantt(const std::vector<engine::TimelineStep>& steps,
                               const std::string& title);

/// The same timeline as an inline <svg> (no external assets, no script).
std::string RenderSvgTimeline(const std::vector<engine::TimelineStep>& steps);

}  // namespace promote::report
