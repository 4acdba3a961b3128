// Checks shared by the resp fuzz target and the resp tests: the parser must read the same
// requests and protocol errors however the input is cut into receives, and every request it
// reads must get one well-formed reply from the commands, on any input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "keyspace.hpp"
#include "parser.hpp"
#include "transaction.hpp"

namespace gatio::resp::check {

// One line per parser event with the absolute offset where it ended, e.g.
// "command@14 2 GET key" (arguments hex-escaped when not printable) or
// "error@4 ERR Protocol error: invalid multibulk length". Throws std::logic_error when the
// parser breaks an invariant (a request of no bytes, an argument over the limits ...).
// cuts: increasing offsets inside input where a receive ends.
std::vector<std::string> parse_trace(const ParserLimits& limits, std::span<const std::uint8_t> input,
                                     std::span<const std::size_t> cuts);

// Every offset from 1 to size - 1.
std::vector<std::size_t> every_byte(std::size_t size);

// A keyspace of a few shards in this process, routed the way the plugin routes requests, with
// a clock the caller moves.
class LocalServer {
public:
    static constexpr std::int64_t start_ms = 1'700'000'000'000;
    explicit LocalServer(std::size_t shards, const ShardLimits& limits = {});
    std::int64_t now_ms = start_ms;
    ServerSettings settings;
    Shard& shard(std::size_t i) { return *shards_[i]; }
    // Back to an empty keyspace at start_ms, keeping the memory it grew.
    void reset();
    // The reply to one request (arguments, name first); several when it is a fan-out.
    std::string run(std::span<const std::string_view> args);
    // The same, appended to `out`.
    void run(std::span<const std::string_view> args, std::string& out);
    // The same for one inline request line.
    std::string run_line(std::string_view line);

private:
    // The shards as a transaction sees them (one thread: no locks).
    struct Shards final : TxKeyspace {
        explicit Shards(LocalServer& s) : server(s) {}
        std::uint32_t count() const override { return static_cast<std::uint32_t>(server.shards_.size()); }
        std::uint32_t shard_of(std::string_view key) const override { return server.shard_of(key); }
        Shard& shard(std::uint32_t i) override { return *server.shards_[i]; }
        const ServerSettings& settings(std::uint32_t) const override { return server.settings; }
        void lock(std::uint32_t) override {}
        void unlock(std::uint32_t) override {}
        LocalServer& server;
    };

    std::uint32_t shard_of(std::string_view key) const;
    std::vector<std::unique_ptr<Shard>> shards_;
    Shards tx_shards_{*this};
    Transaction tx_;
    ConnectionFacts facts_;
    std::uint32_t db_ = 0; // SELECT's, as a connection's
    // A fan-out's working space, reused: keys by shard, the shard of each argument, shares.
    std::vector<std::vector<std::uint32_t>> keys_;
    std::vector<std::uint32_t> owner_;
    std::vector<ShardShare> shares_;
    std::vector<ShardShare*> involved_;
};

// The length of the complete RESP2 reply at the start of data, 0 when it is not one.
std::size_t reply_length(std::string_view data);

// What run_case did: the parses it compared (a cut that repeats one already made is left out)
// and the requests it ran.
struct CaseCounts {
    std::size_t parses = 0;
    std::size_t requests = 0;
};

// The fuzz target's whole check, also replayed by the tests over the saved inputs. The first
// byte picks the limits (small ones reach every limit branch) and the size of the pieces the
// rest is cut into; the rest must give the same parser events whole, in those pieces and byte
// by byte, and each request must get exactly one well-formed reply. Throws std::logic_error
// otherwise. What it needs is built on the first call and reset on each (not thread-safe).
CaseCounts run_case(std::span<const std::uint8_t> input);

inline std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

} // namespace gatio::resp::check
