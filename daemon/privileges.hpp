// Giving up root once the listener sockets are bound (daemon.user).
#pragma once

#include <string>

namespace gatio::daemon {

// Switches the whole process (every thread) to `user`: its supplementary groups, its primary
// group, then its uid, and checks that root cannot be taken back. Returns "" on success,
// otherwise what failed. Nothing to do when already running as that user.
std::string drop_privileges(const std::string& user);

} // namespace gatio::daemon
