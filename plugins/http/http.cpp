// The http handler: static routes over HTTP/1.1 and 1.0 with keep-alive and pipelining.
//
// Each instance (one listener on one driver) renders its responses up front and gives each
// connection a parser slot (max_connections at most); slots are allocated a block at a time as
// connections first need them and kept for reuse, so memory follows the most connections ever
// open at once and serving a request allocates nothing: the parser keeps no request bytes and
// the answers are slices of pre-rendered text handed to sendv. A request must complete its head within
// header_timeout of its first byte and its body within body_timeout of its head: the slots in each phase form
// a list in deadline order, and one host timer per instance waits for the earliest. docs/plugins.md lists the
// options.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <gatio/plugin.hpp>

#include "date.hpp"
#include "settings.hpp"
#include "site.hpp"

namespace {

using gatio::http::Parser;
using Clock = std::chrono::steady_clock;
using Phase = Parser::Phase;

constexpr std::uint32_t nil = UINT32_MAX;

class SendOutput final : public gatio::http::Output {
public:
    explicit SendOutput(const gatio::Connection& c) : c_(c) {}
    bool write(std::span<const iovec> slices) override { return c_.sendv(slices) == GATIO_OK; }

private:
    const gatio::Connection& c_;
};

// One connection's parser and its place on a deadline list.
struct Slot {
    Slot(Parser p, std::uint32_t i) : parser(p), index(i) {}
    Parser parser;
    std::uint32_t index; // in the instance's table
    gatio_conn conn = 0;
    Clock::time_point deadline{};
    std::uint32_t prev = nil;
    std::uint32_t next = nil;
    Phase phase = Phase::idle;   // the phase `deadline` was set for; idle: on no list
    std::uint32_t completed = 0; // the parser's count when `deadline` was set
    bool timed_out = false;      // answered 408 and closing
    bool draining = false;       // gatiod is stopping: close once the request under way is answered
};

// The slots whose request is in one phase, earliest deadline first: each deadline is the same
// timeout after the moment it was set, and slots are appended as that moment moves forward.
struct DeadlineList {
    std::uint32_t first = nil;
    std::uint32_t last = nil;
};

// Lives on the heap so the timer arguments and the parsers' pointers into the site stay valid
// however the handler object itself is moved.
struct State {
    State(gatio::Host h, const gatio::InstanceInfo& info)
        : host(h), where("listener " + std::string(info.listener) + " on driver " + std::string(info.driver)),
          site(gatio::http::read_settings(info.options)) {
        capacity = site.settings().max_connections;
        // Room for every block's pointer and every slot given back, reserved but not touched:
        // the lists then never reallocate while connections come and go.
        blocks.reserve((capacity + block_slots - 1) / block_slots);
        free_slots.reserve(capacity);
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

    std::string_view date() const {
        if (clock_from_data) {
            gatio::http::DateClock::local().refresh();
        }
        return gatio::http::DateClock::local().text();
    }

    Slot& at(std::uint32_t i) { return blocks[i / block_slots][i % block_slots]; }
    DeadlineList& list(Phase phase) { return phase == Phase::head ? heads : bodies; }

    // A slot for a new connection: one given back, else the next never used (its block
    // allocated when it is the block's first); nullptr when max_connections are open.
    // Throws std::bad_alloc when a new block cannot be had.
    Slot* take() {
        if (!free_slots.empty()) {
            Slot& slot = at(free_slots.back());
            free_slots.pop_back();
            slot = Slot(site.make_parser(), slot.index);
            return &slot;
        }
        if (used == capacity) {
            return nullptr;
        }
        if (used % block_slots == 0) {
            std::vector<Slot> block;
            block.reserve(std::min(block_slots, capacity - used)); // may throw; nothing changed yet
            blocks.push_back(std::move(block));                    // within the reserved room
        }
        Slot& slot = blocks.back().emplace_back(site.make_parser(), used);
        ++used;
        return &slot;
    }

    void unlink(Slot& slot) {
        if (slot.phase == Phase::idle) {
            return;
        }
        DeadlineList& l = list(slot.phase);
        (slot.prev == nil ? l.first : at(slot.prev).next) = slot.next;
        (slot.next == nil ? l.last : at(slot.next).prev) = slot.prev;
        slot.prev = nil;
        slot.next = nil;
        slot.phase = Phase::idle;
    }

    // Called after each receive the connection survives: a request that reached another phase,
    // or a new request, gets its phase's full timeout from now.
    void track(Slot& slot) {
        const Phase phase = slot.parser.phase();
        const std::uint32_t completed = slot.parser.completed();
        if (phase == slot.phase && completed == slot.completed) {
            return;
        }
        unlink(slot);
        slot.completed = completed;
        if (phase == Phase::idle) {
            return;
        }
        const Clock::time_point now = Clock::now();
        const auto& settings = site.settings();
        slot.phase = phase;
        slot.deadline = now + (phase == Phase::head ? settings.header_timeout : settings.body_timeout);
        DeadlineList& l = list(phase);
        const std::uint32_t i = slot.index;
        slot.prev = l.last;
        (l.last == nil ? l.first : at(l.last).next) = i;
        l.last = i;
        arm(slot.deadline, now);
    }

    // One host timer per instance, due at the earliest deadline of both lists.
    void arm(Clock::time_point due, Clock::time_point now) {
        if (deadline_timer != 0) {
            if (timer_due <= due) {
                return;
            }
            host.cancel_timer(deadline_timer);
        }
        const auto delay =
            std::max(std::chrono::ceil<std::chrono::milliseconds>(due - now), std::chrono::milliseconds(1));
        deadline_timer = host.start_timer(delay, &expire, this);
        timer_due = due;
        if (deadline_timer == 0) {
            // Logged at 1, 2, 4, 8 ... failures; the next request to start or reach its body
            // tries again, and the listener's idle_timeout still closes silent connections.
            ++timer_failures;
            if ((timer_failures & (timer_failures - 1)) == 0) {
                host.warn("http: cannot start the request deadline timer of " + where +
                          ": the driver's timer limit is reached; " + std::to_string(timer_failures) +
                          " times so far");
            }
        }
    }

    static void expire(gatio_host*, void* arg) {
        auto* self = static_cast<State*>(arg);
        self->deadline_timer = 0;
        const Clock::time_point now = Clock::now();
        self->expire_list(self->heads, now);
        self->expire_list(self->bodies, now);
        const std::uint32_t h = self->heads.first;
        const std::uint32_t b = self->bodies.first;
        if (h != nil || b != nil) {
            const Clock::time_point due = h == nil   ? self->at(b).deadline
                                          : b == nil ? self->at(h).deadline
                                                     : std::min(self->at(h).deadline, self->at(b).deadline);
            self->arm(due, now);
        }
    }

    void expire_list(DeadlineList& l, Clock::time_point now) {
        while (l.first != nil && at(l.first).deadline <= now) {
            Slot& slot = at(l.first);
            unlink(slot);
            slot.timed_out = true;
            const gatio::Connection c(host, slot.conn, &slot);
            SendOutput out(c);
            c.close(site.time_out(date(), out) ? GATIO_CLOSE_FLUSH : GATIO_CLOSE_ABORT);
        }
    }

    gatio::Host host;
    std::string where;
    // Slots per block: a block is about 40 KiB, so an instance of the default 65,536
    // connections starts with none and reaches 11 MiB only with that many open.
    static constexpr std::uint32_t block_slots = 256;

    gatio::http::Site site;
    std::uint32_t capacity = 0;            // max_connections
    std::uint32_t used = 0;                // slots ever handed out; the next new one is this
    std::vector<std::vector<Slot>> blocks; // each reserved to its full size, so slots never move
    std::vector<std::uint32_t> free_slots; // given back, taken again first
    DeadlineList heads;                    // requests whose head is incomplete
    DeadlineList bodies;                   // requests whose body is incomplete
    gatio_timer deadline_timer = 0;
    Clock::time_point timer_due{};
    std::uint64_t refused = 0;
    std::uint64_t timer_failures = 0;
    bool clock_from_data = false;
};

class Http {
public:
    Http(gatio::Host host, const gatio::InstanceInfo& info) : s_(std::make_unique<State>(host, info)) {}

    bool on_open(gatio::Connection c, const gatio_conn_info&) {
        State& s = *s_;
        Slot* slot = nullptr;
        try {
            slot = s.take();
        } catch (const std::bad_alloc&) {
            slot = nullptr; // no memory for a new block: refused like a connection beyond the limit
        }
        if (slot == nullptr) {
            // Logged at 1, 2, 4, 8 ... refusals so a flood cannot flood the journal too.
            ++s.refused;
            if ((s.refused & (s.refused - 1)) == 0) {
                s.host.warn("http: answered 503 to a connection on " + s.where + ": " +
                            (s.used == s.capacity ? "all " + std::to_string(s.capacity) +
                                                        " slots (max_connections) are in use; "
                                                  : std::string("no memory for more slots; ")) +
                            std::to_string(s.refused) + " refused so far");
            }
            // A client told "503" knows to retry later; a bare reset looks like a crash.
            SendOutput out(c);
            if (!s.site.refuse(s.date(), out)) {
                return false;
            }
            c.close(GATIO_CLOSE_FLUSH);
            return true;
        }
        slot->conn = c.id();
        if (c.set_user(slot) != GATIO_OK) {
            s.free_slots.push_back(slot->index);
            return false;
        }
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        State& s = *s_;
        Slot* slot = c.user<Slot>();
        if (slot == nullptr || slot->timed_out) {
            return static_cast<std::int64_t>(data.size()); // answered 503 or 408 and closing
        }
        SendOutput out(c);
        switch (s.site.serve(slot->parser, data, s.date(), out)) {
        case gatio::http::Verdict::keep:
            s.track(*slot);
            if (slot->draining && slot->parser.phase() == Phase::idle) {
                return GATIO_DATA_CLOSE; // the request that was under way when the drain began is answered
            }
            return static_cast<std::int64_t>(data.size());
        case gatio::http::Verdict::close:
            s.unlink(*slot);
            return GATIO_DATA_CLOSE;
        case gatio::http::Verdict::reset:
            break;
        }
        // The driver's output memory is exhausted: a partial answer would corrupt the stream.
        s.unlink(*slot);
        return GATIO_DATA_RESET;
    }

    // gatiod is stopping: an idle connection closes now; one with a request under way (part of
    // its head or body received) may finish it, and closes once it is answered.
    gatio_drain_action on_drain(gatio::Connection c) {
        Slot* slot = c.user<Slot>();
        if (slot == nullptr || slot->timed_out || slot->parser.phase() == Phase::idle) {
            return GATIO_DRAIN_CLOSE;
        }
        slot->draining = true;
        return GATIO_DRAIN_READ;
    }

    void on_close(gatio::Connection c, gatio_close_reason) {
        State& s = *s_;
        if (auto* slot = c.user<Slot>()) {
            s.unlink(*slot);
            s.free_slots.push_back(slot->index);
        }
    }

private:
    std::unique_ptr<State> s_;
};

} // namespace

GATIO_EXPORT_PLUGIN(Http, "http", "1.0", GATIO_TRANSPORT_TCP)
