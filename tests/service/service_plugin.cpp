// A test handler for the service tests, speaking lines:
//   "stall MS"  blocks its driver's thread for MS milliseconds (a handler gone wrong), then
//               answers "stalled MS";
//   "big N"     answers N bytes: byte i is 'a' + i % 26 (a large response in flight);
//   "ping"      answers "pong";
//   "linger N MS STALL" places N tasks on another exec driver, each sleeping MS milliseconds,
//               and 50 ms later blocks its own driver for STALL milliseconds (from a timer); a
//               task that finds its instance destroyed after sleeping aborts the process (an
//               instance destroyed while another driver still runs its work). Answers
//               "lingering N".
// Anything else is answered "unknown".
// With GATIO_TEST_SERVICE_INIT_MS set, init() takes that long (a handler slow to load).
#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>

#include <gatio/plugin.hpp>

namespace {

// Instances destroyed so far, and the sleep of each lingering task (its argument points here).
std::atomic<int> g_destroyed{0};
std::uint64_t g_linger_ms = 0;
std::uint64_t g_stall_ms = 0;

void stall(gatio_host*, void*) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_stall_ms));
}

void linger(void* arg) {
    std::this_thread::sleep_for(std::chrono::milliseconds(*static_cast<const std::uint64_t*>(arg)));
    if (g_destroyed.load() > 0) {
        static constexpr char message[] = "service: a task ran after its instance was destroyed\n";
        [[maybe_unused]] auto n = ::write(2, message, sizeof message - 1);
        std::abort();
    }
}

class Service {
public:
    static constexpr std::uint32_t max_unconsumed = 256;

    Service(gatio::Host host, const gatio::InstanceInfo& info) : host_(host) {
        for (std::uint32_t d : info.exec_drivers) {
            if (d != info.driver_index) {
                other_ = d;
            }
        }
    }
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;
    ~Service() { ++g_destroyed; }

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
        if (line.starts_with("linger ")) {
            auto rest = line.substr(7);
            const auto n = number(rest.substr(0, rest.find(' ')));
            rest = rest.substr(rest.find(' ') + 1);
            g_linger_ms = number(rest.substr(0, rest.find(' ')));
            g_stall_ms = number(rest.substr(rest.find(' ') + 1));
            if (host_.start_timer(std::chrono::milliseconds(50), &stall, nullptr) == 0) {
                return false;
            }
            for (std::uint64_t i = 0; i < n; ++i) {
                gatio_task t{
                    sizeof(gatio_task), GATIO_PLACE_DRIVER, other_, GATIO_PRIORITY_LATENCY, &linger, nullptr,
                    &g_linger_ms};
                if (host_.spawn(t) != GATIO_OK) {
                    return false;
                }
            }
            return c.send("lingering " + std::to_string(n) + "\n") == GATIO_OK;
        }
        return c.send(line == "ping" ? "pong\n" : "unknown\n") == GATIO_OK;
    }

    gatio::Host host_;
    std::uint32_t other_ = 0;
};

} // namespace

GATIO_EXPORT_PLUGIN(Service, "service", "test", GATIO_TRANSPORT_TCP)
