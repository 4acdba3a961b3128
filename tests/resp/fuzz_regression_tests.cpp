// Every saved fuzz input (the seed corpus and each crash the fuzzer ever found) replayed
// through the fuzz target's check, so a fixed crash stays fixed without a fuzzing build.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "check.hpp"

namespace fs = std::filesystem;
using namespace gatio::resp;

TEST_CASE("saved resp fuzz inputs pass the fuzz check", "[resp][fuzz]") {
    std::size_t replayed = 0;
    REQUIRE(fs::is_directory(fs::path(GATIO_RESP_FUZZ_DIR) / "corpus"));
    for (const char* folder : {"corpus", "regressions"}) {
        const fs::path dir = fs::path(GATIO_RESP_FUZZ_DIR) / folder;
        if (!fs::is_directory(dir)) {
            continue; // no crash found so far
        }
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (!entry.is_regular_file()) {
                continue;
            }
            std::ifstream in(entry.path(), std::ios::binary);
            const std::vector<std::uint8_t> input{std::istreambuf_iterator<char>(in), {}};
            INFO(entry.path().filename().string());
            CHECK_NOTHROW(check::run_case(input));
            ++replayed;
        }
    }
    CHECK(replayed >= 9);
}

TEST_CASE("the resp fuzz check catches a parser that depends on the cuts", "[resp][fuzz]") {
    // A check that cannot fail proves nothing: a changed input must give a changed trace, and
    // broken cuts and malformed replies must be refused.
    const std::string r = "*1\r\n$4\r\nPING\r\n";
    const auto whole = check::parse_trace({}, check::bytes(r), {});
    REQUIRE(whole == std::vector<std::string>{"command@14 1 PING"});
    CHECK(check::parse_trace({}, check::bytes(r.substr(1)), {}) != whole);
    const std::size_t backwards[] = {5, 3};
    CHECK_THROWS_AS(check::parse_trace({}, check::bytes(r), backwards), std::logic_error);
    CHECK(check::reply_length("$3\r\nab\r\n") == 0);
    CHECK(check::reply_length("*2\r\n:1\r\n") == 0);
    CHECK(check::reply_length("*2\r\n:1\r\n$-1\r\n") == 13);
    CHECK(check::reply_length("*2\r\n*1\r\n+OK\r\n$2\r\nab\r\nrest") == 21);
    CHECK(check::reply_length("*-1\r\n") == 5);
    CHECK(check::reply_length("+O\nK\r\n") == 0);
    CHECK(check::reply_length("+O\rK\r\n") == 0);
    CHECK(check::reply_length(":1x\r\n") == 0);
    CHECK(check::reply_length("*3\r\n:1\r\n:2\r\n") == 0);
    // More elements than the bytes left could hold, however many arrays announce them.
    CHECK(check::reply_length("*9223372036854775807\r\n*9223372036854775807\r\n:1\r\n") == 0);
}

TEST_CASE("the resp fuzz check parses in every cut it names and runs every request", "[resp][fuzz]") {
    // The first byte picks the default limits and the pieces: 0x02 pieces of two bytes, 0x00 of
    // one, which is the byte-by-byte parse and is not made twice.
    std::string input = "\x02";
    input.append("*1\r\n$4\r\nPING\r\nSET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\r\n");
    auto counts = check::run_case(check::bytes(input));
    CHECK(counts.parses == 3);
    CHECK(counts.requests == 3); // the empty line is read, and nothing runs for it
    input[0] = '\x00';
    counts = check::run_case(check::bytes(input));
    CHECK(counts.parses == 2);
    CHECK(counts.requests == 3);
    // Pieces as large as the input repeat the whole parse; one byte gives the whole parse only.
    input[0] = static_cast<char>(63 << 1);
    CHECK(check::run_case(check::bytes(input)).parses == 2);
    CHECK(check::run_case(check::bytes("\x02P")).parses == 1);
    CHECK(check::run_case(check::bytes("\x02P")).requests == 0);
}
