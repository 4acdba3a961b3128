#include "settings.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gatio::http {

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

constexpr std::array<std::string_view, 14> root_keys{"server",
                                                     "max_header_bytes",
                                                     "max_headers",
                                                     "max_body",
                                                     "max_connections",
                                                     "max_file_size",
                                                     "max_open_files",
                                                     "read_ahead",
                                                     "max_path",
                                                     "header_timeout",
                                                     "body_timeout",
                                                     "open_file_cache",
                                                     "open_file_cache_valid",
                                                     "route"};
constexpr std::array<std::string_view, 7> route_keys{"path", "status", "content_type", "body",
                                                     "file", "root",   "index"};

[[noreturn]] void fail(std::string_view option, std::string_view problem) {
    throw gatio::PluginError("option \"" + std::string(option) + "\": " + std::string(problem));
}

void check_keys(const gatio::Options& table, std::string_view prefix,
                std::span<const std::string_view> known) {
    for (std::size_t i = 0; i < table.size(); ++i) {
        const std::string_view key = table.key_at(i);
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            std::string list;
            for (std::string_view k : known) {
                list += list.empty() ? "" : ", ";
                list += k;
            }
            fail(std::string(prefix) + std::string(key), "unknown option; expected one of " + list);
        }
    }
}

std::uint64_t size_option(const gatio::Options& root, const char* key, std::uint64_t def, std::uint64_t lo,
                          std::uint64_t hi) {
    const std::uint64_t v = root[key].as_size(key).value_or(def);
    if (v < lo || v > hi) {
        fail(key, std::to_string(v) + " bytes is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
}

std::chrono::milliseconds duration_option(const gatio::Options& root, const char* key,
                                          std::chrono::milliseconds def, std::chrono::milliseconds lo,
                                          std::chrono::milliseconds hi) {
    const std::chrono::milliseconds v = root[key].as_duration(key).value_or(def);
    if (v < lo || v > hi) {
        fail(key, std::to_string(v.count()) + " ms is outside " + std::to_string(lo.count()) + ".." +
                      std::to_string(hi.count()) + " ms");
    }
    return v;
}

std::int64_t int_option(const gatio::Options& node, const std::string& name, std::int64_t def,
                        std::int64_t lo, std::int64_t hi) {
    const std::int64_t v = node.as_int(name).value_or(def);
    if (v < lo || v > hi) {
        fail(name, std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
}

// Header values we emit must not be able to break the response framing.
std::string printable(const gatio::Options& node, const std::string& name, std::string_view def) {
    const std::string_view v = node.as_string(name).value_or(def);
    if (v.empty() || v.front() == ' ' || v.back() == ' ') {
        fail(name, "must be non-empty without leading or trailing spaces");
    }
    for (char c : v) {
        if (c < ' ' || c > '~') {
            fail(name, "must hold printable ASCII only");
        }
    }
    return std::string(v);
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

private:
    int fd_;
};

std::string read_file(const std::string& path, std::uint64_t max_size, const std::string& option) {
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        fail(option, "cannot open \"" + path + "\": " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        fail(option, "cannot stat \"" + path + "\": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        fail(option, "\"" + path + "\" is not a regular file");
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > max_size) {
        fail(option, "\"" + path + "\" is " + std::to_string(size) + " bytes, over max_file_size (" +
                         std::to_string(max_size) + ")");
    }
    std::string body(static_cast<std::size_t>(size), '\0');
    std::size_t got = 0;
    while (got < body.size()) {
        const ssize_t n = ::read(fd.get(), body.data() + got, body.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail(option, "cannot read \"" + path + "\": " + std::strerror(errno));
        }
        if (n == 0) {
            break; // the file shrank since fstat: serve what it holds now
        }
        got += static_cast<std::size_t>(n);
    }
    body.resize(got);
    return body;
}

// A root route: the folder must exist when the instance is created (a typo fails the start),
// but nothing below it is opened until a request asks for it.
void read_root(const gatio::Options& node, const std::string& prefix, Route& r) {
    for (const char* key : {"status", "content_type", "body", "file"}) {
        if (node[key].present()) {
            fail(prefix + key, "does not apply to a route with a root, which serves the files below it");
        }
    }
    if (r.path.back() != '/') {
        fail(prefix + "path", "a route with a root is a prefix and must end with '/'");
    }
    const std::string_view root = *node["root"].as_string(prefix + "root");
    if (root.empty() || root.front() != '/') {
        fail(prefix + "root", "must be an absolute path");
    }
    if (root.find('\0') != std::string_view::npos) {
        fail(prefix + "root", "must not hold a NUL byte");
    }
    r.root = std::string(root);
    while (r.root.size() > 1 && r.root.back() == '/') {
        r.root.pop_back();
    }
    struct stat st {};
    if (::stat(r.root.c_str(), &st) != 0) {
        fail(prefix + "root", "cannot stat \"" + r.root + "\": " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        fail(prefix + "root", "\"" + r.root + "\" is not a folder");
    }
    const std::string_view index = node["index"].as_string(prefix + "index").value_or("index.html");
    if (index == "." || index == ".." || index.find('/') != std::string_view::npos) {
        fail(prefix + "index", "must be a file name, without '/'");
    }
    for (char c : index) {
        if (static_cast<unsigned char>(c) < ' ' || c == '\x7f') {
            fail(prefix + "index", "must not hold control characters");
        }
    }
    r.index = std::string(index);
}

Route read_route(const gatio::Options& node, std::size_t index, std::uint64_t max_file_size) {
    const std::string prefix = "route[" + std::to_string(index) + "].";
    if (node.type() != GATIO_OPTION_TABLE) {
        fail("route[" + std::to_string(index) + "]", "expected a table");
    }
    check_keys(node, prefix, route_keys);
    Route r;
    const std::optional<std::string_view> path = node["path"].as_string(prefix + "path");
    if (!path) {
        fail(prefix + "path", "required");
    }
    if (path->empty() || path->front() != '/') {
        fail(prefix + "path", "must start with '/'");
    }
    for (char c : *path) {
        if (static_cast<unsigned char>(c) < ' ' || c == '\x7f') {
            fail(prefix + "path", "must not hold control characters");
        }
    }
    r.path = std::string(*path);
    if (node["root"].present()) {
        read_root(node, prefix, r);
        return r;
    }
    if (node["index"].present()) {
        fail(prefix + "index", "applies to routes with a root only");
    }
    r.status = static_cast<int>(int_option(node["status"], prefix + "status", 200, 200, 599));
    if (r.status == 204 || r.status == 304) {
        fail(prefix + "status", "204 and 304 responses cannot carry Content-Length");
    }
    const auto body = node["body"].as_string(prefix + "body");
    const auto file = node["file"].as_string(prefix + "file");
    if (body && file) {
        fail(prefix + "body", "give either body or file, not both");
    }
    std::string_view default_type = "text/plain; charset=utf-8";
    if (file) {
        r.body = read_file(std::string(*file), max_file_size, prefix + "file");
        default_type = content_type_for(*file);
    } else if (body) {
        r.body = std::string(*body);
    }
    r.content_type = printable(node["content_type"], prefix + "content_type", default_type);
    return r;
}

} // namespace

std::string_view content_type_for(std::string_view file) {
    struct Type {
        std::string_view extension; // lower case
        std::string_view type;
    };
    static constexpr std::array<Type, 44> types{{
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"txt", "text/plain; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"xml", "application/xml"},
        {"rss", "application/rss+xml"},
        {"atom", "application/atom+xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"bmp", "image/bmp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},
        {"opus", "audio/opus"},
        {"wav", "audio/wav"},
        {"flac", "audio/flac"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mov", "video/quicktime"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tar", "application/x-tar"},
        {"zst", "application/zstd"},
        {"xz", "application/x-xz"},
        {"bz2", "application/x-bzip2"},
        {"7z", "application/x-7z-compressed"},
    }};
    const std::size_t slash = file.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? file : file.substr(slash + 1);
    const std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) {
        return "application/octet-stream";
    }
    const std::string_view ext = name.substr(dot + 1);
    // Compared without case and without a copy: a file server calls this per request.
    auto same = [ext](std::string_view lower) {
        return ext.size() == lower.size() &&
               std::equal(ext.begin(), ext.end(), lower.begin(), [](char a, char b) {
                   return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
               });
    };
    for (const Type& t : types) {
        if (same(t.extension)) {
            return t.type;
        }
    }
    return "application/octet-stream";
}

Settings read_settings(const gatio::Options& options) {
    check_keys(options, "", root_keys);
    Settings s;
    s.server = printable(options["server"], "server", s.server);
    s.limits.max_header_bytes = static_cast<std::uint32_t>(
        size_option(options, "max_header_bytes", s.limits.max_header_bytes, 64, 16 * MiB));
    s.limits.max_headers = static_cast<std::uint32_t>(
        int_option(options["max_headers"], "max_headers", s.limits.max_headers, 1, 10000));
    s.limits.max_body = size_option(options, "max_body", s.limits.max_body, 0, max_body_ceiling);
    s.max_connections = static_cast<std::uint32_t>(
        int_option(options["max_connections"], "max_connections", s.max_connections, 1, 1 << 20));
    const std::uint64_t max_file_size = size_option(options, "max_file_size", 16 * MiB, 0, GiB);
    s.max_open_files = static_cast<std::uint32_t>(
        int_option(options["max_open_files"], "max_open_files", s.max_open_files, 1, 65536));
    s.read_ahead =
        static_cast<std::uint32_t>(size_option(options, "read_ahead", s.read_ahead, 4 * KiB, 16 * MiB));
    s.max_path = static_cast<std::uint32_t>(size_option(options, "max_path", s.max_path, 16, 16 * KiB));
    // No "off": a request that may take forever holds its parser slot forever.
    constexpr std::chrono::milliseconds shortest{1};
    constexpr std::chrono::hours longest{24};
    s.header_timeout = duration_option(options, "header_timeout", s.header_timeout, shortest, longest);
    s.body_timeout = duration_option(options, "body_timeout", s.body_timeout, shortest, longest);
    s.open_file_cache = static_cast<std::uint32_t>(
        int_option(options["open_file_cache"], "open_file_cache", s.open_file_cache, 0, 65536));
    s.open_file_cache_valid = duration_option(options, "open_file_cache_valid", s.open_file_cache_valid,
                                              shortest, std::chrono::hours(1));

    const gatio::Options routes = options["route"];
    if (routes.present() && routes.type() != GATIO_OPTION_ARRAY) {
        fail("route", "expected an array of tables ([[listener.options.route]])");
    }
    for (std::size_t i = 0; i < routes.size(); ++i) {
        Route r = read_route(routes.at(i), i, max_file_size);
        for (std::size_t j = 0; j < s.routes.size(); ++j) {
            if (s.routes[j].path == r.path) {
                fail("route[" + std::to_string(i) + "].path",
                     "\"" + r.path + "\" is already the path of route[" + std::to_string(j) + "]");
            }
        }
        s.routes.push_back(std::move(r));
    }
    return s;
}

} // namespace gatio::http
