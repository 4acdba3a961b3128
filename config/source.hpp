// Where something was written in a configuration file, and what was wrong with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gatio::config {

struct SourcePos {
    std::uint32_t line = 0; // 1-based; 0 = not from the file (a default)
    std::uint32_t column = 0;
    friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

// One error, printed as FILE:LINE:COLUMN: message.
struct Diagnostic {
    std::string file;
    SourcePos pos;
    std::string message;

    std::string to_string() const;
};

using Diagnostics = std::vector<Diagnostic>;

} // namespace gatio::config
