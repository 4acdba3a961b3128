#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <limits>
#include <netinet/in.h>

#include "config/units.hpp"

using namespace gatio::config;
using namespace std::chrono_literals;

TEST_CASE("parse_duration accepts whole numbers with ms, s, m or h", "[units]") {
    CHECK(parse_duration("250ms").value == Duration(250));
    CHECK(parse_duration("10s").value == Duration(10'000));
    CHECK(parse_duration("5m").value == Duration(300'000));
    CHECK(parse_duration("1h").value == Duration(3'600'000));
    CHECK(parse_duration("0s").value == Duration(0));
    CHECK(parse_duration("0ms").value == Duration(0));
    CHECK(parse_duration("007s").value == Duration(7'000));
    CHECK(parse_duration("9223372036854775807ms").value ==
          Duration(std::numeric_limits<std::int64_t>::max()));
}

TEST_CASE("parse_duration rejects garbage, missing units, negatives and overflow", "[units]") {
    const std::string garbage =
        "expected a whole number followed by ms, s, m or h, such as '250ms' or '10s', got ";
    CHECK(parse_duration("10").error == garbage + "'10'");
    CHECK(parse_duration("").error == garbage + "''");
    CHECK(parse_duration("s").error == garbage + "'s'");
    CHECK(parse_duration("10x").error == garbage + "'10x'");
    CHECK(parse_duration("10S").error == garbage + "'10S'");
    CHECK(parse_duration("1.5s").error == garbage + "'1.5s'");
    CHECK(parse_duration(" 10s").error == garbage + "' 10s'");
    CHECK(parse_duration("10 s").error == garbage + "'10 s'");
    CHECK(parse_duration("+10s").error == garbage + "'+10s'");
    CHECK(parse_duration("10s5ms").error == garbage + "'10s5ms'");
    CHECK(parse_duration("-5s").error == "expected a non-negative duration, got '-5s'");
    const std::string too_large = "expected a duration of at most 9223372036854775807ms, got ";
    CHECK(parse_duration("9223372036854775808ms").error == too_large + "'9223372036854775808ms'");
    CHECK(parse_duration("2562047788016h").error == too_large + "'2562047788016h'");
    CHECK(parse_duration("99999999999999999999s").error == too_large + "'99999999999999999999s'");
    CHECK_FALSE(parse_duration("10"));
    // The largest whole number of hours still fits.
    CHECK(parse_duration("2562047788015h").value == Duration(2562047788015LL * 3'600'000));
}

TEST_CASE("format_duration picks the largest exact unit and inverts parse_duration", "[units]") {
    CHECK(format_duration(Duration(0)) == "0s");
    CHECK(format_duration(Duration(250)) == "250ms");
    CHECK(format_duration(Duration(1'000)) == "1s");
    CHECK(format_duration(Duration(1'500)) == "1500ms");
    CHECK(format_duration(Duration(60'000)) == "1m");
    CHECK(format_duration(Duration(90'000)) == "90s");
    CHECK(format_duration(Duration(3'600'000)) == "1h");
    CHECK(format_duration(Duration(5'400'000)) == "90m");
    for (const auto ms : {0LL, 1LL, 999LL, 61'000LL, 7'200'000LL, std::numeric_limits<long long>::max()}) {
        CHECK(parse_duration(format_duration(Duration(ms))).value == Duration(ms));
    }
}

TEST_CASE("parse_micros reads us, ms and s up to its bound, and format_micros inverts it", "[units]") {
    const Micros max(100'000);
    CHECK(parse_micros("50us", max).value == Micros(50));
    CHECK(parse_micros("0us", max).value == Micros(0));
    CHECK(parse_micros("2ms", max).value == Micros(2'000));
    CHECK(parse_micros("100ms", max).value == max);
    CHECK(parse_micros("101ms", max).error == "expected a duration of at most 100000us, got '101ms'");
    CHECK(parse_micros("1s", max).error == "expected a duration of at most 100000us, got '1s'");
    CHECK(parse_micros("50", max).error ==
          "expected a whole number followed by us, ms or s, such as '50us', got '50'");
    CHECK(parse_micros("-5us", max).error == "expected a non-negative duration, got '-5us'");
    CHECK(format_micros(Micros(0)) == "0us");
    CHECK(format_micros(Micros(1'500)) == "1500us");
    CHECK(format_micros(Micros(2'000)) == "2ms");
    CHECK(format_micros(Micros(1'000'000)) == "1s");
    for (const auto us : {0LL, 1LL, 999LL, 20'000LL, 100'000LL}) {
        CHECK(parse_micros(format_micros(Micros(us)), max).value == Micros(us));
    }
}

TEST_CASE("parse_size accepts bytes, B, KiB, MiB and GiB", "[units]") {
    CHECK(parse_size("512").value == 512u);
    CHECK(parse_size("512B").value == 512u);
    CHECK(parse_size("0").value == 0u);
    CHECK(parse_size("64KiB").value == 65536u);
    CHECK(parse_size("1MiB").value == 1048576u);
    CHECK(parse_size("1GiB").value == 1073741824u);
    CHECK(parse_size("18446744073709551615").value == std::numeric_limits<std::uint64_t>::max());
    CHECK(parse_size("17179869183GiB").value == 17179869183ull << 30);
}

TEST_CASE("parse_size rejects other units, fractions, negatives and overflow", "[units]") {
    const std::string garbage =
        "expected a whole number of bytes, optionally followed by B, KiB, MiB or GiB, such as '64KiB', got ";
    CHECK(parse_size("64KB").error == garbage + "'64KB'");
    CHECK(parse_size("64K").error == garbage + "'64K'");
    CHECK(parse_size("1kib").error == garbage + "'1kib'");
    CHECK(parse_size("1.5MiB").error == garbage + "'1.5MiB'");
    CHECK(parse_size("MiB").error == garbage + "'MiB'");
    CHECK(parse_size("").error == garbage + "''");
    CHECK(parse_size("1 MiB").error == garbage + "'1 MiB'");
    CHECK(parse_size("-1").error == "expected a non-negative size, got '-1'");
    const std::string too_large = "expected a size of at most 18446744073709551615B, got ";
    CHECK(parse_size("18446744073709551616").error == too_large + "'18446744073709551616'");
    CHECK(parse_size("17179869184GiB").error == too_large + "'17179869184GiB'");
    CHECK_FALSE(parse_size("64KB"));
}

TEST_CASE("format_size picks the largest exact unit and inverts parse_size", "[units]") {
    CHECK(format_size(0) == "0B");
    CHECK(format_size(512) == "512B");
    CHECK(format_size(1024) == "1KiB");
    CHECK(format_size(1536) == "1536B");
    CHECK(format_size(16384) == "16KiB");
    CHECK(format_size(1u << 20) == "1MiB");
    CHECK(format_size(3ull << 30) == "3GiB");
    CHECK(format_size(1ull << 40) == "1024GiB");
    for (const std::uint64_t bytes : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4097},
                                      std::uint64_t{1} << 30, std::numeric_limits<std::uint64_t>::max()}) {
        CHECK(parse_size(format_size(bytes)).value == bytes);
    }
}

TEST_CASE("parse_cpulist reads single CPUs and ascending ranges", "[units]") {
    const auto set = parse_cpulist("0-3,8");
    REQUIRE(set);
    CHECK(set.value->cpus() == std::vector<int>{0, 1, 2, 3, 8});
    CHECK(set.value->to_string() == "0-3,8");
    CHECK(parse_cpulist("5").value->cpus() == std::vector<int>{5});
    CHECK(parse_cpulist("2-2").value->cpus() == std::vector<int>{2});
    CHECK(parse_cpulist("8,0-1").value->cpus() == std::vector<int>{0, 1, 8});
    CHECK(parse_cpulist("4095").value->cpus() == std::vector<int>{CpuSet::max_cpus - 1});
    CHECK(parse_cpulist("0-4095").value->size() == static_cast<std::size_t>(CpuSet::max_cpus));
}

TEST_CASE("parse_cpulist rejects garbage, descending ranges and CPUs out of range", "[units]") {
    const std::string garbage = "expected a cpulist such as '0-3,8', got ";
    for (const char* text :
         {"", ",", "a", "1,", ",1", "1-", "-1", "1 ,2", " 1", "1--2", "1-2-3", "0x1", "1;2"}) {
        INFO(text);
        CHECK(parse_cpulist(text).error == garbage + "'" + text + "'");
    }
    CHECK(parse_cpulist("3-1").error == "expected ranges written low-high, got '3-1'");
    CHECK(parse_cpulist("0,5-4").error == "expected ranges written low-high, got '5-4'");
    CHECK(parse_cpulist("4096").error == "expected CPU numbers from 0 to 4095, got '4096'");
    CHECK(parse_cpulist("0-4096").error == "expected CPU numbers from 0 to 4095, got '0-4096'");
    CHECK(parse_cpulist("99999999999999999999").error ==
          "expected CPU numbers from 0 to 4095, got '99999999999999999999'");
}

TEST_CASE("parse_socket_address reads IPv4, IPv6 and the IPv4 wildcard", "[units]") {
    const auto v4 = parse_socket_address("127.0.0.1:8080");
    REQUIRE(v4);
    CHECK(v4.value->text == "127.0.0.1:8080");
    CHECK(v4.value->family() == AF_INET);
    CHECK(v4.value->port == 8080);
    CHECK(v4.value->length == sizeof(sockaddr_in));
    sockaddr_in sin{};
    std::memcpy(&sin, &v4.value->storage, sizeof sin);
    CHECK(ntohs(sin.sin_port) == 8080);
    CHECK(ntohl(sin.sin_addr.s_addr) == INADDR_LOOPBACK);

    const auto any4 = parse_socket_address("*:80");
    REQUIRE(any4);
    CHECK(any4.value->family() == AF_INET);
    std::memcpy(&sin, &any4.value->storage, sizeof sin);
    CHECK(sin.sin_addr.s_addr == htonl(INADDR_ANY));
    CHECK(ntohs(sin.sin_port) == 80);

    const auto v6 = parse_socket_address("[::1]:443");
    REQUIRE(v6);
    CHECK(v6.value->family() == AF_INET6);
    CHECK(v6.value->length == sizeof(sockaddr_in6));
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &v6.value->storage, sizeof sin6);
    CHECK(ntohs(sin6.sin6_port) == 443);
    CHECK(std::memcmp(&sin6.sin6_addr, &in6addr_loopback, sizeof(in6_addr)) == 0);

    const auto any6 = parse_socket_address("[::]:65535");
    REQUIRE(any6);
    std::memcpy(&sin6, &any6.value->storage, sizeof sin6);
    CHECK(std::memcmp(&sin6.sin6_addr, &in6addr_any, sizeof(in6_addr)) == 0);
    CHECK(any6.value->port == 65535);
}

TEST_CASE("parse_socket_address rejects host names, missing or bad ports and bare IPv6", "[units]") {
    const std::string garbage = "expected an address such as '127.0.0.1:80', '[::1]:80' or '*:80', got ";
    for (const char* text : {"localhost:80", "1.2.3.4", "[::1]", "::1:80", "1.2.3.4:80x", "[1.2.3.4]:80",
                             "1.2.3.4:", ":80", "1.2.3:80", "*:", "[::1:80", "1.2.3.4:+80", ""}) {
        INFO(text);
        CHECK(parse_socket_address(text).error == garbage + "'" + text + "'");
    }
    CHECK(parse_socket_address("1.2.3.4:0").error == "expected a port from 1 to 65535, got '1.2.3.4:0'");
    CHECK(parse_socket_address("[::1]:65536").error == "expected a port from 1 to 65535, got '[::1]:65536'");
    CHECK(parse_socket_address("*:99999999999999999999").error ==
          "expected a port from 1 to 65535, got '*:99999999999999999999'");
}
