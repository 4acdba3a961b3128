// The resp handler: a Redis-protocol key-value server sharded across the drivers that execute
// tasks (each shard is touched on its own driver's thread, except by a multi-shard command,
// which holds the shard's mutex while it runs on its connection's driver).
//
// A request's life: on_data parses it on the connection's driver and takes a request slot
// (at most max_pipeline per connection, so a connection's work in flight is bounded). Slots
// come from a pool of the instance and go back to it once their reply is written, so an idle
// connection holds none. Connection commands are
// answered at once. A key command becomes a task placed on the driver owning the key's shard
// (a multi-key command one task per shard involved); the task runs the command there and its
// `done` comes back to the connection's driver, which writes replies strictly in request
// order. When the shard is local and nothing of the connection is in flight, the command
// runs on the spot instead.
//
// The keyspace of a listener (its shards) is shared by that listener's instances. gatiod keeps
// it for the listener name (listener_state): every reload's instances take it over, a handler
// file replaced by one of the same keyspace layout included, and gatiod frees it once the
// listener is gone. Options are each instance's own; new shard limits reach each shard through
// a task on its driver. Connections with tasks in flight when their instance is destroyed are
// only freed when the plugin is unloaded, once every driver thread is gone: at shutdown a task
// may be dropped without its `done`, so its arguments cannot be freed by it.
#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <malloc.h>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <gatio/plugin.hpp>

#include "blocking.hpp"
#include "commands.hpp"
#include "keyspace.hpp"
#include "parser.hpp"
#include "pubsub.hpp"
#include "reply.hpp"
#include "settings.hpp"
#include "transaction.hpp"

namespace gatio::resp {
namespace {

// Buffers that grew past this for one large request are released afterwards rather than
// kept for the connection's lifetime.
constexpr std::size_t retain_limit = 64u << 10;
// Keys examined per round of the active sweep; another round follows while more than a
// quarter of them had expired (redis-server's adaptive rule).
constexpr std::size_t sweep_round = 20;
// How soon tasks refused for lack of a task slot are offered again when no completion of
// ours comes first.
constexpr std::chrono::milliseconds spawn_retry{1};
// Replies above large_reply are written reply_piece bytes at a time, each while the
// connection's unsent output is below output_budget; output_retry is how soon a reply waiting
// for room looks again.
constexpr std::size_t large_reply = 256u << 10;
constexpr std::size_t reply_piece = 256u << 10;
constexpr std::size_t output_budget = 1u << 20;
constexpr std::chrono::milliseconds output_retry{1};

std::int64_t wall_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Empties a string or vector, giving its memory back if it grew past retain_limit (then true).
template <class Buffer>
bool trim(Buffer& b) {
    if (b.capacity() * sizeof(typename Buffer::value_type) > retain_limit) {
        Buffer().swap(b);
        return true;
    }
    b.clear();
    return false;
}

// A connection's address, kept small (an idle connection's cost) and written out as CLIENT
// LIST shows it, "ip:port" or "[ip6]:port", only when asked.
struct Addr {
    std::array<unsigned char, 16> ip{};
    std::uint16_t port = 0;
    std::uint8_t family = AF_UNSPEC; // AF_UNSPEC: unknown (direct descriptors)
    void set(const sockaddr* sa) {
        family = AF_UNSPEC;
        if (sa != nullptr && sa->sa_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
            std::memcpy(ip.data(), &in->sin_addr, sizeof in->sin_addr);
            port = ntohs(in->sin_port);
            family = AF_INET;
        } else if (sa != nullptr && sa->sa_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
            std::memcpy(ip.data(), &in6->sin6_addr, sizeof in6->sin6_addr);
            port = ntohs(in6->sin6_port);
            family = AF_INET6;
        }
    }
    // Into `buf`, valid until it is written again; empty when unknown.
    std::string_view text(std::array<char, INET6_ADDRSTRLEN + 12>& buf) const {
        if (family == AF_UNSPEC) {
            return {};
        }
        std::array<char, INET6_ADDRSTRLEN> name{};
        ::inet_ntop(family, ip.data(), name.data(), name.size());
        const int n = std::snprintf(buf.data(), buf.size(), family == AF_INET6 ? "[%s]:%u" : "%s:%u",
                                    name.data(), unsigned{port});
        return {buf.data(), n > 0 ? std::min(static_cast<std::size_t>(n), buf.size() - 1) : 0};
    }
};

std::int64_t g_start_ms = 0;
std::atomic<std::uint64_t> g_client_ids{0};

// One shard and what its driver alone touches. Padded so that shards of different drivers
// never share a cache line.
struct alignas(64) ShardState {
    ShardState(const ShardLimits& limits, const ServerSettings& server, std::uint64_t seed)
        : shard(limits, seed, server.databases), settings(server) {}
    // Held while anything runs on the shard. Only its own driver takes it, uncontended, except
    // for a multi-shard command, which holds every shard it involves (taken in index order, so
    // two of them never wait for each other) while it runs on its connection's driver.
    std::mutex lock;
    Shard shard;
    ServerSettings settings; // the newest instance's, set on the shard's driver
    std::int64_t last_sweep_ms = 0;
    BlockRegistry* blocking = nullptr; // the keyspace's
    Noted noted;                       // what a task run on this shard's driver wrote
    std::uint64_t resets_seen = 0;     // the CONFIG RESETSTATs applied (RuntimeSettings::resets)
};

// The task asking one shard for an active expiry sweep, one per (instance driver, shard):
// touched only on the instance's driver, except while in flight (then read on the shard's).
struct SweepJob {
    ShardState* state = nullptr;
    std::int64_t interval_ms = 0;
    std::uint32_t budget = 0;
    bool in_flight = false;
};

struct Keyspace {
    std::vector<std::uint32_t> drivers; // shard -> driver index
    std::vector<std::unique_ptr<ShardState>> shards;
    std::vector<SweepJob> sweeps;             // [driver * shards + shard]
    std::unique_ptr<RuntimeSettings> runtime; // what CONFIG SET changes, for every instance
    std::unique_ptr<ServerCounters> counters; // INFO's connections and commands, by driver
    std::unique_ptr<PubSubHub> pubsub;
    std::unique_ptr<BlockRegistry> blocking; // requests blocked on keys, over every shard

    std::uint32_t shard_of(std::string_view key) const { return shard_index(key, shards.size()); }
};

// What the keyspace handed over across reloads is: another layout is refused rather than
// misread (gatio_services.listener_state).
const std::string g_keyspace_layout = "gatio.resp.keyspace/7 keyspace=" + std::to_string(sizeof(Keyspace)) +
                                      " shard=" + std::to_string(sizeof(ShardState)) +
                                      " pubsub=" + std::to_string(sizeof(PubSubBoard)) + " " + __VERSION__;

std::mutex g_orphans_mutex;

class Resp;
struct Conn;
struct Slot;

// One task: a one_key command, or one shard's share of a fan-out command.
struct Job {
    Slot* slot = nullptr;
    std::uint32_t shard = 0;
    ShardState* state = nullptr;
    Job* next = nullptr;             // in the instance's queue of tasks waiting for a task slot
    std::vector<std::uint32_t> keys; // argument positions this shard owns (fan-out)
    ShardShare share;                // this shard's result (fan-out)
    std::uint64_t ticks = 0;         // the time the task ran on the shard's driver (commandstats)

    std::vector<std::uint32_t> wakes; // drivers whose blocked requests this task served
};

// One request of a connection, from parsing until its reply is written.
struct Slot {
    Conn* conn = nullptr;
    Slot* next = nullptr;    // the connection's next request, or the next free slot of the pool
    std::int64_t now_ms = 0; // the wall clock when the request was received
    std::uint32_t db = 0;    // the connection's database when the request was received
    const CommandSpec* spec = nullptr;
    std::string bytes;                  // the arguments, back to back, while tasks need them
    std::vector<std::string_view> args; // into `bytes`
    std::string reply;
    std::vector<Job> jobs;            // by shard; sized on first use
    std::vector<std::uint32_t> owner; // by argument: the shard of a key (MGET gathering)
    std::vector<ShardShare*> shares;  // by shard: the shares to gather, null if uninvolved
    std::uint32_t waiting = 0;        // tasks not yet done
    bool ready = false;               // `reply` is final
    bool close_after = false;         // QUIT or a protocol error: close once it is written
    std::size_t stat = no_stat;       // INFO commandstats' entry of a command that ran
    std::uint64_t ticks = 0;          // the time this driver spent starting and running it
    std::unique_ptr<Waiter> waiter;   // a blocking command's wait; made on first use
    gatio_timer block_timer = 0;      // its timeout
    PubSubRequest pubsub;             // PUBLISH, PUBSUB, CLIENT LIST and KILL waiting for other drivers
    ClientFilter clients;             // CLIENT LIST's and KILL's, which pubsub points to
    bool exec_later = false;          // EXEC waits for one of its commands run after the keyspace part
    std::size_t later_from = 0;       // where that command's reply starts in `reply`
};

struct Conn {
    Conn(Resp& owner, const ParserLimits& limits, std::uint32_t max_pipeline)
        : inst(&owner), parser(limits), pipeline(max_pipeline) {}

    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    // Slots still listed belong to requests whose tasks were in flight when the instance went.
    ~Conn() {
        while (head != nullptr) {
            delete std::exchange(head, head->next);
        }
    }

    Resp* inst;
    gatio_conn id = 0;
    Parser parser;
    // The requests in order, oldest first; each slot is allocated on its own because tasks in
    // flight point to it.
    Slot* head = nullptr;
    Slot* tail = nullptr;
    std::uint32_t pipeline; // max_pipeline: slots that requests may take
    std::uint32_t used = 0;
    std::uint32_t busy = 0;          // slots whose tasks are not all done
    std::uint32_t tasks = 0;         // tasks of this connection in flight
    std::size_t head_sent = 0;       // bytes of the head slot's reply already written
    gatio_timer drain_timer = 0;     // armed while waiting for output room
    std::vector<std::uint8_t> input; // bytes received but not yet taken into a slot
    std::size_t charged = 0;         // what `input` counts against max_partial_memory
    std::uint64_t client_id = 0;
    // MULTI's queue and WATCH's keys, and the subscriptions: made on first use and freed when
    // the connection is released, since most connections take neither and an idle one should
    // stay small.
    std::unique_ptr<Transaction> tx;
    std::unique_ptr<Subscriber> sub;
    std::uint32_t db = 0; // SELECT's
    std::uint16_t port = 0;
    std::string name; // CLIENT SETNAME's
    Addr addr;        // the peer's and the local address, for CLIENT LIST
    Addr laddr;
    std::int64_t opened_ms = 0;
    std::int64_t last_ms = 0;        // the last receive (CLIENT LIST's idle)
    std::size_t last_stat = no_stat; // the last command (CLIENT LIST's cmd); no_stat: none known
    bool open = false;
    bool closing = false;  // no more requests are read
    bool eof = false;      // the peer is done sending: close once every reply is written
    bool paused = false;   // we paused reading: input waits (see stalled)
    bool held = false;     // the next request is a multi-shard command held back (see process)
    bool draining = false; // gatiod is stopping: close once every request received is answered

    Slot* blocked = nullptr; // a slot waiting on keys (blocking.hpp): nothing more is read
    Conn* next_free = nullptr;

    bool full() const { return used >= pipeline; }
    Transaction& transaction() {
        if (tx == nullptr) {
            tx = std::make_unique<Transaction>();
        }
        return *tx;
    }
    Subscriber& subscriber() {
        if (sub == nullptr) {
            sub = std::make_unique<Subscriber>();
            sub->owner = this;
        }
        return *sub;
    }
    bool in_multi() const { return tx != nullptr && tx->open(); }
    bool executing() const { return tx != nullptr && tx->executing(); }
    bool subscribed() const { return sub != nullptr && sub->active(); }
    // Whether waiting input cannot be taken now: every slot is taken, or a multi-shard command
    // waits for this connection's tasks in flight.
    bool stalled() const { return full() || (held && busy > 0) || blocked != nullptr || executing(); }
};

// Connections of destroyed instances that had tasks in flight; guarded by g_orphans_mutex.
std::vector<std::unique_ptr<Conn>> g_orphans;

void run_job(void* arg);
void job_done(gatio_host* host, void* arg);
void run_sweep(void* arg);
void sweep_done(gatio_host* host, void* arg);

// maxmemory is split evenly: each shard enforces its share on its own.
ShardLimits shard_limits(const ServerSettings& settings, std::size_t shards) {
    ShardLimits limits;
    limits.max_memory =
        settings.max_memory == 0 ? 0 : std::max<std::uint64_t>(1, settings.max_memory / shards);
    limits.policy = settings.policy;
    limits.lru_samples = settings.maxmemory_samples;
    return limits;
}

// Hands one shard the listener's current settings (after a reload's instance took over a
// running keyspace, or a CONFIG SET or RESETSTAT). It reads them when it runs, so a later
// change overtaking an earlier one's task is harmless.
struct ShardConfig {
    ShardState* state = nullptr;
    RuntimeSettings* runtime = nullptr;
    std::size_t shards = 0;
    bool pending = false; // its task was refused for lack of a task slot: offered again
};

void run_configure(void* arg) {
    auto& c = *static_cast<ShardConfig*>(arg);
    const ServerSettings s = c.runtime->get();
    std::lock_guard hold(c.state->lock);
    c.state->shard.set_limits(shard_limits(s, c.shards));
    c.state->settings = s;
    const std::uint64_t resets = c.runtime->resets();
    if (resets != c.state->resets_seen) {
        c.state->resets_seen = resets;
        c.state->shard.reset_stats();
    }
}

class Resp final : PubSubSink {
public:
    static bool init(const gatio_services&, std::string&) {
        g_start_ms = wall_ms();
        return true;
    }

    Resp(gatio::Host host, const gatio::InstanceInfo& info) : host_(host), driver_(info.driver_index) {
        if (info.exec_drivers.empty()) {
            throw gatio::PluginError(
                "the host lists no exec-capable drivers (gatio_instance_info.exec_drivers): "
                "the resp plugin needs them to place its shards");
        }
        settings_ = read_settings(info.options);
        settings_.server.version = "1.0";
        if (driver_ >= info.driver_count) {
            throw gatio::PluginError("driver index " + std::to_string(driver_) +
                                     " is not below the driver count " + std::to_string(info.driver_count));
        }
        const auto& svc = host_.services();
        if (svc.struct_size < offsetof(gatio_services, listener_state) + sizeof(void*) ||
            svc.listener_state == nullptr) {
            throw gatio::PluginError(
                "the host keeps no listener state (gatio_services.listener_state, ABI 1.3)");
        }
        KeyspaceOrigin origin{&settings_, info.exec_drivers, info.driver_count, false};
        keyspace_ = static_cast<Keyspace*>(svc.listener_state(host_.handle(), g_keyspace_layout.c_str(),
                                                              &make_keyspace, &origin, &free_keyspace));
        if (keyspace_ == nullptr) {
            throw gatio::PluginError("the listener's keyspace could not be made or taken over (see the log)");
        }
        if (keyspace_->sweeps.size() != std::size_t{info.driver_count} * keyspace_->shards.size()) {
            throw gatio::PluginError("the listener's keyspace was made for another number of drivers");
        }
        // The databases are the keyspace's shape: a running one keeps its number (its keys
        // would otherwise be lost or unreachable).
        const std::uint32_t running = keyspace_->shards[0]->shard.databases();
        if (running != settings_.server.databases) {
            throw gatio::PluginError("option \"databases\": " + std::to_string(settings_.server.databases) +
                                     " differs from the running keyspace's " + std::to_string(running) +
                                     "; the number of databases is fixed while the listener exists");
        }
        const ServerSettings& server = settings_.server;
        parser_limits_ = ParserLimits{server.proto_max_bulk_len, server.max_multibulk, server.max_inline};
        for (std::uint32_t s = 0; s < keyspace_->drivers.size(); ++s) {
            if (keyspace_->drivers[s] == driver_) {
                local_shard_ = static_cast<std::int64_t>(s);
            }
        }
        configs_.resize(keyspace_->shards.size());
        for (std::uint32_t s = 0; s < keyspace_->shards.size(); ++s) {
            configs_[s] =
                ShardConfig{keyspace_->shards[s].get(), keyspace_->runtime.get(), keyspace_->shards.size()};
        }
        if (!origin.made) {
            // A reload's options apply again, replacing what CONFIG SET had changed.
            keyspace_->runtime->set(settings_.server);
            configure_shards();
        }
        seen_generation_ = keyspace_->runtime->generation();
        pubsub_ = std::make_unique<PubSubLocal>(host_, *keyspace_->pubsub, driver_,
                                                static_cast<PubSubSink&>(*this));
    }

    Resp(Resp&& other) = delete;
    Resp(const Resp&) = delete;
    Resp& operator=(const Resp&) = delete;

    ~Resp() {
        // Nothing may wake a connection of this instance once it is gone.
        for (auto& k : conns_) {
            if (Slot* s = k->blocked; s != nullptr && !drop_block(*k)) {
                keyspace_->blocking->forget(*s->waiter);
                keyspace_->blocking->unlist(*s->waiter);
                k->blocked = nullptr;
                --k->tasks;
            }
        }
        std::lock_guard lock(g_orphans_mutex);
        for (auto& k : conns_) {
            if (k->tasks > 0) {
                g_orphans.push_back(std::move(k));
            }
        }
        while (free_slots_ != nullptr) {
            delete std::exchange(free_slots_, free_slots_->next);
        }
    }

    static constexpr std::uint32_t max_unconsumed = 0;

    bool on_open(gatio::Connection c, const gatio_conn_info& info) {
        Conn* k = free_;
        if (k != nullptr) {
            free_ = k->next_free;
        } else {
            conns_.push_back(std::make_unique<Conn>(*this, parser_limits_, settings_.max_pipeline));
            k = conns_.back().get();
        }
        k->id = c.id();
        k->open = true;
        k->client_id = ++g_client_ids;
        keyspace_->counters->opened();
        pubsub_->client_opened();
        k->name.clear();
        k->addr.set(info.peer);
        k->laddr.set(info.local);
        k->opened_ms = k->last_ms = wall_ms();
        k->last_stat = no_stat;
        k->db = 0;
        k->port = 0;
        if (info.local != nullptr && info.local->sa_family == AF_INET) {
            k->port = ntohs(reinterpret_cast<const sockaddr_in*>(info.local)->sin_port);
        } else if (info.local != nullptr && info.local->sa_family == AF_INET6) {
            k->port = ntohs(reinterpret_cast<const sockaddr_in6*>(info.local)->sin6_port);
        }
        c.set_user(k);
        // Sweeping starts with the first connection: keys only come through connections.
        if (sweep_timer_ == 0) {
            arm_sweep_timer();
        }
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        Conn& k = *c.user<Conn>();
        if (k.closing) {
            return static_cast<std::int64_t>(data.size());
        }
        // Every request of this receive runs at this time, as redis-server caches its clock.
        now_ms_ = wall_ms();
        k.last_ms = now_ms_;
        adopt_settings();
        if (!k.input.empty()) {
            if (admit(k, k.input.size() + data.size())) {
                k.input.insert(k.input.end(), data.begin(), data.end());
                take_input(k);
            } else {
                refuse(k);
            }
        } else {
            std::size_t used = process(k, data);
            if (used < data.size()) {
                if (admit(k, data.size() - used)) {
                    k.input.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
                } else {
                    refuse(k);
                }
            }
        }
        advance(k);
        return static_cast<std::int64_t>(data.size());
    }

    // Replies still being computed are written before the connection closes.
    gatio_eof_action on_eof(gatio::Connection c) {
        Conn& k = *c.user<Conn>();
        // With no request in a slot, what input remains is an unfinished request. A client gone
        // while it waits on keys stops waiting, as redis-server frees it.
        if (k.used == 0 || (k.blocked != nullptr && drop_block(k))) {
            return GATIO_EOF_CLOSE;
        }
        k.eof = true;
        return GATIO_EOF_KEEP;
    }

    // gatiod is stopping: the requests received go on (the host reads no more), and the
    // connection closes once the last of their replies is queued.
    gatio_drain_action on_drain(gatio::Connection c) {
        Conn& k = *c.user<Conn>();
        k.draining = true;
        if (Slot* s = k.blocked; s != nullptr && drop_block(k)) {
            // A wait would hold the stop until its timeout: the connection closes after the
            // replies before it, as redis-server drops its blocked clients when it stops.
            s->ready = true;
            s->close_after = true;
        }
        advance(k);
        return GATIO_DRAIN_FINISH;
    }

    void on_close(gatio::Connection c, gatio_close_reason) {
        Conn& k = *c.user<Conn>();
        keyspace_->counters->closed();
        pubsub_->client_closed();
        k.open = false;
        k.closing = true;
        if (k.blocked != nullptr) {
            drop_block(k); // or, served already, its reply's arrival releases the connection
        }
        if (k.tx != nullptr) {
            k.tx->end(tx_keyspace_);
        }
        if (k.sub != nullptr) {
            pubsub_->drop(*k.sub);
        }
        if (k.tasks == 0) {
            release(k);
        }
    }

    // ---- Task plumbing (on this instance's driver) ----

    void job_finished(Job& job) {
        Slot& s = *job.slot;
        Conn& k = *s.conn;
        post_wakes(job.wakes);
        s.ticks += job.ticks;
        --k.tasks;
        if (--s.waiting == 0) {
            if (s.spec->route != Route::one_key) {
                FactsBuilder facts(*this, k, s.now_ms);
                gather(*s.spec, s.args, s.owner, s.shares, facts.facts, s.reply);
            }
            s.ready = true;
            --k.busy;
        }
        if (k.open) {
            advance(k);
        } else if (k.tasks == 0) {
            release(k);
        }
        submit_queued();
    }

    // Another driver answered the last share of a PUBLISH, PUBSUB, CLIENT LIST or CLIENT KILL.
    static void pubsub_finished(void* ctx) {
        Slot& s = *static_cast<Slot*>(ctx);
        Conn& k = *s.conn;
        Resp& self = *k.inst;
        --k.tasks;
        --k.busy;
        if (s.exec_later) {
            s.exec_later = false;
            // A closed connection's transaction is gone (on_close ended it): nothing to place.
            if (k.open) {
                later_placed(k, s);
                self.run_later(k, s);
            }
        } else {
            s.ready = true;
            close_if_killed(k, s);
        }
        if (k.open) {
            self.advance(k);
        } else if (k.tasks == 0) {
            self.release(k);
        }
    }

    // A message for a subscriber of this instance (PubSubSink). Behind replies not yet written
    // it joins the newest request's reply (in the subscribed context every request is answered
    // at once, so that slot is final), else it is sent. Either way the connection's unsent
    // output is bounded by pubsub_output_limit, and a send the host refuses (send_buffer_limit,
    // the driver's output memory) is as good as over it: the subscriber is closed.
    bool deliver(Subscriber& sub, std::string_view frame) override {
        Conn& k = *static_cast<Conn*>(sub.owner);
        if (!k.open || k.closing) {
            return false;
        }
        const auto& svc = host_.services();
        std::size_t unsent = svc.pending_output(host_.handle(), k.id);
        for (Slot* at = k.head; at != nullptr; at = at->next) {
            unsent += at->reply.size();
        }
        unsent -= std::min(unsent, k.head_sent);
        bool over = unsent + frame.size() > settings_.pubsub_output_limit;
        if (!over && k.tail != nullptr) {
            assert(k.tail->ready);
            k.tail->reply.append(frame);
            flush(k);
            return true;
        }
        if (!over && svc.send(host_.handle(), k.id, frame.data(), frame.size()) == GATIO_OK) {
            return true;
        }
        svc.close(host_.handle(), k.id, GATIO_CLOSE_ABORT);
        k.closing = true;
        pubsub_->count_slow(k.client_id, unsent, settings_.pubsub_output_limit);
        return false;
    }

    // CLIENT LIST and CLIENT KILL over this instance's connections (PubSubSink), on its driver.
    // A client killed here is closed at once, its unsent output dropped as redis-server's
    // freeClient drops it; the asking client itself closes after its reply.
    void clients_here(PubSubShare& share) override {
        const PubSubRequest& req = *share.request;
        const ClientFilter& f = *req.filter;
        const std::int64_t now = wall_ms();
        const auto& svc = host_.services();
        for (auto& c : conns_) {
            Conn& k = *c;
            if (!k.open || k.closing) {
                continue;
            }
            const ClientView v = view(k, now);
            if (!client_matches(f, v)) {
                continue;
            }
            if (req.op == PubSubOp::client_list) {
                std::string line;
                client_line(v, line);
                share.lines.emplace_back(k.client_id, std::move(line));
                continue;
            }
            ++share.receivers;
            if (k.client_id == f.self) {
                share.killed_self = true;
                continue;
            }
            svc.close(host_.handle(), k.id, GATIO_CLOSE_ABORT);
            k.closing = true;
        }
    }

    // A CLIENT KILL that named its own client: the connection closes once its reply is written.
    static void close_if_killed(Conn& k, Slot& s) {
        if (s.spec != nullptr && s.spec->id == Cmd::client && s.pubsub.op == PubSubOp::client_kill &&
            s.pubsub.shares.size() > k.inst->driver_ && s.pubsub.shares[k.inst->driver_].killed_self) {
            s.close_after = true;
            k.closing = true;
        }
    }

    // The connection as CLIENT LIST and CLIENT INFO show it, valid until the next view (its
    // addresses are written into the instance's scratch).
    ClientView view(const Conn& k, std::int64_t now) const {
        ClientView v;
        v.id = k.client_id;
        v.addr = k.addr.text(addr_text_);
        v.laddr = k.laddr.text(laddr_text_);
        v.name = k.name;
        v.age_s = (now - k.opened_ms) / 1000;
        v.idle_s = (now - k.last_ms) / 1000;
        v.pubsub = k.subscribed();
        // Inside EXEC (its commands run after the keyspace part) the client is still in MULTI, as
        // redis-server shows it while EXEC runs.
        const bool multi = k.in_multi() || k.executing();
        v.multi = multi;
        v.blocked = k.blocked != nullptr;
        if (k.tx != nullptr) {
            v.dirty = k.tx->dirty(tx_keyspace_);
            v.multi_mem = k.tx->queued_bytes();
        }
        v.db = k.db;
        if (k.sub != nullptr) {
            v.sub = k.sub->channels.size();
            v.psub = k.sub->patterns.size();
        }
        v.queued = multi ? static_cast<std::int64_t>(k.tx->queued()) : -1;
        v.qbuf = k.input.size();
        v.qbuf_free = k.input.capacity() - k.input.size();
        for (const Slot* at = k.head; at != nullptr; at = at->next) {
            v.argv_mem += at->bytes.size();
            if (at->ready) {
                v.obl += at->reply.size();
                ++v.oll;
            }
        }
        v.obl -= std::min(v.obl, k.head_sent);
        v.omem = host_.services().pending_output(host_.handle(), k.id);
        if (k.last_stat != no_stat) {
            v.cmd = stat_name(k.last_stat);
        }
        return v;
    }

    void sweep(std::uint32_t shard) {
        SweepJob& j = keyspace_->sweeps[driver_ * keyspace_->shards.size() + shard];
        if (j.in_flight) {
            return;
        }
        // Not in flight, so only this driver touches it: the newest instance's settings apply.
        j.interval_ms = settings_.active_expire_interval.count();
        j.budget = settings_.active_expire_keys;
        gatio_task t{sizeof(gatio_task),
                     GATIO_PLACE_DRIVER,
                     keyspace_->drivers[shard],
                     GATIO_PRIORITY_BATCH,
                     &run_sweep,
                     &sweep_done,
                     &j};
        // A refusal (no task slot free) just skips this round; the next tick tries again.
        j.in_flight = host_.spawn(t) == GATIO_OK;
    }

    void submit_queued() {
        while (queue_head_ != nullptr) {
            if (!try_spawn(*queue_head_)) {
                arm_retry_timer();
                return;
            }
            queue_head_ = queue_head_->next;
            if (queue_head_ == nullptr) {
                queue_tail_ = nullptr;
            }
        }
    }

private:
    struct FactsBuilder {
        FactsBuilder(const Resp& r, Conn& k, std::int64_t now_ms) {
            facts.settings = &r.settings_.server;
            facts.db = &k.db;
            facts.client_id = k.client_id;
            facts.port = k.port;
            facts.uptime_s = (now_ms - g_start_ms) / 1000;
            facts.blocked_clients = r.keyspace_->blocking->blocked();
            facts.runtime = r.keyspace_->runtime.get();
            facts.name = &k.name;
            facts.counters = r.keyspace_->counters.get();
        }
        ConnectionFacts facts;
    };

    // What make_keyspace needs, and whether it ran (a keyspace taken over needs the new settings).
    struct KeyspaceOrigin {
        const PluginSettings* settings;
        std::span<const std::uint32_t> exec;
        std::uint32_t driver_count;
        bool made;
    };

    static void* make_keyspace(void* arg) {
        auto& origin = *static_cast<KeyspaceOrigin*>(arg);
        const PluginSettings& settings = *origin.settings;
        auto ks = std::make_unique<Keyspace>();
        ks->drivers.assign(origin.exec.begin(), origin.exec.end());
        const ShardLimits limits = shard_limits(settings.server, origin.exec.size());
        for (std::size_t s = 0; s < origin.exec.size(); ++s) {
            ks->shards.push_back(
                std::make_unique<ShardState>(limits, settings.server, 0x9E3779B97F4A7C15ULL * (s + 1)));
        }
        std::vector<BlockRegistry::ShardRef> refs;
        for (auto& st : ks->shards) {
            refs.push_back(BlockRegistry::ShardRef{&st->lock, &st->shard, &st->settings});
        }
        ks->blocking = std::make_unique<BlockRegistry>(std::move(refs), origin.driver_count);
        for (auto& st : ks->shards) {
            st->blocking = ks->blocking.get();
        }
        ks->sweeps.resize(std::size_t{origin.driver_count} * origin.exec.size());
        ks->runtime = std::make_unique<RuntimeSettings>(settings.server);
        ks->counters = std::make_unique<ServerCounters>(origin.driver_count);
        ks->pubsub = std::make_unique<PubSubHub>(origin.driver_count);
        for (std::size_t i = 0; i < ks->sweeps.size(); ++i) {
            SweepJob& j = ks->sweeps[i];
            j.state = ks->shards[i % origin.exec.size()].get();
            j.interval_ms = settings.active_expire_interval.count();
            j.budget = settings.active_expire_keys;
        }
        origin.made = true;
        return ks.release();
    }

    static void free_keyspace(void* data) { delete static_cast<Keyspace*>(data); }

    // New settings for every shard (a reload took over a running keyspace, or CONFIG SET):
    // the local shard gets them at once, the others by a task on their own driver, in order
    // with the commands of this driver queued there. A task refused for lack of a slot is
    // offered again with the queued tasks.
    void configure_shards() {
        for (std::uint32_t s = 0; s < keyspace_->shards.size(); ++s) {
            configs_[s].pending = true;
        }
        configure_pending();
    }

    void configure_pending() {
        for (std::uint32_t s = 0; s < keyspace_->shards.size(); ++s) {
            if (!configs_[s].pending) {
                continue;
            }
            if (static_cast<std::int64_t>(s) == local_shard_) {
                run_configure(&configs_[s]);
                configs_[s].pending = false;
                continue;
            }
            gatio_task t{sizeof(gatio_task),    GATIO_PLACE_DRIVER,
                         keyspace_->drivers[s], GATIO_PRIORITY_LATENCY,
                         &run_configure,        nullptr,
                         &configs_[s]};
            if (host_.spawn(t) == GATIO_OK) {
                configs_[s].pending = false;
            } else {
                arm_retry_timer();
            }
        }
    }

    // Settings a CONFIG SET on any driver changed since this instance last looked: its
    // connections' parsers and its answers follow them.
    void adopt_settings() {
        const std::uint64_t generation = keyspace_->runtime->generation();
        if (generation == seen_generation_) {
            return;
        }
        seen_generation_ = generation;
        const std::string_view version = settings_.server.version;
        settings_.server = keyspace_->runtime->get();
        settings_.server.version = version;
        const ServerSettings& server = settings_.server;
        parser_limits_ = ParserLimits{server.proto_max_bulk_len, server.max_multibulk, server.max_inline};
        for (auto& k : conns_) {
            k->parser.set_limits(parser_limits_);
        }
    }

    static void on_sweep_timer(gatio_host*, void* arg) {
        auto* self = static_cast<Resp*>(arg);
        self->sweep_timer_ = 0;
        for (std::uint32_t s = 0; s < self->keyspace_->shards.size(); ++s) {
            self->sweep(s);
        }
        self->submit_queued();
        self->arm_sweep_timer();
    }

    void arm_sweep_timer() {
        sweep_timer_ = host_.start_timer(settings_.active_expire_interval, &on_sweep_timer, this);
        if (sweep_timer_ == 0) {
            host_.warn(
                "resp: no timer slot for the active expiry sweep; expired keys are removed on access only");
        }
    }

    static void on_retry_timer(gatio_host*, void* arg) {
        auto* self = static_cast<Resp*>(arg);
        self->retry_timer_ = 0;
        std::swap(self->unposted_, self->wakes_);
        self->post_wakes(self->wakes_);
        self->configure_pending();
        self->submit_queued();
    }

    void arm_retry_timer() {
        if (retry_timer_ == 0) {
            retry_timer_ = host_.start_timer(spawn_retry, &on_retry_timer, this);
        }
    }

    bool try_spawn(Job& job) {
        gatio_task t{sizeof(gatio_task),
                     GATIO_PLACE_DRIVER,
                     keyspace_->drivers[job.shard],
                     GATIO_PRIORITY_LATENCY,
                     &run_job,
                     &job_done,
                     &job};
        int rc = host_.spawn(t);
        // Only a full task table is worth waiting for: the drivers come from the host's own
        // exec list, so any other refusal is a broken invariant.
        if (rc != GATIO_OK && rc != GATIO_ERR_LIMIT) {
            host_.error("resp: spawning a task on driver " + std::to_string(keyspace_->drivers[job.shard]) +
                        " failed with " + std::to_string(rc));
            assert(!"spawn refused a shard task");
        }
        return rc == GATIO_OK;
    }

    // Tasks leave in request order: once one waits for a task slot, later ones queue behind
    // it, or a later command on the same key could overtake an earlier one.
    void submit(Job& job) {
        job.next = nullptr;
        if (queue_head_ == nullptr && try_spawn(job)) {
            return;
        }
        if (queue_tail_ != nullptr) {
            queue_tail_->next = &job;
        } else {
            queue_head_ = &job;
        }
        queue_tail_ = &job;
        arm_retry_timer();
    }

    void release(Conn& k) {
        k.tx.reset();  // on_close ended it
        k.sub.reset(); // and dropped its subscriptions
        if (k.drain_timer != 0) {
            host_.cancel_timer(k.drain_timer);
            k.drain_timer = 0;
        }
        k.head_sent = 0;
        while (k.head != nullptr) {
            Slot* s = std::exchange(k.head, k.head->next);
            s->spec = nullptr;
            s->waiting = 0;
            put_slot(s);
        }
        k.tail = nullptr;
        k.used = k.busy = 0;
        drop_input(k);
        k.parser.reset();
        k.parser.release_large(retain_limit);
        k.closing = k.eof = k.paused = k.held = k.draining = false;
        k.blocked = nullptr;
        k.next_free = free_;
        free_ = &k;
    }

    // Empties a slot whose reply is written, releasing what a large request grew.
    static void recycle(Slot& s) {
        s.ready = false;
        s.exec_later = false;
        s.close_after = false;
        bool large = trim(s.reply);
        large |= trim(s.bytes);
        large |= trim(s.args);
        large |= trim(s.owner);
        for (auto& j : s.jobs) {
            large |= trim(j.keys);
            large |= trim(j.share.out);
        }
        // glibc keeps freed heap memory for reuse, in whichever arena served it; after a large
        // request, what its buffers held goes back to the system (a rare call: one per large
        // request, not per request).
        if (large) {
            ::malloc_trim(0);
        }
    }

    // A slot whose request is over goes back to the pool, which keeps at most pooled_slots.
    void put_slot(Slot* s) {
        recycle(*s);
        if (pooled_ >= settings_.pooled_slots) {
            delete s;
            return;
        }
        s->next = free_slots_;
        free_slots_ = s;
        ++pooled_;
    }

    Slot& take_slot(Conn& k) {
        Slot* s = free_slots_;
        if (s != nullptr) {
            free_slots_ = s->next;
            --pooled_;
        } else {
            s = new Slot();
        }
        assert(!s->ready && s->waiting == 0);
        s->conn = &k;
        s->next = nullptr;
        s->now_ms = now_ms_;
        s->db = k.db;
        s->stat = no_stat;
        s->ticks = 0;
        s->reply.clear();
        (k.tail != nullptr ? k.tail->next : k.head) = s;
        k.tail = s;
        ++k.used;
        return *s;
    }

    void take_input(Conn& k) {
        std::size_t used = process(k, k.input);
        if (k.closing || used == k.input.size()) {
            drop_input(k);
            return;
        }
        if (used > 0) {
            k.input.erase(k.input.begin(), k.input.begin() + static_cast<std::ptrdiff_t>(used));
            // What stays is much smaller than what a large request left behind.
            const std::size_t want = std::max(k.input.size(), k.parser.announced());
            if (k.input.capacity() > retain_limit && want * 2 < k.input.capacity()) {
                std::vector<std::uint8_t>(k.input.begin(), k.input.end()).swap(k.input);
            }
        }
        // Parsing may have read the length of a new argument.
        if (!admit(k, k.input.size())) {
            refuse(k);
        }
    }

    void drop_input(Conn& k) {
        trim(k.input);
        partial_bytes_ -= k.charged;
        k.charged = 0;
    }

    // Room in k.input for `size` bytes and for everything its unfinished request has
    // announced, counted against the instance's max_partial_memory: false, with nothing
    // changed, when that would go over it. An announced large argument gets exactly its room at
    // once, so that it is neither copied as it grows nor given twice the memory.
    bool admit(Conn& k, std::size_t size) {
        const std::size_t want = std::max(size, k.parser.announced());
        const std::uint64_t others = partial_bytes_ - k.charged;
        if (want > k.charged && others + want > settings_.max_partial_memory) {
            return false;
        }
        partial_bytes_ = others + want;
        k.charged = want;
        if (want > k.input.capacity()) {
            k.input.reserve(std::max(want, k.input.capacity() + k.input.capacity() / 2));
        }
        return true;
    }

    // The connection's next request would take more memory for partly received requests than
    // this driver has left: it is answered with an error after every earlier reply, and the
    // connection closes, like after a protocol error.
    void refuse(Conn& k) {
        const std::size_t want = std::max(k.input.size(), k.parser.announced());
        drop_input(k);
        k.parser.reset();
        k.closing = true;
        Slot& s = take_slot(k);
        reply::error(s.reply,
                     "ERR max_partial_memory reached: partly received requests on this driver would hold "
                     "more than " +
                         std::to_string(settings_.max_partial_memory) + " bytes");
        s.ready = true;
        s.close_after = true;
        if (host_.log_enabled(GATIO_LOG_DEBUG)) {
            host_.debug("resp: connection " + std::to_string(k.id) + ": a request needing " +
                        std::to_string(want) + " bytes is over max_partial_memory; closing it");
        }
    }

    // Writes what is ready and takes the waiting input into the slots that frees, until
    // neither moves; reading is paused exactly while complete input waits for a slot. Every
    // place where slots can free up ends here: the input of a connection with nothing in
    // flight has no other way to be read.
    void advance(Conn& k) {
        while (true) {
            flush(k);
            if (!k.open || k.closing || k.input.empty() || k.stalled()) {
                break;
            }
            const std::size_t before = k.input.size();
            now_ms_ = wall_ms();
            take_input(k);
            if (k.input.size() == before) {
                break; // an unfinished request: it waits for more bytes
            }
        }
        if (!k.open) {
            return;
        }
        const auto& svc = host_.services();
        const bool waiting = !k.input.empty() && k.stalled() && !k.closing;
        if (waiting && !k.paused) {
            k.paused = svc.pause_read(host_.handle(), k.id) == GATIO_OK;
        } else if (!waiting && k.paused) {
            k.paused = svc.resume_read(host_.handle(), k.id) != GATIO_OK;
        }
        if ((k.eof || k.draining) && k.used == 0) {
            k.eof = false;
            k.draining = false;
            svc.close(host_.handle(), k.id, GATIO_CLOSE_FLUSH);
        }
    }

    // Parses and starts requests from `data` while slots are free; returns the bytes taken
    // (the rest is an unfinished request, or waits for a slot).
    std::size_t process(Conn& k, std::span<const std::uint8_t> data) {
        std::size_t pos = 0;
        // One clock read per request: each request's time runs from the previous one's end.
        std::uint64_t clock = tick_clock::now();
        std::size_t ahead = 0; // requests from `pos` on whose keys were prefetched, or looked at
        bool peek = true;
        while (pos < data.size() && !k.closing && !k.full() && k.blocked == nullptr && !k.executing()) {
            if (ahead == 0 && peek) {
                ahead = prefetch_keys(k, data.subspan(pos));
                peek = ahead > 0;
            }
            ahead -= ahead > 0 ? 1 : 0;
            ParseStatus st = k.parser.parse(data.subspan(pos));
            if (st == ParseStatus::incomplete) {
                break;
            }
            if (st == ParseStatus::error) {
                Slot& s = take_slot(k);
                reply::error(s.reply, k.parser.error_text());
                s.ready = true;
                s.close_after = true;
                k.closing = true;
                if (host_.log_enabled(GATIO_LOG_DEBUG)) {
                    host_.debug("resp: connection " + std::to_string(k.id) + ": " + k.parser.error_text() +
                                "; closing it");
                }
                return data.size();
            }
            auto args = k.parser.args();
            if (!args.empty() && k.busy > 0) {
                // A multi-shard command waits, unparsed, for its connection's tasks in flight.
                const CommandSpec* spec = find_command(args[0]);
                if (spec != nullptr && spec->route == Route::multi) {
                    k.held = true;
                    break;
                }
            }
            k.held = false;
            pos += k.parser.consumed();
            if (!args.empty()) {
                dispatch(k, args, clock);
            }
        }
        // Once per receive rather than per request: what one large request grew goes back
        // before the connection waits for more.
        k.parser.release_large(retain_limit);
        return k.closing ? data.size() : pos;
    }

    // A pipeline's next requests: the keys this driver's shard holds start loading into the cache
    // together (Shard::prefetch). Returns how many requests were looked at.
    std::size_t prefetch_keys(const Conn& k, std::span<const std::uint8_t> data) {
        std::array<std::string_view, Shard::max_prefetch> keys;
        const std::size_t n = peek_keys(data, keys);
        if (n < 2 || local_shard_ < 0) {
            return n; // one request has nothing to overlap with
        }
        const Keyspace& ks = *keyspace_;
        std::size_t local = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (!keys[i].empty() && ks.shard_of(keys[i]) == local_shard_) {
                keys[local++] = keys[i];
            }
        }
        ShardState& state = *ks.shards[static_cast<std::size_t>(local_shard_)];
        std::lock_guard hold(state.lock);
        state.shard.select(k.db);
        state.shard.prefetch(std::span(keys).first(local));
        return n;
    }

    // Runs one request and counts it in INFO commandstats: a call with the time this driver
    // spent parsing and running it (from `clock`, which it moves to its own end), or a refusal.
    void dispatch(Conn& k, std::span<const std::string_view> args, std::uint64_t& clock) {
        Slot& s = take_slot(k);
        const CommandSpec* spec = find_command(args[0]);
        const std::size_t stat = spec != nullptr ? stat_of(*spec, args) : no_stat;
        k.last_stat = stat;
        const std::uint64_t start = clock;
        const bool ran = run_request(k, s, spec, args);
        clock = tick_clock::now();
        if (stat == no_stat) {
            return;
        }
        if (!ran) {
            keyspace_->counters->rejected(driver_, stat);
            return;
        }
        s.stat = stat;
        // Tasks on other drivers add their run time as they come back (job_finished).
        s.ticks += clock - start;
    }

    // CLIENT LIST and CLIENT KILL: every driver's connections, through the pub/sub fan-out.
    // False when the request was not one of them.
    bool clients_request(Conn& k, Slot& s, std::span<const std::string_view> args) {
        const bool list = is(args[1], "list");
        if (!list && !is(args[1], "kill")) {
            return false;
        }
        if (!list && args.size() < 3) {
            arity_error("client|kill", s.reply);
            s.ready = true;
            return true;
        }
        copy_args(s, args);
        if (clients_fan_out(k, s, list) == PubSubOutcome::pending) {
            return true;
        }
        s.ready = true;
        close_if_killed(k, s);
        return true;
    }

    // CLIENT LIST (list) or KILL of the slot's copied arguments over every driver: replied (an
    // error, or no other driver to ask) or pending until pubsub_finished.
    PubSubOutcome clients_fan_out(Conn& k, Slot& s, bool list) {
        const bool ok = list ? parse_client_list(s.args, s.clients, s.reply)
                             : parse_client_kill(s.args, s.clients, s.reply);
        if (!ok) {
            return PubSubOutcome::replied;
        }
        s.clients.self = k.client_id;
        const PubSubOp op = list ? PubSubOp::client_list : PubSubOp::client_kill;
        return fan_out(k, s, [&] { return pubsub_->clients(op, s.clients, s.reply, s.pubsub); });
    }

    // A PUBLISH or PUBSUB of the slot's copied arguments over every driver.
    PubSubOutcome pubsub_fan_out(Conn& k, Slot& s, const CommandSpec& spec) {
        return fan_out(
            k, s, [&] { return pubsub_->command(k.subscriber(), spec, s.args, k.db, s.reply, s.pubsub); });
    }

    // `start` asks the other drivers for the slot's request; a pending answer comes back in
    // pubsub_finished, and counts as the connection's task in flight meanwhile.
    template <typename Start>
    static PubSubOutcome fan_out(Conn& k, Slot& s, Start&& start) {
        s.pubsub.finished = &pubsub_finished;
        s.pubsub.ctx = &s;
        const PubSubOutcome o = start();
        if (o == PubSubOutcome::pending) {
            ++k.busy;
            ++k.tasks;
        }
        return o;
    }

    // EXEC's commands that need other drivers (Transaction::executing), after its keyspace
    // part, one after the other: each may wait for the other drivers (then pubsub_finished
    // comes back here), and its reply takes its place in EXEC's array. The connection reads
    // nothing meanwhile, so its next command sees them done, as after redis-server's EXEC.
    void run_later(Conn& k, Slot& s) {
        while (k.executing()) {
            const Transaction::Later c = k.tx->next_later();
            s.later_from = s.reply.size();
            copy_args(s, c.args);
            // The slot's shares may tell of an earlier request's kill.
            for (PubSubShare& share : s.pubsub.shares) {
                share.killed_self = false;
            }
            const PubSubOutcome o = c.spec->id == Cmd::client ? clients_fan_out(k, s, is(s.args[1], "list"))
                                                              : pubsub_fan_out(k, s, *c.spec);
            if (o == PubSubOutcome::pending) {
                s.exec_later = true;
                return;
            }
            later_placed(k, s);
        }
        s.ready = true;
    }

    // The reply of EXEC's command run later is complete at the end of the slot's reply.
    static void later_placed(Conn& k, Slot& s) {
        k.tx->place(s.reply, s.later_from);
        // A CLIENT KILL that named its own client: the connection closes after EXEC's reply.
        if (s.pubsub.shares.size() > k.inst->driver_ && s.pubsub.shares[k.inst->driver_].killed_self) {
            s.close_after = true;
            k.closing = true;
        }
    }

    // false: refused before it ran (arity, the subscribed context).
    bool run_request(Conn& k, Slot& s, const CommandSpec* spec, std::span<const std::string_view> args) {
        if (transaction_request(k.in_multi(), spec)) {
            FactsBuilder facts(*this, k, s.now_ms);
            ClientView self;
            if (spec != nullptr && (spec->id == Cmd::exec || spec->id == Cmd::client)) {
                self = view(k, s.now_ms);
                facts.facts.self = &self;
            }
            k.transaction().handle(tx_keyspace_, spec, args, facts.facts, settings_.transaction, s.now_ms,
                                   s.reply);
            serve_blocked(s.now_ms); // what an EXEC wrote, once it let go of its shards
            if (k.executing()) {
                s.spec = spec;
                run_later(k, s);
            } else {
                s.ready = true;
            }
            // A command MULTI refuses to queue for its arity is refused, as in redis-server.
            return spec == nullptr || arity_ok(*spec, args.size());
        }
        if (spec == nullptr) {
            unknown_command_error(args, s.reply);
            s.ready = true;
            return true;
        }
        if (!arity_ok(*spec, args.size())) {
            arity_error(spec->name, s.reply);
            s.ready = true;
            return false;
        }
        keyspace_->counters->command(driver_);
        s.spec = spec;
        if (k.subscribed() && answer_subscribed(*spec, args, s.reply)) {
            s.ready = true;
            return spec->id == Cmd::ping;
        }
        if (spec->route == Route::pubsub) {
            if (spec->id == Cmd::reset) {
                // redis-server's RESET also ends MULTI, forgets the watched keys and the name.
                if (k.tx != nullptr) {
                    k.tx->end(tx_keyspace_);
                }
                k.name.clear();
            }
            copy_args(s, args);
            if (pubsub_fan_out(k, s, *spec) == PubSubOutcome::replied) {
                s.ready = true;
            }
            return true;
        }
        if (spec->id == Cmd::client && clients_request(k, s, args)) {
            return true;
        }
        if (spec->route == Route::connection) {
            FactsBuilder facts(*this, k, s.now_ms);
            ClientView self;
            if (spec->id == Cmd::client) {
                self = view(k, s.now_ms);
                facts.facts.self = &self;
            }
            const std::uint64_t generation = keyspace_->runtime->generation();
            if (run_local(*spec, args, facts.facts, s.reply) == LocalOutcome::reply_then_close) {
                s.close_after = true;
                k.closing = true;
            }
            if (keyspace_->runtime->generation() != generation) {
                adopt_settings(); // CONFIG SET or RESETSTAT: every shard follows
                configure_shards();
            }
            s.ready = true;
            return true;
        }
        if (spec->route == Route::multi && is_blocking(spec->id)) {
            block_here(k, s, *spec, args);
            return true;
        }
        if (spec->route == Route::multi) {
            run_multi_here(s, *spec, args);
            return true;
        }
        if (spec->route != Route::one_key && !check_fanout(*spec, args, s.reply)) {
            s.ready = true;
            return true;
        }
        const Keyspace& ks = *keyspace_;
        const std::size_t shard_count = ks.shards.size();
        if (s.jobs.size() != shard_count) {
            s.jobs.resize(shard_count);
            s.shares.assign(shard_count, nullptr);
            for (std::uint32_t i = 0; i < shard_count; ++i) {
                s.jobs[i].slot = &s;
                s.jobs[i].shard = i;
                s.jobs[i].state = ks.shards[i].get();
            }
        }
        if (spec->route == Route::one_key) {
            std::uint32_t shard = ks.shard_of(args[1]);
            if (shard == local_shard_ && k.busy == 0) {
                // Nothing of this connection is in flight, so running now keeps its order.
                {
                    std::lock_guard hold(ks.shards[shard]->lock);
                    ks.shards[shard]->shard.select(s.db);
                    run_one_key(ks.shards[shard]->shard, *spec, args, ks.shards[shard]->settings, s.now_ms,
                                s.reply);
                    ks.blocking->note_command(noted_, *spec, args, {}, s.db);
                }
                s.ready = true;
                serve_blocked(s.now_ms);
                return true;
            }
            copy_args(s, args);
            start(k, s, &s.jobs[shard], 1);
            return true;
        }
        // Fan-out: which shards are involved, and which keys each owns.
        for (auto& j : s.jobs) {
            j.keys.clear();
        }
        const std::uint32_t involved =
            split_fanout(*spec, args, static_cast<std::uint32_t>(shard_count), s.owner,
                         [&](std::uint32_t i) -> std::vector<std::uint32_t>& { return s.jobs[i].keys; });
        for (std::uint32_t i = 0; i < shard_count; ++i) {
            s.shares[i] = s.jobs[i].keys.empty() ? nullptr : &s.jobs[i].share;
        }
        bool all_local =
            involved == 1 && local_shard_ >= 0 && s.shares[static_cast<std::size_t>(local_shard_)];
        if (all_local && k.busy == 0) {
            Job& j = s.jobs[static_cast<std::size_t>(local_shard_)];
            {
                std::lock_guard hold(j.state->lock);
                j.state->shard.select(s.db);
                run_part(j.state->shard, *spec, args, j.keys, s.now_ms, j.share);
            }
            FactsBuilder facts(*this, k, s.now_ms);
            gather(*spec, args, s.owner, s.shares, facts.facts, s.reply);
            s.ready = true;
            return true;
        }
        copy_args(s, args);
        s.waiting = involved;
        ++k.busy;
        k.tasks += involved;
        for (std::uint32_t i = 0; i < shard_count; ++i) {
            if (s.shares[i] != nullptr) {
                submit(s.jobs[i]);
            }
        }
        return true;
    }

    // A multi-shard command runs here, on the connection's driver, with its shards locked.
    // process() holds it back until nothing of its connection is in flight, so it cannot
    // overtake the connection's earlier commands.
    void run_multi_here(Slot& s, const CommandSpec& spec, std::span<const std::string_view> args) {
        struct Of final : ShardsOf {
            Of(const Keyspace& k, const ServerSettings& s) : ks(k), server(s) {}
            Shard& operator()(std::string_view key) override { return ks.shards[ks.shard_of(key)]->shard; }
            std::size_t count() override { return ks.shards.size(); }
            Shard& nth(std::size_t i) override { return ks.shards[i]->shard; }
            const ServerSettings& settings() override { return server; }
            const Keyspace& ks;
            const ServerSettings& server;
        } of(*keyspace_, settings_.server);
        multi_keys(spec, args, s.owner);
        multi_shards(spec, args, s.owner, static_cast<std::uint32_t>(keyspace_->shards.size()), locked_);
        for (std::uint32_t i : locked_) {
            keyspace_->shards[i]->lock.lock();
            keyspace_->shards[i]->shard.select(s.db);
        }
        run_multi(of, spec, args, s.owner, s.now_ms, s.reply);
        keyspace_->blocking->note_command(noted_, spec, args, s.owner, s.db);
        for (auto it = locked_.rbegin(); it != locked_.rend(); ++it) {
            keyspace_->shards[*it]->lock.unlock();
        }
        s.ready = true;
        serve_blocked(s.now_ms);
    }

    // ---- Blocking commands (blocking.hpp) ----

    // Drivers whose mailbox of served waiters must be posted; those the runtime refused wait
    // in unposted_ for the retry timer.
    void post_wakes(std::vector<std::uint32_t>& drivers) {
        for (std::uint32_t d : drivers) {
            if (host_.post(d, &BlockRegistry::deliver, &keyspace_->blocking->box(d)) != GATIO_OK) {
                unposted_.push_back(d);
                arm_retry_timer();
            }
        }
        drivers.clear();
    }

    // Serves the requests blocked on the keys this thread's command wrote.
    void serve_blocked(std::int64_t now_ms) {
        if (!noted_.empty()) {
            keyspace_->blocking->serve_ready(noted_, now_ms, wakes_);
            post_wakes(wakes_);
        }
    }

    // A blocking command runs at once when a key has data; else its slot waits, unanswered,
    // and the connection reads nothing more until it is served, times out or closes.
    void block_here(Conn& k, Slot& s, const CommandSpec& spec, std::span<const std::string_view> args) {
        copy_args(s, args);
        if (!s.waiter) {
            s.waiter = std::make_unique<Waiter>();
        }
        Waiter& w = *s.waiter;
        w.spec = &spec;
        w.args = s.args;
        w.db = s.db;
        w.driver = driver_;
        w.wake = &on_served;
        w.user = &s;
        if (keyspace_->blocking->block(w, s.now_ms, s.reply, noted_) == Attempt::answered) {
            s.ready = true;
            serve_blocked(s.now_ms);
            return;
        }
        k.blocked = &s;
        ++k.tasks; // released only once the wait is over
        if (w.deadline_ms != 0) {
            arm_block_timer(s);
        }
    }

    void arm_block_timer(Slot& s) {
        const std::int64_t left = std::max<std::int64_t>(s.waiter->deadline_ms - wall_ms(), 0);
        const auto delay = std::chrono::milliseconds(
            std::min<std::int64_t>(left, static_cast<std::int64_t>(GATIO_TIMER_MAX_DELAY_MS)));
        s.block_timer = host_.start_timer(delay, &on_block_timer, &s);
        if (s.block_timer == 0) {
            host_.warn("resp: connection " + std::to_string(s.conn->id) +
                       ": no timer slot for a blocking command's timeout; it waits until served");
        }
    }

    static void on_block_timer(gatio_host*, void* arg) {
        Slot& s = *static_cast<Slot*>(arg);
        s.block_timer = 0;
        Resp& self = *s.conn->inst;
        if (wall_ms() < s.waiter->deadline_ms) {
            self.arm_block_timer(s); // longer than one timer reaches
            return;
        }
        if (self.keyspace_->blocking->cancel(*s.waiter)) {
            s.reply.append("*-1\r\n"); // redis-server's answer to every timed-out blocking command
            self.end_block(s);
        }
    }

    static void on_served(Waiter& w) {
        Slot& s = *static_cast<Slot*>(w.user);
        Resp& self = *s.conn->inst;
        self.keyspace_->blocking->unlist(w);
        s.reply.swap(w.reply);
        self.end_block(s);
    }

    // The wait is over with its reply in the slot.
    void end_block(Slot& s) {
        Conn& k = *s.conn;
        if (s.block_timer != 0) {
            host_.cancel_timer(s.block_timer);
            s.block_timer = 0;
        }
        s.waiter->state.store(Waiter::idle, std::memory_order_relaxed);
        s.ready = true;
        k.blocked = nullptr;
        --k.tasks;
        if (k.open) {
            advance(k);
        } else if (k.tasks == 0) {
            release(k);
        }
    }

    // The connection goes while it waits: true when the wait was cancelled (no reply will
    // come), false when it was served and its reply is on the way.
    bool drop_block(Conn& k) {
        Slot& s = *k.blocked;
        if (!keyspace_->blocking->cancel(*s.waiter)) {
            return false;
        }
        if (s.block_timer != 0) {
            host_.cancel_timer(s.block_timer);
            s.block_timer = 0;
        }
        s.waiter->state.store(Waiter::idle, std::memory_order_relaxed);
        k.blocked = nullptr;
        --k.tasks;
        return true;
    }

    void start(Conn& k, Slot& s, Job* job, std::uint32_t count) {
        s.waiting = count;
        ++k.busy;
        k.tasks += count;
        submit(*job);
    }

    static void copy_args(Slot& s, std::span<const std::string_view> args) {
        std::size_t total = 0;
        for (auto a : args) {
            total += a.size();
        }
        s.bytes.clear();
        s.bytes.reserve(total);
        for (auto a : args) {
            s.bytes.append(a);
        }
        s.args.resize(args.size());
        std::size_t at = 0;
        for (std::size_t i = 0; i < args.size(); ++i) {
            s.args[i] = std::string_view(s.bytes).substr(at, args[i].size());
            at += args[i].size();
        }
    }

    void pop_head(Conn& k) {
        Slot* s = std::exchange(k.head, k.head->next);
        if (k.head == nullptr) {
            k.tail = nullptr;
        }
        --k.used;
        k.head_sent = 0;
        // A command that ran counts once its reply is out, as failed when it is an error
        // (INFO commandstats), so that an INFO's reply does not count that INFO.
        if (s->stat != no_stat) {
            keyspace_->counters->called(driver_, s->stat, s->ticks);
            if (!s->reply.empty() && s->reply[0] == '-') {
                keyspace_->counters->failed(driver_, s->stat);
            }
        }
        put_slot(s);
    }

    // Output refused or over budget: try again shortly (the peer is reading, or the idle
    // timeout will end the connection).
    void wait_for_output(Conn& k) {
        if (k.drain_timer != 0) {
            return;
        }
        k.drain_timer = host_.start_timer(output_retry, &on_drain_timer, &k);
        if (k.drain_timer == 0) {
            host_.warn("resp: connection " + std::to_string(k.id) +
                       ": no timer slot to wait for output room; resetting the connection");
            host_.services().close(host_.handle(), k.id, GATIO_CLOSE_ABORT);
            k.closing = true;
        }
    }

    static void on_drain_timer(gatio_host*, void* arg) {
        Conn& k = *static_cast<Conn*>(arg);
        k.drain_timer = 0;
        if (k.open) {
            k.inst->advance(k);
        }
    }

    // Writes the replies that are final, in request order, up to the first that is not. Small
    // replies go out together; a large one goes in pieces, each only while the connection's
    // unsent output is under budget, so one reply never needs more output memory than that.
    void flush(Conn& k) {
        constexpr std::size_t batch = 64;
        std::array<iovec, batch> iov{};
        const auto& svc = host_.services();
        while (k.head != nullptr && k.head->ready && k.drain_timer == 0) {
            Slot& head = *k.head;
            if (head.reply.size() > large_reply) {
                if (svc.pending_output(host_.handle(), k.id) >= output_budget) {
                    wait_for_output(k);
                    return;
                }
                std::size_t n = std::min(reply_piece, head.reply.size() - k.head_sent);
                int rc = svc.send(host_.handle(), k.id, head.reply.data() + k.head_sent, n);
                if (rc == GATIO_ERR_LIMIT) {
                    wait_for_output(k);
                    return;
                }
                k.head_sent += n;
                if (k.head_sent < head.reply.size()) {
                    continue;
                }
                bool close = head.close_after;
                pop_head(k);
                if (close) {
                    k.eof = false;
                    svc.close(host_.handle(), k.id, GATIO_CLOSE_FLUSH);
                    return;
                }
                continue;
            }
            std::size_t n = 0;
            bool close = false;
            for (Slot* at = k.head; at != nullptr && n < batch; at = at->next) {
                Slot& s = *at;
                if (!s.ready || s.reply.size() > large_reply) {
                    break;
                }
                iov[n++] = iovec{s.reply.data(), s.reply.size()};
                if (s.close_after) {
                    close = true;
                    break;
                }
            }
            // Nothing was queued when the driver's output memory is exhausted.
            if (svc.sendv(host_.handle(), k.id, iov.data(), n) == GATIO_ERR_LIMIT) {
                wait_for_output(k);
                return;
            }
            for (std::size_t i = 0; i < n; ++i) {
                pop_head(k);
            }
            if (close) {
                k.eof = false;
                svc.close(host_.handle(), k.id, GATIO_CLOSE_FLUSH);
                return;
            }
        }
    }

    // The keyspace as transactions see it: each shard with its lock.
    struct TxShards final : TxKeyspace {
        TxShards(Keyspace*& k, Noted& n) : ks(k), noted(n) {}
        std::uint32_t count() const override { return static_cast<std::uint32_t>(ks->shards.size()); }
        std::uint32_t shard_of(std::string_view key) const override { return ks->shard_of(key); }
        Shard& shard(std::uint32_t i) override { return ks->shards[i]->shard; }
        const ServerSettings& settings(std::uint32_t i) const override { return ks->shards[i]->settings; }
        void lock(std::uint32_t i) override { ks->shards[i]->lock.lock(); }
        void unlock(std::uint32_t i) override { ks->shards[i]->lock.unlock(); }
        void ran(const CommandSpec& spec, std::span<const std::string_view> args,
                 std::span<const std::uint32_t> keys, std::uint32_t db) override {
            ks->blocking->note_command(noted, spec, args, keys, db);
        }
        Keyspace*& ks;
        Noted& noted; // the instance's: EXEC runs on the connection's driver
    };

    gatio::Host host_;
    std::uint32_t driver_;
    PluginSettings settings_;
    Keyspace* keyspace_ = nullptr;                    // kept by gatiod for the listener name
    Noted noted_;                                     // what this driver's commands wrote
    mutable TxShards tx_keyspace_{keyspace_, noted_}; // CLIENT LIST's view() locks shards too
    std::vector<ShardConfig> configs_;                // the tasks' arguments of configure_shards, by shard
    std::uint64_t seen_generation_ = 0;               // the RuntimeSettings generation adopted
    ParserLimits parser_limits_;
    std::int64_t local_shard_ = -1;
    std::uint64_t partial_bytes_ = 0; // charged by every connection's unfinished input
    Conn* free_ = nullptr;
    Slot* free_slots_ = nullptr; // the pool
    std::size_t pooled_ = 0;
    std::int64_t now_ms_ = 0;           // the wall clock of the receive being handled
    std::vector<std::uint32_t> locked_; // the shards a multi-shard command holds
    // The addresses of the last view().
    mutable std::array<char, INET6_ADDRSTRLEN + 12> addr_text_{};
    mutable std::array<char, INET6_ADDRSTRLEN + 12> laddr_text_{};

    std::vector<std::uint32_t> wakes_;    // drivers to post served waiters to
    std::vector<std::uint32_t> unposted_; // those a post was refused for, retried
    Job* queue_head_ = nullptr;
    Job* queue_tail_ = nullptr;
    std::vector<std::unique_ptr<Conn>> conns_; // every connection state this instance made
    gatio_timer sweep_timer_ = 0;
    gatio_timer retry_timer_ = 0;
    std::unique_ptr<PubSubLocal> pubsub_; // this driver's subscriptions; goes first
};

void run_job(void* arg) {
    Job& j = *static_cast<Job*>(arg);
    Slot& s = *j.slot;
    BlockRegistry& blocking = *j.state->blocking;
    const std::uint64_t start = tick_clock::now();
    {
        std::lock_guard hold(j.state->lock);
        j.state->shard.select(s.db);
        if (s.spec->route == Route::one_key) {
            // The settings are immutable; the slot's arguments stay put until done.
            run_one_key(j.state->shard, *s.spec, s.args, j.state->settings, s.now_ms, s.reply);
            blocking.note_command(j.state->noted, *s.spec, s.args, {}, s.db);
        } else {
            run_part(j.state->shard, *s.spec, s.args, j.keys, s.now_ms, j.share);
        }
    }
    // Requests blocked on the key are served here, on the shard's driver; their drivers are
    // posted from done, which has a host.
    if (!j.state->noted.empty()) {
        blocking.serve_ready(j.state->noted, s.now_ms, j.wakes);
    }
    j.ticks = tick_clock::now() - start;
}

void job_done(gatio_host*, void* arg) {
    Job& j = *static_cast<Job*>(arg);
    j.slot->conn->inst->job_finished(j);
}

void run_sweep(void* arg) {
    auto& j = *static_cast<SweepJob*>(arg);
    ShardState& st = *j.state;
    std::int64_t now = wall_ms();
    std::lock_guard hold(st.lock);
    // Every instance asks every shard; the shard sweeps at most about once per interval.
    if (now - st.last_sweep_ms < j.interval_ms / 2) {
        return;
    }
    st.last_sweep_ms = now;
    std::size_t examined = 0;
    while (examined < j.budget) {
        std::size_t round = std::min<std::size_t>(sweep_round, j.budget - examined);
        std::size_t deleted = st.shard.sweep(now, round);
        examined += round;
        if (deleted * 4 <= round) {
            break;
        }
    }
}

void sweep_done(gatio_host*, void* arg) {
    auto& j = *static_cast<SweepJob*>(arg);
    j.in_flight = false;
}

} // namespace
} // namespace gatio::resp

GATIO_EXPORT_PLUGIN(gatio::resp::Resp, "resp", "1.0", GATIO_TRANSPORT_TCP)
