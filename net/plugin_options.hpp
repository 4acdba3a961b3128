// The typed accessors of the C ABI over config::OptionValue trees. A gatio_option handle is a
// config::OptionValue address; the tree is immutable, so every accessor is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include <gatio/plugin.h>

#include "config/config.hpp"

namespace gatio::net::options {

inline const gatio_option* handle(const config::OptionValue& v) {
    return reinterpret_cast<const gatio_option*>(&v);
}

int type(const gatio_option* node);
const gatio_option* get(const gatio_option* table, const char* key);
std::size_t count(const gatio_option* node);
const gatio_option* at(const gatio_option* node, std::size_t index);
const char* key_at(const gatio_option* table, std::size_t index);
int as_bool(const gatio_option* node, int* out);
int as_int(const gatio_option* node, std::int64_t* out);
int as_double(const gatio_option* node, double* out);
int as_string(const gatio_option* node, const char** out, std::size_t* len);
int as_duration_ms(const gatio_option* node, std::int64_t* out);
int as_size(const gatio_option* node, std::uint64_t* out);

} // namespace gatio::net::options
