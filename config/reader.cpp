#include "config/reader.hpp"

#include <algorithm>
#include <array>
#include <cassert>

#include "config/units.hpp"

namespace gatio::config::detail {

namespace {

constexpr std::size_t max_name_length = 32;

// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
// transpositions each cost one. Only whether it is within `limit` matters, so it answers
// limit + 1 as soon as that is certain: a cell is at least the smallest of the row above or
// one more than the smallest two rows above, so once two rows in a row exceed the limit,
// every later one does.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit) {
    // A cheap bound first: an edit adds, removes or replaces one character, so the distance is
    // at least the number of characters of one word that the other lacks (a transposition
    // changes neither count). Most unknown keys are far from most candidates.
    std::array<int, 256> count{};
    for (const char c : a) {
        ++count[static_cast<unsigned char>(c)];
    }
    for (const char c : b) {
        --count[static_cast<unsigned char>(c)];
    }
    // Each character's surplus is taken once, at its first occurrence.
    std::size_t only_a = 0;
    std::size_t only_b = 0;
    for (const char c : a) {
        int& n = count[static_cast<unsigned char>(c)];
        only_a += n > 0 ? static_cast<std::size_t>(n) : 0;
        n = std::min(n, 0);
    }
    for (const char c : b) {
        int& n = count[static_cast<unsigned char>(c)];
        only_b += n < 0 ? static_cast<std::size_t>(-n) : 0;
        n = std::max(n, 0);
    }
    if (std::max(only_a, only_b) > limit) {
        return limit + 1;
    }
    // Three rows of the matrix (a transposition looks two rows back), on the stack for the
    // schema's keys; an unknown key is compared with each, so this runs for every typo.
    constexpr std::size_t local_width = 64;
    const std::size_t width = b.size() + 1;
    std::array<std::size_t, 3 * local_width> local;
    std::vector<std::size_t> heap;
    if (width > local_width) {
        heap.resize(3 * width);
    }
    std::size_t* before = width > local_width ? heap.data() : local.data();
    std::size_t* previous = before + width;
    std::size_t* current = previous + width;
    for (std::size_t j = 0; j < width; ++j) {
        previous[j] = j;
    }
    std::size_t previous_min = 0;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        std::size_t current_min = i;
        for (std::size_t j = 1; j < width; ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min(std::min(previous[j], current[j - 1]) + 1, previous[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                current[j] = std::min(current[j], before[j - 2] + 1);
            }
            current_min = std::min(current_min, current[j]);
        }
        if (current_min > limit && previous_min > limit) {
            return limit + 1;
        }
        previous_min = current_min;
        std::swap(before, previous);
        std::swap(previous, current);
    }
    return previous[b.size()];
}

std::string range_text(std::int64_t min, std::int64_t max) {
    return "from " + std::to_string(min) + " to " + std::to_string(max);
}

} // namespace

SourcePos position(const toml::source_region& region) {
    return {region.begin.line, region.begin.column};
}

std::string_view type_name(toml::node_type type) {
    switch (type) {
    case toml::node_type::table:
        return "a table";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a float";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::date:
        return "a date";
    case toml::node_type::time:
        return "a time";
    case toml::node_type::date_time:
        return "a date-time";
    case toml::node_type::none:
        break;
    }
    assert(false && "a parsed document holds no untyped nodes");
    return "nothing";
}

std::string in_quotes(std::string_view text) {
    std::string out = "'";
    out += text;
    out += '\'';
    return out;
}

std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> candidates) {
    std::optional<std::string_view> best;
    std::size_t best_distance = 0;
    for (std::string_view candidate : candidates) {
        // A third of the word may be wrong: enough for typos, not for unrelated words.
        const std::size_t allowed = std::max<std::size_t>(1, candidate.size() / 3);
        // The distance is at least the difference in length: a word that long (or that short)
        // cannot be a typo of this candidate, whatever its letters, so the quadratic comparison
        // is skipped (a long unknown key is compared with every candidate otherwise).
        const std::size_t longer = std::max(word.size(), candidate.size());
        const std::size_t shorter = std::min(word.size(), candidate.size());
        if (longer - shorter > allowed) {
            continue;
        }
        const std::size_t distance = edit_distance(word, candidate, allowed);
        if (distance <= allowed && (!best || distance < best_distance)) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

std::string prefixed(std::string_view context, std::string_view message) {
    std::string out;
    if (!context.empty()) {
        out += context;
        out += ": ";
    }
    out += message;
    return out;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > max_name_length) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '.' || c == '-';
    });
}

std::string name_error(std::string_view name) {
    return "expected a name of 1 to " + std::to_string(max_name_length) +
           " letters, digits, '_', '.' or '-', got " + in_quotes(name);
}

void Reporter::error(SourcePos pos, std::string message) {
    errors_.push_back({file_, pos, std::move(message)});
}

Diagnostics Reporter::take_sorted() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return a.pos.line != b.pos.line ? a.pos.line < b.pos.line : a.pos.column < b.pos.column;
    });
    return std::move(errors_);
}

TableReader::TableReader(const toml::table& table, std::string context,
                         std::initializer_list<std::string_view> keys, Reporter& out)
    : table_(table), context_(std::move(context)), keys_(keys), consulted_(keys.size(), false), out_(out) {}

TableReader::~TableReader() {
    assert(finished_ && "finish() reports unknown keys; every reader must call it");
}

SourcePos TableReader::pos(std::string_view key) const {
    const toml::node* node = table_.get(key);
    return node ? position(*node) : SourcePos{};
}

const toml::node* TableReader::get(std::string_view key, Need need) {
    const auto it = std::find(keys_.begin(), keys_.end(), key);
    assert(it != keys_.end() && "a reader only asks for keys its schema declares");
    consulted_[static_cast<std::size_t>(it - keys_.begin())] = true;
    const toml::node* node = table_.get(key);
    if (!node && need == Need::required) {
        error(pos(), "missing required key " + in_quotes(key));
    }
    return node;
}

void TableReader::error(std::string_view key, SourcePos at, std::string_view message) {
    std::string text(key);
    text += ": ";
    text += message;
    out_.error(at, prefixed(context_, text));
}

void TableReader::error(SourcePos at, std::string_view message) {
    out_.error(at, prefixed(context_, message));
}

void TableReader::type_error(std::string_view key, const toml::node& node, std::string_view expected) {
    error(key, position(node),
          "expected " + std::string(expected) + ", got " + std::string(type_name(node.type())));
}

std::optional<std::string> TableReader::string(std::string_view key, Need need) {
    const toml::node* node = get(key, need);
    if (!node) {
        return std::nullopt;
    }
    if (const auto* s = node->as_string()) {
        return s->get();
    }
    type_error(key, *node, "a string");
    return std::nullopt;
}

std::optional<std::string> TableReader::name(std::string_view key, Need need) {
    auto text = string(key, need);
    if (text && !valid_name(*text)) {
        error(key, pos(key), name_error(*text));
        return std::nullopt;
    }
    return text;
}

std::optional<bool> TableReader::boolean(std::string_view key) {
    const toml::node* node = get(key);
    if (!node) {
        return std::nullopt;
    }
    if (const auto* b = node->as_boolean()) {
        return b->get();
    }
    type_error(key, *node, "a boolean");
    return std::nullopt;
}

std::optional<std::int64_t> TableReader::integer(std::string_view key, std::int64_t min, std::int64_t max,
                                                 Need need) {
    const toml::node* node = get(key, need);
    if (!node) {
        return std::nullopt;
    }
    // The expected range is spelled out only for a message: most values are valid.
    const auto expected = [&] { return "an integer " + range_text(min, max); };
    const auto* i = node->as_integer();
    if (!i) {
        type_error(key, *node, expected());
        return std::nullopt;
    }
    if (i->get() < min || i->get() > max) {
        error(key, position(*node), "expected " + expected() + ", got " + std::to_string(i->get()));
        return std::nullopt;
    }
    return i->get();
}

std::optional<std::uint32_t> TableReader::power_of_two(std::string_view key, std::uint32_t min,
                                                       std::uint32_t max) {
    const toml::node* node = get(key);
    if (!node) {
        return std::nullopt;
    }
    const auto expected = [&] { return "a power of two " + range_text(min, max); };
    const auto* i = node->as_integer();
    if (!i) {
        type_error(key, *node, expected());
        return std::nullopt;
    }
    const std::int64_t v = i->get();
    if (v < min || v > max || (v & (v - 1)) != 0) {
        error(key, position(*node), "expected " + expected() + ", got " + std::to_string(v));
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(v);
}

std::optional<std::uint64_t> TableReader::size(std::string_view key, std::uint64_t min, std::uint64_t max) {
    const toml::node* node = get(key);
    if (!node) {
        return std::nullopt;
    }
    const auto expected = [&] { return "a size from " + format_size(min) + " to " + format_size(max); };
    // As written, for a message: the integer, or the string in quotes.
    const auto written = [&] {
        const auto* i = node->as_integer();
        return i ? std::to_string(i->get()) : in_quotes(node->as_string()->get());
    };
    std::uint64_t bytes = 0;
    if (const auto* i = node->as_integer()) {
        if (i->get() < 0) {
            error(key, position(*node), "expected " + expected() + ", got " + written());
            return std::nullopt;
        }
        bytes = static_cast<std::uint64_t>(i->get());
    } else if (const auto* s = node->as_string()) {
        const auto parsed = parse_size(s->get());
        if (!parsed) {
            error(key, position(*node), parsed.error);
            return std::nullopt;
        }
        bytes = *parsed.value;
    } else {
        type_error(key, *node, expected());
        return std::nullopt;
    }
    if (bytes < min || bytes > max) {
        error(key, position(*node), "expected " + expected() + ", got " + written());
        return std::nullopt;
    }
    return bytes;
}

std::optional<Duration> TableReader::duration(std::string_view key) {
    const toml::node* node = get(key);
    if (!node) {
        return std::nullopt;
    }
    const auto* s = node->as_string();
    if (!s) {
        type_error(key, *node, "a duration such as '10s'");
        return std::nullopt;
    }
    auto parsed = parse_duration(s->get());
    if (!parsed) {
        error(key, position(*node), parsed.error);
    }
    return parsed.value;
}

std::optional<Micros> TableReader::micros(std::string_view key, Micros max) {
    const toml::node* node = get(key);
    if (!node) {
        return std::nullopt;
    }
    const auto* s = node->as_string();
    if (!s) {
        type_error(key, *node, "a duration such as '50us'");
        return std::nullopt;
    }
    auto parsed = parse_micros(s->get(), max);
    if (!parsed) {
        error(key, position(*node), parsed.error);
    }
    return parsed.value;
}

std::optional<SocketAddress> TableReader::address(std::string_view key, Need need) {
    const toml::node* node = get(key, need);
    if (!node) {
        return std::nullopt;
    }
    const auto* s = node->as_string();
    if (!s) {
        type_error(key, *node, "an address such as '127.0.0.1:80'");
        return std::nullopt;
    }
    auto parsed = parse_socket_address(s->get());
    if (!parsed) {
        error(key, position(*node), parsed.error);
    }
    return std::move(parsed.value);
}

const toml::table* TableReader::table(std::string_view key) {
    const toml::node* node = get(key);
    if (!node) {
        return nullptr;
    }
    const auto* t = node->as_table();
    if (!t) {
        type_error(key, *node, "a table");
    }
    return t;
}

std::vector<const toml::table*> TableReader::tables(std::string_view key, std::string_view header) {
    std::vector<const toml::table*> out;
    const toml::node* node = get(key);
    if (!node) {
        return out;
    }
    const auto* array = node->as_array();
    if (!array) {
        type_error(key, *node, "an array of tables (" + std::string(header) + ")");
        return out;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        if (const auto* t = element.as_table()) {
            out.push_back(t);
        } else {
            type_error(std::string(key) + "[" + std::to_string(i) + "]", element, "a table");
        }
    }
    return out;
}

std::optional<std::size_t> TableReader::keyword_index(std::string_view key,
                                                      std::span<const std::string_view> texts) {
    const toml::node* node = get(key);
    if (!node) {
        return std::nullopt;
    }
    // The list of keywords is written out only for a message.
    const auto expected = [&] {
        std::string list;
        for (std::size_t i = 0; i < texts.size(); ++i) {
            if (i > 0) {
                list += i + 1 == texts.size() ? " or " : ", ";
            }
            list += in_quotes(texts[i]);
        }
        return list;
    };
    const auto* s = node->as_string();
    if (!s) {
        type_error(key, *node, expected());
        return std::nullopt;
    }
    const auto it = std::find(texts.begin(), texts.end(), s->get());
    if (it == texts.end()) {
        error(key, position(*node), "expected " + expected() + ", got " + in_quotes(s->get()));
        return std::nullopt;
    }
    return static_cast<std::size_t>(it - texts.begin());
}

void TableReader::finish() {
    assert(!finished_);
    finished_ = true;
    assert(std::all_of(consulted_.begin(), consulted_.end(), [](bool c) { return c; }) &&
           "every declared key is read, so that none can be silently ignored");
    for (auto&& [key, value] : table_) {
        if (std::find(keys_.begin(), keys_.end(), key.str()) != keys_.end()) {
            continue;
        }
        std::string message = "unknown key " + in_quotes(key.str());
        if (auto suggestion = closest(key.str(), keys_)) {
            message += "; did you mean " + in_quotes(*suggestion) + "?";
        }
        error(position(key.source()), message);
    }
}

} // namespace gatio::config::detail
