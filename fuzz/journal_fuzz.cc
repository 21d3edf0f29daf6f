// Fuzz target: the journal reader (Journal::Open on an events.jsonl, as `promote status` and
// `promote resume` read one), then the first Append, which cuts a torn tail off. Whatever the
// file held, Open either fails with an Error or reads it; after an Append the file reads back
// with no torn tail (journal.h: "the file stays every line valid"). Anything else is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/redactor.h"
#include "engine/journal.h"

namespace {

namespace fs = std::filesystem;
using promote::engine::Journal;

/// The scratch folder of the whole fuzzing process; never destroyed, so that the exit handler
/// that removes it can still read it after static destructors have run.
const fs::path& Scratch() {
  static const fs::path* const dir = [] {
    std::string pattern = (fs::temp_directory_path() / "promote-fuzz-journal-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return new fs::path(pattern);
  }();
  return *dir;
}

/// One run folder for the whole fuzzing process, removed at exit.
const fs::path& RunDir() {
  static const fs::path* const dir = [] {
    auto* made = new fs::path(Scratch() / "runs" / "20261203T000000Z-dev-prod-f00d");
    fs::create_directories(*made);
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(Scratch(), ignored);
    });
    return made;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path& dir = RunDir();
  {
    std::ofstream out(dir / Journal::kFileName, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) std::abort();
  }
  const auto redactor = std::make_shared<promote::Redactor>();
  auto journal = Journal::Open(dir, redactor);
  if (!journal) {
    if (journal.error().what.empty()) __builtin_trap();  // a refusal must say what is wrong
    return 0;
  }
  // What status and resume ask of a journal.
  (void)journal->CurrentState();
  (void)journal->OpenIntents();
  (void)journal->LastDone("set-image", "api");
  (void)journal->torn_tail();
  for (const auto& event : journal->events()) (void)event.intent();

  // Resume's first write: the torn tail goes, every line left must read back.
  auto noted = journal->Note("fuzz: resumed");
  if (!noted) return 0;  // an Error, reported as such (write_failure)
  auto again = Journal::Open(dir, redactor);
  if (!again || again->torn_tail()) __builtin_trap();
  if (again->events().size() != journal->events().size()) __builtin_trap();
  return 0;
}
