// Reading [listener.options] the way gatiod hands them over: a real configuration file parsed
// by the config layer, seen through the services table's option accessors.
#include <catch2/catch.hpp>
#include <filesystem>

#include <gatio/plugin.hpp>

#include "config/load.hpp"
#include "gatiod.hpp"
#include "net/plugin_options.hpp"
#include "net/plugin_services.hpp"
#include "settings.hpp"

using namespace gatio::http;
using gatio::http::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Settings read from a listener whose [listener.options] body is `options`.
Settings read(std::string_view options) {
    const std::string text =
        "[daemon]\nplugin_dir = \"" GATIO_PLUGIN_OUTPUT_DIR "\"\n"
        "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:8080\"\nhandler = \"http\"\n"
        "[listener.options]\n" +
        std::string(options);
    const auto loaded = gatio::config::load_string(text, fs::temp_directory_path() / "gatio.toml");
    INFO(text);
    REQUIRE(loaded.errors.empty());
    REQUIRE(loaded.config->listeners.size() == 1);
    const gatio::config::OptionValue root{loaded.config->listeners[0].options};
    return read_settings(gatio::Options{&gatio::net::host_services(), gatio::net::options::handle(root)});
}

std::string error_of(std::string_view options) {
    try {
        read(options);
    } catch (const gatio::PluginError& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("no options: the documented defaults and no routes", "[settings]") {
    const Settings s = read("");
    CHECK(s.server == "gatio");
    CHECK(s.limits.max_header_bytes == 8192);
    CHECK(s.limits.max_headers == 100);
    CHECK(s.limits.max_body == 1024 * 1024);
    CHECK(s.max_connections == 65536);
    CHECK(s.header_timeout == std::chrono::seconds(20));
    CHECK(s.body_timeout == std::chrono::seconds(60));
    CHECK(s.routes.empty());
}

TEST_CASE("every option is read, routes in file order, file bodies at creation", "[settings]") {
    TempDir dir;
    const fs::path page = dir.write("page.HTML", "<h1>hi</h1>\n");
    const fs::path data = dir.write("blob.bin", std::string("\0\1\2", 3));
    const Settings s = read("server = \"edge/1.0 (test)\"\n"
                            "max_header_bytes = \"16KiB\"\n"
                            "max_headers = 50\n"
                            "max_body = 4096\n"
                            "max_connections = 128\n"
                            "max_file_size = \"1KiB\"\n"
                            "header_timeout = \"1500ms\"\n"
                            "body_timeout = \"2m\"\n"
                            "[[listener.options.route]]\n"
                            "path = \"/\"\n"
                            "body = \"hello\\n\"\n"
                            "[[listener.options.route]]\n"
                            "path = \"/page\"\n"
                            "file = \"" +
                            page.string() +
                            "\"\n"
                            "[[listener.options.route]]\n"
                            "path = \"/blob\"\n"
                            "file = \"" +
                            data.string() +
                            "\"\n"
                            "[[listener.options.route]]\n"
                            "path = \"/gone\"\n"
                            "status = 410\n"
                            "content_type = \"application/problem+json\"\n"
                            "body = '{\"title\":\"gone\"}'\n");
    CHECK(s.server == "edge/1.0 (test)");
    CHECK(s.limits.max_header_bytes == 16384);
    CHECK(s.limits.max_headers == 50);
    CHECK(s.limits.max_body == 4096);
    CHECK(s.max_connections == 128);
    CHECK(s.header_timeout == std::chrono::milliseconds(1500));
    CHECK(s.body_timeout == std::chrono::minutes(2));
    REQUIRE(s.routes.size() == 4);
    CHECK(s.routes[0].path == "/");
    CHECK(s.routes[0].status == 200);
    CHECK(s.routes[0].content_type == "text/plain; charset=utf-8");
    CHECK(s.routes[0].body == "hello\n");
    CHECK(s.routes[1].content_type == "text/html; charset=utf-8");
    CHECK(s.routes[1].body == "<h1>hi</h1>\n");
    CHECK(s.routes[2].content_type == "application/octet-stream");
    CHECK(s.routes[2].body == std::string("\0\1\2", 3));
    CHECK(s.routes[3].status == 410);
    CHECK(s.routes[3].content_type == "application/problem+json");
    CHECK(s.routes[3].body == R"({"title":"gone"})");
    // A route without a body serves an empty one.
    CHECK(read("[[listener.options.route]]\npath = \"/e\"\n").routes[0].body.empty());
}

TEST_CASE("each bad option is refused with its name and the reason", "[settings]") {
    TempDir dir;
    const fs::path nine = dir.write("nine.txt", "123456789");
    CHECK_THAT(error_of("max_header = 10\n"),
               Catch::StartsWith("option \"max_header\": unknown option; expected "
                                 "one of server, max_header_bytes"));
    CHECK_THAT(error_of("[[listener.options.route]]\npath = \"/\"\nbdy = \"x\"\n"),
               Catch::StartsWith("option \"route[0].bdy\": unknown option"));
    CHECK(error_of("max_headers = 0\n") == "option \"max_headers\": 0 is outside 1..10000");
    CHECK(error_of("max_headers = \"many\"\n") == "option \"max_headers\": expected an integer");
    CHECK(error_of("max_header_bytes = \"32B\"\n") ==
          "option \"max_header_bytes\": 32 bytes is outside 64..16777216");
    CHECK_THAT(error_of("max_body = -1\n"), Catch::StartsWith("option \"max_body\": value out of range"));
    CHECK(error_of("max_connections = 0\n") == "option \"max_connections\": 0 is outside 1..1048576");
    CHECK(error_of("header_timeout = \"0s\"\n") ==
          "option \"header_timeout\": 0 ms is outside 1..86400000 ms");
    CHECK(error_of("body_timeout = \"25h\"\n") ==
          "option \"body_timeout\": 90000000 ms is outside 1..86400000 ms");
    CHECK(error_of("body_timeout = true\n") ==
          "option \"body_timeout\": expected a duration such as \"250ms\" or \"10s\"");
    CHECK(error_of("server = \"\"\n") ==
          "option \"server\": must be non-empty without leading or trailing spaces");
    CHECK(error_of("server = \"a\\r\\nX-Injected: 1\"\n") ==
          "option \"server\": must hold printable ASCII only");
    CHECK(error_of("route = \"/\"\n") ==
          "option \"route\": expected an array of tables ([[listener.options.route]])");
    CHECK(error_of("route = [1]\n") == "option \"route[0]\": expected a table");
    CHECK(error_of("[[listener.options.route]]\nbody = \"x\"\n") == "option \"route[0].path\": required");
    CHECK(error_of("[[listener.options.route]]\npath = \"x\"\n") ==
          "option \"route[0].path\": must start with '/'");
    CHECK(error_of("[[listener.options.route]]\npath = \"/\\u0001\"\n") ==
          "option \"route[0].path\": must not hold control characters");
    CHECK(error_of("[[listener.options.route]]\npath = \"/\"\nstatus = 204\n") ==
          "option \"route[0].status\": 204 and 304 responses cannot carry Content-Length");
    CHECK(error_of("[[listener.options.route]]\npath = \"/\"\nstatus = 700\n") ==
          "option \"route[0].status\": 700 is outside 200..599");
    CHECK(error_of("[[listener.options.route]]\npath = \"/\"\ncontent_type = \"text/\\u0007\"\n") ==
          "option \"route[0].content_type\": must hold printable ASCII only");
    CHECK(error_of("[[listener.options.route]]\npath = \"/\"\nbody = \"a\"\nfile = \"b\"\n") ==
          "option \"route[0].body\": give either body or file, not both");
    const fs::path missing = dir.path() / "missing.txt";
    CHECK(error_of("[[listener.options.route]]\npath = \"/\"\nfile = \"" + missing.string() + "\"\n") ==
          "option \"route[0].file\": cannot open \"" + missing.string() + "\": No such file or directory");
    CHECK(error_of("[[listener.options.route]]\npath = \"/\"\nfile = \"" + dir.path().string() + "\"\n") ==
          "option \"route[0].file\": \"" + dir.path().string() + "\" is not a regular file");
    CHECK(error_of("max_file_size = \"8B\"\n[[listener.options.route]]\npath = \"/\"\nfile = \"" +
                   nine.string() + "\"\n") ==
          "option \"route[0].file\": \"" + nine.string() + "\" is 9 bytes, over max_file_size (8)");
    CHECK(error_of("[[listener.options.route]]\npath = \"/a\"\n[[listener.options.route]]\npath = \"/b\"\n"
                   "[[listener.options.route]]\npath = \"/a\"\n") ==
          "option \"route[2].path\": \"/a\" is already the path of route[0]");
}

TEST_CASE("a file's Content-Type comes from its extension", "[settings]") {
    CHECK(content_type_for("www/index.html") == "text/html; charset=utf-8");
    CHECK(content_type_for("A.CSS") == "text/css; charset=utf-8");
    CHECK(content_type_for("app.js") == "text/javascript; charset=utf-8");
    CHECK(content_type_for("logo.svg") == "image/svg+xml");
    CHECK(content_type_for("x.tar.gz") == "application/gzip"); // the last extension counts
    CHECK(content_type_for("film.MP4") == "video/mp4");
    CHECK(content_type_for("font.woff") == "font/woff");
    CHECK(content_type_for("a.Woff2") == "font/woff2");
    CHECK(content_type_for("photo.avif") == "image/avif");
    CHECK(content_type_for("noext.") == "application/octet-stream");
    CHECK(content_type_for("x.htmlx") == "application/octet-stream");
    CHECK(content_type_for("x.ht") == "application/octet-stream");
    CHECK(content_type_for(".bashrc") == "application/octet-stream");
    CHECK(content_type_for("dir.d/file") == "application/octet-stream");
    CHECK(content_type_for("noext") == "application/octet-stream");
}

TEST_CASE("a root route: a prefix path, an existing folder, an index file name", "[settings]") {
    TempDir dir;
    const fs::path www = dir.path() / "www";
    fs::create_directory(www);
    Settings s = read("max_open_files = 16\nread_ahead = \"64KiB\"\nmax_path = 512\n"
                      "[[listener.options.route]]\npath = \"/static/\"\nroot = \"" +
                      www.string() + "//\"\n");
    CHECK(s.max_open_files == 16);
    CHECK(s.read_ahead == 64 * 1024);
    CHECK(s.max_path == 512);
    CHECK(s.open_file_cache == 0); // off unless asked for
    CHECK(s.open_file_cache_valid == std::chrono::seconds(1));
    REQUIRE(s.routes.size() == 1);
    CHECK(s.routes[0].root == www.string()); // trailing slashes dropped
    CHECK(s.routes[0].index == "index.html");
    s = read("[[listener.options.route]]\npath = \"/\"\nroot = \"" + www.string() + "\"\nindex = \"\"\n");
    CHECK(s.routes[0].index.empty());
    CHECK(s.max_open_files == 256);
    CHECK(s.read_ahead == 256 * 1024);
    CHECK(s.max_path == 1024);
}

TEST_CASE("a bad root route is refused with the option and the reason", "[settings]") {
    TempDir dir;
    const fs::path www = dir.path() / "www";
    fs::create_directory(www);
    const fs::path file = dir.write("plain.txt", "x");
    const std::string route = "[[listener.options.route]]\npath = \"/s/\"\n";
    const std::string root = "root = \"" + www.string() + "\"\n";
    CHECK(error_of("[[listener.options.route]]\npath = \"/s\"\n" + root) ==
          "option \"route[0].path\": a route with a root is a prefix and must end with '/'");
    CHECK(error_of(route + "root = \"www\"\n") == "option \"route[0].root\": must be an absolute path");
    CHECK(error_of(route + "root = \"" + (dir.path() / "none").string() + "\"\n") ==
          "option \"route[0].root\": cannot stat \"" + (dir.path() / "none").string() +
              "\": No such file or directory");
    CHECK(error_of(route + "root = \"" + file.string() + "\"\n") ==
          "option \"route[0].root\": \"" + file.string() + "\" is not a folder");
    CHECK(error_of(route + root + "body = \"x\"\n") ==
          "option \"route[0].body\": does not apply to a route with a root, which serves the files below it");
    CHECK(
        error_of(route + root + "status = 201\n") ==
        "option \"route[0].status\": does not apply to a route with a root, which serves the files below it");
    CHECK(error_of(route + root + "index = \"a/b.html\"\n") ==
          "option \"route[0].index\": must be a file name, without '/'");
    CHECK(error_of(route + root + "index = \"..\"\n") ==
          "option \"route[0].index\": must be a file name, without '/'");
    CHECK(error_of(route + root + "index = 3\n") == "option \"route[0].index\": expected a string");
    CHECK(error_of(route + "index = \"i.html\"\n") ==
          "option \"route[0].index\": applies to routes with a root only");
    CHECK(error_of("max_open_files = 0\n") == "option \"max_open_files\": 0 is outside 1..65536");
    CHECK(error_of("read_ahead = \"1KiB\"\n") ==
          "option \"read_ahead\": 1024 bytes is outside 4096..16777216");
    CHECK(error_of("max_path = 8\n") == "option \"max_path\": 8 bytes is outside 16..16384");
    CHECK(error_of("open_file_cache = 70000\n") == "option \"open_file_cache\": 70000 is outside 0..65536");
    CHECK(error_of("open_file_cache_valid = \"2h\"\n") ==
          "option \"open_file_cache_valid\": 7200000 ms is outside 1..3600000 ms");
    const Settings cached = read("open_file_cache = 100\nopen_file_cache_valid = \"30s\"\n");
    CHECK(cached.open_file_cache == 100);
    CHECK(cached.open_file_cache_valid == std::chrono::seconds(30));
}
