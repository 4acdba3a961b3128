// Per-driver networking counters.
//
// The owning driver bumps a plain NetCounters (no atomics on the hot path) and publishes a copy
// once per loop turn with relaxed stores; other threads read the published copy. Each field is
// exact as of some recent loop turn.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/plugin_metrics.hpp"

namespace gatio::net {

struct NetCounters {
    std::uint64_t accepted = 0;            // TCP connections taken into the slab
    std::uint64_t rejected = 0;            // connections closed at once: max_connections reached
    std::uint64_t accept_errors = 0;       // failed accept completions (each re-armed)
    std::uint64_t closed = 0;              // connections fully torn down
    std::uint64_t peer_resets = 0;         // connections the peer reset or that failed with an error
    std::uint64_t idle_closes = 0;         // connections closed by idle_timeout
    std::uint64_t limit_closes = 0;        // connections closed for exceeding an input or output limit
    std::uint64_t bytes_received = 0;      // TCP payload delivered to handlers
    std::uint64_t bytes_sent = 0;          // TCP payload acknowledged by the kernel
    std::uint64_t dispatched = 0;          // input handed to handlers: on_data and on_datagram calls
    std::uint64_t recv_enobufs = 0;        // receives that found the buffer ring empty
    std::uint64_t recv_multishot_ends = 0; // multishot receives that ended without an error
    std::uint64_t recv_rearms = 0;         // receives armed again after either of the two above
    std::uint64_t read_pauses = 0;         // reads paused at the send high watermark
    std::uint64_t output_tight = 0;        // times the output budget got down to its floor: reads bounded
    std::uint64_t output_relaxed = 0;      // times it recovered: reads unbounded again
    std::uint64_t partial_sends = 0;       // sends the kernel took only part of (continued)
    std::uint64_t single_sends = 0;        // sends of one slice through IORING_OP_SEND (no msghdr)
    std::uint64_t recv_bundled = 0;        // buffers a receive bundle carried after its first
    std::uint64_t recv_buffer_kept = 0; // receives whose buffer the kernel goes on filling (pbuf_incremental)
    std::uint64_t output_refused = 0;   // send calls refused: send_buffer_limit or the output budget
    std::uint64_t output_admissions_refused = 0; // connections closed at once: no output reserve left
    std::uint64_t datagrams_received = 0;
    std::uint64_t datagrams_truncated = 0; // larger than a provided buffer; not delivered whole
    std::uint64_t datagrams_sent = 0;
    std::uint64_t datagram_drops = 0;     // replies refused (no reply slot, too large) or failed
    std::uint64_t udp_rearms = 0;         // multishot recvmsg armed again (ENOBUFS or end)
    std::uint64_t timer_exhausted = 0;    // connection timers that found no free timer slot
    std::uint64_t output_memory = 0;      // gauge: bytes of output chunks held right now
    std::uint64_t plugin_errors = 0;      // handler faults: exceptions, on_data results out of range,
                                          // instances that could not be made
    std::uint64_t buffers = 0;            // gauge: provided receive buffers registered with the ring
    std::uint64_t buffers_used = 0;       // gauge: of those, filled by the kernel and not yet given back
                                          // (sampled; 0 where the kernel cannot tell, before Linux 6.8)
    std::uint64_t outbound_connected = 0; // handlers' outbound connections that connected
    std::uint64_t outbound_failed = 0;    // ... that did not: refused, timed out, cancelled, ...
    std::uint64_t outbound_closed = 0;    // ... torn down after they connected
    std::uint64_t receive_holds = 0;      // send_received slices queued from their receive buffer
    std::uint64_t receive_copies = 0;     // ... copied instead (a bound reached, or carried input)
    std::uint64_t buffers_held = 0;       // gauge: receive buffers output holds right now
    std::uint64_t zerocopy_sends = 0;     // lent slices sent with SEND_ZC from their fixed buffer
    std::uint64_t zerocopy_fallbacks = 0; // ... refused by the socket (EOPNOTSUPP): sent with a copy
    std::uint64_t lent_out = 0;           // gauge: lent buffers out of their pools right now
    std::uint64_t lent_registered = 0;    // gauge: lent buffers registered with the ring (pinned)

    NetCounters& operator+=(const NetCounters& other);
};

// A counter's name and member, for logging, summing and publishing.
template <typename Counters>
struct CounterField {
    std::string_view name;
    std::uint64_t Counters::*member;
};
using NetCounterField = CounterField<NetCounters>;

// Names and members, in declaration order.
inline constexpr std::array<NetCounterField, 42> net_counter_fields{{
    {"accepted", &NetCounters::accepted},
    {"rejected", &NetCounters::rejected},
    {"accept_errors", &NetCounters::accept_errors},
    {"closed", &NetCounters::closed},
    {"peer_resets", &NetCounters::peer_resets},
    {"idle_closes", &NetCounters::idle_closes},
    {"limit_closes", &NetCounters::limit_closes},
    {"bytes_received", &NetCounters::bytes_received},
    {"bytes_sent", &NetCounters::bytes_sent},
    {"dispatched", &NetCounters::dispatched},
    {"recv_enobufs", &NetCounters::recv_enobufs},
    {"recv_multishot_ends", &NetCounters::recv_multishot_ends},
    {"recv_rearms", &NetCounters::recv_rearms},
    {"read_pauses", &NetCounters::read_pauses},
    {"output_tight", &NetCounters::output_tight},
    {"output_relaxed", &NetCounters::output_relaxed},
    {"partial_sends", &NetCounters::partial_sends},
    {"single_sends", &NetCounters::single_sends},
    {"recv_bundled", &NetCounters::recv_bundled},
    {"recv_buffer_kept", &NetCounters::recv_buffer_kept},
    {"output_refused", &NetCounters::output_refused},
    {"output_admissions_refused", &NetCounters::output_admissions_refused},
    {"datagrams_received", &NetCounters::datagrams_received},
    {"datagrams_truncated", &NetCounters::datagrams_truncated},
    {"datagrams_sent", &NetCounters::datagrams_sent},
    {"datagram_drops", &NetCounters::datagram_drops},
    {"udp_rearms", &NetCounters::udp_rearms},
    {"timer_exhausted", &NetCounters::timer_exhausted},
    {"output_memory", &NetCounters::output_memory},
    {"plugin_errors", &NetCounters::plugin_errors},
    {"buffers", &NetCounters::buffers},
    {"buffers_used", &NetCounters::buffers_used},
    {"outbound_connected", &NetCounters::outbound_connected},
    {"outbound_failed", &NetCounters::outbound_failed},
    {"outbound_closed", &NetCounters::outbound_closed},
    {"receive_holds", &NetCounters::receive_holds},
    {"receive_copies", &NetCounters::receive_copies},
    {"buffers_held", &NetCounters::buffers_held},
    {"zerocopy_sends", &NetCounters::zerocopy_sends},
    {"zerocopy_fallbacks", &NetCounters::zerocopy_fallbacks},
    {"lent_out", &NetCounters::lent_out},
    {"lent_registered", &NetCounters::lent_registered},
}};
static_assert(sizeof(NetCounters) == net_counter_fields.size() * sizeof(std::uint64_t),
              "every counter must be listed in net_counter_fields");

inline NetCounters& NetCounters::operator+=(const NetCounters& other) {
    for (const auto& f : net_counter_fields) {
        this->*f.member += other.*f.member;
    }
    return *this;
}

// One listener on one driver. The same record carries on across reloads that change the
// listener, so its counters never go back.
struct ListenerCounters {
    std::uint64_t accepted = 0;       // TCP connections handed to the handler
    std::uint64_t refused = 0;        // TCP connections closed at once: max_connections reached
    std::uint64_t closed = 0;         // TCP connections torn down
    std::uint64_t bytes_received = 0; // TCP payload delivered to the handler
    std::uint64_t bytes_sent = 0;     // TCP payload acknowledged by the kernel
    std::uint64_t dispatched = 0;     // on_data and on_datagram calls
    std::uint64_t datagrams_received = 0;
    std::uint64_t datagrams_sent = 0;
    std::uint64_t datagram_drops = 0;
    std::uint64_t plugin_errors = 0; // handler faults: exceptions, on_data results out of range,
                                     // instances that could not be made
};

inline constexpr std::array<CounterField<ListenerCounters>, 10> listener_counter_fields{{
    {"accepted", &ListenerCounters::accepted},
    {"refused", &ListenerCounters::refused},
    {"closed", &ListenerCounters::closed},
    {"bytes_received", &ListenerCounters::bytes_received},
    {"bytes_sent", &ListenerCounters::bytes_sent},
    {"dispatched", &ListenerCounters::dispatched},
    {"datagrams_received", &ListenerCounters::datagrams_received},
    {"datagrams_sent", &ListenerCounters::datagrams_sent},
    {"datagram_drops", &ListenerCounters::datagram_drops},
    {"plugin_errors", &ListenerCounters::plugin_errors},
}};
static_assert(sizeof(ListenerCounters) == listener_counter_fields.size() * sizeof(std::uint64_t),
              "every counter must be listed in listener_counter_fields");

// The copy other threads read: written with relaxed stores by the owning driver, once per turn.
template <typename Counters, const auto& Fields>
class PublishedCounterSet {
public:
    void publish(const Counters& c) {
        for (std::size_t i = 0; i < Fields.size(); ++i) {
            cells_[i].store(c.*Fields[i].member, std::memory_order_relaxed);
        }
    }
    Counters read() const {
        Counters c;
        for (std::size_t i = 0; i < Fields.size(); ++i) {
            c.*Fields[i].member = cells_[i].load(std::memory_order_relaxed);
        }
        return c;
    }

private:
    std::array<std::atomic<std::uint64_t>, Fields.size()> cells_{};
};

using PublishedNetCounters = PublishedCounterSet<NetCounters, net_counter_fields>;
using PublishedListenerCounters = PublishedCounterSet<ListenerCounters, listener_counter_fields>;

// One listener on one driver: counted by that driver's endpoints of the listener (the
// listener's old and new instances during a reload), read by anyone.
struct ListenerStats {
    ListenerCounters counters; // the driver's thread only
    PublishedListenerCounters published;
    PluginMetrics plugin_metrics; // the handler's own series (gatio_services' metric_register)
    void publish() { published.publish(counters); }
};

} // namespace gatio::net
