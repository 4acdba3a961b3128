#include "pubsub.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <ctime>

#include "reply.hpp"
#include "text.hpp"

namespace gatio::resp {

namespace {

// How soon shares refused for lack of a task slot are offered again when no completion of
// ours comes first (as resp.cpp's spawn_retry).
constexpr std::chrono::milliseconds share_retry{1};
// A delivery frame that grew past this for one large message is released afterwards.
constexpr std::size_t frame_retain = 64u << 10;

// Commands whose name in the subscribed-context error carries their subcommand
// ("config|get"), as redis-server names a container command's subcommand.
constexpr std::array containers{
    std::string_view{"config"},  std::string_view{"command"},  std::string_view{"pubsub"},
    std::string_view{"client"},  std::string_view{"object"},   std::string_view{"memory"},
    std::string_view{"script"},  std::string_view{"function"}, std::string_view{"acl"},
    std::string_view{"latency"}, std::string_view{"slowlog"},  std::string_view{"xinfo"}};

std::int64_t wall_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// The confirmation of one (un)subscription: kind, name (or nil) and the connection's count.
void confirm(std::string& out, std::string_view kind, const std::string_view* name, std::size_t count) {
    reply::array(out, 3);
    reply::bulk(out, kind);
    if (name != nullptr) {
        reply::bulk(out, *name);
    } else {
        reply::nil(out);
    }
    reply::integer(out, static_cast<std::int64_t>(count));
}

void sort_unique(std::vector<std::string>& names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
}

void run_share(void* arg) {
    auto& share = *static_cast<PubSubShare*>(arg);
    const PubSubRequest& req = *share.request;
    PubSubBoard& board = req.hub->boards[share.driver];
    for (PubSubLocal* local : board.locals) {
        if (req.op == PubSubOp::publish) {
            share.receivers += local->publish_here(req.args[1], req.args[2], board.frame);
        } else {
            local->share_here(share);
        }
    }
}

void share_back(gatio_host*, void* arg) {
    auto& share = *static_cast<PubSubShare*>(arg);
    share.request->origin->share_done(share);
}

} // namespace

bool answer_subscribed(const CommandSpec& spec, std::span<const std::string_view> args, std::string& out) {
    switch (spec.id) {
    case Cmd::subscribe:
    case Cmd::unsubscribe:
    case Cmd::psubscribe:
    case Cmd::punsubscribe:
    case Cmd::quit:
    case Cmd::reset:
        return false;
    case Cmd::ping:
        reply::array(out, 2);
        reply::bulk(out, "pong");
        reply::bulk(out, args.size() > 1 ? args[1] : std::string_view{});
        return true;
    default:
        break;
    }
    std::string name(spec.name);
    if (args.size() > 1 && std::find(containers.begin(), containers.end(), spec.name) != containers.end()) {
        name += '|';
        for (char c : args[1]) {
            name += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
    }
    reply::error(out,
                 "ERR Can't execute '" + name +
                     "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
                     "context");
    return true;
}

PubSubLocal::PubSubLocal(gatio::Host host, PubSubHub& hub, std::uint32_t driver, PubSubSink& sink)
    : host_(host), hub_(hub), driver_(driver), sink_(sink) {
    hub_.boards[driver_].locals.push_back(this);
    const auto& svc = host_.services();
    if (svc.struct_size >= offsetof(gatio_services, metric_add) + sizeof(void*) &&
        svc.metric_register != nullptr) {
        gatio_metric_args a{sizeof(gatio_metric_args),
                            GATIO_METRIC_GAUGE,
                            "resp_pubsub_subscriptions",
                            "Channel and pattern subscriptions held by the driver's resp connections",
                            nullptr,
                            nullptr,
                            0};
        if (svc.metric_register(host_.handle(), &a, &subscriptions_metric_) != GATIO_OK) {
            subscriptions_metric_ = 0;
        }
        a.type = GATIO_METRIC_COUNTER;
        a.name = "resp_pubsub_slow_subscribers_closed_total";
        a.help =
            "Subscribers closed because a message would take their unsent output over pubsub_output_limit "
            "or the host refused it";
        if (svc.metric_register(host_.handle(), &a, &slow_metric_) != GATIO_OK) {
            slow_metric_ = 0;
        }
    }
}

PubSubLocal::~PubSubLocal() {
    auto& locals = hub_.boards[driver_].locals;
    locals.erase(std::remove(locals.begin(), locals.end(), this), locals.end());
    if (retry_timer_ != 0) {
        host_.cancel_timer(retry_timer_);
    }
}

void PubSubLocal::adjust(std::int64_t delta) {
    if (delta == 0) {
        return;
    }
    hub_.boards[driver_].subscriptions.fetch_add(static_cast<std::uint64_t>(delta),
                                                 std::memory_order_release);
    if (subscriptions_metric_ != 0) {
        host_.services().metric_add(host_.handle(), subscriptions_metric_, delta);
    }
}

PubSubOutcome PubSubLocal::command(Subscriber& sub, const CommandSpec& spec,
                                   std::span<const std::string_view> args, std::uint32_t& db,
                                   std::string& out, PubSubRequest& req) {
    switch (spec.id) {
    case Cmd::subscribe:
        subscribe(sub, args.subspan(1), false, out);
        break;
    case Cmd::psubscribe:
        subscribe(sub, args.subspan(1), true, out);
        break;
    case Cmd::unsubscribe:
        unsubscribe(sub, args.subspan(1), false, out);
        break;
    case Cmd::punsubscribe:
        unsubscribe(sub, args.subspan(1), true, out);
        break;
    case Cmd::reset:
        unsubscribe_all(sub, false, nullptr);
        unsubscribe_all(sub, true, nullptr);
        db = 0;
        reply::simple(out, "RESET");
        break;
    case Cmd::publish:
        return fan_out(PubSubOp::publish, args, out, req);
    case Cmd::pubsub_query: {
        if (!pubsub_subcommand_ok(args, out)) {
            break;
        }
        const std::string_view what = args[1];
        if (equal_nocase(what, "channels")) {
            if (args.size() > 3) {
                subcommand_syntax_error(what, "PUBSUB", out);
                break;
            }
            return fan_out(PubSubOp::channels, args, out, req);
        }
        return fan_out(equal_nocase(what, "numsub") ? PubSubOp::numsub : PubSubOp::numpat, args, out, req);
    }
    default:
        assert(!"not a pub/sub command");
        break;
    }
    return PubSubOutcome::replied;
}

void PubSubLocal::subscribe(Subscriber& sub, std::span<const std::string_view> names, bool pattern,
                            std::string& out) {
    auto& mine = pattern ? sub.patterns : sub.channels;
    Table& table = pattern ? patterns_ : channels_;
    for (std::string_view name : names) {
        if (std::find(mine.begin(), mine.end(), name) == mine.end()) {
            mine.emplace_back(name);
            table[mine.back()].push_back(&sub);
            adjust(1);
        }
        confirm(out, pattern ? "psubscribe" : "subscribe", &name, sub.count());
    }
}

bool PubSubLocal::remove(Subscriber& sub, std::string_view name, bool pattern) {
    auto& mine = pattern ? sub.patterns : sub.channels;
    auto at = std::find(mine.begin(), mine.end(), name);
    if (at == mine.end()) {
        return false;
    }
    Table& table = pattern ? patterns_ : channels_;
    key_.assign(name);
    auto it = table.find(key_);
    assert(it != table.end());
    auto& subs = it->second;
    subs.erase(std::find(subs.begin(), subs.end(), &sub));
    if (subs.empty()) {
        table.erase(it);
    }
    mine.erase(at);
    adjust(-1);
    return true;
}

void PubSubLocal::unsubscribe(Subscriber& sub, std::span<const std::string_view> names, bool pattern,
                              std::string& out) {
    if (names.empty()) {
        unsubscribe_all(sub, pattern, &out);
        return;
    }
    for (std::string_view name : names) {
        remove(sub, name, pattern);
        confirm(out, pattern ? "punsubscribe" : "unsubscribe", &name, sub.count());
    }
}

// Every channel (or pattern) of `sub`, confirmed one by one in subscription order, or a nil
// confirmation when it had none, as redis-server answers.
void PubSubLocal::unsubscribe_all(Subscriber& sub, bool pattern, std::string* out) {
    auto& mine = pattern ? sub.patterns : sub.channels;
    const std::string_view kind = pattern ? "punsubscribe" : "unsubscribe";
    if (mine.empty()) {
        if (out != nullptr) {
            confirm(*out, kind, nullptr, sub.count());
        }
        return;
    }
    while (!mine.empty()) {
        const std::string name = mine.front();
        remove(sub, name, pattern);
        if (out != nullptr) {
            std::string_view n = name;
            confirm(*out, kind, &n, sub.count());
        }
    }
}

void PubSubLocal::drop(Subscriber& sub) {
    if (sub.active()) {
        unsubscribe_all(sub, false, nullptr);
        unsubscribe_all(sub, true, nullptr);
    }
}

void PubSubLocal::count_slow(std::uint64_t client_id, std::size_t unsent, std::size_t limit) {
    if (slow_metric_ != 0) {
        host_.services().metric_add(host_.handle(), slow_metric_, 1);
    }
    // One record a second at most: a burst of slow subscribers must not flood the journal.
    const std::int64_t now = wall_ms();
    if (now - last_slow_log_ms_ < 1000) {
        ++slow_unlogged_;
        return;
    }
    last_slow_log_ms_ = now;
    std::string msg = "resp: closing subscriber id=" + std::to_string(client_id) + ": " +
                      std::to_string(unsent) +
                      " bytes unsent, a message would take it over the pubsub output limit of " +
                      std::to_string(limit) + " bytes or the host refused it";
    if (slow_unlogged_ > 0) {
        msg += " (" + std::to_string(slow_unlogged_) + " more closed since the last record)";
        slow_unlogged_ = 0;
    }
    host_.warn(msg);
}

std::int64_t PubSubLocal::publish_here(std::string_view channel, std::string_view message,
                                       std::string& frame) {
    std::int64_t receivers = 0;
    if (!channels_.empty()) {
        key_.assign(channel);
        auto it = channels_.find(key_);
        if (it != channels_.end()) {
            frame.clear();
            reply::array(frame, 3);
            reply::bulk(frame, "message");
            reply::bulk(frame, channel);
            reply::bulk(frame, message);
            // Closing a subscriber is asynchronous (its on_close removes it), so the list
            // stays as it is while it is walked.
            for (Subscriber* s : it->second) {
                sink_.deliver(*s, frame);
                ++receivers;
            }
        }
    }
    for (auto& [pattern, subs] : patterns_) {
        if (!glob_match(pattern, channel, false)) {
            continue;
        }
        frame.clear();
        reply::array(frame, 4);
        reply::bulk(frame, "pmessage");
        reply::bulk(frame, pattern);
        reply::bulk(frame, channel);
        reply::bulk(frame, message);
        for (Subscriber* s : subs) {
            sink_.deliver(*s, frame);
            ++receivers;
        }
    }
    if (frame.capacity() > frame_retain) {
        std::string().swap(frame);
    }
    return receivers;
}

void PubSubLocal::share_here(PubSubShare& share) {
    const PubSubRequest& req = *share.request;
    switch (req.op) {
    case PubSubOp::channels:
        for (const auto& [name, subs] : channels_) {
            if (req.args.size() < 3 || glob_match(req.args[2], name, false)) {
                share.names.push_back(name);
            }
        }
        break;
    case PubSubOp::numpat:
        for (const auto& [name, subs] : patterns_) {
            share.names.push_back(name);
        }
        break;
    case PubSubOp::numsub:
        for (std::size_t i = 2; i < req.args.size(); ++i) {
            key_.assign(req.args[i]);
            auto it = channels_.find(key_);
            if (it != channels_.end()) {
                share.subs[i - 2] += static_cast<std::int64_t>(it->second.size());
            }
        }
        break;
    case PubSubOp::client_list:
    case PubSubOp::client_kill:
        sink_.clients_here(share);
        break;
    case PubSubOp::publish:
        break;
    }
}

PubSubOutcome PubSubLocal::clients(PubSubOp op, const ClientFilter& filter, std::string& out,
                                   PubSubRequest& req) {
    req.filter = &filter;
    return fan_out(op, {}, out, req);
}

void PubSubLocal::client_opened() {
    hub_.boards[driver_].clients.fetch_add(1, std::memory_order_release);
}

void PubSubLocal::client_closed() {
    hub_.boards[driver_].clients.fetch_sub(1, std::memory_order_release);
}

// The part of this driver runs at once; every other driver holding subscriptions gets a
// task. Drivers without any are skipped: what they would answer is nothing.
PubSubOutcome PubSubLocal::fan_out(PubSubOp op, std::span<const std::string_view> args, std::string& out,
                                   PubSubRequest& req) {
    req.op = op;
    req.hub = &hub_;
    req.origin = this;
    req.args = args;
    req.reply = &out;
    req.waiting = 0;
    if (req.shares.size() != hub_.count) {
        req.shares.resize(hub_.count);
    }
    for (std::uint32_t d = 0; d < hub_.count; ++d) {
        PubSubShare& share = req.shares[d];
        share.request = &req;
        share.driver = d;
        share.receivers = 0;
        share.names.clear();
        share.lines.clear();
        share.killed_self = false;
        share.subs.assign(op == PubSubOp::numsub ? args.size() - 2 : 0, 0);
    }
    run_share(&req.shares[driver_]);
    // CLIENT LIST and KILL ask every driver with connections, the others those with subscriptions.
    const bool clients = op == PubSubOp::client_list || op == PubSubOp::client_kill;
    auto asked = [&](std::uint32_t d) {
        return d != driver_ && (clients ? hub_.boards[d].clients.load(std::memory_order_acquire) > 0
                                        : hub_.boards[d].subscriptions.load(std::memory_order_acquire) > 0);
    };
    for (std::uint32_t d = 0; d < hub_.count; ++d) {
        if (asked(d)) {
            ++req.waiting;
        }
    }
    if (req.waiting == 0) {
        finish(req);
        return PubSubOutcome::replied;
    }
    for (std::uint32_t d = 0; d < hub_.count; ++d) {
        if (asked(d)) {
            submit(req.shares[d]);
        }
    }
    return PubSubOutcome::pending;
}

void PubSubLocal::share_done(PubSubShare& share) {
    PubSubRequest& req = *share.request;
    if (--req.waiting == 0) {
        finish(req);
        req.finished(req.ctx);
    }
    submit_queued();
}

// Every share is in: the reply. Shares of drivers that were skipped are empty.
void PubSubLocal::finish(PubSubRequest& req) {
    std::string& out = *req.reply;
    switch (req.op) {
    case PubSubOp::publish: {
        std::int64_t receivers = 0;
        for (const auto& share : req.shares) {
            receivers += share.receivers;
        }
        reply::integer(out, receivers);
        break;
    }
    case PubSubOp::channels:
    case PubSubOp::numpat: {
        // A name held on several drivers counts once.
        auto& names = req.shares[driver_].names;
        for (std::uint32_t d = 0; d < hub_.count; ++d) {
            if (d != driver_) {
                auto& theirs = req.shares[d].names;
                names.insert(names.end(), std::make_move_iterator(theirs.begin()),
                             std::make_move_iterator(theirs.end()));
            }
        }
        sort_unique(names);
        if (req.op == PubSubOp::numpat) {
            reply::integer(out, static_cast<std::int64_t>(names.size()));
            break;
        }
        reply::array(out, names.size());
        for (const auto& n : names) {
            reply::bulk(out, n);
        }
        break;
    }
    case PubSubOp::numsub:
        reply::array(out, 2 * (req.args.size() - 2));
        for (std::size_t i = 2; i < req.args.size(); ++i) {
            std::int64_t n = 0;
            for (const auto& share : req.shares) {
                n += share.subs[i - 2];
            }
            reply::bulk(out, req.args[i]);
            reply::integer(out, n);
        }
        break;
    case PubSubOp::client_list:
        client_list_reply(req, out);
        break;
    case PubSubOp::client_kill: {
        std::int64_t killed = 0;
        for (const auto& share : req.shares) {
            killed += share.receivers;
        }
        if (!req.filter->old_form) {
            reply::integer(out, killed);
        } else if (killed == 0) {
            reply::error(out, "ERR No such client");
        } else {
            reply::ok(out);
        }
        break;
    }
    }
}

// Clients in id order, as redis-server lists them (in the order they connected); with ID, in
// the order of the ids asked, each as often as asked.
void PubSubLocal::client_list_reply(PubSubRequest& req, std::string& out) {
    auto& all = req.shares[driver_].lines;
    for (std::uint32_t d = 0; d < hub_.count; ++d) {
        if (d != driver_) {
            auto& theirs = req.shares[d].lines;
            all.insert(all.end(), std::make_move_iterator(theirs.begin()),
                       std::make_move_iterator(theirs.end()));
        }
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string text;
    if (req.filter->ids.empty()) {
        for (const auto& l : all) {
            text.append(l.second);
        }
    } else {
        for (std::uint64_t id : req.filter->ids) {
            auto at = std::lower_bound(all.begin(), all.end(), id,
                                       [](const auto& l, std::uint64_t v) { return l.first < v; });
            if (at != all.end() && at->first == id) {
                text.append(at->second);
            }
        }
    }
    reply::bulk(out, text);
}

bool PubSubLocal::try_spawn(PubSubShare& share) {
    gatio_task t{sizeof(gatio_task), GATIO_PLACE_DRIVER, share.driver, GATIO_PRIORITY_LATENCY,
                 &run_share,         &share_back,        &share};
    const int rc = host_.spawn(t);
    if (rc != GATIO_OK && rc != GATIO_ERR_LIMIT) {
        host_.error("resp: spawning a pub/sub task on driver " + std::to_string(share.driver) +
                    " failed with " + std::to_string(rc));
        assert(!"spawn refused a pub/sub task");
    }
    return rc == GATIO_OK;
}

// Shares leave in order, so messages published from one driver reach each other driver in the
// order they were published.
void PubSubLocal::submit(PubSubShare& share) {
    share.next = nullptr;
    if (queue_head_ == nullptr && try_spawn(share)) {
        return;
    }
    (queue_tail_ != nullptr ? queue_tail_->next : queue_head_) = &share;
    queue_tail_ = &share;
    if (retry_timer_ == 0) {
        retry_timer_ = host_.start_timer(share_retry, &on_retry, this);
    }
}

void PubSubLocal::submit_queued() {
    while (queue_head_ != nullptr) {
        if (!try_spawn(*queue_head_)) {
            if (retry_timer_ == 0) {
                retry_timer_ = host_.start_timer(share_retry, &on_retry, this);
            }
            return;
        }
        queue_head_ = queue_head_->next;
        if (queue_head_ == nullptr) {
            queue_tail_ = nullptr;
        }
    }
}

void PubSubLocal::on_retry(gatio_host*, void* arg) {
    auto* self = static_cast<PubSubLocal*>(arg);
    self->retry_timer_ = 0;
    self->submit_queued();
}

} // namespace gatio::resp
