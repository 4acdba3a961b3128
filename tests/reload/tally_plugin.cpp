// A test handler that keeps one count per listener in the listener state gatiod hands over
// across reloads (gatio_services.listener_state), under the layout TALLY_LAYOUT: each "add\n"
// adds one and is answered with the count and "\n". Built twice with different layouts, it is
// a handler file replaced by one whose state cannot be taken over.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include <gatio/plugin.hpp>

namespace {

void* make_count(void*) {
    return new std::atomic<std::uint64_t>(0);
}

void free_count(void* count) {
    delete static_cast<std::atomic<std::uint64_t>*>(count);
}

class Tally {
public:
    static constexpr std::uint32_t max_unconsumed = 64;

    Tally(gatio::Host host, const gatio::InstanceInfo&) {
        const auto& svc = host.services();
        if (svc.struct_size < offsetof(gatio_services, listener_state) + sizeof(void*) ||
            svc.listener_state == nullptr) {
            throw gatio::PluginError("the host keeps no listener state");
        }
        count_ = static_cast<std::atomic<std::uint64_t>*>(
            svc.listener_state(host.handle(), TALLY_LAYOUT, &make_count, nullptr, &free_count));
        if (count_ == nullptr) {
            throw gatio::PluginError("the listener's count could not be made or taken over (see the log)");
        }
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        std::size_t used = 0;
        for (std::size_t i = 0; i < data.size(); ++i) {
            if (data[i] != '\n') {
                continue;
            }
            const std::string line(reinterpret_cast<const char*>(data.data()) + used, i - used);
            used = i + 1;
            const std::string answer = line == "add" ? std::to_string(count_->fetch_add(1) + 1) : "unknown";
            if (c.send(answer + "\n") != GATIO_OK) {
                return GATIO_DATA_RESET;
            }
        }
        return static_cast<std::int64_t>(used);
    }

private:
    std::atomic<std::uint64_t>* count_ = nullptr;
};

} // namespace

GATIO_EXPORT_PLUGIN(Tally, "tally", "1.0", GATIO_TRANSPORT_TCP)
