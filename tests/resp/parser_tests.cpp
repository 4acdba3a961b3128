// The RESP request parser against the byte sequences redis-server accepts and refuses.
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"

using gatio::resp::parse_int;
using gatio::resp::Parser;
using gatio::resp::ParserLimits;
using gatio::resp::ParseStatus;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Outcome {
    std::vector<std::vector<std::string>> commands; // empty requests included as {}
    std::string error;                              // the protocol error, if one ended the input
    std::size_t pending = 0;                        // bytes left in an unfinished request
};

// Parses `input` as if it arrived in pieces of `chunk` bytes, keeping unconsumed bytes the
// way a connection does.
Outcome run(std::string_view input, std::size_t chunk, const ParserLimits& limits = {}) {
    Parser p(limits);
    Outcome out;
    std::string buffer;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        buffer.append(input.substr(at, chunk));
        std::size_t pos = 0;
        while (pos < buffer.size()) {
            auto st = p.parse(bytes(buffer).subspan(pos));
            if (st == ParseStatus::incomplete) {
                break;
            }
            if (st == ParseStatus::error) {
                out.error = p.error_text();
                return out;
            }
            std::vector<std::string> cmd;
            for (auto a : p.args()) {
                cmd.emplace_back(a);
            }
            out.commands.push_back(cmd);
            pos += p.consumed();
        }
        buffer.erase(0, pos);
    }
    out.pending = buffer.size();
    return out;
}

using Cmds = std::vector<std::vector<std::string>>;

} // namespace

TEST_CASE("integers follow redis-server's strict syntax", "[resp][parser]") {
    CHECK(parse_int("0") == 0);
    CHECK(parse_int("-1") == -1);
    CHECK(parse_int("9223372036854775807") == INT64_MAX);
    CHECK(parse_int("-9223372036854775808") == INT64_MIN);
    CHECK_FALSE(parse_int("9223372036854775808"));
    CHECK_FALSE(parse_int("-9223372036854775809"));
    CHECK_FALSE(parse_int("18446744073709551616"));
    CHECK_FALSE(parse_int(""));
    CHECK_FALSE(parse_int("-"));
    CHECK_FALSE(parse_int("-0"));
    CHECK_FALSE(parse_int("01"));
    CHECK_FALSE(parse_int("+1"));
    CHECK_FALSE(parse_int(" 1"));
    CHECK_FALSE(parse_int("1 "));
    CHECK_FALSE(parse_int("1x"));
}

TEST_CASE("multibulk requests parse whole and in every split", "[resp][parser]") {
    const std::string input = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
                              "*1\r\n$4\r\nPING\r\n";
    const Cmds expected{{"GET", "key"}, {"SET", "k", ""}, {"PING"}};
    for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
        INFO("chunk " << chunk);
        auto out = run(input, chunk);
        CHECK(out.error.empty());
        CHECK(out.commands == expected);
        CHECK(out.pending == 0);
    }
}

TEST_CASE("bulk arguments may hold any byte", "[resp][parser]") {
    std::string value("a\r\n\0*$\xff", 7);
    std::string input = "*2\r\n$4\r\nECHO\r\n$7\r\n" + value + "\r\n";
    auto out = run(input, 3);
    REQUIRE(out.commands.size() == 1);
    CHECK(out.commands[0][1] == value);
}

TEST_CASE("empty multibulk requests and blank lines are requests without arguments", "[resp][parser]") {
    auto out = run("*0\r\n*-1\r\n\r\n   \r\nPING\r\n", 1);
    CHECK(out.commands == Cmds{{}, {}, {}, {}, {"PING"}});
}

TEST_CASE("the two bytes after bulk data are skipped unchecked as redis-server does", "[resp][parser]") {
    auto out = run("*1\r\n$4\r\npingxx\r\n", 100);
    CHECK(out.commands == Cmds{{"ping"}, {}});
}

TEST_CASE("an unfinished request waits for more bytes", "[resp][parser]") {
    auto out = run("PING\r\n*2\r\n$3\r\nGET\r\n$3\r\nke", 4);
    CHECK(out.commands == Cmds{{"PING"}});
    CHECK(out.pending == std::string_view("*2\r\n$3\r\nGET\r\n$3\r\nke").size());
}

TEST_CASE("inline requests split words like redis-server", "[resp][parser]") {
    CHECK(run("set  a\tb  \r\n", 1).commands == Cmds{{"set", "a", "b"}});
    CHECK(run("echo \"a\\x41\\n\\t\\\"\\z\\xZZ\"\n", 2).commands == Cmds{{"echo", "aA\n\t\"zxZZ"}});
    CHECK(run("echo 'x\\'y\\n'\r\n", 5).commands == Cmds{{"echo", "x'y\\n"}});
    CHECK(run("echo \"\" ''\r\n", 1).commands == Cmds{{"echo", "", ""}});
    CHECK(run("echo a\"b c\"d\r\n", 64).error == "ERR Protocol error: unbalanced quotes in request");
    CHECK(run("echo a\"b c\"\r\n", 64).commands == Cmds{{"echo", "ab c"}});
    CHECK(run(std::string_view("echo a\0b c\r\n", 12), 64).commands == Cmds{{"echo", "a"}});
}

TEST_CASE("protocol errors carry redis-server's words", "[resp][parser]") {
    auto error = [](std::string_view input) { return run(input, input.size()).error; };
    CHECK(error("*x\r\n") == "ERR Protocol error: invalid multibulk length");
    CHECK(error("*01\r\n") == "ERR Protocol error: invalid multibulk length");
    CHECK(error("*+1\r\n") == "ERR Protocol error: invalid multibulk length");
    CHECK(error("*1\n$4\nping\r\n") == "ERR Protocol error: invalid multibulk length");
    CHECK(error("*2\r\n$4\r\nping\r\nx\r\n") == "ERR Protocol error: expected '$', got 'x'");
    CHECK(error("*1\r\n$-1\r\n") == "ERR Protocol error: invalid bulk length");
    CHECK(error("*1\r\n$04\r\nping\r\n") == "ERR Protocol error: invalid bulk length");
    CHECK(error("*1\r\n$536870913\r\n") == "ERR Protocol error: invalid bulk length");
    CHECK(error("ping \"abc\r\n") == "ERR Protocol error: unbalanced quotes in request");
    CHECK(error("ping 'abc\r\n") == "ERR Protocol error: unbalanced quotes in request");
    CHECK(error("ping \"a\"b\r\n") == "ERR Protocol error: unbalanced quotes in request");
}

TEST_CASE("the configured limits are enforced", "[resp][parser]") {
    ParserLimits limits;
    limits.max_bulk_len = 10;
    limits.max_multibulk = 3;
    limits.max_inline = 1024;
    CHECK(run("*1\r\n$10\r\n0123456789\r\n", 7, limits).error.empty());
    CHECK(run("*1\r\n$11\r\n", 7, limits).error == "ERR Protocol error: invalid bulk length");
    CHECK(run("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", 7, limits).error.empty());
    CHECK(run("*4\r\n", 7, limits).error == "ERR Protocol error: invalid multibulk length");

    std::string line(1025, 'a');
    CHECK(run(line, 100, limits).error == "ERR Protocol error: too big inline request");
    CHECK(run(line.substr(0, 1000) + "\r\n", 100, limits).error.empty());
    CHECK(run("*" + line, 100, limits).error == "ERR Protocol error: too big mbulk count string");
    CHECK(run("*1\r\n$" + line, 100, limits).error == "ERR Protocol error: too big bulk count string");
}

TEST_CASE("a large argument arriving in small pieces is assembled whole", "[resp][parser]") {
    const std::size_t size = 4u << 20;
    std::string input =
        "*2\r\n$4\r\nECHO\r\n$" + std::to_string(size) + "\r\n" + std::string(size, 'v') + "\r\n";
    auto out = run(input, 1024);
    REQUIRE(out.commands.size() == 1);
    CHECK(out.commands[0][1].size() == size);
}

TEST_CASE("peek_keys reads the keys of the complete plain requests ahead", "[resp][parser]") {
    using gatio::resp::peek_keys;
    std::array<std::string_view, 4> keys;
    const std::string two = "*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nv\r\n";
    REQUIRE(peek_keys(bytes(two), keys) == 2);
    CHECK(keys[0] == "k:1");
    CHECK(keys[1] == "k2");
    // A request without a key gives an empty one; the count stops at keys.size().
    const std::string five = "*1\r\n$4\r\nPING\r\n" + two + two;
    REQUIRE(peek_keys(bytes(five), keys) == 4);
    CHECK(keys[0].empty());
    CHECK(keys[3] == "k:1");
    // A request cut short, an inline one, or an unusual header ends the look ahead.
    CHECK(peek_keys(bytes(two.substr(0, two.size() - 1)), keys) == 1);
    CHECK(peek_keys(bytes("GET k\r\n" + two), keys) == 0);
    CHECK(peek_keys(bytes("*2\r\n$3\r\nGET\r\n$0\r\n\r\n" + two), keys) == 0);
    CHECK(peek_keys(bytes(""), keys) == 0);
    // A request of more arguments than it walks ends it too, complete or still arriving.
    // Appended, not `"*" + std::to_string(...)`, which GCC 12's -Wrestrict misreads at -O2.
    std::string wide(1, '*');
    wide += std::to_string(gatio::resp::max_peek_arguments + 1);
    wide += "\r\n$4\r\nMGET\r\n";
    for (std::uint64_t i = 0; i < gatio::resp::max_peek_arguments; ++i) {
        wide += "$1\r\nk\r\n";
    }
    CHECK(peek_keys(bytes(wide + two), keys) == 0);
    CHECK(peek_keys(bytes(two + wide.substr(0, 40)), keys) == 2);
}
