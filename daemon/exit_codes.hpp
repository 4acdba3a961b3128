// Process exit codes of gatiod, from sysexits.h so that service managers and scripts can tell
// a typo on the command line from a broken configuration from a machine that cannot run us.
#pragma once

namespace gatio::daemon {

inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 64;    // EX_USAGE: bad command line
inline constexpr int exit_software = 70; // EX_SOFTWARE: internal error, io_uring unusable
inline constexpr int exit_config = 78;   // EX_CONFIG: the configuration is invalid

} // namespace gatio::daemon
