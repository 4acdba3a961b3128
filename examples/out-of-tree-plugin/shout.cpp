// An example handler built out of tree: it answers every TCP line with the same line in upper
// case. Lines end with '\n'; an unfinished line waits for the rest (up to max_unconsumed bytes,
// beyond which gatiod closes the connection).
//
// Options ([listener.options]):
//   suffix (string, ""): appended to every answer, before the newline.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <gatio/plugin.hpp>

namespace {

class Shout {
public:
    static constexpr std::uint32_t max_unconsumed = 4096;

    Shout(gatio::Host, const gatio::InstanceInfo& info)
        : suffix_(info.options.get("suffix", std::string_view{})) {}

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        std::size_t used = 0;
        for (std::size_t i = 0; i < data.size(); ++i) {
            if (data[i] == '\n') {
                if (!answer(c, data.subspan(used, i - used))) {
                    return GATIO_DATA_RESET;
                }
                used = i + 1;
            }
        }
        return static_cast<std::int64_t>(used); // the unfinished line comes back with more bytes
    }

private:
    // send() copies, so the line goes out through a small stack buffer, piece by piece.
    bool answer(gatio::Connection c, std::span<const std::uint8_t> line) {
        char piece[256];
        while (!line.empty()) {
            const std::size_t n = std::min(line.size(), sizeof piece);
            std::transform(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(n), piece,
                           [](std::uint8_t b) { return static_cast<char>(std::toupper(b)); });
            if (c.send(std::string_view(piece, n)) != GATIO_OK) {
                return false;
            }
            line = line.subspan(n);
        }
        return c.send(suffix_) == GATIO_OK && c.send(std::string_view("\n")) == GATIO_OK;
    }

    std::string suffix_;
};

} // namespace

GATIO_EXPORT_PLUGIN(Shout, "shout", "1.0", GATIO_TRANSPORT_TCP)
