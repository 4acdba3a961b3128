// Pub/sub across drivers: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB and
// RESET, answered as redis-server 7.0 answers them in RESP2.
//
// Each resp instance (one listener on one driver) keeps the subscriptions of its own
// connections (PubSubLocal), touched on its driver's thread only. What the drivers share is the
// listener's PubSubHub, kept inside the keyspace: per driver, the instances serving on it (every
// generation of a reload) and how many subscriptions they hold. A PUBLISH delivers on its own
// driver at once, and reaches every other driver holding subscriptions with a task placed there
// (the runtime's lock-free mailboxes): the task's run delivers through that driver's instances
// and counts receivers, its `done` brings the count back, and the reply is the sum. PUBSUB
// CHANNELS, NUMSUB and NUMPAT gather each driver's answer the same way, and so do CLIENT LIST and
// CLIENT KILL, which reach the connections of every driver holding any (`clients`).
//
// A subscriber that does not read is bounded: a message that would take its unsent output over
// pubsub_output_limit, or that the host refuses (send_buffer_limit, or its driver's output memory
// running low), closes it, counted and logged.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <gatio/plugin.hpp>

#include "commands.hpp"

namespace gatio::resp {

class PubSubLocal;

// What one driver holds of a listener's pub/sub. `locals` is touched on that driver's thread
// only; `subscriptions` is written there and read by publishers on every driver, which skip a
// driver that has none.
struct alignas(64) PubSubBoard {
    std::vector<PubSubLocal*> locals;
    std::atomic<std::uint64_t> subscriptions{0};
    std::atomic<std::int64_t> clients{0}; // open connections of the driver's instances
    std::string frame;                    // the message being delivered on this driver
};

struct PubSubHub {
    explicit PubSubHub(std::uint32_t drivers)
        : boards(std::make_unique<PubSubBoard[]>(drivers)), count(drivers) {}
    std::unique_ptr<PubSubBoard[]> boards;
    std::uint32_t count;
};

// One connection's subscriptions, in the order they were made.
struct Subscriber {
    std::vector<std::string> channels;
    std::vector<std::string> patterns;
    void* owner = nullptr; // the resp connection
    std::size_t count() const { return channels.size() + patterns.size(); }
    // RESP2's subscribed context: only (P)(UN)SUBSCRIBE, PING, QUIT and RESET are allowed.
    bool active() const { return count() > 0; }
};

enum class PubSubOp : std::uint8_t { publish, channels, numsub, numpat, client_list, client_kill };

struct PubSubRequest;

// One driver's part of a request that needs every driver.
struct PubSubShare {
    PubSubRequest* request = nullptr;
    std::uint32_t driver = 0;
    PubSubShare* next = nullptr; // in the instance's queue of tasks waiting for a task slot
    std::int64_t receivers = 0;  // PUBLISH; CLIENT KILL: the clients killed
    bool killed_self = false;    // CLIENT KILL: the asking client is among them
    // CLIENT LIST: that driver's matching clients, by id.
    std::vector<std::pair<std::uint64_t, std::string>> lines;
    std::vector<std::string> names; // CHANNELS and NUMPAT: that driver's distinct names
    std::vector<std::int64_t> subs; // NUMSUB: by channel asked
};

// A PUBLISH or PUBSUB waiting for other drivers; lives in the request's slot, whose copied
// arguments (`args`) stay put until `finished` is called.
struct PubSubRequest {
    PubSubOp op = PubSubOp::publish;
    PubSubHub* hub = nullptr;
    PubSubLocal* origin = nullptr;
    std::span<const std::string_view> args;
    const ClientFilter* filter = nullptr; // CLIENT LIST and KILL: into the slot, like args
    std::string* reply = nullptr;
    std::vector<PubSubShare> shares; // by driver; sized on first use
    std::uint32_t waiting = 0;
    void (*finished)(void* ctx) = nullptr;
    void* ctx = nullptr;
};

// What a message costs the connection that receives it (resp.cpp): false when it was over the
// limit and is being closed.
struct PubSubSink {
    virtual bool deliver(Subscriber& sub, std::string_view frame) = 0;
    // CLIENT LIST and CLIENT KILL over this instance's connections (share.request->filter).
    virtual void clients_here(PubSubShare& share) = 0;

protected:
    ~PubSubSink() = default;
};

enum class PubSubOutcome : std::uint8_t { replied, pending };

// A command of a connection in the subscribed context: true when that answered it (PING's
// array, or redis-server's refusal of anything but (P)(UN)SUBSCRIBE, PING, QUIT and RESET).
bool answer_subscribed(const CommandSpec& spec, std::span<const std::string_view> args, std::string& out);

// The subscriptions of one instance's connections.
class PubSubLocal {
public:
    PubSubLocal(gatio::Host host, PubSubHub& hub, std::uint32_t driver, PubSubSink& sink);
    ~PubSubLocal();
    PubSubLocal(const PubSubLocal&) = delete;
    PubSubLocal& operator=(const PubSubLocal&) = delete;

    // Runs a pub/sub command of `sub`'s connection (`db` for RESET). `args` must stay valid
    // until req.finished when it returns pending (the slot's copied arguments).
    PubSubOutcome command(Subscriber& sub, const CommandSpec& spec, std::span<const std::string_view> args,
                          std::uint32_t& db, std::string& out, PubSubRequest& req);
    // PING in the subscribed context.
    static void subscribed_ping(std::span<const std::string_view> args, std::string& out);
    // CLIENT LIST or CLIENT KILL (op) over every driver's connections, as `command`.
    PubSubOutcome clients(PubSubOp op, const ClientFilter& filter, std::string& out, PubSubRequest& req);
    // A connection of this driver opened or closed (which drivers CLIENT LIST must ask).
    void client_opened();
    void client_closed();
    // The connection is gone: its subscriptions go too.
    void drop(Subscriber& sub);
    // A slow subscriber was closed at the limit: counted and logged (at most once a second).
    void count_slow(std::uint64_t client_id, std::size_t unsent, std::size_t limit);

    // On this driver's thread, for any driver's request.
    std::int64_t publish_here(std::string_view channel, std::string_view message, std::string& frame);
    void share_here(PubSubShare& share);
    void share_done(PubSubShare& share);

private:
    void subscribe(Subscriber& sub, std::span<const std::string_view> names, bool pattern, std::string& out);
    void unsubscribe(Subscriber& sub, std::span<const std::string_view> names, bool pattern,
                     std::string& out);
    void unsubscribe_all(Subscriber& sub, bool pattern, std::string* out);
    bool remove(Subscriber& sub, std::string_view name, bool pattern);
    void adjust(std::int64_t delta);
    PubSubOutcome fan_out(PubSubOp op, std::span<const std::string_view> args, std::string& out,
                          PubSubRequest& req);
    void finish(PubSubRequest& req);
    void client_list_reply(PubSubRequest& req, std::string& out);
    void submit(PubSubShare& share);
    bool try_spawn(PubSubShare& share);
    void submit_queued();
    static void on_retry(gatio_host*, void* arg);

    using Table = std::unordered_map<std::string, std::vector<Subscriber*>>;
    gatio::Host host_;
    PubSubHub& hub_;
    std::uint32_t driver_;
    PubSubSink& sink_;
    Table channels_;
    Table patterns_;
    std::string key_; // a lookup's key, reused
    PubSubShare* queue_head_ = nullptr;
    PubSubShare* queue_tail_ = nullptr;
    gatio_timer retry_timer_ = 0;
    gatio_metric subscriptions_metric_ = 0;
    gatio_metric slow_metric_ = 0;
    std::int64_t last_slow_log_ms_ = 0;
    std::uint64_t slow_unlogged_ = 0;
};

} // namespace gatio::resp
