#include "config/source.hpp"

namespace gatio::config {

std::string Diagnostic::to_string() const {
    if (pos.line == 0) {
        return file + ": " + message;
    }
    return file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " + message;
}

} // namespace gatio::config
