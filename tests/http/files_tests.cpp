// The decisions of a root route, without a file: path refusal, validators, conditionals, Range.
#include <array>
#include <catch2/catch.hpp>
#include <string>

#include "date.hpp"
#include "files.hpp"

using namespace gatio::http;

namespace {

struct Resolved {
    PathStatus status;
    std::string path;
    bool directory;
};

Resolved resolve(std::string_view decoded, std::size_t room = 256) {
    std::string out(room, '#');
    const RelativePath r = relative_path(decoded, out);
    return {r.status, out.substr(0, r.length), r.directory};
}

constexpr std::optional<std::string_view> none;

Conditions cond(std::optional<std::string_view> if_none_match,
                std::optional<std::string_view> if_modified_since = {},
                std::optional<std::string_view> range = {}, std::optional<std::string_view> if_range = {}) {
    Conditions c;
    c.if_none_match = if_none_match;
    c.if_modified_since = if_modified_since;
    c.range = range;
    c.if_range = if_range;
    return c;
}

std::string etag(std::uint64_t size, std::int64_t mtime_ns) {
    std::array<char, etag_capacity> out{};
    const std::size_t n = format_etag(size, mtime_ns, out);
    return std::string(out.data(), n);
}

} // namespace

TEST_CASE("a path below the prefix becomes a path relative to the root", "[files]") {
    CHECK(resolve("a.txt").path == "a.txt");
    CHECK(resolve("dir/a.txt").path == "dir/a.txt");
    CHECK(resolve("dir//./a.txt").path == "dir/a.txt");
    CHECK(resolve("./a.txt").path == "a.txt");
    CHECK(resolve("a.txt").directory == false);
    CHECK(resolve("dir/").path == "dir");
    CHECK(resolve("dir/").directory == true);
    CHECK(resolve("dir/.").directory == false); // "." names the folder only when it ends in '/'
    CHECK(resolve("").directory == true);
    CHECK(resolve("").path.empty());
    CHECK(resolve("//").path.empty());
    CHECK(resolve("a..b/..c/d..").path == "a..b/..c/d.."); // dots inside names are names
    CHECK(resolve("...").path == "...");
}

TEST_CASE("a '..' segment and a NUL byte are refused, never resolved", "[files]") {
    CHECK(resolve("..").status == PathStatus::forbidden);
    CHECK(resolve("../etc/passwd").status == PathStatus::forbidden);
    CHECK(resolve("a/../../etc/passwd").status == PathStatus::forbidden);
    CHECK(resolve("a/..").status == PathStatus::forbidden);
    CHECK(resolve("a/../b").status == PathStatus::forbidden); // even one that stays inside
    CHECK(resolve("a/..//").status == PathStatus::forbidden);
    CHECK(resolve(std::string_view("a\0b", 3)).status == PathStatus::bad);
    CHECK(resolve(std::string_view("a.txt\0.png", 10)).status == PathStatus::bad);
    CHECK(resolve("ok").status == PathStatus::ok);
}

TEST_CASE("a path longer than the buffer is too long, the buffer's exact size fits", "[files]") {
    CHECK(resolve("abcd/efg", 8).status == PathStatus::ok);
    CHECK(resolve("abcd/efg", 8).path == "abcd/efg");
    CHECK(resolve("abcd/efgh", 8).status == PathStatus::too_long);
    CHECK(resolve("abcdefghi", 8).status == PathStatus::too_long);
}

TEST_CASE("the ETag changes with the size and the modification time", "[files]") {
    CHECK(etag(0, 0) == "\"0-0\"");
    CHECK(etag(4096, 0x1234) == "\"1234-1000\"");
    CHECK(etag(UINT64_MAX, INT64_MAX) == "\"7fffffffffffffff-ffffffffffffffff\"");
    CHECK(etag(UINT64_MAX, -1).size() == etag_capacity);
    CHECK(etag(10, 1) != etag(10, 2));
    CHECK(etag(10, 1) != etag(11, 1));
}

TEST_CASE("HTTP-dates in the three forms, anything else refused", "[files]") {
    constexpr std::time_t example = 784111777; // RFC 9110's Sun, 06 Nov 1994 08:49:37 GMT
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == example);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == example);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == example);
    CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    CHECK(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == 951782400);
    CHECK(parse_http_date("Thu, 31 Dec 2099 23:59:59 GMT") == 4102444799);
    CHECK(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == 1483228800); // a leap second
    CHECK_FALSE(parse_http_date(""));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT "));
    CHECK_FALSE(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 94 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 29 Feb 1900 00:00:00 GMT")); // not a leap year
    CHECK_FALSE(parse_http_date("Sun, 31 Apr 1994 00:00:00 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 24:00:00 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:60:00 GMT"));
    CHECK_FALSE(parse_http_date("Sun Nov 6 08:49:37 1994"));
    CHECK_FALSE(parse_http_date("yesterday"));
    // What the Date formatter writes reads back.
    char text[date_length];
    format_date(1700000000, text);
    CHECK(parse_http_date(std::string_view(text, date_length)) == 1700000000);
}

TEST_CASE("If-None-Match compares weakly and takes lists and '*'", "[files]") {
    const std::string tag = "\"5f-10\"";
    CHECK(none_match("\"5f-10\"", tag));
    CHECK(none_match("W/\"5f-10\"", tag));
    CHECK(none_match("*", tag));
    CHECK(none_match("  *  ", tag));
    CHECK(none_match("\"a\", \"5f-10\"", tag));
    CHECK(none_match("\"a\",W/\"5f-10\" ,\"b\"", tag));
    CHECK_FALSE(none_match("\"5f-11\"", tag));
    CHECK_FALSE(none_match("5f-10", tag)); // unquoted is no entity tag
    CHECK_FALSE(none_match("\"5f-10", tag));
    CHECK_FALSE(none_match("", tag));
    CHECK_FALSE(none_match("\"a\", junk, \"5f-10\"", tag));
}

TEST_CASE("If-Range holds on the strong tag or the exact date only", "[files]") {
    const std::string tag = "\"5f-10\"";
    CHECK(if_range_holds("\"5f-10\"", tag, 100));
    CHECK_FALSE(if_range_holds("W/\"5f-10\"", tag, 100));
    CHECK_FALSE(if_range_holds("\"5f-11\"", tag, 100));
    CHECK_FALSE(if_range_holds("\"5f-10\", \"x\"", tag, 100));
    CHECK(if_range_holds("Thu, 01 Jan 1970 00:01:40 GMT", tag, 100));
    CHECK_FALSE(if_range_holds("Thu, 01 Jan 1970 00:01:41 GMT", tag, 100));
    CHECK_FALSE(if_range_holds("Thu, 01 Jan 1970 00:01:39 GMT", tag, 100));
    CHECK_FALSE(if_range_holds("garbage", tag, 100));
}

TEST_CASE("single byte ranges: 206 within the file, 416 past its end, else the whole file", "[files]") {
    auto partial = [](std::string_view field, std::uint64_t size, std::uint64_t first, std::uint64_t length) {
        const RangeResult r = parse_range(field, size);
        INFO(field << " of " << size);
        CHECK(r.kind == RangeKind::partial);
        CHECK(r.range.first == first);
        CHECK(r.range.length == length);
    };
    auto kind = [](std::string_view field, std::uint64_t size) { return parse_range(field, size).kind; };
    partial("bytes=0-0", 100, 0, 1);
    partial("bytes=0-99", 100, 0, 100);
    partial("bytes=10-19", 100, 10, 10);
    partial("bytes=10-", 100, 10, 90);
    partial("bytes=99-", 100, 99, 1);
    partial("bytes=50-1000", 100, 50, 50); // the end is clamped
    partial("bytes=-10", 100, 90, 10);
    partial("bytes=-100", 100, 0, 100);
    partial("bytes=-1000", 100, 0, 100);
    partial("Bytes = 1-2 ", 100, 1, 2);
    partial("bytes=0-18446744073709551615", 100, 0, 100);
    partial("bytes=0-99999999999999999999999", 100, 0, 100);
    partial("bytes=-99999999999999999999999", 100, 0, 100);
    CHECK(kind("bytes=100-", 100) == RangeKind::unsatisfiable);
    CHECK(kind("bytes=100-200", 100) == RangeKind::unsatisfiable);
    CHECK(kind("bytes=-0", 100) == RangeKind::unsatisfiable);
    CHECK(kind("bytes=0-", 0) == RangeKind::unsatisfiable);
    CHECK(kind("bytes=-5", 0) == RangeKind::unsatisfiable);
    CHECK(kind("bytes=99999999999999999999-", 100) == RangeKind::unsatisfiable);
    // Ignored, so the whole file is sent.
    CHECK(kind("bytes=5-4", 100) == RangeKind::whole);
    CHECK(kind("bytes=0-1,5-6", 100) == RangeKind::whole);
    CHECK(kind("items=0-1", 100) == RangeKind::whole);
    CHECK(kind("bytes=", 100) == RangeKind::whole);
    CHECK(kind("bytes=-", 100) == RangeKind::whole);
    CHECK(kind("bytes=a-b", 100) == RangeKind::whole);
    CHECK(kind("bytes=1-2-3", 100) == RangeKind::whole);
    CHECK(kind("bytes=+1-2", 100) == RangeKind::whole);
    CHECK(kind("bytes 0-1", 100) == RangeKind::whole);
}

TEST_CASE("the answer: If-None-Match, then If-Modified-Since, then If-Range and Range", "[files]") {
    const std::string tag = "\"5f-64\"";
    const FileFacts file{100, 784111777, tag};
    const std::string_view lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    auto answer = [&](Conditions c) { return decide(file, c); };

    FileAnswer a = answer({});
    CHECK(a.status == 200);
    CHECK(a.range.first == 0);
    CHECK(a.range.length == 100);

    CHECK(answer(cond(tag)).status == 304);
    CHECK(answer(cond("\"other\"")).status == 200);
    CHECK(answer(cond(none, lm)).status == 304);
    CHECK(answer(cond(none, "Sun, 06 Nov 1994 08:49:38 GMT")).status == 304);
    CHECK(answer(cond(none, "Sun, 06 Nov 1994 08:49:36 GMT")).status == 200);
    CHECK(answer(cond(none, "not a date")).status == 200);
    // If-None-Match present: If-Modified-Since is not looked at (RFC 9110 section 13.2.2).
    CHECK(answer(cond("\"other\"", lm)).status == 200);
    CHECK(answer(cond(tag, "Sun, 06 Nov 1994 08:49:36 GMT")).status == 304);
    // A 304 wins over a Range.
    CHECK(answer(cond(tag, none, "bytes=0-1")).status == 304);

    a = answer(cond(none, none, "bytes=10-19"));
    CHECK(a.status == 206);
    CHECK(a.range.first == 10);
    CHECK(a.range.length == 10);
    CHECK(answer(cond(none, none, "bytes=100-")).status == 416);
    CHECK(answer(cond(none, none, "bytes=0-1,3-4")).status == 200);
    CHECK(answer(cond(none, none, "bytes=10-19", tag)).status == 206);
    CHECK(answer(cond(none, none, "bytes=10-19", lm)).status == 206);
    a = answer(cond(none, none, "bytes=10-19", "\"changed\""));
    CHECK(a.status == 200);
    CHECK(a.range.length == 100);
    CHECK(answer(cond(none, none, "bytes=100-", "\"changed\"")).status == 200);
    CHECK(answer(cond(none, none, none, tag)).status == 200); // If-Range without Range means nothing
}

TEST_CASE("a decoded path is encoded back for a Location field", "[files]") {
    auto encoded = [](std::string_view in, std::size_t room = 64) {
        std::string out(room, '#');
        return out.substr(0, encode_path(in, out));
    };
    CHECK(encoded("/s/dir/") == "/s/dir/");
    CHECK(encoded("/s/a b/") == "/s/a%20b/");
    CHECK(encoded("/s/%?#/") == "/s/%25%3F%23/");
    CHECK(encoded("/\xc3\xa9/") == "/%C3%A9/");
    CHECK(encoded("/a-._~!$&'()*+,;=:@/") == "/a-._~!$&'()*+,;=:@/");
    CHECK(encoded("/ab", 3) == "/ab");
    CHECK(encoded("/a ", 4).empty()); // does not fit
}
