// The foreground run: load and resolve the configuration, check that io_uring is usable,
// start the runtime, wait for SIGTERM or SIGINT, stop within daemon.shutdown_grace.
#pragma once

#include "daemon/cli.hpp"

namespace gatio::daemon {

int run(const Options& options); // the process exit code

} // namespace gatio::daemon
