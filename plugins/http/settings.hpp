// Reads the http plugin's [listener.options] into Settings, checking every value.
#pragma once

#include <gatio/plugin.hpp>

#include "site.hpp"

namespace gatio::http {

// Throws gatio::PluginError naming the option (e.g. `route[2].status`) and what is wrong with
// it. Route bodies given as `file` are read here, once, when the instance is created.
Settings read_settings(const gatio::Options& options);

// The Content-Type a route serving `file` gets when it names none, from the file's extension.
std::string_view content_type_for(std::string_view file);

} // namespace gatio::http
