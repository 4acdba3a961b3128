// Configurations for the in-process tests: auto topology (one driver per CPU) and one listener.
#pragma once

#include <cstdint>
#include <fmt/format.h>
#include <string>

namespace gatio::tests {

// `handler` is "echo" (the build's plugin folder) or a path; at most 4096 connections unless
// listener_keys says otherwise (the connection slab is sized by it).
inline std::string listener_config(std::uint16_t port, const std::string& handler = "echo",
                                   const std::string& transport = "tcp", std::string listener_keys = "",
                                   const std::string& topology_keys = "") {
    if (transport == "tcp" && listener_keys.find("max_connections") == std::string::npos) {
        listener_keys = "max_connections = 4096\n" + listener_keys; // before any [listener.options]
    }
    return fmt::format(R"(
[daemon]
log_level = "warn"
[topology]
mode = "auto"
{}
[[listener]]
name = "test"
transport = "{}"
address = "127.0.0.1:{}"
handler = "{}"
{}
)",
                       topology_keys, transport, port, handler, listener_keys);
}

} // namespace gatio::tests
