#include "net/fingerprint.hpp"

#include <cstring>
#include <fmt/format.h>

namespace gatio::net {

namespace {

class Digest {
public:
    void bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) {
            h_ = (h_ ^ b[i]) * 0x100000001b3ull;
        }
    }
    // Length-prefixed, so adjacent fields cannot run into each other.
    void text(std::string_view s) {
        number(s.size());
        bytes(s.data(), s.size());
    }
    void number(std::uint64_t v) { bytes(&v, sizeof v); }
    std::uint64_t value() const { return h_; }

private:
    std::uint64_t h_ = 0xcbf29ce484222325ull;
};

void add(Digest& d, const config::OptionValue& v);

void add(Digest& d, const config::OptionTable& t) {
    d.number(t.size());
    for (const auto& [key, value] : t) {
        d.text(key);
        add(d, value);
    }
}

void add(Digest& d, const config::OptionValue& v) {
    d.number(v.value.index());
    if (const auto* b = std::get_if<bool>(&v.value)) {
        d.number(*b ? 1 : 0);
    } else if (const auto* i = std::get_if<std::int64_t>(&v.value)) {
        d.number(static_cast<std::uint64_t>(*i));
    } else if (const auto* f = std::get_if<double>(&v.value)) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, f, sizeof bits);
        d.number(bits);
    } else if (const auto* s = std::get_if<std::string>(&v.value)) {
        d.text(*s);
    } else if (const auto* a = std::get_if<config::OptionArray>(&v.value)) {
        d.number(a->size());
        for (const auto& e : *a) {
            add(d, e);
        }
    } else {
        add(d, std::get<config::OptionTable>(v.value));
    }
}

} // namespace

std::uint64_t listener_fingerprint(const config::ListenerConfig& l, const Plugin& plugin) {
    Digest d;
    d.text(l.name);
    d.number(static_cast<std::uint64_t>(l.transport));
    d.text(l.address.text);
    d.bytes(&l.address.storage, l.address.length);
    d.text(l.handler_path.string());
    d.text(plugin.path().string());
    d.text(plugin.name());
    d.text(plugin.descriptor().version != nullptr ? plugin.descriptor().version : "");
    d.number(l.backlog);
    d.number(l.max_connections);
    d.number(static_cast<std::uint64_t>(l.idle_timeout.count()));
    d.number(l.steer_to_cpu ? 1 : 0);
    d.number(l.send_high_watermark);
    d.number(l.send_low_watermark);
    add(d, l.options);
    return d.value();
}

std::string fingerprint_text(std::uint64_t f) {
    return fmt::format("{:016x}", f);
}

} // namespace gatio::net
