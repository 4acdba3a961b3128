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

TEST_CASE("saved fuzz inputs pass the fuzz check", "[fuzz]") {
    std::size_t replayed = 0;
    REQUIRE(fs::is_directory(fs::path(GATIO_HTTP_FUZZ_DIR) / "corpus"));
    for (const char* folder : {"corpus", "regressions"}) {
        const fs::path dir = fs::path(GATIO_HTTP_FUZZ_DIR) / folder;
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
            CHECK_NOTHROW(gatio::http::check::run_case(input));
            ++replayed;
        }
    }
    CHECK(replayed >= 10);
}

TEST_CASE("the fuzz check catches a parser that depends on the cuts", "[fuzz]") {
    // A check that cannot fail proves nothing: a trace with a changed event must differ.
    const std::vector<std::string_view> paths{"/"};
    const std::string r = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const auto whole = gatio::http::check::parse_trace({}, paths, gatio::http::check::bytes(r), {});
    REQUIRE(whole.size() == 1);
    const auto other = gatio::http::check::parse_trace({}, paths, gatio::http::check::bytes(r.substr(1)), {});
    CHECK(other != whole);
    const std::size_t backwards[] = {5, 3};
    CHECK_THROWS_AS(gatio::http::check::parse_trace({}, paths, gatio::http::check::bytes(r), backwards),
                    std::logic_error);
}
