// The command line: parses arguments, runs the command, and decides the exit code (only here).
#pragma once

#include <iosfwd>

namespace promote::cli {

/// Runs promote as `argv` asks, writing results to `out` and errors to `err`; returns the exit
/// code.
int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace promote::cli
