// Server commands answered on the connection's driver: CONFIG, and FUNCTION and SCRIPT, which
// have nothing to hold (no scripting exists: EVAL, EVALSHA and FCALL are unknown commands).
#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <string>

#include "commands.hpp"
#include "parser.hpp"
#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

bool sync_option(std::span<const std::string_view> args) {
    return args.size() == 2 || is(args[2], "sync") || is(args[2], "async");
}

// The parameters CONFIG knows, by redis-server's names. The fixed ones report the plugin's
// state; the others CONFIG SET changes for every connection and shard of the listener.
enum class Param : std::uint8_t {
    save,
    appendonly,
    databases,
    maxmemory,
    maxmemory_policy,
    maxmemory_samples,
    proto_max_bulk_len,
    port,
    io_threads,
};

constexpr std::array<std::pair<std::string_view, Param>, 9> params{{
    {"save", Param::save},
    {"appendonly", Param::appendonly},
    {"databases", Param::databases},
    {"maxmemory", Param::maxmemory},
    {"maxmemory-policy", Param::maxmemory_policy},
    {"maxmemory-samples", Param::maxmemory_samples},
    {"proto-max-bulk-len", Param::proto_max_bulk_len},
    {"port", Param::port},
    {"io-threads", Param::io_threads},
}};

// The bounds CONFIG SET enforces: the options' (docs/plugins.md), except that one argument may
// not be made shorter than redis-server allows.
constexpr std::int64_t max_samples = 64;
constexpr std::uint64_t min_bulk_len = 1u << 20;
constexpr std::uint64_t max_bulk_len = 4ull << 30;

std::string param_value(Param p, const ConnectionFacts& facts) {
    const ServerSettings& s = *facts.settings;
    switch (p) {
    case Param::save:
        return "";
    case Param::appendonly:
        return "no";
    case Param::databases:
        return std::to_string(s.databases);
    case Param::maxmemory:
        return std::to_string(s.max_memory);
    case Param::maxmemory_policy:
        return std::string(policy_name(s.policy));
    case Param::maxmemory_samples:
        return std::to_string(s.maxmemory_samples);
    case Param::proto_max_bulk_len:
        return std::to_string(s.proto_max_bulk_len);
    case Param::port:
        return std::to_string(facts.port);
    case Param::io_threads:
        return "1";
    }
    return "";
}

const std::pair<std::string_view, Param>* find_param(std::string_view name) {
    for (const auto& p : params) {
        if (equal_nocase(p.first, name)) {
            return &p;
        }
    }
    return nullptr;
}

// A memory value as redis-server reads one (memtoull): digits, then nothing, b, k, kb, m, mb, g
// or gb in any letter case (k is 1000, kb 1024).
std::optional<std::uint64_t> memory_value(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        ++digits;
    }
    const std::string_view unit = text.substr(digits);
    std::uint64_t mul = 0;
    if (unit.empty() || is(unit, "b")) {
        mul = 1;
    } else if (is(unit, "k")) {
        mul = 1000;
    } else if (is(unit, "kb")) {
        mul = 1024;
    } else if (is(unit, "m")) {
        mul = 1000 * 1000;
    } else if (is(unit, "mb")) {
        mul = 1024 * 1024;
    } else if (is(unit, "g")) {
        mul = 1000ull * 1000 * 1000;
    } else if (is(unit, "gb")) {
        mul = 1024ull * 1024 * 1024;
    } else {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char c : text.substr(0, digits)) {
        const auto d = static_cast<std::uint64_t>(c - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d; // strtoull saturates
    }
    if (v > UINT64_MAX / mul) {
        return std::nullopt;
    }
    return v * mul;
}

void config_failed(std::string_view name, std::string_view why, std::string& out) {
    reply::error(out, "ERR CONFIG SET failed (possibly related to argument '" + std::string(name) + "') - " +
                          std::string(why));
}

std::string range_text(std::uint64_t lo, std::uint64_t hi) {
    return "argument must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " inclusive";
}

// Applies one parameter's value to `s`; false with the error appended when it is refused.
bool set_param(Param p, std::string_view name, std::string_view value, ServerSettings& s, std::string& out) {
    switch (p) {
    case Param::save:
        if (!value.empty()) {
            config_failed(name, "the resp plugin saves nothing: only an empty value is accepted", out);
            return false;
        }
        return true;
    case Param::appendonly:
        if (is(value, "yes")) {
            config_failed(name, "the resp plugin keeps no append-only file", out);
            return false;
        }
        if (!is(value, "no")) {
            config_failed(name, "argument must be 'yes' or 'no'", out);
            return false;
        }
        return true;
    case Param::maxmemory:
        if (auto v = memory_value(value)) {
            s.max_memory = *v;
            return true;
        }
        config_failed(name, "argument must be a memory value", out);
        return false;
    case Param::maxmemory_policy:
        if (is(value, "noeviction")) {
            s.policy = EvictionPolicy::noeviction;
        } else if (is(value, "allkeys-lru")) {
            s.policy = EvictionPolicy::allkeys_lru;
        } else {
            config_failed(name, "argument(s) must be one of the following: allkeys-lru, noeviction", out);
            return false;
        }
        return true;
    case Param::maxmemory_samples: {
        auto v = parse_int(value);
        if (!v) {
            config_failed(name, "argument couldn't be parsed into an integer", out);
            return false;
        }
        if (*v < 1 || *v > max_samples) {
            config_failed(name, range_text(1, max_samples), out);
            return false;
        }
        s.maxmemory_samples = static_cast<std::uint32_t>(*v);
        return true;
    }
    case Param::proto_max_bulk_len: {
        auto v = memory_value(value);
        if (!v) {
            config_failed(name, "argument must be a memory value", out);
            return false;
        }
        if (*v < min_bulk_len || *v > max_bulk_len) {
            config_failed(name, range_text(min_bulk_len, max_bulk_len), out);
            return false;
        }
        s.proto_max_bulk_len = *v;
        return true;
    }
    case Param::databases:
    case Param::port:
    case Param::io_threads:
        break;
    }
    config_failed(name, "can't set immutable config", out);
    return false;
}

void config_get(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out) {
    // A name without a glob character is answered as asked; a pattern with the canonical
    // names. Each parameter comes once, the first way it was asked for.
    std::array<std::string_view, params.size()> as{};
    std::array<bool, params.size()> hit{};
    std::size_t n = 0;
    for (std::size_t a = 2; a < args.size(); ++a) {
        const bool pattern = args[a].find_first_of("[*?") != std::string_view::npos;
        for (std::size_t i = 0; i < params.size(); ++i) {
            const bool match =
                pattern ? glob_match(args[a], params[i].first, true) : equal_nocase(args[a], params[i].first);
            if (!hit[i] && match) {
                hit[i] = true;
                as[i] = pattern ? params[i].first : args[a];
                ++n;
            }
        }
    }
    reply::array(out, 2 * n);
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (hit[i]) {
            reply::bulk(out, as[i]);
            reply::bulk(out, param_value(params[i].second, facts));
        }
    }
}

// Every pair is checked before any applies (names, then values), so a refused CONFIG SET
// changes nothing, as in redis-server.
void config_set(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out) {
    if (args.size() % 2 != 0) {
        reply::error(out, reply::syntax_error);
        return;
    }
    std::array<bool, params.size()> seen{};
    // A name may come once, so the pairs that pass fit one per parameter.
    std::array<const std::pair<std::string_view, Param>*, params.size()> chosen{};
    std::size_t pairs = 0;
    for (std::size_t a = 2; a < args.size(); a += 2) {
        const auto* p = find_param(args[a]);
        if (p == nullptr) {
            error_naming(out, "ERR Unknown option or number of arguments for CONFIG SET - '", args[a], "'");
            return;
        }
        const auto i = static_cast<std::size_t>(p - params.data());
        if (p->second == Param::databases || p->second == Param::port || p->second == Param::io_threads) {
            config_failed(p->first, "can't set immutable config", out);
            return;
        }
        if (seen[i]) {
            config_failed(p->first, "duplicate parameter", out);
            return;
        }
        seen[i] = true;
        chosen[pairs++] = p;
    }
    if (facts.runtime == nullptr) {
        reply::error(out, "ERR CONFIG SET is not available here");
        return;
    }
    ServerSettings next = facts.runtime->get();
    for (std::size_t k = 0; k < pairs; ++k) {
        if (!set_param(chosen[k]->second, chosen[k]->first, args[3 + 2 * k], next, out)) {
            return;
        }
    }
    facts.runtime->set(next);
    reply::ok(out);
}

} // namespace

void config_command(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out) {
    const std::string_view sub = args[1];
    if (is(sub, "get")) {
        if (args.size() < 3) {
            arity_error("config|get", out);
            return;
        }
        config_get(args, facts, out);
    } else if (is(sub, "set")) {
        if (args.size() < 4) {
            arity_error("config|set", out);
            return;
        }
        config_set(args, facts, out);
    } else if (is(sub, "resetstat")) {
        if (args.size() != 2) {
            arity_error("config|resetstat", out);
            return;
        }
        if (facts.runtime != nullptr) {
            facts.runtime->reset_stats();
        }
        if (facts.counters != nullptr) {
            facts.counters->reset();
        }
        reply::ok(out);
    } else {
        unknown_subcommand(sub, "CONFIG", out);
    }
}

void function_command(std::span<const std::string_view> args, std::string& out) {
    if (!is(args[1], "flush")) {
        unknown_subcommand(args[1], "FUNCTION", out);
        return;
    }
    if (args.size() > 3) {
        subcommand_syntax_error(args[1], "FUNCTION", out);
    } else if (!sync_option(args)) {
        reply::error(out, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    } else {
        reply::ok(out);
    }
}

void script_command(std::span<const std::string_view> args, std::string& out) {
    if (is(args[1], "flush")) {
        if (args.size() > 3 || !sync_option(args)) {
            reply::error(out, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        } else {
            reply::ok(out);
        }
    } else if (is(args[1], "exists")) {
        if (args.size() < 3) {
            arity_error("script|exists", out);
            return;
        }
        reply::array(out, args.size() - 2);
        for (std::size_t i = 2; i < args.size(); ++i) {
            reply::integer(out, 0);
        }
    } else {
        unknown_subcommand(args[1], "SCRIPT", out);
    }
}

bool client_name_ok(std::string_view name, std::string& out) {
    for (char c : name) {
        if (c < '!' || c > '~') {
            reply::error(out, "ERR Client names cannot contain spaces, newlines or special characters.");
            return false;
        }
    }
    return true;
}

namespace {

// CLIENT LIST's and KILL's TYPE; nullopt for a name redis-server does not know.
std::optional<ClientFilter::Type> client_type(std::string_view name) {
    if (is(name, "normal")) {
        return ClientFilter::Type::normal;
    }
    if (is(name, "pubsub")) {
        return ClientFilter::Type::pubsub;
    }
    if (is(name, "replica") || is(name, "slave") || is(name, "master")) {
        return ClientFilter::Type::none;
    }
    return std::nullopt;
}

bool type_option(std::string_view name, ClientFilter& f, std::string& out) {
    const auto t = client_type(name);
    if (!t) {
        error_naming(out, "ERR Unknown client type '", name, "'");
        return false;
    }
    f.type = *t;
    return true;
}

void number_field(std::string& out, std::string_view name, std::int64_t v) {
    out.append(name);
    reply::number(out, v);
}

} // namespace

bool parse_client_list(std::span<const std::string_view> args, ClientFilter& f, std::string& out) {
    f.clear();
    f.skipme = false;
    if (args.size() == 4 && is(args[2], "type")) {
        return type_option(args[3], f, out);
    }
    if (args.size() > 3 && is(args[2], "id")) {
        for (std::size_t i = 3; i < args.size(); ++i) {
            const auto id = parse_int(args[i]);
            if (!id) {
                reply::error(out, "ERR Invalid client ID");
                return false;
            }
            // No client has an id below 1; such an id lists nothing.
            f.ids.push_back(*id > 0 ? static_cast<std::uint64_t>(*id) : 0);
        }
        return true;
    }
    if (args.size() != 2) {
        reply::error(out, reply::syntax_error);
        return false;
    }
    return true;
}

bool parse_client_kill(std::span<const std::string_view> args, ClientFilter& f, std::string& out) {
    f.clear();
    if (args.size() == 3) {
        // The old form, which may kill the asking client itself.
        f.old_form = true;
        f.skipme = false;
        f.addr = args[2];
        f.by_addr = true;
        return true;
    }
    for (std::size_t i = 2; i < args.size(); i += 2) {
        const bool more = i + 1 < args.size();
        const std::string_view opt = args[i];
        if (more && is(opt, "id")) {
            const auto id = parse_int(args[i + 1]);
            if (!id || *id < 1) {
                reply::error(out, "ERR client-id should be greater than 0");
                return false;
            }
            f.ids.assign(1, static_cast<std::uint64_t>(*id));
        } else if (more && is(opt, "type")) {
            if (!type_option(args[i + 1], f, out)) {
                return false;
            }
        } else if (more && is(opt, "addr")) {
            f.addr = args[i + 1];
            f.by_addr = true;
        } else if (more && is(opt, "laddr")) {
            f.laddr = args[i + 1];
            f.by_laddr = true;
        } else if (more && is(opt, "user")) {
            // Every client is redis-server's passwordless "default" user.
            if (args[i + 1] != "default") {
                error_naming(out, "ERR No such user '", args[i + 1], "'");
                return false;
            }
        } else if (more && is(opt, "skipme")) {
            if (is(args[i + 1], "yes")) {
                f.skipme = true;
            } else if (is(args[i + 1], "no")) {
                f.skipme = false;
            } else {
                reply::error(out, reply::syntax_error);
                return false;
            }
        } else {
            reply::error(out, reply::syntax_error);
            return false;
        }
    }
    return true;
}

bool client_matches(const ClientFilter& f, const ClientView& c) {
    if (!f.ids.empty() && std::find(f.ids.begin(), f.ids.end(), c.id) == f.ids.end()) {
        return false;
    }
    if ((f.type == ClientFilter::Type::normal && c.pubsub) ||
        (f.type == ClientFilter::Type::pubsub && !c.pubsub) || f.type == ClientFilter::Type::none) {
        return false;
    }
    // An address gatiod could not learn (direct descriptors) matches no ADDR or LADDR.
    if ((f.by_addr && (c.addr.empty() || c.addr != f.addr)) ||
        (f.by_laddr && (c.laddr.empty() || c.laddr != f.laddr))) {
        return false;
    }
    return !(f.skipme && c.id == f.self);
}

// redis-server 7.0's fields in its order; what each means in gatiod is in docs/plugins.md.
void client_line(const ClientView& c, std::string& out) {
    number_field(out, "id=", static_cast<std::int64_t>(c.id));
    out.append(" addr=");
    out.append(c.addr);
    out.append(" laddr=");
    out.append(c.laddr);
    out.append(" fd=-1 name=");
    out.append(c.name);
    number_field(out, " age=", c.age_s);
    number_field(out, " idle=", c.idle_s);
    out.append(" flags=");
    const std::size_t flags = out.size();
    if (c.pubsub) {
        out.push_back('P');
    }
    if (c.multi) {
        out.push_back('x');
    }
    if (c.blocked) {
        out.push_back('b');
    }
    if (c.dirty) {
        out.push_back('d');
    }
    if (out.size() == flags) {
        out.push_back('N');
    }
    number_field(out, " db=", c.db);
    number_field(out, " sub=", static_cast<std::int64_t>(c.sub));
    number_field(out, " psub=", static_cast<std::int64_t>(c.psub));
    out.append(" ssub=0");
    number_field(out, " multi=", c.queued);
    number_field(out, " qbuf=", static_cast<std::int64_t>(c.qbuf));
    number_field(out, " qbuf-free=", static_cast<std::int64_t>(c.qbuf_free));
    number_field(out, " argv-mem=", static_cast<std::int64_t>(c.argv_mem));
    number_field(out, " multi-mem=", static_cast<std::int64_t>(c.multi_mem));
    out.append(" rbs=0 rbp=0");
    number_field(out, " obl=", static_cast<std::int64_t>(c.obl));
    number_field(out, " oll=", static_cast<std::int64_t>(c.oll));
    number_field(out, " omem=", static_cast<std::int64_t>(c.omem));
    number_field(out, " tot-mem=",
                 static_cast<std::int64_t>(c.qbuf + c.qbuf_free + c.argv_mem + c.multi_mem + c.obl + c.omem));
    out.append(c.obl > 0 || c.omem > 0 ? " events=rw cmd=" : " events=r cmd=");
    out.append(c.cmd.empty() ? std::string_view{"NULL"} : c.cmd);
    out.append(" user=default redir=-1 resp=2\n");
}

void client_command(std::span<const std::string_view> args, const ConnectionFacts& facts, std::string& out) {
    const std::string_view sub = args[1];
    if (is(sub, "id")) {
        if (args.size() != 2) {
            arity_error("client|id", out);
            return;
        }
        reply::integer(out, static_cast<std::int64_t>(facts.client_id));
    } else if (is(sub, "setname")) {
        if (args.size() != 3) {
            arity_error("client|setname", out);
            return;
        }
        if (!client_name_ok(args[2], out)) {
            return;
        }
        if (facts.name != nullptr) {
            facts.name->assign(args[2]);
        }
        reply::ok(out);
    } else if (is(sub, "getname")) {
        if (args.size() != 2) {
            arity_error("client|getname", out);
            return;
        }
        if (facts.name == nullptr || facts.name->empty()) {
            reply::nil(out);
        } else {
            reply::bulk(out, *facts.name);
        }
    } else if (is(sub, "info")) {
        if (args.size() != 2) {
            arity_error("client|info", out);
            return;
        }
        std::string line;
        if (facts.self != nullptr) {
            client_line(*facts.self, line);
        }
        reply::bulk(out, line);
    } else if (is(sub, "list") || is(sub, "kill")) {
        // The plugin answers these over every driver (resp.cpp), inside EXEC too; only a caller
        // without drivers (the fuzz check's in-process server) gets here.
        if (is(sub, "kill") && args.size() < 3) {
            arity_error("client|kill", out);
            return;
        }
        reply::error(out, "ERR CLIENT LIST and CLIENT KILL need the plugin's drivers");
    } else {
        unknown_subcommand(sub, "CLIENT", out);
    }
}

} // namespace gatio::resp
