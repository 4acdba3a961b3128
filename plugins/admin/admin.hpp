// gatiod's built-in [admin] handler: GET /metrics and GET /healthz over HTTP/1.1 (keep-alive,
// pipelining, HEAD), parsed by the http plugin's incremental parser. Health and metrics come
// from the host's services (stalled_drivers, driver_name, metrics_text, ABI 1.2), never from
// the host's internals. docs/operations.md describes what it answers.
//
// Options (the host writes them for the [admin] listener): max_connections, the parser slots
// taken up front (one per connection), and response_limit, the largest body it builds.
#pragma once

#include <gatio/plugin.h>

namespace gatio::admin {

// The handler's descriptor (TCP), for net::Plugin::builtin.
const gatio_plugin& descriptor();

} // namespace gatio::admin
