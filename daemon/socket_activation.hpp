// Listening sockets systemd passes to a socket-activated gatiod (LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES). Each is matched to the listener whose name is its FileDescriptorName=, and
// that listener then uses it instead of binding its own.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "net/net.hpp"

namespace gatio::daemon {

class InheritedSockets {
public:
    InheritedSockets() = default;
    // `passed`: (name, descriptor) in the order systemd passed them; this object owns them all.
    // A name given to several sockets is an error (a listener serves exactly one socket); those
    // sockets are closed and error() names them.
    explicit InheritedSockets(std::vector<std::pair<std::string, int>> passed);
    InheritedSockets(InheritedSockets&& other) noexcept;
    InheritedSockets& operator=(InheritedSockets&& other) noexcept;
    InheritedSockets(const InheritedSockets&) = delete;
    InheritedSockets& operator=(const InheritedSockets&) = delete;
    ~InheritedSockets(); // closes every socket still held

    // The sockets passed to this process, if any, with the variables unset so that nothing
    // started later takes them for its own. A failure of sd_listen_fds_with_names is an error().
    static InheritedSockets take_from_environment();

    const net::InheritedSockets& by_name() const { return by_name_; }
    bool empty() const { return by_name_.empty(); }
    const std::string& error() const { return error_; }

    // Closes the sockets no listener of `config` is named after and returns a description of
    // each ("\"name\" (fd N)"), for a warning.
    std::vector<std::string> close_unmatched(const config::Config& config);
    // Closes every socket (once attached, the listeners hold their own duplicates).
    void close_all();

private:
    net::InheritedSockets by_name_;
    std::string error_;
};

} // namespace gatio::daemon
