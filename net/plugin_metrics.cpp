#include "net/plugin_metrics.hpp"

#include <cstring>

namespace gatio::net {

namespace {

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

// The label labels render with; the host adds listener, driver and tpc itself.
bool reserved_label(std::string_view name) {
    return name == "listener" || name == "driver" || name == "tpc" || name.starts_with("__");
}

void append_escaped(std::string& out, std::string_view value) {
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

bool bounded(const char* text, std::size_t max) {
    return text != nullptr && std::strlen(text) <= max;
}

} // namespace

bool valid_metric_name(std::string_view name) {
    if (name.empty() || name.size() > GATIO_METRIC_NAME_MAX) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0)) {
            return false;
        }
    }
    return true;
}

int PluginMetrics::add(const gatio_metric_args& args, gatio_metric* out) {
    if (args.type != GATIO_METRIC_COUNTER && args.type != GATIO_METRIC_GAUGE) {
        return GATIO_ERR_INVALID;
    }
    if (args.name == nullptr || !valid_metric_name(args.name) ||
        std::string_view(args.name).starts_with("gatio_") || !bounded(args.help, GATIO_METRIC_HELP_MAX) ||
        args.label_count > GATIO_METRIC_MAX_LABELS ||
        (args.label_count > 0 && (args.label_names == nullptr || args.label_values == nullptr))) {
        return GATIO_ERR_INVALID;
    }
    std::string labels;
    for (std::size_t i = 0; i < args.label_count; ++i) {
        const char* key = args.label_names[i];
        const char* value = args.label_values[i];
        if (key == nullptr || !valid_metric_name(key) || reserved_label(key) ||
            !bounded(value, GATIO_METRIC_LABEL_MAX)) {
            return GATIO_ERR_INVALID;
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (std::strcmp(args.label_names[j], key) == 0) {
                return GATIO_ERR_INVALID;
            }
        }
        if (!labels.empty()) {
            labels += ',';
        }
        labels += key;
        labels += "=\"";
        append_escaped(labels, value);
        labels += '"';
    }
    const std::string help = args.help;
    for (std::size_t i = 0; i < count_; ++i) {
        const Series& s = series_[i];
        if (s.name != args.name) {
            continue;
        }
        if (s.type != args.type || s.help != help) {
            return GATIO_ERR_INVALID; // one family, one type and help
        }
        if (s.labels == labels) {
            *out = i + 1;
            return GATIO_OK;
        }
    }
    if (count_ >= GATIO_METRIC_MAX_SERIES) {
        return GATIO_ERR_LIMIT;
    }
    {
        std::lock_guard lock(mutex_);
        Series& s = series_.emplace_back();
        s.name = args.name;
        s.help = help;
        s.labels = std::move(labels);
        s.type = args.type;
    }
    *out = ++count_;
    return GATIO_OK;
}

int PluginMetrics::update(gatio_metric metric, std::int64_t value, bool relative) {
    if (metric == 0 || metric > count_) {
        return GATIO_ERR_INVALID;
    }
    Series& s = series_[metric - 1];
    if (!relative && s.type == GATIO_METRIC_COUNTER) {
        return GATIO_ERR_INVALID; // a counter only goes up
    }
    if (relative && s.type == GATIO_METRIC_COUNTER && value < 0) {
        return GATIO_ERR_INVALID;
    }
    // The owner is the only writer: a load and a store, no read-modify-write.
    const std::int64_t now = relative ? s.value.load(std::memory_order_relaxed) + value : value;
    s.value.store(now, std::memory_order_relaxed);
    return GATIO_OK;
}

} // namespace gatio::net
