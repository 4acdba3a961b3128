// The installed SDK as the out-of-tree examples use it: `cmake --install` of this build tree
// into a fresh DESTDIR, and an example project under examples/ configured and built against it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"

namespace gatio::service_test {

struct Result {
    int code = -1;
    std::string output;
};

// Runs a program to completion (bounded) with clean_env() plus `env`.
Result run(const std::vector<std::string>& argv, std::vector<std::string> env = {});

// `cmake --install` of this build tree into a fresh DESTDIR.
class Installed {
public:
    Installed();
    std::filesystem::path root() const { return dir_.path() / "root"; }
    // Where an absolute install path lies under the DESTDIR.
    std::filesystem::path at(const std::string& absolute) const {
        return std::filesystem::path(root().string() + absolute);
    }
    const TempDir& dir() const { return dir_; }

private:
    TempDir dir_;
};

// The project examples/<example>, configured with `options` and built against the install in
// `env`; returns the handler object it made, <module>.so.
std::filesystem::path build_example(const Installed& inst, const std::string& example,
                                    const std::string& module, const std::vector<std::string>& options,
                                    const std::vector<std::string>& env = {});

} // namespace gatio::service_test
