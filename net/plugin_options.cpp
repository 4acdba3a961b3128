#include "net/plugin_options.hpp"

#include <cstring>

#include "config/units.hpp"

namespace gatio::net::options {

namespace {

const config::OptionValue& node_of(const gatio_option* h) {
    return *reinterpret_cast<const config::OptionValue*>(h);
}

template <typename T>
const T* as(const gatio_option* h) {
    return h ? std::get_if<T>(&node_of(h).value) : nullptr;
}

} // namespace

int type(const gatio_option* node) {
    if (node == nullptr) {
        return 0;
    }
    switch (node_of(node).value.index()) {
    case 0:
        return GATIO_OPTION_BOOL;
    case 1:
        return GATIO_OPTION_INT;
    case 2:
        return GATIO_OPTION_DOUBLE;
    case 3:
        return GATIO_OPTION_STRING;
    case 4:
        return GATIO_OPTION_ARRAY;
    default:
        return GATIO_OPTION_TABLE;
    }
}

const gatio_option* get(const gatio_option* table, const char* key) {
    const auto* t = as<config::OptionTable>(table);
    if (t == nullptr || key == nullptr) {
        return nullptr;
    }
    for (const auto& [k, v] : *t) {
        if (k == key) {
            return handle(v);
        }
    }
    return nullptr;
}

std::size_t count(const gatio_option* node) {
    if (const auto* a = as<config::OptionArray>(node)) {
        return a->size();
    }
    if (const auto* t = as<config::OptionTable>(node)) {
        return t->size();
    }
    return 0;
}

const gatio_option* at(const gatio_option* node, std::size_t index) {
    if (const auto* a = as<config::OptionArray>(node)) {
        return index < a->size() ? handle((*a)[index]) : nullptr;
    }
    if (const auto* t = as<config::OptionTable>(node)) {
        return index < t->size() ? handle((*t)[index].second) : nullptr;
    }
    return nullptr;
}

const char* key_at(const gatio_option* table, std::size_t index) {
    const auto* t = as<config::OptionTable>(table);
    return t != nullptr && index < t->size() ? (*t)[index].first.c_str() : nullptr;
}

int as_bool(const gatio_option* node, int* out) {
    const auto* v = as<bool>(node);
    if (v == nullptr) {
        return GATIO_ERR_TYPE;
    }
    *out = *v ? 1 : 0;
    return GATIO_OK;
}

int as_int(const gatio_option* node, std::int64_t* out) {
    const auto* v = as<std::int64_t>(node);
    if (v == nullptr) {
        return GATIO_ERR_TYPE;
    }
    *out = *v;
    return GATIO_OK;
}

int as_double(const gatio_option* node, double* out) {
    if (const auto* d = as<double>(node)) {
        *out = *d;
        return GATIO_OK;
    }
    if (const auto* i = as<std::int64_t>(node)) {
        *out = static_cast<double>(*i);
        return GATIO_OK;
    }
    return GATIO_ERR_TYPE;
}

int as_string(const gatio_option* node, const char** out, std::size_t* len) {
    const auto* s = as<std::string>(node);
    if (s == nullptr) {
        return GATIO_ERR_TYPE;
    }
    *out = s->c_str();
    if (len != nullptr) {
        *len = s->size();
    }
    return GATIO_OK;
}

// Durations and sizes are written either as a plain non-negative integer (milliseconds, bytes)
// or as a string in the config's unit syntax; both accessors share that rule.
template <typename Out, typename Parse, typename Count>
int integer_or_units(const gatio_option* node, Out* out, Parse parse, Count count) {
    if (const auto* i = as<std::int64_t>(node)) {
        if (*i < 0) {
            return GATIO_ERR_RANGE;
        }
        *out = static_cast<Out>(*i);
        return GATIO_OK;
    }
    const auto* s = as<std::string>(node);
    if (s == nullptr) {
        return GATIO_ERR_TYPE;
    }
    auto parsed = parse(*s);
    if (!parsed) {
        return GATIO_ERR_RANGE;
    }
    *out = count(*parsed.value);
    return GATIO_OK;
}

int as_duration_ms(const gatio_option* node, std::int64_t* out) {
    return integer_or_units(node, out, config::parse_duration, [](config::Duration d) { return d.count(); });
}

int as_size(const gatio_option* node, std::uint64_t* out) {
    return integer_or_units(node, out, config::parse_size, [](std::uint64_t bytes) { return bytes; });
}

} // namespace gatio::net::options
