// How promote shows a command to a person: one line a shell reads back as the same argv. Only
// for display (reports, dry runs, next steps): promote itself never runs a shell string.
#pragma once

#include <string>
#include <vector>

namespace promote {

/// `argv` as one shell-readable line: arguments with spaces, quotes or shell characters are
/// single-quoted, so a suggested command can be pasted as it is.
std::string ShellLine(const std::vector<std::string>& argv);

}  // namespace promote
