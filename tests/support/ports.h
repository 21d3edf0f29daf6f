// Test fixture: loopback ports for servers a test starts (the stand-in, a registry, an HTTP
// server) or for a URL where nothing answers.
#pragma once

namespace promote::testing {

/// A loopback port nobody listened on a moment ago: bind 127.0.0.1:0, read what the kernel
/// chose, close. Something else may take it before the test's server does; starters retry then.
int ClosedPort();

}  // namespace promote::testing
