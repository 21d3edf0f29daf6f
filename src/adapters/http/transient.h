// How promote repeats an HTTP call that met a failure of the moment: a server that is
// restarting, overloaded or behind a failing load balancer answers 429/5xx or drops the
// connection for a second or two. Shared by every adapter that speaks HTTP (the Kubernetes API,
// OCI registries), so they give up after the same tries and name it the same way.
#pragma once

#include <chrono>

namespace promote::adapters::http {

/// Repeats of a call after a transient failure: 100, 200 and 400 ms apart, 0.7 s in all.
inline constexpr int kTransientRetries = 3;
inline constexpr std::chrono::milliseconds kFirstRetryPause{100};

/// The pause before repeat `retry` (0-based) of a call.
inline std::chrono::milliseconds RetryPause(int retry) {
  return kFirstRetryPause * (1 << retry);
}

/// Statuses a server gives for a moment and then not: too many requests, and the 5xx of a
/// restarting server or a failing load balancer in front of it.
inline bool TransientStatus(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace promote::adapters::http
