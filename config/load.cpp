#include "config/load.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "config/reader.hpp"
#include "config/sections.hpp"

namespace gatio::config {

namespace {

// Stands in for an absent section so that defaults flow through the same readers.
const toml::table& section(detail::TableReader& top, std::string_view key) {
    static const toml::table empty;
    const toml::table* table = top.table(key);
    return table ? *table : empty;
}

} // namespace

std::filesystem::path default_plugin_dir() {
    return GATIO_DEFAULT_PLUGIN_DIR;
}

LoadResult load_string(std::string_view text, const std::filesystem::path& file, const Overrides& overrides) {
    using namespace detail;
    const std::string shown = file.string();
    Reporter out(shown);
    LoadResult result;

    toml::table doc;
    try {
        doc = toml::parse(text, std::string_view(shown));
    } catch (const toml::parse_error& e) {
        out.error(position(e.source()), std::string(e.description()));
        result.errors = out.take_sorted();
        return result;
    }

    Config config;
    std::error_code ec;
    config.file = normalized(std::filesystem::absolute(file, ec));
    if (ec) {
        out.error({}, "cannot make the path absolute: " + ec.message());
        result.errors = out.take_sorted();
        return result;
    }
    const std::filesystem::path folder = config.file.parent_path();

    TableReader top(doc, "", {"daemon", "admin", "topology", "tpc", "io_uring", "network", "listener"}, out);
    config.daemon = read_daemon(section(top, "daemon"), folder, overrides, out);
    config.admin = read_admin(section(top, "admin"), config.positions.admin_listen, out);
    const toml::table& topology = section(top, "topology");
    const auto tpcs = top.tables("tpc", "[[tpc]]");
    config.topology = read_topology(topology, doc.get("tpc"), tpcs, config.positions, out);
    config.io_uring = read_io_uring(section(top, "io_uring"), out);
    config.network = read_network(section(top, "network"), out);
    config.listeners = read_listeners(top.tables("listener", "[[listener]]"), folder,
                                      config.daemon.plugin_dir, config.positions.listeners, out);
    top.finish();
    cross_check(config, out);

    if (out.failed()) {
        result.errors = out.take_sorted();
    } else {
        result.config = std::move(config);
    }
    return result;
}

LoadResult load_file(const std::filesystem::path& file, const Overrides& overrides) {
    const auto failure = [&](std::string message) {
        LoadResult result;
        result.errors.push_back({file.string(), {}, std::move(message)});
        return result;
    };
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!f) {
        return failure(std::string("cannot open: ") + std::strerror(errno));
    }
    // One byte more than allowed tells "exactly at the limit" from "over it".
    std::string text(max_file_bytes + 1, '\0');
    const std::size_t got = std::fread(text.data(), 1, text.size(), f.get());
    if (std::ferror(f.get())) {
        return failure(std::string("cannot read: ") + std::strerror(errno));
    }
    if (got > max_file_bytes) {
        return failure("larger than " + std::to_string(max_file_bytes) + " bytes; not a configuration file?");
    }
    text.resize(got);
    return load_string(text, file, overrides);
}

} // namespace gatio::config
