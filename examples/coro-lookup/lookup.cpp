// An example coroutine handler built out of tree: a line protocol in front of a Redis-protocol
// backend (redis-server, or gatiod's own resp plugin). Each request line is a key; the
// coroutine serving the client asks the backend `GET key` over its own outbound connection
// (opened at the first request, and again after the backend closed it) and answers one line:
//
//   ok VALUE        the key holds VALUE ('\n', '\r' and '\' in it are sent as \n, \r and \\)
//   missing         no such key
//   error TEXT      the backend cannot be reached, closed the connection, or answered an error
//
// Requests are answered in order, one at a time per client; a client may send the next ones
// before the answers come (they wait in the coroutine layer's staging block), and its FIN after
// the last one (the answers still come, then the connection closes). A '\r' ending a
// line is ignored. A value is streamed to the client as it arrives, so its size is not bounded
// by memory; a backend that goes away in the middle of a value, or a client whose output grows
// beyond send_buffer_limit while a value is relayed, resets the client's connection, because
// the answer already begun cannot be completed.
//
// Options ([listener.options]):
//   backend          (string, required) "127.0.0.1:6379", "[::1]:6379" or "unix:/run/redis.sock"
//   backend_timeout  (duration, "1s") how long a connect to the backend may take
//   max_line         (size, "1KiB") the longest request line; a longer one is answered with an
//                    error and the connection closed. Below coroutine_block_size.
// and the coroutine layer's coroutine_blocks and coroutine_block_size. A busy client holds
// five blocks: its Stream, its coroutine, the lookup in progress, the backend connection's
// Stream and one for requests waiting behind it.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <gatio/coro.hpp>

namespace {

using gatio::coro::Received;
using gatio::coro::Stream;
using gatio::coro::Task;
using gatio::coro::Upstream;

// The longest reply header ("$123\r\n", "-ERR ...\r\n") the backend may send.
constexpr std::size_t max_header = 512;

// Sends `text` with '\n', '\r' and '\' escaped, through a small buffer (send copies). False
// when the client's output is over its limit (send_buffer_limit) or the connection is closing.
bool send_escaped(const Stream& s, std::string_view text) {
    char out[512];
    std::size_t n = 0;
    for (const char c : text) {
        if (n + 2 > sizeof out) {
            if (s.send(std::string_view(out, n)) != GATIO_OK) {
                return false;
            }
            n = 0;
        }
        if (c == '\n' || c == '\r' || c == '\\') {
            out[n++] = '\\';
            out[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        } else {
            out[n++] = c;
        }
    }
    return s.send(std::string_view(out, n)) == GATIO_OK;
}

class Lookup {
public:
    Lookup(gatio::Host, const gatio::InstanceInfo& info)
        : backend_(backend_address(info.options)), timeout_(info.options["backend_timeout"]
                                                                .as_duration("backend_timeout")
                                                                .value_or(std::chrono::seconds(1))),
          max_line_(info.options["max_line"].as_size("max_line").value_or(1024)) {
        const std::uint64_t block =
            info.options["coroutine_block_size"].as_size("coroutine_block_size").value_or(4096);
        if (max_line_ == 0 || max_line_ >= block) {
            throw gatio::PluginError(
                "option \"max_line\" must be at least 1 byte and below coroutine_block_size (" +
                std::to_string(block) + " bytes)");
        }
        if (timeout_.count() <= 0) {
            throw gatio::PluginError("option \"backend_timeout\" must be more than 0s");
        }
    }

    Task<> serve(Stream& s) {
        // A client that sends its last requests and then its FIN (`nc -N`) still gets their answers:
        // the coroutine closes the connection when it has read the end of input.
        s.keep_after_eof();
        Upstream backend;
        std::string
            request; // the backend request, built in place: the input is lent only until the next co_await
        for (;;) {
            Received in = co_await s.next_data();
            if (!in) {
                co_return; // the client is done (or gone): the layer closes, the backend connection with it
            }
            const std::string_view text = in.text();
            const auto nl = text.find('\n');
            if (nl == std::string_view::npos || nl > max_line_) {
                if (text.size() > max_line_) {
                    s.send("error request line longer than " + std::to_string(max_line_) + " bytes\n");
                    co_return;
                }
                in.consume(0); // half a line: shown again with what follows
                continue;
            }
            std::string_view key = text.substr(0, nl);
            if (key.ends_with('\r')) {
                key.remove_suffix(1);
            }
            in.consume(nl + 1);
            if (key.empty()) {
                s.send("error empty key\n");
                continue;
            }
            request.assign("*2\r\n$3\r\nGET\r\n$").append(std::to_string(key.size())).append("\r\n");
            request.append(key).append("\r\n");
            co_await lookup(s, backend, request);
        }
    }

private:
    static gatio::Address backend_address(const gatio::Options& options) {
        const auto text = options["backend"].as_string("backend");
        if (!text) {
            throw gatio::PluginError(
                "option \"backend\" is required: the address of the Redis-protocol backend, "
                "e.g. \"127.0.0.1:6379\"");
        }
        auto address = gatio::Address::parse(*text);
        if (!address) {
            throw gatio::PluginError("option \"backend\": \"" + std::string(*text) +
                                     "\" is not a numeric address such as \"127.0.0.1:6379\", \"[::1]:6379\" "
                                     "or \"unix:/run/redis.sock\"");
        }
        return *address;
    }

    enum class Outcome { answered, gone_before_reply, gone_mid_reply };

    // One request: on the connection kept from before, and once more on a fresh one if the
    // backend had closed the kept one meanwhile (GET is safe to repeat).
    Task<> lookup(Stream& s, Upstream& backend, const std::string& request) {
        for (;;) {
            const bool kept = backend.open();
            if (!kept) {
                backend = co_await s.connect(backend_, timeout_);
                if (!backend) {
                    s.send("error backend unavailable: " + backend.describe() + "\n");
                    co_return;
                }
            }
            backend.send(request);
            const Outcome outcome = co_await answer(s, backend);
            if (outcome == Outcome::answered) {
                co_return;
            }
            backend.reset();
            if (outcome == Outcome::gone_mid_reply) {
                s.close(
                    GATIO_CLOSE_ABORT); // half an answer is out: the client must not take it for a whole one
                co_return;
            }
            if (!kept) {
                s.send("error backend closed the connection\n");
                co_return;
            }
        }
    }

    // Reads the backend's reply to one GET and answers the client.
    Task<Outcome> answer(Stream& s, Upstream& backend) {
        std::int64_t length = 0;
        for (;;) {
            Received in = co_await backend.next_data();
            if (!in) {
                co_return Outcome::gone_before_reply;
            }
            const std::string_view text = in.text();
            const auto end = text.find("\r\n");
            if (end == std::string_view::npos) {
                if (text.size() > max_header) {
                    backend.reset(); // not a Redis-protocol peer: its next replies cannot be trusted
                    s.send("error backend: reply header too long\n");
                    co_return Outcome::answered;
                }
                in.consume(0);
                continue;
            }
            const std::string_view header = text.substr(0, end);
            in.consume(end + 2);
            if (header.starts_with('-')) {
                s.send("error backend: ");
                send_escaped(s, header.substr(1));
                s.send("\n");
                co_return Outcome::answered;
            }
            const char* digits = header.data() + 1;
            const char* end_of_header = header.data() + header.size();
            const auto [ptr, ec] = header.starts_with('$')
                                       ? std::from_chars(digits, end_of_header, length)
                                       : std::from_chars_result{digits, std::errc::invalid_argument};
            if (ec != std::errc{} || ptr != end_of_header || length < -1) {
                backend.reset(); // out of step with the backend: a fresh connection for the next request
                s.send("error backend: unexpected reply\n");
                co_return Outcome::answered;
            }
            if (length == -1) {
                s.send("missing\n");
                co_return Outcome::answered;
            }
            break;
        }
        // The value and its "\r\n", relayed as it comes. The coroutine keeps reading the backend
        // until the reply ends, so its input never waits in the layer's staging block: a client
        // too slow for the value is reset once its output exceeds send_buffer_limit instead.
        s.send("ok ");
        std::uint64_t value_left = static_cast<std::uint64_t>(length);
        std::uint64_t left = value_left + 2;
        while (left > 0) {
            Received in = co_await backend.next_data();
            if (!in) {
                co_return Outcome::gone_mid_reply;
            }
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size()));
            const std::size_t part = static_cast<std::size_t>(std::min<std::uint64_t>(value_left, n));
            const bool sent = send_escaped(s, in.text().substr(0, part));
            value_left -= part;
            left -= n;
            in.consume(n);
            if (!sent) {
                backend.reset(); // the rest of the reply would put it out of step
                s.close(GATIO_CLOSE_ABORT);
                co_return Outcome::answered;
            }
        }
        s.send("\n");
        co_return Outcome::answered;
    }

    gatio::Address backend_;
    std::chrono::milliseconds timeout_;
    std::uint64_t max_line_;
};

} // namespace

GATIO_EXPORT_CORO_PLUGIN(Lookup, "lookup", "1.0")
