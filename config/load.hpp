// Reading a configuration file into a validated Config.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/source.hpp"

namespace gatio::config {

// Command-line values that take precedence over the file.
struct Overrides {
    std::optional<std::filesystem::path> plugin_dir;
};

// Either a Config or every error found, in file order (never both).
struct LoadResult {
    std::optional<Config> config;
    Diagnostics errors;
};

// Larger files are refused: a configuration is a few kilobytes, and reading must stay bounded
// even when pointed at a device or a huge file by mistake.
inline constexpr std::size_t max_file_bytes = 1u << 20;

// Where bare handler names are looked up when neither the file nor the overrides say otherwise:
// <libdir>/gatio/plugins of the installation prefix.
std::filesystem::path default_plugin_dir();

// Diagnostics name the file as given here; Config::file is its absolute form.
LoadResult load_file(const std::filesystem::path& file, const Overrides& overrides = {});

// For tests and reload: parse text as if it had been read from `file` (relative paths in it
// resolve against file's folder; the file itself need not exist).
LoadResult load_string(std::string_view text, const std::filesystem::path& file,
                       const Overrides& overrides = {});

// The effective configuration as TOML, every default written out, sections in schema order.
// load_string(dump(c), c.file) yields c again, and == holds (it compares values, not positions).
std::string dump(const Config& config);

} // namespace gatio::config
