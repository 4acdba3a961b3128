// [listener.options]: an opaque tree handed to the plugin, kept in the order it was written.
#include <algorithm>

#include "config/sections.hpp"

namespace gatio::config::detail {

namespace {

std::optional<OptionValue> convert(const toml::node& node, const std::string& path,
                                   const std::string& context, Reporter& out);

OptionTable convert_table(const toml::table& table, const std::string& path, const std::string& context,
                          Reporter& out) {
    // toml++ keeps keys sorted by name; the plugin sees them in the order they were written.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    entries.reserve(table.size());
    for (auto&& [key, value] : table) {
        entries.emplace_back(&key, &value);
    }
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        const SourcePos pa = position(a.first->source());
        const SourcePos pb = position(b.first->source());
        return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    OptionTable result;
    result.reserve(entries.size());
    for (const auto& [key, value] : entries) {
        if (auto converted = convert(*value, path + "." + std::string(key->str()), context, out)) {
            result.push_back({std::string(key->str()), std::move(*converted)});
        }
    }
    return result;
}

std::optional<OptionValue> convert(const toml::node& node, const std::string& path,
                                   const std::string& context, Reporter& out) {
    OptionValue v;
    if (const auto* b = node.as_boolean()) {
        v.value = b->get();
    } else if (const auto* n = node.as_integer()) {
        v.value = n->get();
    } else if (const auto* f = node.as_floating_point()) {
        v.value = f->get();
    } else if (const auto* s = node.as_string()) {
        v.value = s->get();
    } else if (const auto* a = node.as_array()) {
        OptionArray elements;
        elements.reserve(a->size());
        for (std::size_t i = 0; i < a->size(); ++i) {
            if (auto element = convert(*a->get(i), path + "[" + std::to_string(i) + "]", context, out)) {
                elements.push_back(std::move(*element));
            }
        }
        v.value = std::move(elements);
    } else if (const auto* t = node.as_table()) {
        v.value = convert_table(*t, path, context, out);
    } else {
        out.error(position(node),
                  prefixed(context, path +
                                        ": expected a string, integer, float, boolean, array or table, got " +
                                        std::string(type_name(node.type()))));
        return std::nullopt;
    }
    return v;
}

} // namespace

OptionTable read_options(const toml::table& table, const std::string& context, Reporter& out) {
    return convert_table(table, "options", context, out);
}

} // namespace gatio::config::detail
