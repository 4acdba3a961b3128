#include "files.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <time.h>

namespace gatio::http {

namespace {

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_ows(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_lower(std::string_view s, std::string_view lower_literal) {
    if (s.size() != lower_literal.size()) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (lower(s[i]) != lower_literal[i]) {
            return false;
        }
    }
    return true;
}

// Digits only; a value past 2^64 - 1 saturates there, which every file is shorter than.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    constexpr std::uint64_t most = UINT64_MAX;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        v = v > (most - d) / 10 ? most : v * 10 + d;
    }
    return v;
}

// Exactly `width` digits at the front of s, consumed.
std::optional<int> take_digits(std::string_view& s, std::size_t width) {
    if (s.size() < width) {
        return std::nullopt;
    }
    int v = 0;
    for (std::size_t i = 0; i < width; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        v = v * 10 + (s[i] - '0');
    }
    s.remove_prefix(width);
    return v;
}

bool take(std::string_view& s, std::string_view literal) {
    if (s.substr(0, literal.size()) != literal) {
        return false;
    }
    s.remove_prefix(literal.size());
    return true;
}

constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> short_days{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_days{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};

std::optional<int> take_month(std::string_view& s) {
    for (std::size_t m = 0; m < months.size(); ++m) {
        if (take(s, months[m])) {
            return static_cast<int>(m) + 1;
        }
    }
    return std::nullopt;
}

bool take_day_name(std::string_view& s, std::span<const std::string_view> names) {
    for (std::string_view d : names) {
        if (take(s, d)) {
            return true;
        }
    }
    return false;
}

// Days from 1970-01-01 to the given proleptic Gregorian date.
std::int64_t days_from_civil(int year, int month, int day) {
    const int y = year - (month <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int mp = month > 2 ? month - 3 : month + 9;
    const int doy = (153 * mp + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

bool leap(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

std::optional<std::time_t> make_time(int year, int month, int day, int hour, int minute, int second) {
    static constexpr std::array<int, 12> month_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int last = month_days[static_cast<std::size_t>(month - 1)] + (month == 2 && leap(year) ? 1 : 0);
    // 60 is a leap second, which IMF-fixdate allows.
    if (day < 1 || day > last || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    return static_cast<std::time_t>(days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                                    second);
}

// "hh:mm:ss" at the front of s.
bool take_time(std::string_view& s, int& hour, int& minute, int& second) {
    const auto h = take_digits(s, 2);
    if (!h || !take(s, ":")) {
        return false;
    }
    const auto m = take_digits(s, 2);
    if (!m || !take(s, ":")) {
        return false;
    }
    const auto sec = take_digits(s, 2);
    if (!sec) {
        return false;
    }
    hour = *h;
    minute = *m;
    second = *sec;
    return true;
}

// One entity tag at the front of s ([W/] DQUOTE *etagc DQUOTE), consumed; `weak` says whether
// it had the prefix. nullopt when s does not start with one.
std::optional<std::string_view> take_etag(std::string_view& s, bool& weak) {
    weak = take(s, "W/");
    if (s.empty() || s.front() != '"') {
        return std::nullopt;
    }
    const std::size_t close = s.find('"', 1);
    if (close == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view tag = s.substr(0, close + 1);
    s.remove_prefix(close + 1);
    return tag;
}

} // namespace

RelativePath relative_path(std::string_view decoded, std::span<char> out) {
    RelativePath r;
    r.directory = decoded.empty() || decoded.back() == '/';
    if (decoded.find('\0') != std::string_view::npos) {
        r.status = PathStatus::bad;
        return r;
    }
    std::size_t at = 0;
    while (!decoded.empty()) {
        const std::size_t slash = decoded.find('/');
        const std::string_view segment = decoded.substr(0, slash);
        decoded.remove_prefix(slash == std::string_view::npos ? decoded.size() : slash + 1);
        if (segment.empty() || segment == ".") {
            continue;
        }
        if (segment == "..") {
            r.status = PathStatus::forbidden;
            return r;
        }
        const std::size_t need = segment.size() + (at == 0 ? 0 : 1);
        if (out.size() - at < need) {
            r.status = PathStatus::too_long;
            return r;
        }
        if (at != 0) {
            out[at++] = '/';
        }
        std::memcpy(out.data() + at, segment.data(), segment.size());
        at += segment.size();
    }
    r.length = at;
    r.directory = r.directory || at == 0;
    return r;
}

std::size_t encode_path(std::string_view decoded, std::span<char> out) {
    static constexpr char hex[] = "0123456789ABCDEF";
    static constexpr std::string_view kept = "-._~!$&'()*+,;=:@/";
    std::size_t at = 0;
    for (char ch : decoded) {
        const auto c = static_cast<unsigned char>(ch);
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           kept.find(ch) != std::string_view::npos;
        const std::size_t need = plain ? 1 : 3;
        if (out.size() - at < need) {
            return 0;
        }
        if (plain) {
            out[at++] = ch;
        } else {
            out[at++] = '%';
            out[at++] = hex[c >> 4];
            out[at++] = hex[c & 15];
        }
    }
    return at;
}

std::size_t format_etag(std::uint64_t size, std::int64_t mtime_ns, std::span<char, etag_capacity> out) {
    static constexpr char hex[] = "0123456789abcdef";
    char* p = out.data();
    *p++ = '"';
    auto put = [&p](std::uint64_t v) {
        char digits[16];
        int n = 0;
        do {
            digits[n++] = hex[v & 15];
            v >>= 4;
        } while (v != 0);
        while (n > 0) {
            *p++ = digits[--n];
        }
    };
    put(static_cast<std::uint64_t>(mtime_ns));
    *p++ = '-';
    put(size);
    *p++ = '"';
    return static_cast<std::size_t>(p - out.data());
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
    std::string_view s = text;
    int hour = 0;
    int minute = 0;
    int second = 0;
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (take_day_name(s, short_days) && take(s, ", ")) {
        const auto day = take_digits(s, 2);
        if (!day || !take(s, " ")) {
            return std::nullopt;
        }
        const auto month = take_month(s);
        if (!month || !take(s, " ")) {
            return std::nullopt;
        }
        const auto year = take_digits(s, 4);
        if (!year || !take(s, " ") || !take_time(s, hour, minute, second) || s != " GMT") {
            return std::nullopt;
        }
        return make_time(*year, *month, *day, hour, minute, second);
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years ahead is
    // in the past century (RFC 9110 section 5.6.7).
    s = text;
    if (take_day_name(s, long_days) && take(s, ", ")) {
        const auto day = take_digits(s, 2);
        if (!day || !take(s, "-")) {
            return std::nullopt;
        }
        const auto month = take_month(s);
        if (!month || !take(s, "-")) {
            return std::nullopt;
        }
        const auto yy = take_digits(s, 2);
        if (!yy || !take(s, " ") || !take_time(s, hour, minute, second) || s != " GMT") {
            return std::nullopt;
        }
        std::tm now{};
        const std::time_t t = std::time(nullptr);
        gmtime_r(&t, &now);
        const int this_year = now.tm_year + 1900;
        int year = this_year / 100 * 100 + *yy;
        if (year > this_year + 50) {
            year -= 100;
        }
        return make_time(year, *month, *day, hour, minute, second);
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    s = text;
    if (take_day_name(s, short_days) && take(s, " ")) {
        const auto month = take_month(s);
        if (!month || !take(s, " ")) {
            return std::nullopt;
        }
        std::optional<int> day;
        if (take(s, " ")) {
            day = take_digits(s, 1);
        } else {
            day = take_digits(s, 2);
        }
        if (!day || !take(s, " ") || !take_time(s, hour, minute, second) || !take(s, " ")) {
            return std::nullopt;
        }
        const auto year = take_digits(s, 4);
        if (!year || !s.empty()) {
            return std::nullopt;
        }
        return make_time(*year, *month, *day, hour, minute, second);
    }
    return std::nullopt;
}

bool none_match(std::string_view field, std::string_view etag) {
    std::string_view s = trim(field);
    if (s == "*") {
        return true;
    }
    const std::string_view ours = etag.substr(etag.starts_with("W/") ? 2 : 0);
    for (;;) {
        while (!s.empty() && (is_ows(s.front()) || s.front() == ',')) {
            s.remove_prefix(1);
        }
        if (s.empty()) {
            return false;
        }
        bool weak = false;
        const auto tag = take_etag(s, weak);
        if (!tag) {
            return false; // malformed: nothing after it can be trusted to match
        }
        if (*tag == ours) {
            return true;
        }
    }
}

bool if_range_holds(std::string_view field, std::string_view etag, std::time_t last_modified) {
    std::string_view s = trim(field);
    if (s.starts_with("W/") || s.starts_with("\"")) {
        bool weak = false;
        const auto tag = take_etag(s, weak);
        return tag && s.empty() && !weak && !etag.starts_with("W/") && *tag == etag;
    }
    const auto date = parse_http_date(s);
    return date && *date == last_modified;
}

RangeResult parse_range(std::string_view field, std::uint64_t size) {
    RangeResult whole;
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos || !equals_lower(trim(field.substr(0, eq)), "bytes")) {
        return whole;
    }
    const std::string_view set = trim(field.substr(eq + 1));
    if (set.find(',') != std::string_view::npos) {
        return whole;
    }
    const std::size_t dash = set.find('-');
    if (dash == std::string_view::npos) {
        return whole;
    }
    const std::string_view first_text = set.substr(0, dash);
    const std::string_view last_text = set.substr(dash + 1);
    RangeResult r;
    if (first_text.empty()) {
        // A suffix: the last n bytes, all of them when the file is shorter.
        const auto suffix = parse_decimal(last_text);
        if (!suffix) {
            return whole;
        }
        if (*suffix == 0 || size == 0) {
            r.kind = RangeKind::unsatisfiable;
            return r;
        }
        const std::uint64_t n = std::min(*suffix, size);
        r.kind = RangeKind::partial;
        r.range = {size - n, n};
        return r;
    }
    const auto first = parse_decimal(first_text);
    if (!first) {
        return whole;
    }
    std::uint64_t last = size == 0 ? 0 : size - 1;
    if (!last_text.empty()) {
        const auto given = parse_decimal(last_text);
        if (!given || *given < *first) {
            return whole; // an invalid range-spec: the field is ignored
        }
        last = std::min(last, *given);
    }
    if (*first >= size) {
        r.kind = RangeKind::unsatisfiable;
        return r;
    }
    r.kind = RangeKind::partial;
    r.range = {*first, last - *first + 1};
    return r;
}

FileAnswer decide(const FileFacts& file, const Conditions& c) {
    FileAnswer a;
    a.range = {0, file.size};
    if (c.if_none_match) {
        if (none_match(*c.if_none_match, file.etag)) {
            a.status = 304;
            a.range = {};
            return a;
        }
    } else if (c.if_modified_since) {
        const auto since = parse_http_date(trim(*c.if_modified_since));
        if (since && file.last_modified <= *since) {
            a.status = 304;
            a.range = {};
            return a;
        }
    }
    if (!c.range || (c.if_range && !if_range_holds(*c.if_range, file.etag, file.last_modified))) {
        return a;
    }
    const RangeResult r = parse_range(*c.range, file.size);
    switch (r.kind) {
    case RangeKind::whole:
        break;
    case RangeKind::partial:
        a.status = 206;
        a.range = r.range;
        break;
    case RangeKind::unsatisfiable:
        a.status = 416;
        a.range = {};
        break;
    }
    return a;
}

} // namespace gatio::http
