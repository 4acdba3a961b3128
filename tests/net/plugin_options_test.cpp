// The options tree as a plugin sees it: through the C accessors of the services table, and
// through the C++ layer of plugin.hpp on top of them.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include <gatio/plugin.hpp>

#include "config/config.hpp"
#include "net/plugin_options.hpp"
#include "net/plugin_services.hpp"

using gatio::config::OptionArray;
using gatio::config::OptionTable;
using gatio::config::OptionValue;

namespace {

OptionValue v(auto x) {
    return OptionValue{x};
}

// [listener.options] as the config layer hands it over.
OptionValue sample() {
    OptionTable limits{{"burst", v(std::int64_t{64})}, {"window", v(std::string("1500ms"))}};
    OptionArray hosts{v(std::string("a.example")), v(std::string("b.example"))};
    OptionTable root{
        {"enabled", v(true)},
        {"workers", v(std::int64_t{8})},
        {"ratio", v(0.25)},
        {"greeting", v(std::string("hello"))},
        {"timeout", v(std::string("2s"))},
        {"timeout_ms", v(std::int64_t{750})},
        {"max_body", v(std::string("64KiB"))},
        {"max_header", v(std::int64_t{8192})},
        {"bad_size", v(std::string("12 parsecs"))},
        {"negative", v(std::int64_t{-5})},
        {"hosts", v(hosts)},
        {"limits", v(limits)},
    };
    return v(root);
}

} // namespace

TEST_CASE("typed accessors read every kind of option", "[options]") {
    const auto& s = gatio::net::host_services();
    auto tree = sample();
    const gatio_option* root = gatio::net::options::handle(tree);

    CHECK(s.option_type(root) == GATIO_OPTION_TABLE);
    CHECK(s.option_count(root) == 12);
    CHECK(std::string(s.option_key_at(root, 3)) == "greeting");
    CHECK(s.option_key_at(root, 12) == nullptr);
    CHECK(s.option_get(root, "absent") == nullptr);

    int b = 0;
    REQUIRE(s.option_bool(s.option_get(root, "enabled"), &b) == GATIO_OK);
    CHECK(b == 1);
    std::int64_t i = 0;
    REQUIRE(s.option_int(s.option_get(root, "workers"), &i) == GATIO_OK);
    CHECK(i == 8);
    double d = 0;
    REQUIRE(s.option_double(s.option_get(root, "ratio"), &d) == GATIO_OK);
    CHECK(d == 0.25);
    REQUIRE(s.option_double(s.option_get(root, "workers"), &d) == GATIO_OK);
    CHECK(d == 8.0);
    const char* str = nullptr;
    std::size_t len = 0;
    REQUIRE(s.option_string(s.option_get(root, "greeting"), &str, &len) == GATIO_OK);
    CHECK(len == 5);
    CHECK(std::strcmp(str, "hello") == 0);

    std::int64_t ms = 0;
    REQUIRE(s.option_duration_ms(s.option_get(root, "timeout"), &ms) == GATIO_OK);
    CHECK(ms == 2000);
    REQUIRE(s.option_duration_ms(s.option_get(root, "timeout_ms"), &ms) == GATIO_OK);
    CHECK(ms == 750);
    std::uint64_t size = 0;
    REQUIRE(s.option_size(s.option_get(root, "max_body"), &size) == GATIO_OK);
    CHECK(size == 65536);
    REQUIRE(s.option_size(s.option_get(root, "max_header"), &size) == GATIO_OK);
    CHECK(size == 8192);

    const gatio_option* hosts = s.option_get(root, "hosts");
    CHECK(s.option_type(hosts) == GATIO_OPTION_ARRAY);
    REQUIRE(s.option_count(hosts) == 2);
    REQUIRE(s.option_string(s.option_at(hosts, 1), &str, nullptr) == GATIO_OK);
    CHECK(std::string(str) == "b.example");
    CHECK(s.option_at(hosts, 2) == nullptr);
    CHECK(s.option_key_at(hosts, 0) == nullptr); // arrays have no keys

    const gatio_option* limits = s.option_get(root, "limits");
    REQUIRE(s.option_duration_ms(s.option_get(limits, "window"), &ms) == GATIO_OK);
    CHECK(ms == 1500);
}

TEST_CASE("accessors refuse other types and bad values, leaving the output alone", "[options]") {
    const auto& s = gatio::net::host_services();
    auto tree = sample();
    const gatio_option* root = gatio::net::options::handle(tree);

    std::int64_t i = 99;
    CHECK(s.option_int(s.option_get(root, "greeting"), &i) == GATIO_ERR_TYPE);
    CHECK(s.option_int(s.option_get(root, "ratio"), &i) == GATIO_ERR_TYPE); // no silent truncation
    CHECK(i == 99);
    int b = 7;
    CHECK(s.option_bool(s.option_get(root, "workers"), &b) == GATIO_ERR_TYPE);
    CHECK(b == 7);
    std::uint64_t size = 3;
    CHECK(s.option_size(s.option_get(root, "bad_size"), &size) == GATIO_ERR_RANGE);
    CHECK(s.option_size(s.option_get(root, "negative"), &size) == GATIO_ERR_RANGE);
    CHECK(s.option_size(s.option_get(root, "enabled"), &size) == GATIO_ERR_TYPE);
    CHECK(size == 3);
    std::int64_t ms = 4;
    CHECK(s.option_duration_ms(s.option_get(root, "greeting"), &ms) == GATIO_ERR_RANGE);
    CHECK(s.option_duration_ms(s.option_get(root, "negative"), &ms) == GATIO_ERR_RANGE);
    CHECK(ms == 4);
    CHECK(s.option_get(s.option_get(root, "hosts"), "x") == nullptr); // not a table
    CHECK(s.option_count(s.option_get(root, "workers")) == 0);
}

TEST_CASE("the C++ layer reads options with defaults and names the culprit", "[options]") {
    auto tree = sample();
    gatio::Options o{&gatio::net::host_services(), gatio::net::options::handle(tree)};

    CHECK(o.get("enabled", false));
    CHECK(o.get("absent", true));
    CHECK(o.get("workers", std::int64_t{1}) == 8);
    CHECK(o.get("greeting", std::string_view{"x"}) == "hello");
    CHECK(o["limits"]["burst"].as_int("limits.burst") == 64);
    CHECK(o["timeout"].as_duration("timeout") == std::chrono::milliseconds{2000});
    CHECK(o["max_body"].as_size("max_body") == 65536u);
    CHECK(o["hosts"].size() == 2);
    CHECK(o["hosts"].at(0).as_string("hosts[0]") == "a.example");
    CHECK(o.key_at(0) == "enabled");
    CHECK_FALSE(o["absent"].as_double("absent").has_value());

    CHECK_THROWS_WITH(o.get("greeting", false), "option \"greeting\": expected a boolean");
    CHECK_THROWS_WITH(o["bad_size"].as_size("bad_size"),
                      "option \"bad_size\": value out of range for a size such as \"64KiB\"");
}
