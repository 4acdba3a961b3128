// gatiod (or another program) as a child process for the end-to-end tests, its output in a log
// file: tests/support's Child.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/child.hpp"

namespace gatio::tests {

class Process : public ::gatio::test::Child {
public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log)
        : Child(::gatio::test::Spawn{.argv = argv, .log = log, .merge_output = true}) {}

    std::string log() const { return err(); }
};

} // namespace gatio::tests
