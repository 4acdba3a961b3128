// Checks that relate several entries of the file. Checks that need the machine (does CPU 5
// exist, is node 1 there, which drivers does a listener name) belong to core/topology.
#include <cstring>
#include <map>
#include <netinet/in.h>

#include "config/sections.hpp"

namespace gatio::config::detail {

namespace {

std::string line_of(SourcePos pos) {
    return "(line " + std::to_string(pos.line) + ")";
}

struct Owner {
    std::string what; // e.g. `tpc "node0"`
    SourcePos pos;
};

// Reports `context: name is already used by <owner>` when name was seen before.
void claim_name(std::map<std::string, Owner, std::less<>>& seen, const std::string& name, std::string what,
                SourcePos pos, const std::string& context, Reporter& out) {
    if (name.empty()) {
        return; // a missing or invalid name is reported where it is read
    }
    const auto [it, inserted] = seen.try_emplace(name, Owner{std::move(what), pos});
    if (!inserted) {
        out.error(pos, prefixed(context, "name is already used by " + it->second.what + " " +
                                             line_of(it->second.pos)));
    }
}

// Copies rather than casts: the storage is only ever written as one of these structs.
template <typename SockAddr>
SockAddr as(const SocketAddress& a) {
    SockAddr out;
    std::memcpy(&out, &a.storage, sizeof out);
    return out;
}

bool is_wildcard(const SocketAddress& a) {
    if (a.family() == AF_INET) {
        return as<sockaddr_in>(a).sin_addr.s_addr == htonl(INADDR_ANY);
    }
    const in6_addr addr = as<sockaddr_in6>(a).sin6_addr;
    return std::memcmp(&addr, &in6addr_any, sizeof addr) == 0;
}

bool same_host(const SocketAddress& a, const SocketAddress& b) {
    if (a.family() == AF_INET) {
        return as<sockaddr_in>(a).sin_addr.s_addr == as<sockaddr_in>(b).sin_addr.s_addr;
    }
    const in6_addr x = as<sockaddr_in6>(a).sin6_addr;
    const in6_addr y = as<sockaddr_in6>(b).sin6_addr;
    return std::memcmp(&x, &y, sizeof x) == 0;
}

// How binding `b` after `a` would fail: "" when it would not. A wildcard covers every
// address of its family, so it clashes with any specific address on the same port.
std::string clash(const SocketAddress& a, const SocketAddress& b) {
    if (a.is_unix() || b.is_unix()) {
        return a.is_unix() && b.is_unix() && a.unix_path() == b.unix_path() ? "is already used by" : "";
    }
    if (a.length == 0 || b.length == 0 || a.family() != b.family() || a.port != b.port) {
        return {};
    }
    if (same_host(a, b)) {
        return "is already used by";
    }
    if (is_wildcard(a) || is_wildcard(b)) {
        return "overlaps " + a.text + " of";
    }
    return {};
}

void check_names(const Config& config, Reporter& out) {
    // TPC and driver names share one namespace: a listener's drivers list may name either.
    const Positions& at = config.positions;
    std::map<std::string, Owner, std::less<>> units;
    for (std::size_t t = 0; t < config.topology.tpcs.size(); ++t) {
        const TpcConfig& tpc = config.topology.tpcs[t];
        const std::string tpc_what = named("tpc", tpc.name);
        claim_name(units, tpc.name, tpc_what, at.tpc(t).name, tpc_what, out);
        for (std::size_t d = 0; d < tpc.drivers.size(); ++d) {
            const std::string driver_what = named("driver", tpc.drivers[d].name);
            claim_name(units, tpc.drivers[d].name, driver_what, at.driver(t, d).name,
                       tpc_what + ": " + driver_what, out);
        }
    }
    std::map<std::string, Owner, std::less<>> listeners;
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
        const ListenerConfig& l = config.listeners[i];
        const std::string what = named("listener", l.name);
        claim_name(listeners, l.name, what, at.listener(i).name, what, out);
    }
}

void check_cpus(const Config& config, Reporter& out) {
    std::map<int, Owner> cpus;
    for (std::size_t t = 0; t < config.topology.tpcs.size(); ++t) {
        const TpcConfig& tpc = config.topology.tpcs[t];
        for (std::size_t d = 0; d < tpc.drivers.size(); ++d) {
            const DriverConfig& driver = tpc.drivers[d];
            if (driver.cpu < 0) {
                continue;
            }
            const SourcePos cpu_pos = config.positions.driver(t, d).cpu;
            const std::string what = named("driver", driver.name);
            const auto [it, inserted] = cpus.try_emplace(driver.cpu, Owner{what, cpu_pos});
            if (!inserted) {
                out.error(cpu_pos, prefixed(named("tpc", tpc.name) + ": " + what,
                                            "cpu " + std::to_string(driver.cpu) + " is already used by " +
                                                it->second.what + " " + line_of(it->second.pos)));
            }
        }
    }
}

void check_addresses(const Config& config, Reporter& out) {
    const auto& ls = config.listeners;
    const Positions& at = config.positions;
    for (std::size_t i = 0; i < ls.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (ls[j].transport != ls[i].transport) {
                continue;
            }
            const std::string how = clash(ls[j].address, ls[i].address);
            if (!how.empty()) {
                out.error(at.listener(i).address,
                          prefixed(named("listener", ls[i].name),
                                   std::string(to_string(ls[i].transport)) + " address " +
                                       ls[i].address.text + " " + how + " " + named("listener", ls[j].name) +
                                       " " + line_of(at.listener(j).address)));
                break; // one clash per listener is enough to act on
            }
        }
    }
    if (!config.admin.listen) {
        return;
    }
    for (std::size_t i = 0; i < ls.size(); ++i) {
        const ListenerConfig& l = ls[i];
        if (l.transport != Transport::tcp) {
            continue;
        }
        const std::string how = clash(l.address, *config.admin.listen);
        if (!how.empty()) {
            out.error(at.admin_listen, "admin: listen address " + config.admin.listen->text + " " + how +
                                           " " + named("listener", l.name) + " " +
                                           line_of(at.listener(i).address));
            return;
        }
    }
}

} // namespace

void cross_check(const Config& config, Reporter& out) {
    check_names(config, out);
    check_cpus(config, out);
    check_addresses(config, out);
}

} // namespace gatio::config::detail
