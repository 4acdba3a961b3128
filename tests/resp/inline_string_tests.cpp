// InlineString at the boundary between its two forms: bytes kept inside up to 31, a heap block
// from 32, binary bytes (NUL, 0xff) in either, and copies and moves between the forms.
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "inline_string.hpp"

using gatio::resp::InlineString;

namespace {

std::string bytes_of(std::size_t n, char seed) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s.push_back(static_cast<char>(seed + static_cast<char>(i * 37)));
    }
    return s;
}

} // namespace

TEST_CASE("an inline string holds up to 31 bytes inside and more on the heap", "[resp][inline-string]") {
    for (std::size_t n : {0u, 1u, 15u, 16u, 30u, 31u, 32u, 33u, 100u, 4096u}) {
        const std::string want = bytes_of(n, static_cast<char>(n));
        const InlineString s(want);
        INFO("length " << n);
        CHECK(s.view() == want);
        CHECK(s.size() == n);
        CHECK(s.heap_bytes() == (n <= InlineString::inline_max ? 0 : n));
    }
}

TEST_CASE("an inline string keeps NUL and 0xff bytes in both forms", "[resp][inline-string]") {
    const std::string shortest("\0\xff\0", 3);
    const std::string longest(std::string(30, '\0') + "\xff");
    const std::string heap(std::string(40, '\xff') + std::string(2, '\0'));
    for (const std::string& want : {shortest, longest, heap}) {
        const InlineString s(want);
        CHECK(s.view() == want);
        CHECK(s == want);
        CHECK_FALSE(s == want.substr(1));
    }
}

TEST_CASE("inline strings copy and move between the two forms", "[resp][inline-string]") {
    const std::string small = bytes_of(20, 'a');
    const std::string large = bytes_of(64, 'b');
    InlineString a(small);
    InlineString b(large);
    InlineString c(a);
    CHECK(c.view() == small);
    c = b;
    CHECK(c.view() == large);
    CHECK(b.view() == large);
    c = a;
    CHECK(c.view() == small);
    CHECK(c.heap_bytes() == 0);

    InlineString moved(std::move(b));
    CHECK(moved.view() == large);
    CHECK(b.size() == 0); // a moved-from string is left empty
    a = std::move(moved);
    CHECK(a.view() == large);
    CHECK(a.heap_bytes() == large.size());

    std::vector<InlineString> grown;
    for (std::size_t i = 0; i < 200; ++i) {
        grown.emplace_back(bytes_of(i % 50, static_cast<char>(i)));
    }
    for (std::size_t i = 0; i < grown.size(); ++i) {
        CHECK(grown[i].view() == bytes_of(i % 50, static_cast<char>(i)));
    }
}
