#include "core/shell_line.h"

namespace promote {

std::string ShellLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    if (arg.find_first_of(" \t\"'$`\\|&;<>(){}*?!#~") == std::string::npos && !arg.empty()) {
      line += arg;
      continue;
    }
    line += '\'';
    for (char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

}  // namespace promote
