// The checks made on a handler file before any of its code runs: who owns it, who may write
// it, and whether it is a shared object for this machine that does not need an executable stack.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace gatio::net {

// Checks the open file `fd`. Returns "" when it may be loaded, else the cause, worded to follow
// `plugin "<path>": `. Only the file's metadata and ELF headers are read.
std::string check_plugin_file(int fd, uid_t daemon_uid);

// The folder holding a handler: whoever may write it may replace the handler, so it gets the
// file's ownership and write-permission rules (a sticky folder such as /tmp is accepted for
// its write permission, since others cannot rename or remove files they do not own there).
std::string check_plugin_folder(const std::filesystem::path& folder, uid_t daemon_uid);

} // namespace gatio::net
