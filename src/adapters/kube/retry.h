// How promote repeats a cluster call that met a failure of the moment: an API server that is
// restarting, overloaded or behind a failing load balancer answers 429/5xx or drops the
// connection for a second or two. Reads are always safe to repeat; writes are too, because
// every write promote makes sets an exact value (this image, this revision).
#pragma once

#include <chrono>
#include <string>

namespace promote::adapters::kube {

/// Repeats of a call after a transient failure: 100, 200 and 400 ms apart, 0.7 s in all.
inline constexpr int kTransientRetries = 3;
inline constexpr std::chrono::milliseconds kFirstRetryPause{100};

/// The pause before repeat `retry` (0-based) of a call.
inline std::chrono::milliseconds RetryPause(int retry) {
  return kFirstRetryPause * (1 << retry);
}

/// Statuses an API server gives for a moment and then not: too many requests, and the 5xx of
/// a restarting server or a failing load balancer in front of it.
inline bool TransientStatus(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/// Whether what kubectl or helm printed on failing says the request itself was refused for
/// good (no rights, no such object, an invalid change, a release busy with another operation),
/// so that repeating it cannot help. Anything else (5xx, dropped connections, timeouts, and
/// messages not known here) is treated as passing: a repeat of an exact write is harmless.
bool PermanentCommandFailure(const std::string& said);

}  // namespace promote::adapters::kube
