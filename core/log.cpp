#include "core/log.hpp"

namespace gatio::log {

std::string context_name(const Context& ctx) {
    std::string name;
    auto add = [&name](std::string_view key, std::string_view value) {
        if (value.empty()) {
            return;
        }
        if (!name.empty()) {
            name += ' ';
        }
        name.append(key).append("=").append(value);
    };
    add("tpc", ctx.tpc);
    add("driver", ctx.driver);
    add("listener", ctx.listener);
    add("plugin", ctx.plugin);
    return name;
}

std::shared_ptr<spdlog::logger> make_logger(const Context& ctx) {
    auto base = spdlog::default_logger();
    // clone() keeps the type: an async_logger stays asynchronous on the same thread pool.
    auto logger = base->clone(context_name(ctx));
    logger->set_level(base->level());
    return logger;
}

ParsedContext parse_context_name(std::string_view name) {
    ParsedContext out;
    while (!name.empty()) {
        auto space = name.find(' ');
        auto item = name.substr(0, space);
        name = space == std::string_view::npos ? std::string_view{} : name.substr(space + 1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        auto key = item.substr(0, eq);
        auto value = item.substr(eq + 1);
        if (key == "tpc") {
            out.tpc = value;
        } else if (key == "driver") {
            out.driver = value;
        } else if (key == "listener") {
            out.listener = value;
        } else if (key == "plugin") {
            out.plugin = value;
        }
    }
    return out;
}

} // namespace gatio::log
