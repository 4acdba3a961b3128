// What one http instance serves, with every response rendered when the instance is created.
//
// A response is sent as up to four slices, none of them built per request: the status line
// and Server header ending in "Date: ", the Date text, the remaining headers (one variant per
// connection outcome) and the body (left out for HEAD). Answers to the requests found in one
// receive are gathered and handed to the output together, in request order.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <sys/uio.h>
#include <vector>

#include "parser.hpp"

namespace gatio::http {

struct Route {
    std::string path; // as compared with the percent-decoded request path; starts with '/'
    int status = 200; // 200..599 except 204 and 304, which cannot carry Content-Length
    std::string content_type;
    std::string body;
    // A root route serves the files below `root`, an absolute folder, by the request path past
    // `path`, which then ends in '/' and matches as a prefix; status, content_type and body
    // do not apply. A folder is answered with its `index` file (empty: none).
    std::string root{};
    std::string index{};
};

struct Settings {
    std::string server = "gatio"; // the Server header, printable ASCII
    Limits limits;
    // Per instance (listener and driver): parser slots taken at creation.
    std::uint32_t max_connections = 65536;
    // From a request's first byte to the end of its head, and from there to the end of its body;
    // past either the request is answered 408 and the connection closed (docs/plugins.md).
    std::chrono::milliseconds header_timeout{std::chrono::seconds(20)};
    std::chrono::milliseconds body_timeout{std::chrono::seconds(60)};
    // Root routes: files open at once per instance, bytes read ahead of the socket per
    // connection, and the longest request path (percent-decoded) kept for the lookup.
    std::uint32_t max_open_files = 256;
    std::uint32_t read_ahead = 256 * 1024;
    std::uint32_t max_path = 1024;
    // The open-file cache (file_cache.hpp): regular files kept open per instance, 0 for none,
    // and how long after its open an entry is used before the file is opened again.
    std::uint32_t open_file_cache = 0;
    std::chrono::milliseconds open_file_cache_valid{std::chrono::seconds(1)};
    std::vector<Route> routes; // distinct paths
};

// Where answers go. write() takes the slices in order and copies them before returning; false
// means the output refused them and the connection cannot continue.
class Output {
public:
    virtual ~Output() = default;
    virtual bool write(std::span<const iovec> slices) = 0;
};

enum class Verdict {
    keep,  // everything was consumed; wait for more
    close, // the last answer is queued; close after sending it
    reset, // the output failed; drop the connection
    file   // the parser holds a GET or HEAD of a root route, whose answer is the caller's; the
           // answers before it are written and the bytes after it are not fed yet
};

// The head of an answer from a file, for Site::file_head.
struct FileHead {
    int status = 200; // 200, 206, 301, 304 or 416
    std::string_view content_type;
    std::uint64_t length = 0; // Content-Length (for HEAD as for GET)
    std::uint64_t first = 0;  // 206: the range's first byte
    std::uint64_t size = 0;   // the file's size, for Content-Range
    std::string_view etag;
    std::string_view last_modified;
    std::string_view location; // 301
};

// The standard reason phrase of an HTTP status, or "" for codes without one.
std::string_view reason_phrase(int status);

class Site {
public:
    explicit Site(Settings settings);
    Site(const Site&) = delete;
    Site& operator=(const Site&) = delete;

    const Limits& limits() const { return settings_.limits; }
    const Settings& settings() const { return settings_; }
    RoutePaths paths() const { return paths_; }
    Parser make_parser() const {
        return Parser(settings_.limits, paths_,
                      RoutePrefixes{prefixes_.get(), has_root_ ? paths_.size() : 0});
    }
    bool has_root_routes() const { return has_root_; }
    // A route by the parser's index (routes sorted by path).
    const Route& route(int index) const { return settings_.routes[static_cast<std::size_t>(index)]; }

    enum Tail { keep_alive_11, keep_alive_10, close_connection, tail_count };
    static Tail tail_for(const Request& request) {
        return !request.keep_alive                  ? close_connection
               : request.version == Version::http11 ? keep_alive_11
                                                    : keep_alive_10;
    }

    // Feeds one connection's received bytes to its parser and writes the answers to every
    // request they complete. Bytes after a request that ends the connection are ignored.
    // With Verdict::file, *consumed (when given) says how many bytes were fed.
    Verdict serve(Parser& parser, std::span<const std::uint8_t> data, std::string_view date, Output& out,
                  std::size_t* consumed = nullptr);

    // Writes a pre-rendered answer for a root route's request: 400, 403, 404, 414, 500 or 503.
    bool answer(int status, Tail tail, bool with_body, std::string_view date, Output& out);

    // Renders the head of an answer from a file into out; 0 when it does not fit.
    std::size_t file_head(std::span<char> out, const FileHead& head, Tail tail, std::string_view date) const;

    // Writes the 503 answer for a connection that cannot be served (no parser slot left); the
    // caller closes the connection after it. False when the output refused it.
    bool refuse(std::string_view date, Output& out);

    // Writes the 408 answer for a request that missed its header_timeout or body_timeout; the
    // caller closes the connection after it. False when the output refused it.
    bool time_out(std::string_view date, Output& out);

private:
    struct Response {
        std::string head; // status line, Server, "Date: "
        std::array<std::string, tail_count> tails;
        std::string_view body;
    };

    Response render(int status, std::string_view content_type, std::string_view body,
                    std::string_view extra_headers) const;
    const Response& choose(const Request& request) const;
    const Response& error_response(int status) const;
    bool add(const Response& response, Tail tail, bool with_body, std::string_view date, Output& out);
    bool flush(Output& out);
    bool answer_alone(const Response& response, std::string_view date, Output& out);

    Settings settings_; // routes sorted by path
    std::vector<std::string_view> paths_;
    std::vector<Response> routes_;     // indexed like paths_
    std::unique_ptr<bool[]> prefixes_; // indexed like paths_: a root route
    bool has_root_ = false;
    Response forbidden_;
    Response uri_too_long_;
    Response internal_error_;
    Response not_found_;
    Response method_not_allowed_;
    Response not_implemented_;
    Response bad_request_;
    Response payload_too_large_;
    Response expectation_failed_;
    Response header_too_large_;
    Response version_not_supported_;
    Response service_unavailable_;
    Response request_timeout_;

    // Answers of one serve() call; 64 responses of four slices before an intermediate write.
    static constexpr std::size_t batch_capacity = 256;
    std::array<iovec, batch_capacity> batch_{};
    std::size_t batch_len_ = 0;
};

} // namespace gatio::http
