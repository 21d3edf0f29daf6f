// How promote repeats a cluster call that met a failure of the moment: an API server that is
// restarting, overloaded or behind a failing load balancer answers 429/5xx or drops the
// connection for a second or two. Reads are always safe to repeat; writes are too, because
// every write promote makes sets an exact value (this image, this revision).
#pragma once

#include <string>

#include "adapters/http/transient.h"

namespace promote::adapters::kube {

using http::kFirstRetryPause;
using http::kTransientRetries;
using http::RetryPause;
using http::TransientStatus;

/// Whether what kubectl or helm printed on failing says the request itself was refused for
/// good (no rights, no such object, an invalid change, a release busy with another operation),
/// so that repeating it cannot help. Anything else (5xx, dropped connections, timeouts, and
/// messages not known here) is treated as passing: a repeat of an exact write is harmless.
bool PermanentCommandFailure(const std::string& said);

}  // namespace promote::adapters::kube
