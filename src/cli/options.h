// What the command line gives every command: the global flags and how a command's result is
// turned into an exit code.
#pragma once

#include <string>

#include "cli/exit_code.h"

namespace promote::cli {

/// How results are printed on stdout.
enum class OutputFormat { kText, kJson };

/// Flags every command shares.
struct GlobalOptions {
  std::string plan;
  bool dry_run = false;
  bool force = false;
  std::string output = "text";
  std::string log_level = "info";
  std::string log_format = "text";
  bool no_color = false;
  std::string kubectl;
  std::string helm;
  std::string kubeconfig;
  std::string endpoints;
  std::string releases;
  std::string hooks;
  bool override_freeze = false;  ///< --override-freeze: promote inside a freeze window
  std::string reason;            ///< --reason: why (required with --override-freeze)
  std::string report_dir;
  std::string state_dir = ".promote";
};

/// What a finished command wants main to know beyond success: its exit code.
struct CommandOutcome {
  ExitCode code = ExitCode::kOk;
};

}  // namespace promote::cli
