// What gatiod does for each command: check (-t), dump (-T), --version, and the shared first
// steps of every command that needs a configuration.
#pragma once

#include <iosfwd>
#include <optional>

#include "config/config.hpp"
#include "core/machine.hpp"
#include "core/topology.hpp"
#include "daemon/cli.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::daemon {

struct Loaded {
    config::Config config;
    core::Machine machine;
    core::Topology topology;
    net::PluginSet plugins; // listeners attached from it keep their own references
};

// Loads the file, resolves its topology on this machine and loads the listeners' handlers.
// On failure, writes every error to `errors`, one per line: the file's own errors, or else
// the topology's and the handlers' together.
std::optional<Loaded> load_and_resolve(const Options& options, std::ostream& errors);

int check_config(const Options& options); // exit code; the topology goes to stdout
int dump_config(const Options& options);
int print_version();

} // namespace gatio::daemon
