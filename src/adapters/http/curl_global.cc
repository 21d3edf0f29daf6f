// A function-local static: the one process-wide state in promote, and it is libcurl's.
#include "adapters/http/curl_global.h"

#include <curl/curl.h>

namespace promote::adapters::http {

void EnsureCurlInitialised() {
  static const CURLcode kInitialised = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)kInitialised;
}

}  // namespace promote::adapters::http
