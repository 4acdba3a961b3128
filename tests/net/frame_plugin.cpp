// A test handler that echoes whole length-prefixed frames (4-byte big-endian length, then the
// payload) and leaves partial frames unconsumed, so the host must carry them across receives.
// Frames longer than max_unconsumed allows make the host close the connection.
#include <cstdint>
#include <span>

#include <gatio/plugin.hpp>

namespace {

class Frames {
public:
    static constexpr std::uint32_t max_unconsumed = 4 + 65536;

    Frames(gatio::Host, const gatio::InstanceInfo&) {}

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        std::size_t used = 0;
        while (data.size() - used >= 4) {
            const std::uint8_t* p = data.data() + used;
            std::size_t len =
                (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
            if (data.size() - used - 4 < len) {
                break;
            }
            if (c.send(data.subspan(used, 4 + len)) != GATIO_OK) {
                return GATIO_DATA_RESET;
            }
            used += 4 + len;
        }
        return static_cast<std::int64_t>(used);
    }
};

} // namespace

GATIO_EXPORT_PLUGIN(Frames, "frames", "test", GATIO_TRANSPORT_TCP)
