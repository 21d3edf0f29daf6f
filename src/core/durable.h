// Small POSIX helpers for files that must survive a crash: one way to report an I/O failure and
// to make a newly created file's directory entry durable.
#pragma once

#include <filesystem>
#include <string>

#include "core/error.h"

namespace promote {

/// A kExternal Error for a failed system call: "what: strerror(error)" at `where`.
Error IoError(const std::string& what, const std::filesystem::path& where, int error);

/// fsyncs a directory so that a file created (or renamed) in it survives a crash.
Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace promote
