// Reading a configuration file into a validated Config.
#pragma once

#include "config/config.hpp"
#include "config/source.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

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

LoadResult load_file(const std::filesystem::path& file, const Overrides& overrides = {});

// For tests and reload: parse text as if it had been read from `file` (relative paths in it
// resolve against file's folder; the file itself need not exist).
LoadResult load_string(std::string_view text, const std::filesystem::path& file,
                       const Overrides& overrides = {});

// The effective configuration as TOML, every default written out; load_string(dump(c)) == c.
std::string dump(const Config& config);

} // namespace gatio::config
