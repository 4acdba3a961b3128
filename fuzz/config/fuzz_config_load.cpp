// libFuzzer entry point for the configuration reader. Whatever the text, load_string gives either
// a Config or errors (never both, never neither), each error says what is wrong and names the
// file, and an accepted Config written back out by dump() is accepted again with the same dump.
// A failed check throws: uncaught, it aborts and libFuzzer saves the input.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/load.hpp"

namespace {

// Relative paths in the text resolve against this file's folder, which does not exist.
const std::filesystem::path file{"/nonexistent/fuzz/gatio.toml"};

void check_errors(const gatio::config::LoadResult& r, std::string_view what) {
    if (r.config.has_value() == !r.errors.empty()) {
        throw std::logic_error(std::string(what) + ": a Config and errors, or neither");
    }
    for (const auto& e : r.errors) {
        if (e.message.empty() || e.file != file.string()) {
            throw std::logic_error(std::string(what) + ": error without a message or file: " + e.to_string());
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = gatio::config::load_string(text, file);
    check_errors(r, "the input");
    if (!r.config) {
        return 0;
    }
    const std::string dumped = gatio::config::dump(*r.config);
    const auto again = gatio::config::load_string(dumped, file);
    check_errors(again, "the dump");
    if (!again.config) {
        throw std::logic_error(
            "the dump of an accepted Config is refused: " + again.errors.front().to_string() + "\n" + dumped);
    }
    if (gatio::config::dump(*again.config) != dumped) {
        throw std::logic_error("the dump of an accepted Config reads back as another Config:\n" + dumped);
    }
    return 0;
}
