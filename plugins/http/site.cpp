#include "site.hpp"

#include <algorithm>
#include <cassert>

namespace gatio::http {

namespace {

constexpr std::string_view text_plain = "text/plain; charset=utf-8";
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

iovec slice(std::string_view s) {
    // iovec is the kernel's type and is never written through here.
    return iovec{const_cast<char*>(s.data()), s.size()};
}

} // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

Site::Site(Settings settings) : settings_(std::move(settings)) {
    auto& routes = settings_.routes;
    std::sort(routes.begin(), routes.end(), [](const Route& a, const Route& b) { return a.path < b.path; });
    paths_.reserve(routes.size());
    routes_.reserve(routes.size());
    prefixes_ = std::make_unique<bool[]>(routes.size());
    for (const Route& r : routes) {
        assert(!r.path.empty() && r.path[0] == '/');
        assert(paths_.empty() || paths_.back() < r.path);
        prefixes_[paths_.size()] = !r.root.empty();
        has_root_ = has_root_ || !r.root.empty();
        paths_.emplace_back(r.path);
        // A root route's entry answers only the methods it refuses (405).
        routes_.push_back(render(r.status, r.content_type, r.body, {}));
    }
    forbidden_ = render(403, text_plain, "Forbidden\n", {});
    uri_too_long_ = render(414, text_plain, "URI Too Long\n", {});
    internal_error_ = render(500, text_plain, "Internal Server Error\n", {});
    not_found_ = render(404, text_plain, "Not Found\n", {});
    // Routes answer GET and HEAD only (RFC 9110 section 15.5.6 requires Allow on a 405).
    method_not_allowed_ = render(405, text_plain, "Method Not Allowed\n", "Allow: GET, HEAD\r\n");
    not_implemented_ = render(501, text_plain, "Not Implemented\n", {});
    bad_request_ = render(400, text_plain, "Bad Request\n", {});
    payload_too_large_ = render(413, text_plain, "Content Too Large\n", {});
    expectation_failed_ = render(417, text_plain, "Expectation Failed\n", {});
    header_too_large_ = render(431, text_plain, "Request Header Fields Too Large\n", {});
    version_not_supported_ = render(505, text_plain, "HTTP Version Not Supported\n", {});
    service_unavailable_ = render(503, text_plain, "Service Unavailable\n", {});
    request_timeout_ = render(408, text_plain, "Request Timeout\n", {});
}

Site::Response Site::render(int status, std::string_view content_type, std::string_view body,
                            std::string_view extra_headers) const {
    Response r;
    r.head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
             "\r\nServer: " + settings_.server + "\r\nDate: ";
    const std::string common = "\r\nContent-Type: " + std::string(content_type) +
                               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                               std::string(extra_headers);
    r.tails[keep_alive_11] = common + "\r\n";
    r.tails[keep_alive_10] = common + "Connection: keep-alive\r\n\r\n";
    r.tails[close_connection] = common + "Connection: close\r\n\r\n";
    r.body = body;
    return r;
}

const Site::Response& Site::choose(const Request& request) const {
    if (request.method == Method::other) {
        return not_implemented_;
    }
    if (request.route < 0) {
        return not_found_;
    }
    if (request.method != Method::get && request.method != Method::head) {
        return method_not_allowed_;
    }
    return routes_[static_cast<std::size_t>(request.route)];
}

const Site::Response& Site::error_response(int status) const {
    switch (status) {
    case 413:
        return payload_too_large_;
    case 417:
        return expectation_failed_;
    case 431:
        return header_too_large_;
    case 501:
        return not_implemented_;
    case 505:
        return version_not_supported_;
    default:
        assert(status == 400);
        return bad_request_;
    }
}

bool Site::flush(Output& out) {
    if (batch_len_ == 0) {
        return true;
    }
    const bool ok = out.write(std::span<const iovec>{batch_.data(), batch_len_});
    batch_len_ = 0;
    return ok;
}

bool Site::add(const Response& response, Tail tail, bool with_body, std::string_view date, Output& out) {
    if (batch_capacity - batch_len_ < 4 && !flush(out)) {
        return false;
    }
    batch_[batch_len_++] = slice(response.head);
    batch_[batch_len_++] = slice(date);
    batch_[batch_len_++] = slice(response.tails[tail]);
    if (with_body && !response.body.empty()) {
        batch_[batch_len_++] = slice(response.body);
    }
    return true;
}

bool Site::answer_alone(const Response& response, std::string_view date, Output& out) {
    assert(batch_len_ == 0);
    return add(response, close_connection, true, date, out) && flush(out);
}

bool Site::answer(int status, Tail tail, bool with_body, std::string_view date, Output& out) {
    assert(batch_len_ == 0);
    const Response* r = &internal_error_;
    switch (status) {
    case 400:
        r = &bad_request_;
        break;
    case 403:
        r = &forbidden_;
        break;
    case 404:
        r = &not_found_;
        break;
    case 414:
        r = &uri_too_long_;
        break;
    case 503:
        r = &service_unavailable_;
        break;
    default:
        assert(status == 500);
        break;
    }
    return add(*r, tail, with_body, date, out) && flush(out);
}

namespace {

// Appends to a bounded buffer; remembers when something did not fit.
struct Writer {
    std::span<char> out;
    std::size_t at = 0;
    bool full = false;
    void put(std::string_view s) {
        if (full || out.size() - at < s.size()) {
            full = true;
            return;
        }
        std::copy(s.begin(), s.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
        at += s.size();
    }
    void put(std::uint64_t v) {
        char digits[20];
        int n = 0;
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (n > 0 && !full) {
            put(std::string_view(&digits[--n], 1));
        }
    }
};

} // namespace

std::size_t Site::file_head(std::span<char> out, const FileHead& h, Tail tail, std::string_view date) const {
    Writer w{out};
    w.put("HTTP/1.1 ");
    w.put(static_cast<std::uint64_t>(h.status));
    w.put(" ");
    w.put(reason_phrase(h.status));
    w.put("\r\nServer: ");
    w.put(settings_.server);
    w.put("\r\nDate: ");
    w.put(date);
    if (h.status == 301) {
        w.put("\r\nLocation: ");
        w.put(h.location);
    }
    if (h.status != 304 && h.status != 301) {
        if (h.status != 416) {
            w.put("\r\nContent-Type: ");
            w.put(h.content_type);
        }
        w.put("\r\nContent-Length: ");
        w.put(h.length);
    }
    if (h.status == 301) {
        w.put("\r\nContent-Length: 0");
    } else {
        // A 304 carries the validators a 200 would have (RFC 9110 section 15.4.5).
        w.put("\r\nLast-Modified: ");
        w.put(h.last_modified);
        w.put("\r\nETag: ");
        w.put(h.etag);
        w.put("\r\nAccept-Ranges: bytes");
    }
    if (h.status == 206) {
        w.put("\r\nContent-Range: bytes ");
        w.put(h.first);
        w.put("-");
        w.put(h.first + h.length - 1);
        w.put("/");
        w.put(h.size);
    } else if (h.status == 416) {
        w.put("\r\nContent-Range: bytes */");
        w.put(h.size);
    }
    w.put(tail == close_connection ? "\r\nConnection: close\r\n\r\n"
          : tail == keep_alive_10  ? "\r\nConnection: keep-alive\r\n\r\n"
                                   : "\r\n\r\n");
    return w.full ? 0 : w.at;
}

bool Site::refuse(std::string_view date, Output& out) {
    return answer_alone(service_unavailable_, date, out);
}

bool Site::time_out(std::string_view date, Output& out) {
    return answer_alone(request_timeout_, date, out);
}

Verdict Site::serve(Parser& parser, std::span<const std::uint8_t> data, std::string_view date, Output& out,
                    std::size_t* consumed) {
    assert(batch_len_ == 0);
    std::size_t offset = 0;
    Verdict verdict = Verdict::keep;
    bool ok = true;
    while (ok && verdict == Verdict::keep && offset < data.size()) {
        const Parser::Result r = parser.feed(data.subspan(offset));
        offset += r.consumed;
        const Request& request = parser.request();
        switch (r.event) {
        case Parser::Event::need_more:
            assert(offset == data.size());
            break;
        case Parser::Event::head:
            if (request.expect_continue) {
                if (batch_len_ == batch_capacity && !flush(out)) {
                    ok = false;
                    break;
                }
                batch_[batch_len_++] = slice(continue_line);
            }
            break;
        case Parser::Event::complete: {
            if (has_root_ && request.route >= 0 && prefixes_[static_cast<std::size_t>(request.route)] &&
                (request.method == Method::get || request.method == Method::head)) {
                if (consumed != nullptr) {
                    *consumed = offset;
                }
                return flush(out) ? Verdict::file : Verdict::reset;
            }
            ok = add(choose(request), tail_for(request), request.method != Method::head, date, out);
            if (!request.keep_alive) {
                verdict = Verdict::close;
            }
            break;
        }
        case Parser::Event::error:
            ok = add(error_response(parser.error_status()), close_connection, true, date, out);
            verdict = Verdict::close;
            break;
        }
    }
    ok = flush(out) && ok;
    return ok ? verdict : Verdict::reset;
}

} // namespace gatio::http
