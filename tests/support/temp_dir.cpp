#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <system_error>

namespace gatio::test {

TempDir::TempDir(std::string_view label) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("gatio-" + std::string(label) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        FAIL("mkdtemp " << pattern << ": " << std::strerror(errno));
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(std::string_view name, std::string_view content) const {
    const auto target = path_ / name;
    const auto staging = path_ / (std::string(name) + ".new");
    {
        std::ofstream out(staging, std::ios::binary | std::ios::trunc);
        out << content;
        out.close();
        if (!out.good()) {
            FAIL("writing " << staging);
        }
    }
    std::filesystem::rename(staging, target);
    return target;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        FAIL("opening " << path << ": " << std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        FAIL("reading " << path);
    }
    return text.str();
}

} // namespace gatio::test
