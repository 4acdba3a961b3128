// Walking a TOML table against a schema: typed, range-checked getters that report what was
// wrong where, and a final check that reports every key the schema does not know.
// Internal to config/: the only header that exposes toml++.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "config/config.hpp"
#include "config/keywords.hpp"
#include "config/source.hpp"

namespace gatio::config::detail {

SourcePos position(const toml::source_region& region);
inline SourcePos position(const toml::node& node) {
    return position(node.source());
}

// "an integer", "a table", ... as used in "expected X, got an integer".
std::string_view type_name(toml::node_type type);

// text between single quotes, as values and keys are shown in messages.
std::string in_quotes(std::string_view text);

// The candidate closest to word by edit distance (a transposition counts as one edit), if it is
// close enough to be a plausible typo.
std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> candidates);

// "context: message", or just message at the top level.
std::string prefixed(std::string_view context, std::string_view message);

// Names of TPCs, drivers and listeners.
bool valid_name(std::string_view name);
std::string name_error(std::string_view name);

// Collects diagnostics for one file.
class Reporter {
public:
    explicit Reporter(std::string file) : file_(std::move(file)) {}

    void error(SourcePos pos, std::string message);
    bool failed() const { return !errors_.empty(); }
    // Every diagnostic, ordered by line then column (a stable order for equal positions).
    Diagnostics take_sorted();

private:
    std::string file_;
    Diagnostics errors_;
};

enum class Need { optional, required };

// Reads one TOML table whose keys are declared up front. Every getter returns nullopt both when
// the key is absent and when its value is invalid (the latter reported); callers keep their
// default in either case, and the Config is discarded when anything was reported.
class TableReader {
public:
    TableReader(const toml::table& table, std::string context, std::initializer_list<std::string_view> keys,
                Reporter& out);
    TableReader(const TableReader&) = delete;
    TableReader& operator=(const TableReader&) = delete;
    ~TableReader();

    // The prefix of every message, e.g. `listener "web"`; set once the name is known.
    void set_context(std::string context) { context_ = std::move(context); }
    const std::string& context() const { return context_; }
    SourcePos pos() const { return position(table_); }
    // Where key's value was written; {} when absent.
    SourcePos pos(std::string_view key) const;

    const toml::node* get(std::string_view key, Need need = Need::optional);
    std::optional<std::string> string(std::string_view key, Need need = Need::optional);
    std::optional<std::string> name(std::string_view key, Need need);
    std::optional<bool> boolean(std::string_view key);
    std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max,
                                        Need need = Need::optional);
    std::optional<std::uint32_t> power_of_two(std::string_view key, std::uint32_t min, std::uint32_t max);
    // An integer number of bytes or a size string ("64KiB").
    std::optional<std::uint64_t> size(std::string_view key, std::uint64_t min, std::uint64_t max);
    std::optional<Duration> duration(std::string_view key);
    std::optional<Micros> micros(std::string_view key, Micros max);
    std::optional<SocketAddress> address(std::string_view key, Need need = Need::optional);
    const toml::table* table(std::string_view key);
    // An array of tables ([[key]]); `header` names it in messages. Elements that are not tables
    // are reported and skipped.
    std::vector<const toml::table*> tables(std::string_view key, std::string_view header);

    template <typename E, std::size_t N>
    std::optional<E> keyword(std::string_view key, const std::array<Keyword<E>, N>& keywords) {
        std::array<std::string_view, N> texts{};
        for (std::size_t i = 0; i < N; ++i) {
            texts[i] = keywords[i].text;
        }
        if (auto i = keyword_index(key, texts)) {
            return keywords[*i].value;
        }
        return std::nullopt;
    }

    // "context: key: message" at pos.
    void error(std::string_view key, SourcePos pos, std::string_view message);
    // "context: message" at pos.
    void error(SourcePos pos, std::string_view message);
    // "context: key: expected <expected>, got <the value's type>" at the value.
    void type_error(std::string_view key, const toml::node& node, std::string_view expected);

    // Reports every key the table holds that was not declared. Must be called once.
    void finish();

private:
    std::optional<std::size_t> keyword_index(std::string_view key, std::span<const std::string_view> texts);

    const toml::table& table_;
    std::string context_;
    std::vector<std::string_view> keys_; // declared keys, in schema order
    std::vector<bool> consulted_;        // keys_[i] was asked for
    Reporter& out_;
    bool finished_ = false;
};

} // namespace gatio::config::detail
