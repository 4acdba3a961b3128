// A test handler: answers every TCP byte upper-cased (so a test can tell it from echo, which
// answers bytes as they are), and takes "stall <ms>\n" as an order to block its driver for that
// long before answering "stalled\n" (so a test can see a driver stop turning its loop).
#include <cctype>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include <gatio/plugin.hpp>

namespace {

class Shout {
public:
    Shout(gatio::Host, const gatio::InstanceInfo&) {}

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
        if (text.rfind("stall ", 0) == 0) {
            std::size_t end = text.find('\n');
            if (end == std::string_view::npos) {
                return 0; // the whole order has not arrived yet
            }
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::stoi(std::string(text.substr(6, end - 6)))));
            c.send(std::string_view("stalled\n"));
            return static_cast<std::int64_t>(end + 1);
        }
        std::string loud(text);
        for (char& ch : loud) {
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
        return c.send(std::string_view(loud)) == GATIO_OK ? static_cast<std::int64_t>(data.size())
                                                          : GATIO_DATA_RESET;
    }

    static constexpr std::uint32_t max_unconsumed = 64;
};

} // namespace

GATIO_EXPORT_PLUGIN(Shout, "shout", "1.0", GATIO_TRANSPORT_TCP)
