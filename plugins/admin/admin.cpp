#include "admin.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gatio/plugin.hpp>

#include "parser.hpp"

namespace gatio::admin {

namespace {

using http::Parser;

// In strictly increasing byte order, as the parser requires; indexes are Route values.
constexpr std::array<std::string_view, 2> route_paths{"/healthz", "/metrics"};
enum Route : int { healthz = 0, metrics = 1 };

// Request heads of 8 KiB at most, checked on every byte of every head, however it arrives.
// The body limit does not matter: any request with a body is refused when its head ends.
const http::Limits limits{};

// The services this handler needs beyond those of 1.0.
constexpr std::size_t services_needed = offsetof(gatio_services, metrics_text) + sizeof(void (*)(void));

std::string_view reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

std::uint32_t positive_option(const Options& options, const char* key) {
    const auto value = options[key].as_int(key);
    if (!value || *value < 1 || *value > UINT32_MAX) {
        throw PluginError(std::string("admin: option ") + key + " must be a positive 32-bit integer");
    }
    return static_cast<std::uint32_t>(*value);
}

class Admin {
public:
    Admin(Host host, const InstanceInfo& info) : host_(host) {
        if (host.services().struct_size < services_needed) {
            throw PluginError("admin: the host's services table lacks stalled_drivers, driver_name and "
                              "metrics_text (ABI 1.2)");
        }
        const std::uint32_t slots = positive_option(info.options, "max_connections");
        parsers_.reserve(slots);
        free_.reserve(slots);
        for (std::uint32_t i = 0; i < slots; ++i) {
            parsers_.emplace_back(limits, route_paths);
            free_.push_back(slots - 1 - i);
        }
        body_.resize(positive_option(info.options, "response_limit"));
        stalled_.resize(info.driver_count);
    }

    bool on_open(Connection c, const gatio_conn_info&) {
        if (free_.empty()) {
            return false; // the host keeps max_connections to the slots; never more
        }
        const std::uint32_t slot = free_.back();
        Parser& p = parsers_[slot];
        p = Parser(limits, route_paths);
        if (c.set_user(&p) != GATIO_OK) {
            return false;
        }
        free_.pop_back();
        return true;
    }

    std::int64_t on_data(Connection c, std::span<const std::uint8_t> data) {
        Parser* p = c.user<Parser>();
        if (p == nullptr) {
            return GATIO_DATA_RESET;
        }
        std::size_t at = 0;
        while (at < data.size()) {
            const auto r = p->feed(data.subspan(at));
            at += r.consumed;
            switch (r.event) {
            case Parser::Event::need_more:
                break;
            case Parser::Event::head: // a body follows: nothing here takes one
                return closing(
                    answer(c, 400, "bad request: the admin endpoint takes no body\n", false, false));
            case Parser::Event::error:
                return closing(answer(c, p->error_status(), "bad request\n", false, false));
            case Parser::Event::complete: {
                const bool keep = p->request().keep_alive;
                if (!serve(c, p->request())) {
                    return GATIO_DATA_RESET;
                }
                if (!keep) {
                    return GATIO_DATA_CLOSE;
                }
                continue;
            }
            }
            break;
        }
        return static_cast<std::int64_t>(data.size());
    }

    void on_close(Connection c, gatio_close_reason) {
        if (auto* p = c.user<Parser>()) {
            free_.push_back(static_cast<std::uint32_t>(p - parsers_.data()));
        }
    }

private:
    // After a final answer: close once it is out, or reset when it could not be queued (a
    // partial answer would corrupt the stream).
    static std::int64_t closing(bool sent) { return sent ? GATIO_DATA_CLOSE : GATIO_DATA_RESET; }

    // False when the answer could not be queued.
    bool serve(Connection c, const http::Request& r) {
        const bool head = r.method == http::Method::head;
        if (r.method != http::Method::get && !head) {
            return answer(c, 405, "GET or HEAD only\n", head, r.keep_alive, "Allow: GET, HEAD\r\n");
        }
        switch (r.route) {
        case Route::metrics: {
            std::size_t len = 0;
            const int rc = host_.services().metrics_text(host_.handle(), body_.data(), body_.size(), &len);
            if (rc == GATIO_ERR_LIMIT) {
                return answer(c, 503, "metrics exceed the admin response limit\n", head, r.keep_alive);
            }
            if (rc != GATIO_OK) {
                return answer(c, 503, "metrics are not available here\n", head, r.keep_alive);
            }
            return respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", len, head, r.keep_alive, "");
        }
        case Route::healthz:
            return health(c, head, r.keep_alive);
        default:
            return answer(c, 404, "not found: try /metrics or /healthz\n", head, r.keep_alive);
        }
    }

    bool health(Connection c, bool head, bool keep_alive) {
        const gatio_services& s = host_.services();
        const std::size_t n = s.stalled_drivers(host_.handle(), stalled_.data(), stalled_.size());
        if (n == 0) {
            return answer(c, 200, "ok\n", head, keep_alive);
        }
        std::size_t len = 0;
        append(len, "stalled:");
        for (std::size_t i = 0; i < n && i < stalled_.size(); ++i) {
            const char* name = s.driver_name(host_.handle(), stalled_[i]);
            append(len, " ");
            append(len, name != nullptr ? name : "?");
        }
        append(len, "\n");
        return respond(c, 503, "text/plain; charset=utf-8", len, head, keep_alive, "");
    }

    // Appends to body_ what fits of it.
    void append(std::size_t& len, std::string_view text) {
        const std::size_t n = std::min(text.size(), body_.size() - len);
        std::memcpy(body_.data() + len, text.data(), n);
        len += n;
    }

    bool answer(Connection c, int status, std::string_view text, bool head, bool keep_alive,
                std::string_view extra = "") {
        std::size_t len = 0;
        append(len, text);
        return respond(c, status, "text/plain; charset=utf-8", len, head, keep_alive, extra);
    }

    // Sends the first `len` bytes of body_ (none for HEAD) under a status line and headers.
    bool respond(Connection c, int status, std::string_view type, std::size_t len, bool head, bool keep_alive,
                 std::string_view extra) {
        const std::string_view why = reason(status);
        const int n = std::snprintf(
            head_.data(), head_.size(),
            "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\nCache-Control: "
            "no-store\r\n%.*s%s\r\n",
            status, static_cast<int>(why.size()), why.data(), static_cast<int>(type.size()), type.data(), len,
            static_cast<int>(extra.size()), extra.data(), keep_alive ? "" : "Connection: close\r\n");
        if (n < 0 || static_cast<std::size_t>(n) >= head_.size()) {
            return false;
        }
        const std::array<iovec, 2> iov{iovec{head_.data(), static_cast<std::size_t>(n)},
                                       iovec{body_.data(), head ? 0 : len}};
        return c.sendv(iov) == GATIO_OK;
    }

    Host host_;
    std::vector<Parser> parsers_;        // one per connection slot
    std::vector<std::uint32_t> free_;    // free slots
    std::vector<char> body_;             // response_limit bytes
    std::vector<std::uint32_t> stalled_; // stalled_drivers' answer
    std::array<char, 512> head_{};
};

constexpr gatio_plugin admin_descriptor = make_descriptor<Admin>("admin", "1", GATIO_TRANSPORT_TCP);

} // namespace

const gatio_plugin& descriptor() {
    return admin_descriptor;
}

} // namespace gatio::admin
