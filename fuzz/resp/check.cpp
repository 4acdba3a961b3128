#include "check.hpp"

#include <stdexcept>

namespace gatio::resp::check {

namespace {

void require(bool ok, const std::string& what) {
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

std::vector<std::string> parse_trace(const ParserLimits& limits, std::span<const std::uint8_t> input,
                                     std::span<const std::size_t> cuts) {
    Parser parser(limits);
    std::vector<std::string> trace;
    std::vector<std::uint8_t> buffer; // received and not yet consumed, as a connection keeps it
    std::size_t base = 0;             // offset of buffer[0] in input
    std::size_t received = 0;
    std::size_t last_cut = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        std::size_t end = i < cuts.size() ? cuts[i] : input.size();
        require(end >= last_cut && end <= input.size(), "cuts must increase within the input");
        last_cut = end;
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
                trace.push_back("error@" + std::to_string(base + pos) + " " + parser.error_text());
                return trace;
            }
            std::size_t n = parser.consumed();
            require(n > 0 && n <= buffer.size() - pos, "a request's length is outside the bytes given");
            auto args = parser.args();
            // Inline requests are bounded by their line length only, as in redis-server.
            const bool multibulk = buffer[pos] == '*';
            require(!multibulk || args.size() <= limits.max_multibulk, "more arguments than max_multibulk");
            std::string line =
                "command@" + std::to_string(base + pos + n) + " " + std::to_string(args.size());
            for (auto a : args) {
                require(!multibulk || a.size() <= limits.max_bulk_len,
                        "an argument longer than max_bulk_len");
                line += " " + printable(a);
            }
            trace.push_back(std::move(line));
            pos += n;
        }
        buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(pos));
        base += pos;
    }
    return trace;
}

std::vector<std::size_t> every_byte(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < size; ++i) {
        cuts.push_back(i);
    }
    return cuts;
}

LocalServer::LocalServer(std::size_t shards, const ShardLimits& limits) {
    for (std::size_t i = 0; i < shards; ++i) {
        shards_.push_back(std::make_unique<Shard>(limits, i + 1));
    }
    facts_.settings = &settings;
    facts_.client_id = 7;
    facts_.port = 6379;
}

std::uint32_t LocalServer::shard_of(std::string_view key) const {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(key) % shards_.size());
}

std::string LocalServer::run_line(std::string_view line) {
    Parser parser(ParserLimits{});
    std::string input = std::string(line) + "\r\n";
    require(parser.parse(bytes(input)) == ParseStatus::command, "not one inline request: " + input);
    return run(parser.args());
}

std::string LocalServer::run(std::span<const std::string_view> args) {
    std::string out;
    const CommandSpec* spec = find_command(args[0]);
    if (spec == nullptr) {
        unknown_command_error(args, out);
        return out;
    }
    if (!arity_ok(*spec, args.size())) {
        arity_error(spec->name, out);
        return out;
    }
    switch (spec->route) {
    case Route::connection:
        run_local(*spec, args, facts_, out);
        break;
    case Route::one_key:
        run_one_key(*shards_[shard_of(args[1])], *spec, args, settings, now_ms, out);
        break;
    case Route::keys:
    case Route::all_shards: {
        if (!check_fanout(*spec, args, out)) {
            break;
        }
        std::vector<std::vector<std::uint32_t>> keys(shards_.size());
        std::vector<std::uint32_t> owner(args.size());
        std::vector<ShardShare> shares(shards_.size());
        std::vector<ShardShare*> involved(shards_.size(), nullptr);
        if (spec->route == Route::keys) {
            for (std::size_t a = 1; a < args.size(); a += static_cast<std::size_t>(spec->step)) {
                owner[a] = shard_of(args[a]);
                keys[owner[a]].push_back(static_cast<std::uint32_t>(a));
                involved[owner[a]] = &shares[owner[a]];
            }
        } else {
            for (std::size_t s = 0; s < shards_.size(); ++s) {
                involved[s] = &shares[s];
            }
        }
        for (std::size_t s = 0; s < shards_.size(); ++s) {
            if (involved[s] != nullptr) {
                run_part(*shards_[s], *spec, args, keys[s], now_ms, shares[s]);
            }
        }
        gather(*spec, args, owner, involved, facts_, out);
        break;
    }
    }
    return out;
}

std::size_t reply_length(std::string_view d) {
    std::size_t cr = d.find("\r\n");
    if (d.empty() || cr == std::string_view::npos) {
        return 0;
    }
    const std::size_t header = cr + 2;
    auto n = parse_int(d.substr(1, cr - 1));
    switch (d[0]) {
    case '+':
    case '-':
        return d.substr(1, cr - 1).find_first_of("\r\n") == std::string_view::npos ? header : 0;
    case ':':
        return n ? header : 0;
    case '$':
        if (!n || *n < -1) {
            return 0;
        }
        if (*n == -1) {
            return header;
        }
        if (d.size() < header + static_cast<std::size_t>(*n) + 2 ||
            d.substr(header + static_cast<std::size_t>(*n), 2) != "\r\n") {
            return 0;
        }
        return header + static_cast<std::size_t>(*n) + 2;
    case '*': {
        if (!n || *n < 0) {
            return 0;
        }
        std::size_t at = header;
        for (std::int64_t i = 0; i < *n; ++i) {
            std::size_t len = reply_length(d.substr(at));
            if (len == 0) {
                return 0;
            }
            at += len;
        }
        return at;
    }
    default:
        return 0;
    }
}

void run_case(std::span<const std::uint8_t> input) {
    if (input.empty()) {
        return;
    }
    const std::uint8_t pick = input[0];
    const auto rest = input.subspan(1);
    ParserLimits limits;
    if (pick & 1) {
        limits.max_bulk_len = 16;
        limits.max_multibulk = 4;
        limits.max_inline = 24;
    }
    const std::size_t piece = 1 + (pick >> 1) % 64;
    std::vector<std::size_t> cuts;
    for (std::size_t at = piece; at < rest.size(); at += piece) {
        cuts.push_back(at);
    }
    const auto whole = parse_trace(limits, rest, {});
    require(parse_trace(limits, rest, cuts) == whole, "the events differ when the input is cut into pieces");
    require(parse_trace(limits, rest, every_byte(rest.size())) == whole,
            "the events differ when the input arrives byte by byte");

    // Run what was read: one well-formed reply per request.
    LocalServer server(3);
    server.settings.proto_max_bulk_len = 64;
    Parser parser(limits);
    std::size_t pos = 0;
    while (pos < rest.size()) {
        auto st = parser.parse(rest.subspan(pos));
        if (st != ParseStatus::command) {
            break;
        }
        pos += parser.consumed();
        if (parser.args().empty()) {
            continue;
        }
        std::string reply = server.run(parser.args());
        require(!reply.empty() && reply_length(reply) == reply.size(),
                "not one well-formed reply: " + printable(reply.substr(0, 200)));
        server.now_ms += 7;
    }
}

} // namespace gatio::resp::check
