#include "check.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace gatio::resp::check {

namespace {

// The message is built only for a failure: checks run on every event of every input.
void require(bool ok, const char* what) {
    if (!ok) {
        throw std::logic_error(what);
    }
}

std::string printable(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x21 && u < 0x7f && u != '\\') {
            out.push_back(c);
        } else {
            out += "\\x";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        }
    }
    return out;
}

} // namespace

namespace {

// Where the receives of a parse end: at the given offsets, or every `step` bytes.
struct Cuts {
    std::span<const std::size_t> at;
    std::size_t step = 0;

    std::size_t receives(std::size_t size) const {
        return step == 0 ? at.size() + 1 : std::max<std::size_t>(1, (size + step - 1) / step);
    }
    std::size_t end(std::size_t i, std::size_t size) const {
        if (step != 0) {
            return std::min(size, (i + 1) * step);
        }
        return i < at.size() ? at[i] : size;
    }
};

// Feeds `input` to `parser` in the receives `cuts` gives, keeping the unconsumed bytes in
// `buffer` as a connection does, and reports each event: on_command(end offset, args) and
// on_error(offset, parser), after which it stops. Checks the parser's invariants on the way.
template <class OnCommand, class OnError>
void feed(Parser& parser, std::vector<std::uint8_t>& buffer, const ParserLimits& limits,
          std::span<const std::uint8_t> input, const Cuts& cuts, OnCommand&& on_command, OnError&& on_error) {
    parser.reset();
    buffer.clear();
    std::size_t base = 0; // offset of buffer[0] in input
    std::size_t received = 0;
    const std::size_t receives = cuts.receives(input.size());
    for (std::size_t i = 0; i < receives; ++i) {
        const std::size_t end = cuts.end(i, input.size());
        require(end >= received && end <= input.size(), "cuts must increase within the input");
        buffer.insert(buffer.end(), input.begin() + static_cast<std::ptrdiff_t>(received),
                      input.begin() + static_cast<std::ptrdiff_t>(end));
        received = end;
        std::size_t pos = 0;
        while (pos < buffer.size()) {
            auto st = parser.parse(std::span(buffer).subspan(pos));
            if (st == ParseStatus::incomplete) {
                break;
            }
            if (st == ParseStatus::error) {
                on_error(base + pos, parser);
                return;
            }
            std::size_t n = parser.consumed();
            require(n > 0 && n <= buffer.size() - pos, "a request's length is outside the bytes given");
            auto args = parser.args();
            // Inline requests are bounded by their line length only, as in redis-server.
            const bool multibulk = buffer[pos] == '*';
            require(!multibulk || args.size() <= limits.max_multibulk, "more arguments than max_multibulk");
            for (auto a : args) {
                require(!multibulk || a.size() <= limits.max_bulk_len,
                        "an argument longer than max_bulk_len");
            }
            on_command(base + pos + n, args);
            pos += n;
        }
        buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(pos));
        base += pos;
    }
}

template <class T>
void put(std::string& out, T value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// The events of one parse as bytes, for comparing parses without building text: what the fuzz
// target compares on every input. on_request(args) sees each request as it is read.
template <class OnRequest>
void compact_trace(Parser& parser, std::vector<std::uint8_t>& buffer, const ParserLimits& limits,
                   std::span<const std::uint8_t> input, const Cuts& cuts, std::string& out,
                   OnRequest&& on_request) {
    out.clear();
    feed(
        parser, buffer, limits, input, cuts,
        [&](std::size_t end, std::span<const std::string_view> args) {
            out.push_back('c');
            put(out, end);
            put(out, args.size());
            for (auto a : args) {
                put(out, a.size());
                out.append(a);
            }
            on_request(args);
        },
        [&](std::size_t at, const Parser& p) {
            out.push_back('e');
            put(out, at);
            out += p.error_text();
        });
}

} // namespace

std::vector<std::string> parse_trace(const ParserLimits& limits, std::span<const std::uint8_t> input,
                                     std::span<const std::size_t> cuts) {
    Parser parser(limits);
    std::vector<std::uint8_t> buffer;
    std::vector<std::string> trace;
    feed(
        parser, buffer, limits, input, Cuts{cuts},
        [&](std::size_t end, std::span<const std::string_view> args) {
            std::string line = "command@" + std::to_string(end) + ' ' + std::to_string(args.size());
            for (auto a : args) {
                line += ' ' + printable(a);
            }
            trace.push_back(std::move(line));
        },
        [&](std::size_t at, const Parser& p) {
            trace.push_back("error@" + std::to_string(at) + " " + p.error_text());
        });
    return trace;
}

std::vector<std::size_t> every_byte(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < size; ++i) {
        cuts.push_back(i);
    }
    return cuts;
}

LocalServer::LocalServer(std::size_t shards, const ShardLimits& limits)
    : keys_(shards), shares_(shards), involved_(shards) {
    for (std::size_t i = 0; i < shards; ++i) {
        shards_.push_back(std::make_unique<Shard>(limits, i + 1, settings.databases));
    }
    facts_.settings = &settings;
    facts_.db = &db_;
    facts_.client_id = 7;
    facts_.port = 6379;
}

void LocalServer::reset() {
    tx_.end(tx_shards_);
    for (auto& s : shards_) {
        s->reset();
    }
    db_ = 0;
    now_ms = start_ms;
}

std::uint32_t LocalServer::shard_of(std::string_view key) const {
    return shard_index(key, shards_.size());
}

std::string LocalServer::run_line(std::string_view line) {
    Parser parser(ParserLimits{});
    std::string input = std::string(line) + "\r\n";
    if (parser.parse(bytes(input)) != ParseStatus::command) {
        throw std::logic_error("not one inline request: " + input);
    }
    return run(parser.args());
}

std::string LocalServer::run(std::span<const std::string_view> args) {
    std::string out;
    run(args, out);
    return out;
}

void LocalServer::run(std::span<const std::string_view> args, std::string& out) {
    const CommandSpec* spec = find_command(args[0]);
    if (transaction_request(tx_.open(), spec)) {
        tx_.handle(tx_shards_, spec, args, facts_, TxLimits{64, 1u << 20}, now_ms, out);
        // What EXEC runs after its keyspace part needs the plugin's drivers (pub/sub, CLIENT).
        while (tx_.executing()) {
            const std::size_t from = out.size();
            out.append("-ERR pub/sub runs in gatiod only\r\n");
            tx_.place(out, from);
        }
        return;
    }
    if (spec == nullptr) {
        unknown_command_error(args, out);
        return;
    }
    if (!arity_ok(*spec, args.size())) {
        arity_error(spec->name, out);
        return;
    }
    for (auto& s : shards_) {
        s->select(db_);
    }
    switch (spec->route) {
    case Route::connection:
        run_local(*spec, args, facts_, out);
        break;
    case Route::one_key:
        run_one_key(*shards_[shard_of(args[1])], *spec, args, settings, now_ms, out);
        break;
    case Route::multi: {
        struct Of final : ShardsOf {
            explicit Of(LocalServer& s) : server(s) {}
            Shard& operator()(std::string_view key) override { return *server.shards_[server.shard_of(key)]; }
            std::size_t count() override { return server.shards_.size(); }
            Shard& nth(std::size_t i) override { return *server.shards_[i]; }
            const ServerSettings& settings() override { return server.settings; }
            LocalServer& server;
        } of(*this);
        multi_keys(*spec, args, owner_);
        run_multi(of, *spec, args, owner_, now_ms, out);
        break;
    }
    case Route::keys:
    case Route::all_shards: {
        if (!check_fanout(*spec, args, out)) {
            break;
        }
        // Reused from request to request, as a connection's slot reuses them.
        for (auto& k : keys_) {
            k.clear();
        }
        split_fanout(*spec, args, static_cast<std::uint32_t>(shards_.size()), owner_,
                     [&](std::uint32_t i) -> std::vector<std::uint32_t>& { return keys_[i]; });
        for (std::size_t s = 0; s < shards_.size(); ++s) {
            involved_[s] = keys_[s].empty() ? nullptr : &shares_[s];
            if (involved_[s] != nullptr) {
                run_part(*shards_[s], *spec, args, keys_[s], now_ms, shares_[s]);
            }
        }
        gather(*spec, args, owner_, involved_, facts_, out);
        break;
    }
    case Route::pubsub:
        // Pub/sub lives in the plugin's drivers (pubsub.cpp), outside the keyspace checked here.
        out.append("-ERR pub/sub runs in gatiod only\r\n");
        break;
    }
}

std::size_t reply_length(std::string_view d) {
    // One pass over the lines instead of a call per element: `pending` counts the replies still
    // to read, the one asked for plus each element of every array read on the way. An element
    // takes three bytes at least, so an array that announces more than the bytes left is not
    // complete, and the count stays below the data's size.
    std::uint64_t pending = 1;
    std::size_t at = 0;
    while (pending > 0) {
        if (at >= d.size()) {
            return 0;
        }
        const char type = d[at];
        const void* r = std::memchr(d.data() + at + 1, '\r', d.size() - at - 1);
        if (r == nullptr) {
            return 0;
        }
        const auto cr = static_cast<std::size_t>(static_cast<const char*>(r) - d.data());
        if (cr + 1 >= d.size() || d[cr + 1] != '\n') {
            return 0;
        }
        const std::string_view line = d.substr(at + 1, cr - at - 1);
        at = cr + 2;
        --pending;
        switch (type) {
        case '+':
        case '-':
            if (line.find('\n') != std::string_view::npos) {
                return 0;
            }
            break;
        case ':':
            if (!parse_int(line)) {
                return 0;
            }
            break;
        case '$': {
            // "$-1": the nil bulk string.
            const auto n = parse_int(line);
            if (!n || *n < -1) {
                return 0;
            }
            if (*n >= 0) {
                const auto len = static_cast<std::size_t>(*n);
                if (d.size() - at < len + 2 || d.substr(at + len, 2) != "\r\n") {
                    return 0;
                }
                at += len + 2;
            }
            break;
        }
        case '*': {
            // "*-1": the nil array (LPOP with a count of a missing key, LMPOP finding nothing).
            const auto n = parse_int(line);
            if (!n || *n < -1 || (*n > 0 && static_cast<std::uint64_t>(*n) > d.size() - at)) {
                return 0;
            }
            pending += *n > 0 ? static_cast<std::uint64_t>(*n) : 0;
            break;
        }
        default:
            return 0;
        }
    }
    return at;
}

namespace {

// What the fuzz target needs, built once and reset per input: the parsers and buffers of the
// three parses, the keyspace, and the reply buffer.
struct CaseState {
    CaseState() : small_parser(small_limits()), default_parser(ParserLimits{}), server(3) {
        server.settings.proto_max_bulk_len = 64;
    }
    static ParserLimits small_limits() {
        ParserLimits limits;
        limits.max_bulk_len = 16;
        limits.max_multibulk = 4;
        limits.max_inline = 24;
        return limits;
    }
    Parser small_parser;
    Parser default_parser;
    std::vector<std::uint8_t> buffer;
    std::string whole;
    std::string other;
    LocalServer server;
    // False while the keyspace may hold what an input stored: set before the first request
    // runs, back once reset. An input whose check threw leaves it false for the next.
    bool server_clean = true;
    std::string reply;
};

} // namespace

CaseCounts run_case(std::span<const std::uint8_t> input) {
    CaseCounts counts;
    if (input.empty()) {
        return counts;
    }
    static CaseState state;
    const std::uint8_t pick = input[0];
    const auto rest = input.subspan(1);
    const bool small = (pick & 1) != 0;
    const ParserLimits limits = small ? CaseState::small_limits() : ParserLimits{};
    Parser& parser = small ? state.small_parser : state.default_parser;
    const std::size_t piece = 1 + (pick >> 1) % 64;
    LocalServer& server = state.server;
    if (!state.server_clean) {
        server.reset();
        state.server_clean = true;
    }

    // The look ahead that prefetches keys reads the key the parser reads, for every request it
    // reports.
    std::array<std::string_view, 16> peeked;
    const std::size_t peeked_count = peek_keys(rest, peeked);
    std::size_t parsed = 0;
    // The whole input in one receive gives the reference events, and each request it reads is
    // run as it is read: exactly one well-formed reply per request.
    const auto run = [&](std::span<const std::string_view> args) {
        if (parsed < peeked_count) {
            require(peeked[parsed] == (args.size() > 1 ? args[1] : std::string_view{}),
                    "peek_keys and the parser read different keys");
        }
        ++parsed;
        if (args.empty()) {
            return;
        }
        state.server_clean = false;
        state.reply.clear();
        server.run(args, state.reply);
        if (state.reply.empty() || reply_length(state.reply) != state.reply.size()) {
            throw std::logic_error("not one well-formed reply: " + printable(state.reply.substr(0, 200)));
        }
        server.now_ms += 7;
        ++counts.requests;
    };
    compact_trace(parser, state.buffer, limits, rest, Cuts{{}, rest.size() + 1}, state.whole, run);
    ++counts.parses;
    const auto ignore = [](std::span<const std::string_view>) {};
    // Cut into pieces of one byte, or as large as the input, the parse is one made here already.
    if (piece > 1 && piece < rest.size()) {
        compact_trace(parser, state.buffer, limits, rest, Cuts{{}, piece}, state.other, ignore);
        require(state.other == state.whole, "the events differ when the input is cut into pieces");
        ++counts.parses;
    }
    if (rest.size() > 1) {
        compact_trace(parser, state.buffer, limits, rest, Cuts{{}, 1}, state.other, ignore);
        require(state.other == state.whole, "the events differ when the input arrives byte by byte");
        ++counts.parses;
    }

    // What the input stored is freed with it (libFuzzer takes an input that frees less than it
    // allocated for a possible leak and checks it at length), and a large input leaves no
    // large buffers behind for the next ones.
    if (!state.server_clean) {
        server.reset();
        state.server_clean = true;
    }
    parser.release_large(64u << 10);
    return counts;
}

} // namespace gatio::resp::check
