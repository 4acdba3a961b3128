// A temporary directory with real plugin files, and helpers to load configurations against it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/load.hpp"

namespace gatio::config::test {

// Text of a TOML document written as a raw string that starts on its own line: the first
// newline is dropped so that line 1 is the first line after R"(.
std::string doc(std::string_view text);

// Layout: plugins/{echo,http}.so (empty regular files), plugins/folder.so/ (a directory),
// handlers/custom.so, conf/ (an empty folder). The configuration "file" is <dir>/gatio.toml.
class Sandbox {
public:
    Sandbox();
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path file() const { return dir_ / "gatio.toml"; }

    LoadResult load(std::string_view text, const Overrides& overrides = {}) const;
    // Loads text (which must fail) and returns its diagnostics as "LINE:COLUMN: message", with
    // the sandbox directory shown as <dir>.
    std::vector<std::string> errors(std::string_view text) const;
    // Loads text, which must succeed.
    Config valid(std::string_view text, const Overrides& overrides = {}) const;

private:
    std::filesystem::path dir_;
};

// The [daemon] section most tests start with: bare handler names resolve in the sandbox.
inline constexpr std::string_view daemon_section = "[daemon]\nplugin_dir = \"plugins\"\n";

} // namespace gatio::config::test
