// A handler written with the coroutine layer (gatio/coro.hpp): one coroutine per connection
// reads lines and answers each command, awaiting what the command names.
//   echo TEXT       answer "TEXT\n"
//   sleep MS        await a timer, then answer "slept\n"
//   spawn N         await sum(1..N) computed on the last exec driver the host lists, answer
//                   "spawned SUM CPU" with the CPU the task ran on
//   keyed K         await a task placed by key K, answer "keyed CPU" with the CPU it ran on
//   burst N         queue N bytes of 'x', await the output drained, answer "\ndrained\n"
//   hold data|sleep|spawn   answer "holding\n", then await data, a 60 s timer, or a task of
//                   300 ms, counting a cancellation when the connection closes meanwhile
//   absorb MS N     await a timer of MS, then read N raw bytes that follow the line: answer
//                   "absorbed COUNT HASH" (FNV-1a over them, in order) once N came or the input ended
//   keep            keep the connection open after the peer's FIN, answer "kept\n"
//   throw           throw out of the coroutine
//   nest            await a nested Task<int>, answer "nested 42"
//   stats           answer "stats LIVE CANCELLED BLOCKS": coroutines alive in the process,
//                   cancellations seen, blocks of this instance's pool in use
// Outbound connections (one per client connection, kept across commands):
//   dial ADDR [MS]  connect to ADDR within MS (0: the listener's connect_timeout), answer
//                   "dialed", or "dial failed STATUS ERRNO" (Upstream::status(), error())
//   up TEXT         send "TEXT\n" upstream and await a line back: answer "up line LINE", or
//                   "up eof" / "up closed" when the upstream ends first
//   upall           await everything the upstream sends until its FIN: "upall TEXT eof"
//   upburst N       queue N bytes upstream, await them drained: "upburst RC"
//   upstate         "upstate none|open|closed"
//   drop            let go of the upstream (closing it): "dropped"
//   hold connect ADDR | hold up   answer "holding\n", then await a connect of 60 s or a line
//                   from the upstream, counting a cancellation when the client goes meanwhile
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gatio/coro.hpp>

namespace {

std::atomic<int> live{0};
std::atomic<int> cancelled{0};

// Counts this coroutine as alive for as long as its frame exists.
struct Alive {
    Alive() { live.fetch_add(1); }
    Alive(const Alive&) = delete;
    Alive& operator=(const Alive&) = delete;
    ~Alive() { live.fetch_sub(1); }
};

std::uint64_t number(std::string_view s) {
    std::uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

gatio::coro::Task<int> nested(gatio::coro::Stream& s) {
    co_await s.sleep(std::chrono::milliseconds(1));
    co_return 42;
}

class CoroTest {
public:
    CoroTest(gatio::Host, const gatio::InstanceInfo& info)
        : exec_(info.exec_drivers.empty() ? info.driver_index : info.exec_drivers.back()) {}

    gatio::coro::Task<> serve(gatio::coro::Stream& s) {
        Alive alive;
        gatio::coro::Upstream up;
        for (;;) {
            gatio::coro::Received in = co_await s.next_data();
            if (!in) {
                co_return;
            }
            std::string_view text = in.text();
            auto nl = text.find('\n');
            if (nl == std::string_view::npos) {
                in.consume(0); // a partial line: wait for the rest
                continue;
            }
            in.consume(nl + 1);
            // Copied: the input is lent only until the next suspension.
            std::string line(text.substr(0, nl));
            co_await command(s, up, line);
        }
    }

private:
    // A line from the upstream, or why none came.
    static gatio::coro::Task<std::string> upstream_line(gatio::coro::Upstream& up) {
        for (;;) {
            gatio::coro::Received in = co_await up.next_data();
            if (!in) {
                co_return in.eof() ? "eof" : "closed";
            }
            const std::string_view text = in.text();
            const auto nl = text.find('\n');
            if (nl == std::string_view::npos) {
                in.consume(0);
                continue;
            }
            in.consume(nl + 1);
            co_return "line " + std::string(text.substr(0, nl));
        }
    }

    static bool outbound_command(std::string_view l) {
        for (std::string_view prefix :
             {"dial ", "up ", "upall", "upburst ", "upstate", "drop", "hold connect ", "hold up"}) {
            if (l.starts_with(prefix)) {
                return true;
            }
        }
        return false;
    }

    // The commands on the upstream, in a frame of their own (the other commands' frames stay
    // as small as they were).
    gatio::coro::Task<> outbound(gatio::coro::Stream& s, gatio::coro::Upstream& up, std::string_view l) {
        if (l.starts_with("dial ")) {
            const std::string_view rest = l.substr(5);
            const auto space = rest.find(' ');
            const auto ms = space == std::string_view::npos ? 0 : number(rest.substr(space + 1));
            up = co_await s.connect(rest.substr(0, space), std::chrono::milliseconds(ms));
            s.send(up ? std::string("dialed\n")
                      : "dial failed " + std::to_string(up.status()) + " " + std::to_string(up.error()) +
                            "\n");
        } else if (l.starts_with("up ")) {
            up.send(std::string(l.substr(3)) + "\n");
            s.send("up " + co_await upstream_line(up) + "\n");
        } else if (l == "upall") {
            std::string all;
            for (;;) {
                gatio::coro::Received in = co_await up.next_data();
                if (!in) {
                    all += in.eof() ? " eof" : " closed";
                    break;
                }
                all += in.text();
            }
            s.send("upall " + all + "\n");
        } else if (l.starts_with("upburst ")) {
            up.send(std::string(number(l.substr(8)), 'y'));
            s.send("upburst " + std::to_string(co_await up.drained()) + "\n");
        } else if (l == "upstate") {
            s.send(std::string("upstate ") + (!up ? "none" : up.open() ? "open" : "closed") + "\n");
        } else if (l == "drop") {
            up.reset();
            s.send("dropped\n");
        } else if (l.starts_with("hold connect ")) {
            s.send("holding\n");
            up = co_await s.connect(l.substr(13), std::chrono::seconds(60));
            if (up.status() == GATIO_ERR_CLOSED) {
                cancelled.fetch_add(1);
            }
        } else if (l == "hold up") {
            s.send("holding\n");
            gatio::coro::Received in = co_await up.next_data();
            if (in.closed()) {
                cancelled.fetch_add(1);
            }
        }
    }

    gatio::coro::Task<> command(gatio::coro::Stream& s, gatio::coro::Upstream& up, const std::string& line) {
        std::string_view l = line;
        if (outbound_command(l)) {
            co_await outbound(s, up, l);
        } else if (l.starts_with("echo ")) {
            s.send(std::string(l.substr(5)) + "\n");
        } else if (l.starts_with("sleep ")) {
            int rc = co_await s.sleep(std::chrono::milliseconds(number(l.substr(6))));
            s.send(rc == GATIO_OK ? "slept\n" : "sleep failed\n");
        } else if (l.starts_with("spawn ")) {
            const std::uint64_t n = number(l.substr(6));
            auto r = co_await s.spawn(gatio::coro::Place::on_driver(exec_), [n] {
                std::uint64_t sum = 0;
                for (std::uint64_t i = 1; i <= n; ++i) {
                    sum += i;
                }
                return std::vector<std::uint64_t>{sum, static_cast<std::uint64_t>(sched_getcpu())};
            });
            s.send(r ? "spawned " + std::to_string((*r)[0]) + " " + std::to_string((*r)[1]) + "\n"
                     : "spawn failed " + std::to_string(r.status()) + "\n");
        } else if (l.starts_with("keyed ")) {
            auto key = static_cast<std::uint32_t>(number(l.substr(6)));
            auto r = co_await s.spawn(gatio::coro::Place::by_key(key), [] { return sched_getcpu(); });
            s.send(r ? "keyed " + std::to_string(*r) + "\n"
                     : "keyed failed " + std::to_string(r.status()) + "\n");
        } else if (l.starts_with("burst ")) {
            s.send(std::string(number(l.substr(6)), 'x'));
            int rc = co_await s.drained();
            s.send(rc == GATIO_OK && s.connection().pending_output() == 0 ? "\ndrained\n"
                                                                          : "\nnot drained\n");
        } else if (l == "hold data") {
            s.send("holding\n");
            gatio::coro::Received in = co_await s.next_data();
            if (in.closed()) {
                cancelled.fetch_add(1);
            }
        } else if (l == "hold sleep") {
            s.send("holding\n");
            if (co_await s.sleep(std::chrono::seconds(60)) == GATIO_ERR_CLOSED) {
                cancelled.fetch_add(1);
            }
        } else if (l == "hold spawn") {
            s.send("holding\n");
            auto r = co_await s.spawn(gatio::coro::Place::on_driver(exec_), [] {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                return std::string("late");
            });
            if (r.status() == GATIO_ERR_CLOSED) {
                cancelled.fetch_add(1);
            }
        } else if (l.starts_with("absorb ")) {
            const std::string_view rest = l.substr(7);
            const auto space = rest.find(' ');
            co_await s.sleep(std::chrono::milliseconds(number(rest.substr(0, space))));
            const std::uint64_t want = number(rest.substr(space + 1));
            std::uint64_t count = 0;
            std::uint64_t hash = 14695981039346656037ull;
            while (count < want) {
                gatio::coro::Received in = co_await s.next_data();
                if (!in) {
                    break;
                }
                const auto bytes = in.bytes().first(
                    static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), want - count)));
                for (const std::uint8_t b : bytes) {
                    hash = (hash ^ b) * 1099511628211ull;
                }
                in.consume(bytes.size());
                count += bytes.size();
            }
            s.send("absorbed " + std::to_string(count) + " " + std::to_string(hash) + "\n");
        } else if (l == "keep") {
            s.keep_after_eof();
            s.send("kept\n");
        } else if (l == "throw") {
            throw std::runtime_error("coroutine fault");
        } else if (l == "nest") {
            int v = co_await nested(s);
            s.send("nested " + std::to_string(v) + "\n");
        } else if (l == "stats") {
            s.send("stats " + std::to_string(live.load()) + " " + std::to_string(cancelled.load()) + " " +
                   std::to_string(s.pool().in_use()) + "\n");
        } else {
            s.send("unknown\n");
        }
    }

    std::uint32_t exec_;
};

} // namespace

GATIO_EXPORT_CORO_PLUGIN(CoroTest, "coro-test", "1.0")
