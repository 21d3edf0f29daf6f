// A stable content hash for what promote must recognise later (a change an approval is for, the
// plan a run started with): FNV-1a 64, the same on every build and machine, unlike std::hash.
// Not a security measure: it detects accidental change, not a crafted collision.
#pragma once

#include <string>
#include <string_view>

namespace promote {

/// FNV-1a 64 of `bytes` as 16 lower-case hex digits.
std::string ContentHash(std::string_view bytes);

}  // namespace promote
