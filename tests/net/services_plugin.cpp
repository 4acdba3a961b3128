// A test handler that exercises the host services from a line protocol, one command per line:
//   timer MS     answer "timer\n" from a timer MS milliseconds later
//   post D       hop to driver D and back through post, then answer "posted\n"
//   spawn        run a task (least loaded driver), answer "spawned SUM\n" from its completion
//   user         answer "user ok\n" if the user pointer set in on_open is still there
//   pause MS     stop reading and answer "paused\n", resume after MS milliseconds, answer "resumed\n"
//   bye          answer "bye\n", then close (orderly)
//   stall MS     stop reading, answer "stalled\n", abort the connection MS milliseconds later
//   opt          answer the options as "opt GREETING LIMIT\n"
//   health D     answer "health STALLED NAME METRICS\n": how many drivers are stalled, driver D's
//                name ("-" for none) and what metrics_text returns on this (non-admin) host
// After the client's FIN it keeps the connection open, answers "late\n" 20 ms later and closes.
// With the option reject = true it refuses every connection in on_open.
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gatio/plugin.hpp>

namespace {

struct Reply {
    gatio_host* host;
    gatio_conn conn;
    std::uint32_t origin; // driver of `host`
    std::uint32_t target; // for post: the driver hopped to
    std::uint64_t value;
};

// The hosts of every driver's instance, so that a post running on another driver can post back.
std::array<std::atomic<gatio_host*>, 256> hosts{};

int marker;

void send_text(gatio_host* host, gatio_conn conn, std::string_view text) {
    gatio::services()->send(host, conn, text.data(), text.size());
}

class Services {
public:
    static constexpr std::uint32_t max_unconsumed = 256;

    Services(gatio::Host host, const gatio::InstanceInfo& info)
        : host_(host), index_(info.driver_index),
          greeting_(info.options.get("greeting", std::string_view{"none"})),
          limit_(info.options["limit"].as_size("limit").value_or(0)),
          reject_(info.options.get("reject", false)) {
        hosts.at(info.driver_index).store(host.handle());
    }

    bool on_open(gatio::Connection c, const gatio_conn_info&) {
        c.set_user(&marker);
        return !reject_;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        std::size_t used = 0;
        for (;;) {
            const auto* begin = reinterpret_cast<const char*>(data.data()) + used;
            const void* nl = std::memchr(begin, '\n', data.size() - used);
            if (nl == nullptr) {
                break;
            }
            std::string_view line(begin, static_cast<std::size_t>(static_cast<const char*>(nl) - begin));
            used += line.size() + 1;
            command(c, line);
        }
        return static_cast<std::int64_t>(used);
    }

    gatio_eof_action on_eof(gatio::Connection c) {
        // Owned by the instance: a timer still pending at teardown is cancelled without running.
        auto& r =
            late_replies_.emplace_back(std::make_unique<Reply>(Reply{host_.handle(), c.id(), index_, 0, 0}));
        host_.start_timer(std::chrono::milliseconds(20), late, r.get());
        return GATIO_EOF_KEEP;
    }

private:
    static std::uint64_t arg(std::string_view line) {
        auto space = line.find(' ');
        return space == std::string_view::npos ? 0 : std::stoull(std::string(line.substr(space + 1)));
    }

    void command(gatio::Connection c, std::string_view line) {
        if (line.starts_with("timer ")) {
            host_.start_timer(std::chrono::milliseconds(arg(line)), timer_fired,
                              new Reply{host_.handle(), c.id(), index_, 0, 0});
        } else if (line.starts_with("post ")) {
            auto target = static_cast<std::uint32_t>(arg(line));
            auto* r = new Reply{host_.handle(), c.id(), index_, target, 0};
            if (host_.post(target, hop, r) != GATIO_OK) {
                delete r;
                c.send(std::string_view{"post refused\n"});
            }
        } else if (line == "spawn") {
            gatio_task t{};
            t.struct_size = sizeof t;
            t.placement = GATIO_PLACE_LEAST_LOADED;
            t.priority = GATIO_PRIORITY_BATCH;
            t.run = [](void* a) {
                auto* r = static_cast<Reply*>(a);
                for (std::uint64_t i = 1; i <= 1000; ++i) {
                    r->value += i;
                }
            };
            t.done = [](gatio_host* h, void* a) {
                auto* r = static_cast<Reply*>(a);
                send_text(h, r->conn, "spawned " + std::to_string(r->value) + "\n");
                delete r;
            };
            t.arg = new Reply{host_.handle(), c.id(), index_, 0, 0};
            if (host_.spawn(t) != GATIO_OK) {
                delete static_cast<Reply*>(t.arg);
                c.send(std::string_view{"spawn refused\n"});
            }
        } else if (line == "user") {
            c.send(std::string_view{c.user<int>() == &marker ? "user ok\n" : "user lost\n"});
        } else if (line.starts_with("pause ")) {
            c.pause_read();
            c.send(std::string_view{"paused\n"});
            host_.start_timer(std::chrono::milliseconds(arg(line)), resume,
                              new Reply{host_.handle(), c.id(), index_, 0, 0});
        } else if (line.starts_with("stall ")) {
            c.pause_read();
            c.send(std::string_view{"stalled\n"});
            host_.start_timer(std::chrono::milliseconds(arg(line)), stall_over,
                              new Reply{host_.handle(), c.id(), index_, 0, 0});
        } else if (line == "bye") {
            c.send(std::string_view{"bye\n"});
            c.close();
        } else if (line.starts_with("health ")) {
            const gatio_services& s = host_.services();
            const char* name = s.driver_name(host_.handle(), static_cast<std::uint32_t>(arg(line)));
            std::size_t len = 0;
            char text[16];
            c.send("health " + std::to_string(s.stalled_drivers(host_.handle(), nullptr, 0)) + " " +
                   (name != nullptr ? name : "-") + " " +
                   std::to_string(s.metrics_text(host_.handle(), text, sizeof text, &len)) + "\n");
        } else if (line == "opt") {
            c.send("opt " + std::string(greeting_) + ' ' + std::to_string(limit_) + "\n");
        } else {
            c.send("unknown " + std::string(line) + "\n");
        }
    }

    static void timer_fired(gatio_host* h, void* a) {
        auto* r = static_cast<Reply*>(a);
        send_text(h, r->conn, "timer\n");
        delete r;
    }
    static void resume(gatio_host* h, void* a) {
        auto* r = static_cast<Reply*>(a);
        gatio::services()->resume_read(h, r->conn);
        send_text(h, r->conn, "resumed\n");
        delete r;
    }
    static void stall_over(gatio_host* h, void* a) {
        auto* r = static_cast<Reply*>(a);
        gatio::services()->close(h, r->conn, GATIO_CLOSE_ABORT);
        delete r;
    }
    static void late(gatio_host* h, void* a) {
        auto* r = static_cast<Reply*>(a);
        send_text(h, r->conn, "late\n");
        gatio::services()->close(h, r->conn, GATIO_CLOSE_FLUSH);
    }
    // On the target driver, with no host of its own: post back through that driver's instance.
    static void hop(void* a) {
        auto* r = static_cast<Reply*>(a);
        gatio::services()->post(hosts.at(r->target).load(), r->origin, back, r);
    }
    static void back(void* a) {
        auto* r = static_cast<Reply*>(a);
        send_text(r->host, r->conn, "posted\n");
        delete r;
    }

    gatio::Host host_;
    std::vector<std::unique_ptr<Reply>> late_replies_;
    std::uint32_t index_;
    std::string_view greeting_;
    std::uint64_t limit_;
    bool reject_;
};

} // namespace

GATIO_EXPORT_PLUGIN(Services, "services", "test", GATIO_TRANSPORT_TCP)
