// A digest of everything that must be identical on every driver serving a listener: its
// configuration (address, limits, watermarks, options) and the handler object serving it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "net/plugin_loader.hpp"

namespace gatio::net {

// FNV-1a 64 over a canonical encoding of l and of the plugin's identity (path, name, version).
std::uint64_t listener_fingerprint(const config::ListenerConfig& l, const Plugin& plugin);

std::string fingerprint_text(std::uint64_t f); // 16 hex digits

} // namespace gatio::net
