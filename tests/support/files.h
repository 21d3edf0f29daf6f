// Test helpers for files: a temporary folder that cleans up after itself, and reading a file.
#pragma once

#include <filesystem>
#include <string>

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

}  // namespace promote::testing
