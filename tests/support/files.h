// Test helpers for files: a temporary folder that cleans up after itself, reading a file, and
// reading a run's journal back.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace promote::testing {

/// A fresh folder under the system temp dir, removed with everything in it at scope end.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "promote-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The whole content of `path`, bytes as they are ("" when it cannot be read).
std::string ReadFile(const std::filesystem::path& path);

/// The states a run went through, in order, from `run_dir`/events.jsonl.
std::vector<std::string> JournalStates(const std::filesystem::path& run_dir);

}  // namespace promote::testing
