// A test handler for the service tests, speaking lines:
//   "stall MS"  blocks its driver's thread for MS milliseconds (a handler gone wrong), then
//               answers "stalled MS";
//   "big N"     answers N bytes: byte i is 'a' + i % 26 (a large response in flight);
//   "ping"      answers "pong".
// Anything else is answered "unknown".
// With GATIO_TEST_SERVICE_INIT_MS set, init() takes that long (a handler slow to load).
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include <gatio/plugin.hpp>

namespace {

class Service {
public:
    static constexpr std::uint32_t max_unconsumed = 256;

    Service(gatio::Host, const gatio::InstanceInfo&) {}

    static bool init(const gatio_services&, std::string&) {
        if (const char* ms = std::getenv("GATIO_TEST_SERVICE_INIT_MS")) {
            std::this_thread::sleep_for(std::chrono::milliseconds(number(ms)));
        }
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        std::size_t used = 0;
        for (std::size_t i = 0; i < data.size(); ++i) {
            if (data[i] == '\n') {
                std::string_view line(reinterpret_cast<const char*>(data.data()) + used, i - used);
                if (!answer(c, line)) {
                    return GATIO_DATA_RESET;
                }
                used = i + 1;
            }
        }
        return static_cast<std::int64_t>(used);
    }

private:
    static std::uint64_t number(std::string_view text) {
        std::uint64_t n = 0;
        std::from_chars(text.data(), text.data() + text.size(), n);
        return n;
    }

    bool answer(gatio::Connection c, std::string_view line) {
        if (line.starts_with("stall ")) {
            const auto ms = number(line.substr(6));
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            return c.send("stalled " + std::to_string(ms) + "\n") == GATIO_OK;
        }
        if (line.starts_with("big ")) {
            std::string body(number(line.substr(4)), '\0');
            for (std::size_t i = 0; i < body.size(); ++i) {
                body[i] = static_cast<char>('a' + i % 26);
            }
            return c.send(body) == GATIO_OK;
        }
        return c.send(line == "ping" ? "pong\n" : "unknown\n") == GATIO_OK;
    }
};

} // namespace

GATIO_EXPORT_PLUGIN(Service, "service", "test", GATIO_TRANSPORT_TCP)
