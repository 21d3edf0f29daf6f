// libcurl's process-wide initialisation, shared by every adapter that sends HTTP (probes, the
// Kubernetes API through kubectl proxy).
#pragma once

namespace promote::adapters::http {

/// libcurl's contract: curl_global_init runs once per process before any other curl call, and
/// older libcurls do not make it thread-safe. Call it before the first easy or multi handle;
/// it initialises exactly once, thread-safely. curl_global_cleanup is left to process exit.
void EnsureCurlInitialised();

}  // namespace promote::adapters::http
