// Loggers that carry where a message comes from.
//
// A context logger shares the sinks and the asynchronous thread pool of the default logger
// (which the daemon sets up), so a driver thread only formats and enqueues; it never blocks on
// a write. The context travels in the logger's name as space-separated key=value pairs, e.g.
// "tpc=node0 driver=cpu1 listener=web plugin=http", which sinks turn into fields or prefixes.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace gatio::log {

struct Context {
    std::string_view tpc;
    std::string_view driver;
    std::string_view listener;
    std::string_view plugin;
};

// The canonical logger name for a context ("" for the process-wide logger).
std::string context_name(const Context& ctx);

// A logger for ctx; created once (start-up), then used from one thread without allocation
// beyond spdlog's own message buffer.
std::shared_ptr<spdlog::logger> make_logger(const Context& ctx);

// Splits a logger name made by context_name back into its fields; unknown keys are ignored.
struct ParsedContext {
    std::string_view tpc, driver, listener, plugin;
};
ParsedContext parse_context_name(std::string_view name);

} // namespace gatio::log
