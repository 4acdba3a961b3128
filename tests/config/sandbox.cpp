#include "sandbox.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

namespace gatio::config::test {

std::string doc(std::string_view text) {
    if (!text.empty() && text.front() == '\n') {
        text.remove_prefix(1);
    }
    return std::string(text);
}

Sandbox::Sandbox() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatio-config-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    std::filesystem::create_directories(dir_ / "plugins" / "folder.so");
    std::filesystem::create_directories(dir_ / "handlers");
    std::filesystem::create_directories(dir_ / "conf");
    for (const char* name : {"plugins/echo.so", "plugins/http.so", "plugins/resp.so", "handlers/custom.so"}) {
        std::ofstream(dir_ / name).flush();
        REQUIRE(std::filesystem::is_regular_file(dir_ / name));
    }
}

Sandbox::~Sandbox() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

LoadResult Sandbox::load(std::string_view text, const Overrides& overrides) const {
    return load_string(text, file(), overrides);
}

std::vector<std::string> Sandbox::errors(std::string_view text) const {
    const LoadResult result = load(text);
    REQUIRE_FALSE(result.config);
    REQUIRE_FALSE(result.errors.empty());
    std::vector<std::string> out;
    for (const Diagnostic& d : result.errors) {
        CHECK(d.file == file().string());
        std::string line = std::to_string(d.pos.line) + ':' + std::to_string(d.pos.column) + ": " + d.message;
        const std::string shown = dir_.string();
        for (std::size_t at = line.find(shown); at != std::string::npos; at = line.find(shown)) {
            line.replace(at, shown.size(), "<dir>");
        }
        out.push_back(line);
    }
    return out;
}

Config Sandbox::valid(std::string_view text, const Overrides& overrides) const {
    LoadResult result = load(text, overrides);
    for (const Diagnostic& d : result.errors) {
        UNSCOPED_INFO(d.to_string());
    }
    REQUIRE(result.errors.empty());
    REQUIRE(result.config);
    return std::move(*result.config);
}

} // namespace gatio::config::test
