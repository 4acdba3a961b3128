// The http handler: static routes over HTTP/1.1 and 1.0 with keep-alive and pipelining.
//
// Each instance (one listener on one driver) renders its responses and takes one parser slot
// per connection up front (max_connections of them), so serving a request allocates nothing:
// the parser keeps no request bytes and the answers are slices of pre-rendered text handed to
// sendv. docs/plugins.md lists the options.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gatio/plugin.hpp>

#include "date.hpp"
#include "settings.hpp"
#include "site.hpp"

namespace {

using gatio::http::Parser;

class SendOutput final : public gatio::http::Output {
public:
    explicit SendOutput(const gatio::Connection& c) : c_(c) {}
    bool write(std::span<const iovec> slices) override { return c_.sendv(slices) == GATIO_OK; }

private:
    const gatio::Connection& c_;
};

// Lives on the heap so the timer argument and the parsers' pointers into the site stay valid
// however the handler object itself is moved.
struct State {
    State(gatio::Host h, const gatio::InstanceInfo& info)
        : host(h), where("listener " + std::string(info.listener) + " on driver " + std::string(info.driver)),
          site(gatio::http::read_settings(info.options)) {
        const std::uint32_t slots = site.settings().max_connections;
        parsers.reserve(slots);
        free_slots.reserve(slots);
        for (std::uint32_t i = 0; i < slots; ++i) {
            parsers.push_back(site.make_parser());
            free_slots.push_back(slots - 1 - i);
        }
        gatio::http::DateClock::local().refresh();
        if (host.start_timer(std::chrono::milliseconds(gatio::http::next_second_delay_ms()), &tick, this) ==
            0) {
            throw gatio::PluginError("cannot start the Date timer of " + where +
                                     ": the driver's timer limit is reached");
        }
    }

    // Rearms itself each second; should the driver's timers run out, the Date is refreshed from
    // on_data instead (still formatted at most once per second).
    static void tick(gatio_host*, void* arg) {
        auto* self = static_cast<State*>(arg);
        gatio::http::DateClock::local().refresh();
        if (self->host.start_timer(std::chrono::milliseconds(gatio::http::next_second_delay_ms()), &tick,
                                   self) == 0) {
            self->clock_from_data = true;
            self->host.warn("http: cannot rearm the Date timer of " + self->where +
                            ": the driver's timer limit is reached; refreshing the Date on receive instead");
        }
    }

    gatio::Host host;
    std::string where;
    gatio::http::Site site;
    std::vector<Parser> parsers;
    std::vector<std::uint32_t> free_slots;
    std::uint64_t refused = 0;
    bool clock_from_data = false;
};

class Http {
public:
    Http(gatio::Host host, const gatio::InstanceInfo& info) : s_(std::make_unique<State>(host, info)) {}

    bool on_open(gatio::Connection c, const gatio_conn_info&) {
        State& s = *s_;
        if (s.free_slots.empty()) {
            // Logged at 1, 2, 4, 8 ... refusals so a flood cannot flood the journal too.
            ++s.refused;
            if ((s.refused & (s.refused - 1)) == 0) {
                s.host.warn("http: answered 503 to a connection on " + s.where + ": all " +
                            std::to_string(s.parsers.size()) + " slots (max_connections) are in use; " +
                            std::to_string(s.refused) + " refused so far");
            }
            // A client told "503" knows to retry later; a bare reset looks like a crash.
            SendOutput out(c);
            if (!s.site.refuse(date(s), out)) {
                return false;
            }
            c.close(GATIO_CLOSE_FLUSH);
            return true;
        }
        const std::uint32_t slot = s.free_slots.back();
        s.free_slots.pop_back();
        Parser& p = s.parsers[slot];
        p = s.site.make_parser();
        if (c.set_user(&p) != GATIO_OK) {
            s.free_slots.push_back(slot);
            return false;
        }
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        State& s = *s_;
        Parser* parser = c.user<Parser>();
        if (parser == nullptr) {
            return static_cast<std::int64_t>(data.size()); // refused with 503 and closing
        }
        SendOutput out(c);
        switch (s.site.serve(*parser, data, date(s), out)) {
        case gatio::http::Verdict::keep:
            return static_cast<std::int64_t>(data.size());
        case gatio::http::Verdict::close:
            return GATIO_DATA_CLOSE;
        case gatio::http::Verdict::reset:
            break;
        }
        // The driver's output memory is exhausted: a partial answer would corrupt the stream.
        return GATIO_DATA_RESET;
    }

    void on_close(gatio::Connection c, gatio_close_reason) {
        State& s = *s_;
        if (auto* p = c.user<Parser>()) {
            s.free_slots.push_back(static_cast<std::uint32_t>(p - s.parsers.data()));
        }
    }

private:
    static std::string_view date(const State& s) {
        if (s.clock_from_data) {
            gatio::http::DateClock::local().refresh();
        }
        return gatio::http::DateClock::local().text();
    }

    std::unique_ptr<State> s_;
};

} // namespace

GATIO_EXPORT_PLUGIN(Http, "http", "1.0", GATIO_TRANSPORT_TCP)
