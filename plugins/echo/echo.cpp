// The echo handler: every byte received on a TCP connection is sent back on it, and every UDP
// datagram is answered with a copy of itself. It keeps no state beyond its options, so one
// instance per driver costs nothing and needs no locking.
//
// Options ([listener.options]):
//   log_connections (bool, false): log each TCP open and close at debug level.
#include <cstdint>
#include <span>
#include <string>

#include <gatio/plugin.hpp>

namespace {

class Echo {
public:
    Echo(gatio::Host host, const gatio::InstanceInfo& info)
        : host_(host), log_connections_(info.options.get("log_connections", false)) {}

    bool on_open(gatio::Connection c, const gatio_conn_info&) {
        if (log_connections_) {
            host_.debug("connection " + std::to_string(c.id()) + " opened");
        }
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        // The host pauses reading above the send high watermark and, when output memory runs
        // low, reads no more than the connection's share holds: a refusal means this client
        // sent far more than it read back. Dropping bytes would break the echo, so reset.
        if (c.send(data) != GATIO_OK) {
            return GATIO_DATA_RESET;
        }
        return static_cast<std::int64_t>(data.size());
    }

    void on_close(gatio::Connection c, gatio_close_reason reason) {
        if (log_connections_) {
            host_.debug("connection " + std::to_string(c.id()) + " closed (reason " + std::to_string(reason) +
                        ")");
        }
    }

    void on_datagram(const gatio::Datagram& d) {
        // Echoing the first part of a truncated datagram would hand the sender something it
        // never sent; the host has already counted the truncation.
        if (!d.truncated()) {
            d.reply(d.data());
        }
    }

private:
    gatio::Host host_;
    bool log_connections_;
};

} // namespace

GATIO_EXPORT_PLUGIN(Echo, "echo", "1.0", GATIO_TRANSPORT_TCP | GATIO_TRANSPORT_UDP)
