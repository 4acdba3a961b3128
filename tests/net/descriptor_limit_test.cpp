// The sizing of the direct-descriptor tables from RLIMIT_NOFILE (net/descriptor_limit.hpp).
#include <catch2/catch.hpp>
#include <cstdint>
#include <sys/resource.h>

#include "net/descriptor_limit.hpp"

using gatio::net::DescriptorLimit;

TEST_CASE("a table gets what its listeners want, capped at what the limit allows", "[descriptors]") {
    const DescriptorLimit limit{20000};
    CHECK(limit.table_slots(4160) == 4160);
    CHECK(limit.table_slots(20000) == 20000);
    CHECK(limit.table_slots(196688) == 20000);
    CHECK_FALSE(limit.caps(20000));
    CHECK(limit.caps(20001));
    const DescriptorLimit huge{UINT64_MAX};
    CHECK(huge.table_slots(UINT64_MAX) == UINT32_MAX);
}

TEST_CASE("raising the limit never lowers it and stops at the hard limit", "[descriptors]") {
    rlimit before{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
    // Already enough: the soft limit as it is.
    CHECK(gatio::net::raise_descriptor_limit(16).allowed == before.rlim_cur);
    // Far beyond the hard limit: as far as it goes (further only with CAP_SYS_RESOURCE).
    const std::uint64_t allowed = gatio::net::raise_descriptor_limit(std::uint64_t{1} << 40).allowed;
    rlimit after{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
    CHECK(allowed == after.rlim_cur);
    CHECK(allowed >= before.rlim_cur);
    CHECK(allowed >= before.rlim_max);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
}
