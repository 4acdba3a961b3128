// Handler state across reloads: the resp keyspace survives reloads that change its options and
// reloads that find its handler file replaced, and the new options take effect.
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/daemon/process.hpp"
#include "tests/reload/harness.hpp"

using namespace gatio::reload_test;

namespace {

std::string command(std::initializer_list<std::string_view> args) {
    std::string out = '*' + std::to_string(args.size()) + "\r\n";
    for (auto a : args) {
        out += '$' + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
    }
    return out;
}

// A blocking RESP client (30 s socket timeouts); any failure makes ok() false.
class Resp {
public:
    explicit Resp(int port) : fd_(connect_tcp(port)) {}
    Resp(const Resp&) = delete;
    Resp& operator=(const Resp&) = delete;
    ~Resp() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    bool ok() const { return fd_ >= 0 && ok_; }

    void send(const std::string& bytes) {
        std::string_view rest = bytes;
        while (ok() && !rest.empty()) {
            const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                ok_ = false;
                return;
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    // One reply: a simple line ("+OK", ":3", "-ERR ..."), a bulk string's contents ("$-1" for
    // nil) or, for an array, its elements joined by '\n'.
    std::string reply() {
        std::string head = line();
        if (head.empty()) {
            return head;
        }
        if (head[0] == '$') {
            const long n = std::stol(head.substr(1));
            if (n < 0) {
                return "$-1";
            }
            return bytes(static_cast<std::size_t>(n));
        }
        if (head[0] == '*') {
            const long n = std::stol(head.substr(1));
            std::string all;
            for (long i = 0; i < n; ++i) {
                if (i > 0) {
                    all += '\n';
                }
                all += reply();
            }
            return all;
        }
        return head;
    }
    std::string call(std::initializer_list<std::string_view> args) {
        send(command(args));
        return reply();
    }

private:
    // `n` bytes and the CRLF after them.
    std::string bytes(std::size_t n) {
        while (ok() && buf_.size() < n + 2) {
            char chunk[65536];
            const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
            if (got <= 0) {
                ok_ = false;
                return {};
            }
            buf_.append(chunk, static_cast<std::size_t>(got));
        }
        std::string out = buf_.substr(0, n);
        buf_.erase(0, n + 2);
        return out;
    }

    std::string line() {
        for (;;) {
            if (auto end = buf_.find("\r\n"); end != std::string::npos) {
                std::string l = buf_.substr(0, end);
                buf_.erase(0, end + 2);
                return l;
            }
            char chunk[65536];
            const ssize_t n = ok() ? ::recv(fd_, chunk, sizeof chunk, 0) : -1;
            if (n <= 0) {
                ok_ = false;
                return {};
            }
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    int fd_;
    bool ok_ = true;
    std::string buf_;
};

std::string resp_listener(int port, const std::filesystem::path& handler, std::string_view maxmemory) {
    return listener("kv", port, handler.string(),
                    "[listener.options]\nmaxmemory = \"" + std::string(maxmemory) + "\"\n");
}

// Installed the way packages do it: a copy renamed over the old name.
void replace_file(const std::filesystem::path& from, const std::filesystem::path& to) {
    const auto fresh = to.string() + ".new";
    std::filesystem::copy_file(from, fresh, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(fresh, to);
}

// Descriptors open in `pid`: those naming a file under `handlers` (a handler object loaded
// beside an older one keeps its file open while loaded) and all the others.
struct Descriptors {
    std::size_t handlers = 0;
    std::size_t others = 0;
    std::string targets; // what each names, for the failure message
};

// The /proc/PID/net/tcp line of the TCP socket with inode `inode` ("" when it is none): its
// addresses and state, so that a failure names the connection a descriptor is.
std::string tcp_socket(pid_t pid, const std::string& inode) {
    for (const char* table : {"tcp", "tcp6"}) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string field;
            for (int i = 0; i < 10 && fields >> field; ++i) {
            }
            if (field == inode) {
                return line;
            }
        }
    }
    return "";
}

Descriptors open_descriptors(pid_t pid, const std::filesystem::path& handlers) {
    Descriptors d;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(e.path(), ec).string();
        ++(target.rfind(handlers.string(), 0) == 0 ? d.handlers : d.others);
        d.targets += e.path().filename().string() + " -> " + target;
        if (target.rfind("socket:[", 0) == 0) {
            d.targets += " " + tcp_socket(pid, target.substr(8, target.size() - 9));
        }
        d.targets += "\n";
    }
    return d;
}

} // namespace

TEST_CASE("a resp listener whose handler file was replaced keeps its keyspace and takes the new maxmemory",
          "[reload][state]") {
    TempDir dir;
    const int port = free_port();
    const auto handler = dir.path() / "kv.so";
    std::filesystem::copy_file(plugin_dir + "/resp.so", handler);
    const auto file = dir.write("gatio.toml", config_text(resp_listener(port, handler, "64MiB")));
    Gatiod g(file);
    {
        Resp c(port);
        std::string batch;
        for (int i = 0; i < 1000; ++i) {
            batch += command({"SET", "key:" + std::to_string(i), "value:" + std::to_string(i)});
        }
        c.send(batch);
        for (int i = 0; i < 1000; ++i) {
            REQUIRE(c.reply() == "+OK");
        }
        CHECK(c.call({"DBSIZE"}) == ":1000");
        CHECK(c.call({"CONFIG", "GET", "maxmemory"}) == "maxmemory\n67108864");
    }

    replace_file(plugin_dir + "/resp.so", handler);
    dir.write("gatio.toml", config_text(resp_listener(port, handler, "128MiB")));
    REQUIRE(g.reload());
    INFO(g.log());
    CHECK(g.count("reload: listener \"kv\" (tcp 127.0.0.1:" + std::to_string(port) + ") changed") == 1);

    Resp c(port);
    CHECK(c.call({"DBSIZE"}) == ":1000");
    CHECK(c.call({"GET", "key:999"}) == "value:999");
    CHECK(c.call({"CONFIG", "GET", "maxmemory"}) == "maxmemory\n134217728");
    CHECK(c.ok());
    CHECK(g.stop() == 0);
}

TEST_CASE("a replacing resp object that served blocking commands is unloaded with its last connection",
          "[reload][state]") {
    // The plugin may own no thread-local object with a destructor: one made on a driver thread
    // (by a served request, on either driver) would keep its object mapped until that thread
    // exits. The object that made the keyspace stays loaded with it (listener_state), so the one
    // watched is the second: it replaced the first and is replaced in turn.
    TempDir dir;
    const int port = free_port();
    const auto handler = dir.path() / "kv.so";
    std::filesystem::copy_file(plugin_dir + "/resp.so", handler);
    const auto file = dir.write("gatio.toml", config_text(resp_listener(port, handler, "64MiB")));
    Gatiod g(file);
    replace_file(plugin_dir + "/resp.so", handler);
    REQUIRE(g.reload());
    INFO(g.log());
    struct stat second {};
    REQUIRE(::stat(handler.c_str(), &second) == 0);
    std::vector<std::unique_ptr<Resp>> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(std::make_unique<Resp>(port));
    }
    auto wait_blocked = [&](Resp& c) {
        for (int i = 0; i < 2000; ++i) {
            if (c.call({"INFO", "clients"}).find("blocked_clients:1\r\n") != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(5ms);
        }
        return false;
    };
    for (std::size_t w = 0; w < clients.size(); ++w) {
        Resp& waiter = *clients[w];
        Resp& pusher = *clients[(w + 1) % clients.size()];
        // Served at once, and ZMPOP.
        CHECK(pusher.call({"RPUSH", "l", "a"}) == ":1");
        CHECK(waiter.call({"BLPOP", "l", "0"}) == "l\na");
        CHECK(pusher.call({"ZADD", "z", "1", "m", "2", "n"}) == ":2");
        CHECK(waiter.call({"BZPOPMIN", "z", "0"}) == "z\nm\n1");
        CHECK(waiter.call({"ZMPOP", "1", "z", "max"}) == "z\nn\n2");
        // Served after a wait, by a push and by a served move.
        waiter.send(command({"BLPOP", "w", "0"}));
        REQUIRE(wait_blocked(pusher));
        CHECK(pusher.call({"RPUSH", "w", "x"}) == ":1");
        CHECK(waiter.reply() == "w\nx");
        waiter.send(command({"BLMOVE", "src", "w", "LEFT", "RIGHT", "0"}));
        REQUIRE(wait_blocked(pusher));
        CHECK(pusher.call({"RPUSH", "src", "y"}) == ":1");
        CHECK(waiter.reply() == "y");
        CHECK(pusher.call({"RPOP", "w"}) == "y");
    }
    replace_file(plugin_dir + "/resp.so", handler);
    REQUIRE(g.reload());
    // The connections are the second object's: it stays while they do.
    CHECK(clients[0]->call({"PING"}) == "+PONG");
    CHECK(mapped(g.pid(), second.st_ino));
    for (auto& c : clients) {
        CHECK(c->ok());
    }
    clients.clear();
    bool unloaded = false;
    for (int i = 0; i < 200 && !unloaded; ++i) {
        std::this_thread::sleep_for(50ms);
        unloaded = !mapped(g.pid(), second.st_ino);
    }
    CHECK(unloaded);
    Resp c(port);
    CHECK(c.call({"SET", "after", "1"}) == "+OK");
    CHECK(c.ok());
    CHECK(g.stop() == 0);
}

TEST_CASE("50 reloads in 10 s, alternating changed options and replaced handler files, under wrk and a "
          "resp writer, fail no request, lose no SET and leak no descriptor",
          "[reload][state][load]") {
    TempDir dir;
    const int web = free_port();
    const int kv = free_port();
    const auto http_so = dir.path() / "web.so";
    const auto resp_so = dir.path() / "kv.so";
    std::filesystem::copy_file(plugin_dir + "/http.so", http_so);
    std::filesystem::copy_file(plugin_dir + "/resp.so", resp_so);
    auto listeners = [&](int round) {
        const std::string body = "round" + std::to_string(round);
        return listener("web", web, http_so.string(),
                        "[listener.options]\nmax_connections = 1024\n[[listener.options.route]]\npath = "
                        "\"/\"\nbody = \"" +
                            body + "\"\n") +
               resp_listener(kv, resp_so, std::to_string(64 + round) + "MiB");
    };
    const auto file = dir.write("gatio.toml", config_text(listeners(0)));
    // A watchdog of 1 s: gatiod pings every 500 ms while its control loop turns. The socket is
    // read all along (a service manager always reads it; an unread one would block gatiod).
    NotifySocket notify(dir.path() / "notify");
    Gatiod g(file, {notify.env(), "WATCHDOG_USEC=1000000"});
    std::atomic<bool> reloading{false};
    std::atomic<bool> listening{true};
    std::atomic<std::size_t> pings_while_reloading{0};
    const Descriptors fds_before = open_descriptors(g.pid(), dir.path());

    const std::string wrk_path = find_program("wrk");
    REQUIRE(!wrk_path.empty()); // scripts/install-deps installs it
    std::thread watchdog([&] {
        while (listening) {
            notify.wait_for(
                [&](const std::string& m) {
                    if (reloading && m.find("WATCHDOG=1") != std::string::npos) {
                        ++pings_while_reloading;
                    }
                    return false;
                },
                100ms);
        }
    });
    // Read until the end, gatiod's stop included: an unread socket fills and blocks its sd_notify.
    struct StopListening {
        std::atomic<bool>& listening;
        std::thread& reader;
        ~StopListening() {
            listening = false;
            reader.join();
        }
    } stop_listening{listening, watchdog};
    gatio::test::RunResult wrk;
    std::thread load([&] {
        wrk = gatio::test::run(
            {wrk_path, "-t2", "-c16", "-d20s", "http://127.0.0.1:" + std::to_string(web) + "/"}, {}, 90s);
    });
    // The writer: SETs one at a time, a new connection every 100, remembering what was
    // acknowledged; a connection that fails is replaced and its unacknowledged SET forgotten.
    std::atomic<bool> writing{true};
    std::map<std::string, std::string> acked;
    std::size_t failures = 0;
    std::thread writer([&] {
        std::uint64_t n = 0;
        while (writing) {
            Resp c(kv);
            for (int i = 0; i < 100 && writing && c.ok(); ++i, ++n) {
                const std::string key = 'k' + std::to_string(n);
                const std::string value = 'v' + std::to_string(n * 7919);
                if (c.call({"SET", key, value}) == "+OK") {
                    acked[key] = value;
                }
            }
            failures += c.ok() ? 0 : 1;
        }
    });

    std::this_thread::sleep_for(1s);
    // One every 200 ms, or back to back where a reload takes longer.
    const auto start = std::chrono::steady_clock::now();
    reloading = true;
    for (int i = 1; i <= 50; ++i) {
        std::this_thread::sleep_until(start + (i - 1) * 200ms);
        if (i % 2 == 0) {
            replace_file(plugin_dir + "/http.so", http_so);
            replace_file(plugin_dir + "/resp.so", resp_so);
        } else {
            dir.write("gatio.toml", config_text(listeners(i)));
        }
        CHECK(g.reload());
    }
    reloading = false;
    const auto reload_time = std::chrono::steady_clock::now() - start;
    load.join();
    writing = false;
    writer.join();
    // The reloads run beside the control loop: its pings go on, one per 500 ms, a few of them
    // withheld at most while a driver is slow under this load.
    const auto half_seconds =
        std::chrono::duration_cast<std::chrono::milliseconds>(reload_time).count() / 500;
    INFO("pings while reloading: " << pings_while_reloading << " in " << half_seconds << " half-seconds");
    CHECK(pings_while_reloading * 2 >= static_cast<std::size_t>(half_seconds));

    INFO(wrk.out << wrk.err);
    INFO(g.log());
    REQUIRE(wrk.code == 0);
    CHECK(wrk.out.find(" requests in ") != std::string::npos);
    CHECK(wrk.out.find("Socket errors") == std::string::npos);
    CHECK(wrk.out.find("Non-2xx or 3xx responses") == std::string::npos);
    CHECK(failures == 0);
    REQUIRE(acked.size() > 100);

    {
        Resp check(kv);
        std::string gets;
        for (const auto& [key, value] : acked) {
            gets += command({"GET", key});
        }
        check.send(gets);
        std::size_t lost = 0;
        for (const auto& [key, value] : acked) {
            lost += check.reply() == value ? 0 : 1;
        }
        CHECK(check.ok());
        CHECK(lost == 0);
        CHECK(check.call({"CONFIG", "GET", "maxmemory"}) ==
              "maxmemory\n" + std::to_string((64ull + 49) << 20));
    }
    CHECK(http_get(web, "/").body == "round49");

    // Retired generations go once their last connection has; the control loop lets go of them.
    Descriptors fds_after;
    for (int i = 0; i < 600; ++i) {
        fds_after = open_descriptors(g.pid(), dir.path());
        if (fds_after.others == fds_before.others && fds_after.handlers <= 2) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    INFO("before:\n" << fds_before.targets << "after:\n" << fds_after.targets);
    CHECK(fds_after.others == fds_before.others);
    // At most the objects serving now (web.so and kv.so) hold their files open.
    CHECK(fds_after.handlers <= 2);
    CHECK(g.stop() == 0);
}

TEST_CASE("a reload that changes only a resp listener's options keeps the loaded object, its keyspace, and "
          "applies the options",
          "[reload][state]") {
    TempDir dir;
    const int port = free_port();
    const auto handler = dir.path() / "kv.so";
    std::filesystem::copy_file(plugin_dir + "/resp.so", handler);
    const auto file = dir.write("gatio.toml", config_text(resp_listener(port, handler, "64MiB")));
    Gatiod g(file);
    {
        Resp c(port);
        CHECK(c.call({"SET", "kept", "yes"}) == "+OK");
    }
    std::this_thread::sleep_for(1500ms);
    dir.write("gatio.toml", config_text(resp_listener(port, handler, "32MiB")));
    REQUIRE(g.reload());
    INFO(g.log());
    Resp c(port);
    CHECK(c.call({"GET", "kept"}) == "yes");
    CHECK(c.call({"CONFIG", "GET", "maxmemory"}) == "maxmemory\n33554432");
    CHECK(c.ok());
    // The object loaded at start-up serves the new instances: its init() (which notes the
    // start time) did not run again, so the uptime counts from start-up.
    const std::string info = c.call({"INFO", "server"});
    const auto at = info.find("uptime_in_seconds:");
    REQUIRE(at != std::string::npos);
    CHECK(std::stol(info.substr(at + 18)) >= 1);
    CHECK(g.stop() == 0);
}

TEST_CASE(
    "a resp listener's databases keep their keys across a reload, and a reload changing their number is "
    "refused",
    "[reload][state]") {
    TempDir dir;
    const int port = free_port();
    const auto handler = dir.path() / "kv.so";
    std::filesystem::copy_file(plugin_dir + "/resp.so", handler);
    const auto with = [&](std::string_view maxmemory, int databases) {
        return config_text(listener("kv", port, handler.string(),
                                    "[listener.options]\nmaxmemory = \"" + std::string(maxmemory) +
                                        "\"\ndatabases = " + std::to_string(databases) + "\n"));
    };
    const auto file = dir.write("gatio.toml", with("64MiB", 8));
    Gatiod g(file);
    {
        Resp c(port);
        CHECK(c.call({"SELECT", "7"}) == "+OK");
        CHECK(c.call({"MSET", "a", "seven", "b", "seven", "c", "seven"}) == "+OK");
    }
    dir.write("gatio.toml", with("32MiB", 8));
    REQUIRE(g.reload());
    {
        INFO(g.log());
        Resp c(port);
        CHECK(c.call({"SELECT", "7"}) == "+OK");
        CHECK(c.call({"MGET", "a", "b", "c"}) == "seven\nseven\nseven");
        CHECK(c.call({"SELECT", "0"}) == "+OK");
        CHECK(c.call({"DBSIZE"}) == ":0");
        CHECK(c.call({"CONFIG", "GET", "maxmemory"}) == "maxmemory\n33554432");
    }
    dir.write("gatio.toml", with("32MiB", 4));
    REQUIRE(g.reload());
    REQUIRE(g.wait_for_log("option \"databases\": 4 differs from the running keyspace's 8", 30s));
    INFO(g.log());
    Resp c(port);
    CHECK(c.call({"SELECT", "7"}) == "+OK");
    CHECK(c.call({"GET", "a"}) == "seven");
    CHECK(c.ok());
}

TEST_CASE("a handler file replaced by one of another listener-state layout is refused, and the running set "
          "serves on",
          "[reload][state]") {
    TempDir dir;
    NotifySocket notify(dir.path() / "notify");
    const int port = free_port();
    const auto handler = dir.path() / "tally.so";
    std::filesystem::copy_file(tally1_plugin, handler);
    const auto file = dir.write("gatio.toml", config_text(listener("count", port, handler.string())));
    Gatiod g(file, {notify.env()});
    auto ready = [](const std::string& m) { return m.find("READY=1") != std::string::npos; };
    REQUIRE(notify.wait_for(ready, 30s));
    {
        Connection c(port);
        REQUIRE(c.send("add\nadd\nadd\n"));
        REQUIRE(c.receive(6) == "1\n2\n3\n");
    }

    replace_file(tally2_plugin, handler);
    REQUIRE(g.reload());
    const auto after = notify.wait_for(ready, 30s);
    REQUIRE(after);
    const auto status = field(*after, "STATUS");
    REQUIRE(status);
    INFO(*status);
    INFO(g.log());
    const std::string named = "listener \"count\" (tcp 127.0.0.1:" + std::to_string(port) + ")";
    CHECK(g.count(named +
                  ": the handler asks for its listener state with layout \"gatio.test.tally/2\", but the "
                  "state kept across reloads has layout \"gatio.test.tally/1\"") >= 1);
    CHECK(g.count("reload: " + named) >= 1);
    CHECK(g.count("the listener's count could not be made or taken over") >= 1);
    // One error for each of its two drivers.
    CHECK(g.count("reload: not applied: 2 listener error(s); every listener serves as before") == 1);
    CHECK(g.count(") changed;") == 0);
    CHECK(status->find("reload failed, not applied: " + named) != std::string::npos);
    {
        // The object loaded first serves on, with the count it kept.
        Connection c(port);
        REQUIRE(c.send("add\n"));
        CHECK(c.receive(2) == "4\n");
    }

    // The same layout again applies, and takes the state over.
    replace_file(tally1_plugin, handler);
    REQUIRE(g.reload());
    const auto applied = notify.wait_for(ready, 30s);
    REQUIRE(applied);
    CHECK(field(*applied, "STATUS").value_or("").find("; last reload applied") != std::string::npos);
    CHECK(g.count("reload: " + named + " changed;") == 1);
    {
        Connection c(port);
        REQUIRE(c.send("add\n"));
        CHECK(c.receive(2) == "5\n");
    }
    CHECK(g.stop() == 0);
}
