#include "net/driver_net.hpp"

#include <algorithm>
#include <cassert>
#include <fmt/format.h>
#include <stdexcept>
#include <unistd.h>

#include "net/descriptor_limit.hpp"
#include "net/tcp.hpp"
#include "net/udp.hpp"

namespace gatio::net {

namespace {

FileService::Limits file_limits(const NetOptions& o) {
    return {o.open_files, o.file_operations, o.lent_buffers, o.lent_buffer_size, o.receive_holds};
}

std::uint32_t chunks_for(std::size_t bytes, std::uint32_t chunk_size) {
    return static_cast<std::uint32_t>((bytes + chunk_size - 1) / chunk_size);
}

// The output budget's floor: what unbounded receives still in flight when it becomes tight can
// bring, at most every provided buffer's data, each buffer starting a part-filled chunk.
std::uint32_t floor_chunks(const NetOptions& o, const config::RingSettings& ring) {
    return chunks_for(static_cast<std::size_t>(ring.buffer_count) * ring.buffer_size, o.output_chunk_size) +
           ring.buffer_count;
}

std::uint32_t tcp_slots(const std::vector<const config::ListenerConfig*>& listeners) {
    std::uint64_t n = 0;
    for (const auto* l : listeners) {
        if (l->transport == config::Transport::tcp) {
            n += std::uint64_t{l->max_connections} + l->max_outbound;
        }
    }
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX - 2));
}

} // namespace

// The loader bounds max_unconsumed and the configuration bounds buffer_size, which makes the
// sum safe in 32 bits for every handler that can be loaded.
static_assert(std::uint64_t{GATIO_MAX_UNCONSUMED_LIMIT} + config::max_buffer_size <= UINT32_MAX,
              "a carry buffer's size must fit in 32 bits");

std::uint32_t carry_bytes(const gatio_plugin& plugin, const config::RingSettings& ring) {
    return plugin.max_unconsumed + ring.buffer_size;
}

DriverNet::DriverNet(const NetOptions& options, std::vector<std::unique_ptr<DriverListener>> listeners,
                     std::shared_ptr<DriverNetShared> shared)
    : options_(options), listeners_(std::move(listeners)), shared_(std::move(shared)) {
    for (auto& l : listeners_) {
        if (l->config.transport == config::Transport::tcp) {
            endpoints_.push_back(std::make_unique<TcpEndpoint>(*this, *l));
        } else {
            endpoints_.push_back(std::make_unique<UdpEndpoint>(*this, *l));
        }
    }
}

void StartAcks::arrived() {
    std::lock_guard lock(mutex_);
    assert(pending_ > 0);
    if (--pending_ == 0) {
        all_.notify_all();
    }
}

bool StartAcks::wait_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return all_.wait_until(lock, deadline, [this] { return pending_ == 0; });
}

std::unique_ptr<DriverNet> DriverNet::while_running(const NetOptions& options,
                                                    std::vector<std::unique_ptr<DriverListener>> listeners,
                                                    std::shared_ptr<DriverNetShared> shared, int driver,
                                                    bool direct, std::shared_ptr<StartAcks> acks) {
    assert(acks != nullptr && driver >= 0);
    auto net = std::make_unique<DriverNet>(options, std::move(listeners), std::move(shared));
    net->while_running_ = true;
    net->allow_direct_ = direct;
    net->driver_index_ = driver;
    net->acks_ = std::move(acks);
    return net;
}

DriverNet::~DriverNet() {
    if (acks_) {
        // Never started (its driver was draining, or it never reached it): the reload hears so.
        for (auto& l : listeners_) {
            l->shared->report_start(driver_index_,
                                    "its driver never started it (stopping, or its queue stayed full)");
        }
        acks_->arrived();
    }
}

core::Arena& DriverNet::memory() {
    return memory_ ? *memory_ : driver_->arena();
}

std::size_t DriverNet::arena_bytes(const NetOptions& o, const config::RingSettings& ring,
                                   const std::vector<ServedListener>& listeners) {
    std::vector<const config::ListenerConfig*> configs;
    for (const auto& s : listeners) {
        configs.push_back(s.first);
    }
    std::size_t bytes = FileService::memory_for(file_limits(o)) + ReceiveHolds::memory_for(ring.buffer_count);
    std::uint32_t slots = tcp_slots(configs);
    if (slots > 0) {
        // The connection slab's objects and free list, the generation of each slot, and the
        // request arguments' slab.
        bytes += static_cast<std::size_t>(slots) * (sizeof(Connection) + 2 * sizeof(std::uint32_t) +
                                                    sizeof(RequestArgs) + sizeof(std::uint32_t)) +
                 core::alignment_slack(5);
        std::uint32_t chunks = chunks_for(o.output_memory, o.output_chunk_size) + floor_chunks(o, ring);
        bytes += ChunkPool::memory_for(chunks, o.output_chunk_size);
    }
    for (const auto* l : configs) {
        if (l->transport == config::Transport::udp) {
            bytes += UdpEndpoint::arena_bytes(o.udp_reply_slots, ring.buffer_size);
        }
    }
    for (const auto& [l, plugin] : listeners) {
        if (l->transport == config::Transport::tcp && plugin->descriptor().max_unconsumed > 0) {
            bytes += ChunkPool::memory_for(std::min(l->max_connections, o.carry_buffers),
                                           carry_bytes(plugin->descriptor(), ring));
        }
    }
    return bytes;
}

void DriverNet::prepare(core::Driver& d) {
    assert(while_running_ && !memory_ && d.index() == driver_index_);
    std::vector<ServedListener> served;
    for (const auto& l : listeners_) {
        served.emplace_back(&l->config, l->shared->plugin);
    }
    const config::RingSettings& ring = d.ring_settings();
    // The TPC arena is sealed once the drivers run: this module brings its own, placed like the
    // TPC's, with room for its own buffer ring.
    const std::size_t ring_bytes = core::BufferRing::memory_for(ring.buffer_count, ring.buffer_size) +
                                   static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    memory_ = std::make_unique<core::Arena>(fmt::format("net {}", d.name()),
                                            arena_bytes(options_, ring, served) + ring_bytes,
                                            d.tpc().numa_node(), d.tpc().memory());
    carve(d);
}

// Everything the module and its endpoints take from memory(), before any endpoint starts.
void DriverNet::carve(core::Driver& d) {
    direct_ = d.features().direct_descriptors && allow_direct_;
    multishot_ = d.features().multishot_recv;
    recv_bundle_ = d.features().recv_bundle;
    single_send_ = d.features().single_send;
    std::vector<const config::ListenerConfig*> configs;
    for (const auto& l : listeners_) {
        configs.push_back(&l->config);
    }
    const config::RingSettings& ring = d.ring_settings();
    for (auto& e : endpoints_) {
        e->carve(d);
    }
    files_ = std::make_unique<FileService>(memory(), file_limits(options_));
    holds_ = std::make_unique<ReceiveHolds>(
        memory(), ring.buffer_count,
        ReceiveHolds::Limits{options_.receive_holds, options_.receive_holds_per_connection});
    capacity_ = tcp_slots(configs);
    if (capacity_ == 0) {
        return;
    }
    slab_ = std::make_unique<core::Slab<Connection>>(memory(), capacity_);
    generations_ = memory().allocate_array<std::uint32_t>(capacity_);
    args_ = std::make_unique<core::Slab<RequestArgs>>(memory(), capacity_);
    std::uint32_t floor = floor_chunks(options_, ring);
    std::uint32_t chunks = chunks_for(options_.output_memory, options_.output_chunk_size) + floor;
    chunks_ = std::make_unique<ChunkPool>(memory(), chunks, options_.output_chunk_size);
    // Reserves take at most half of output_memory, so that growth always has the other half.
    std::uint64_t reserves = 0;
    for (const auto& l : listeners_) {
        if (l->config.transport == config::Transport::tcp) {
            reserves += (static_cast<std::uint64_t>(l->config.max_connections) + l->config.max_outbound) *
                        chunks_for(l->config.send_buffer_reserve, options_.output_chunk_size);
        }
    }
    const std::uint32_t shared_min = chunks_for(options_.output_memory, options_.output_chunk_size) / 2;
    budget_ = std::make_unique<OutputBudget>(
        chunks, floor,
        static_cast<std::uint32_t>(std::min<std::uint64_t>(reserves, chunks - floor - shared_min)));
    // One entry per connection, plus stale ones of connections gone since they were queued.
    for (auto* list : {&flush_list_, &rearm_list_, &scratch_}) {
        list->reserve(2 * static_cast<std::size_t>(capacity_));
    }
}

void DriverNet::set_up(core::Driver& d) {
    const config::RingSettings& ring = d.ring_settings();
    // A datagram's header must start aligned in its buffer, which incremental consumption cannot
    // promise: a module serving UDP keeps whole buffers.
    incremental_ = d.features().pbuf_incremental &&
                   std::none_of(listeners_.begin(), listeners_.end(),
                                [](const auto& l) { return l->config.transport == config::Transport::udp; });
    if (while_running_) {
        assert(memory_ != nullptr); // prepared off this thread
        // Its own buffer group, next to those already registered.
        group_ = 1;
        while (d.buffer_ring(group_) != nullptr) {
            if (group_ == UINT16_MAX) {
                throw std::runtime_error(fmt::format("driver {}: every buffer group is in use", d.name()));
            }
            ++group_;
        }
        buffers_ = &d.add_buffer_ring(group_, ring.buffer_count, ring.buffer_size, *memory_, incremental_);
    } else {
        buffers_ = &d.add_buffer_ring(group_, incremental_);
        carve(d);
    }
    holds_->start(*buffers_, files_->lent());
    if (direct_) {
        for (const auto& l : listeners_) {
            claim_direct(l->config, d.features().file_slots);
        }
    }
}

void DriverNet::claim_direct(const config::ListenerConfig& l, std::uint64_t table) {
    const std::uint64_t want = direct_claim(l, table);
    if (want == 0) {
        return;
    }
    std::uint64_t& claim = shared_->direct_by_name[l.name];
    if (want > claim) {
        shared_->direct_claimed.fetch_add(want - claim, std::memory_order_relaxed);
        claim = want;
    }
}

void DriverNet::unclaim_direct(const std::string& name) {
    for (const DriverNet* m : shared_->members) {
        for (const auto& l : m->listeners_) {
            if (l->config.name == name) {
                return; // another generation of it still serves here
            }
        }
    }
    auto it = shared_->direct_by_name.find(name);
    if (it != shared_->direct_by_name.end()) {
        shared_->direct_claimed.fetch_sub(it->second, std::memory_order_relaxed);
        shared_->direct_by_name.erase(it);
    }
}

void DriverNet::start(core::Driver& d) {
    driver_ = &d;
    if (!while_running_) {
        set_up(d);
        shared_->members.push_back(this);
        files_->start(d, shared_->fixed_buffers, options_.zerocopy_send);
        shared_->file_services.push_back(files_.get());
        for (auto& e : endpoints_) {
            e->start(d);
        }
        publish();
        return;
    }
    shared_->members.push_back(this);
    files_->start(d, shared_->fixed_buffers, options_.zerocopy_send);
    shared_->file_services.push_back(files_.get());
    try {
        set_up(d);
    } catch (const std::exception& e) {
        // Nothing is armed yet: every listener of this module fails on this driver, and the
        // reload retires them.
        for (auto& l : listeners_) {
            l->shared->report_start(d.index(), e.what());
        }
        report_started();
        return;
    }
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        try {
            endpoints_[i]->start(d);
            listeners_[i]->shared->report_start(d.index(), {});
        } catch (const std::exception& e) {
            listeners_[i]->shared->report_start(d.index(), e.what());
        }
    }
    // Like the TPC arenas once the drivers run: a later allocation is a bug, caught at once.
    memory_->seal();
    publish();
    report_started();
}

void DriverNet::report_started() {
    assert(acks_ != nullptr);
    std::shared_ptr<StartAcks> acks = std::move(acks_);
    acks->arrived();
}

void DriverNet::retire(ListenerShared& generation) {
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        if (listeners_[i]->shared.get() == &generation && !endpoints_[i]->retiring()) {
            endpoints_[i]->retire();
            ++retiring_;
        }
    }
    flush();
}

void DriverNet::look_again(std::uint64_t socket) {
    for (DriverNet* m : shared_->members) {
        for (auto& e : m->endpoints_) {
            e->look_again(socket);
        }
    }
}

void DriverNet::release_retired() {
    for (std::size_t i = endpoints_.size(); i-- > 0;) {
        Endpoint& e = *endpoints_[i];
        if (!e.retiring() || !e.drained() || e.tasks_pending() > 0) {
            continue;
        }
        // Its files go before the instance does: pending operations are cancelled, and their
        // completions (-ECANCELED) reach the instance while it still exists.
        if (!files_->teardown(e)) {
            continue;
        }
        // Its last connection is gone and no task of it is out: the instance goes now.
        e.Endpoint::stop();
        if (e.callbacks_pending()) {
            continue; // timers of the gone instance, which run nothing, have yet to expire
        }
        ListenerShared* generation = listeners_[i]->shared.get();
        const std::string name = listeners_[i]->config.name;
        endpoints_.erase(endpoints_.begin() + static_cast<std::ptrdiff_t>(i));
        listeners_.erase(listeners_.begin() + static_cast<std::ptrdiff_t>(i));
        unclaim_direct(name);
        --retiring_;
        // Whoever retired it holds a reference until it sees the count reach 0.
        generation->holders.fetch_sub(1, std::memory_order_release);
    }
    // Zero-copy sends still in the kernel complete into the lent pool, which leaves with us.
    if (while_running_ && endpoints_.empty() && files_->lent().in_kernel() == 0) {
        leave();
    }
}

void DriverNet::leave() {
    leaving_ = true;
    if (files_) {
        files_->release_fixed();
    }
    if (buffers_ != nullptr) {
        try {
            driver_->remove_buffer_ring(group_);
        } catch (const std::exception& e) {
            // The kernel still holds the ring: its memory stays mapped until gatiod exits.
            driver_->log().error("{}; its memory is kept until gatiod exits", e.what());
            [[maybe_unused]] core::Arena* kept = memory_.release();
        }
        buffers_ = nullptr;
    }
    driver_->detach(*this);
}

bool DriverNet::poll(core::Driver&) {
    if (!rearm_list_.empty()) {
        for (const Ref& r : take(rearm_list_, scratch_)) {
            if (Connection* c = find(r.slot, r.generation)) {
                c->set_queued(Connection::queued_rearm, false);
                c->endpoint.rearm_one(*c);
            }
        }
    }
    for (auto& e : endpoints_) {
        e->poll();
    }
    if (budget_ && budget_->relax()) {
        ++stats().output_relaxed;
    }
    flush();
    if ((retiring_ > 0 || (while_running_ && endpoints_.empty())) && !leaving_) {
        release_retired();
    }
    publish();
    return false;
}

void DriverNet::publish() {
    NetCounters& c = shared_->counters;
    c.output_memory = 0;
    c.buffers = 0;
    c.buffers_held = 0;
    c.lent_out = 0;
    c.lent_registered = 0;
    for (const DriverNet* m : shared_->members) {
        if (m->files_) {
            c.lent_out += m->files_->lent().count() - m->files_->lent().available();
            c.lent_registered += m->files_->lent().registered();
        }
        if (m->holds_) {
            c.buffers_held += m->holds_->buffers_held();
        }
        if (m->chunks_) {
            c.output_memory += static_cast<std::uint64_t>(m->chunks_->count() - m->chunks_->available()) *
                               m->chunks_->chunk_size();
        }
        if (m->buffers_ != nullptr) {
            c.buffers += m->buffers_->count();
        }
    }
    if (driver_->now_ns() >= shared_->next_buffer_sample_ns) {
        // A system call per ring: sampled, not read every turn.
        shared_->next_buffer_sample_ns =
            driver_->now_ns() + std::chrono::nanoseconds(options_.buffer_sample_interval).count();
        std::uint64_t used = 0;
        for (const DriverNet* m : shared_->members) {
            if (m->buffers_ != nullptr) {
                int free = m->buffers_->available(driver_->ring());
                used += free >= 0 ? m->buffers_->provided() - static_cast<std::uint32_t>(free) : 0;
            }
        }
        c.buffers_used = used;
    }
    shared_->published.publish(c);
    for (const auto& l : listeners_) {
        l->stats->publish();
    }
}

std::vector<DriverNet::Ref>& DriverNet::take(std::vector<Ref>& list, std::vector<Ref>& scratch) {
    // Handlers may queue more while the taken entries are processed; those wait for the next pass.
    scratch.clear();
    scratch.swap(list);
    return scratch;
}

void DriverNet::tighten() {
    ++stats().output_tight;
    for (std::uint32_t i = 0; i < connection_slots(); ++i) {
        Connection* c = at_slot(i);
        if (c != nullptr && c->read == Connection::Read::armed) {
            c->endpoint.bound_reads(*c);
        }
    }
}

void DriverNet::flush() {
    while (!flush_list_.empty()) {
        for (const Ref& r : take(flush_list_, scratch_)) {
            if (Connection* c = find(r.slot, r.generation)) {
                c->set_queued(Connection::queued_flush, false);
                c->endpoint.flush_one(*c);
            }
        }
    }
}

void DriverNet::drain(core::Driver&) {
    for (auto& e : endpoints_) {
        e->drain();
    }
    flush();
}

bool DriverNet::drained(core::Driver&) {
    publish();
    return std::all_of(endpoints_.begin(), endpoints_.end(), [](const auto& e) { return e->drained(); });
}

void DriverNet::stop(core::Driver& d) {
    auto& services = shared_->file_services;
    if (!leaving_ && files_) {
        // The first module to stop reaps the files of all: their completions share the ring.
        files_->stop_all(services.data(), services.size());
    }
    services.erase(std::remove(services.begin(), services.end(), files_.get()), services.end());
    for (auto& e : endpoints_) {
        e->stop();
    }
    publish();
    auto& members = shared_->members;
    members.erase(std::remove(members.begin(), members.end(), this), members.end());
    if (leaving_ || !members.empty()) {
        return; // the driver's counters are told once, by the last module to stop
    }
    const NetCounters& c = shared_->counters;
    std::string summary;
    for (const auto& f : net_counter_fields) {
        if (c.*f.member != 0) {
            summary += fmt::format(" {}={}", f.name, c.*f.member);
        }
    }
    d.log().info("driver {}: network counters:{}", d.name(), summary.empty() ? " none" : summary);
}

Connection* DriverNet::create_connection(TcpEndpoint& endpoint, int fd, bool fixed) {
    Connection* c = slab_ ? slab_->create(endpoint, 0u, 0u, fd, fixed) : nullptr;
    if (c == nullptr) {
        return nullptr; // every slot is in use
    }
    c->slot = slab_->index_of(c);
    c->generation = ++generations_[c->slot];
    return c;
}

void DriverNet::destroy_connection(Connection& c) {
    release_args(c); // a connect that was never submitted
    // The generation stays as the connection had it; the next one in the slot gets the next.
    slab_->destroy(&c);
}

RequestArgs& DriverNet::hold_args(Connection& c) {
    assert(c.args == Connection::no_args);
    RequestArgs* a = args_->create();
    assert(a != nullptr); // one per connection slot
    c.args = args_->index_of(a);
    return *a;
}

RequestArgs& DriverNet::args_of(Connection& c) {
    return *args_->at(c.args);
}

void DriverNet::release_args(Connection& c) {
    if (c.args != Connection::no_args) {
        args_->destroy(args_->at(std::exchange(c.args, Connection::no_args)));
    }
}

Connection* DriverNet::find(std::uint32_t slot, std::uint32_t generation) {
    if (slot >= capacity_ || !slab_->in_use(slot)) {
        return nullptr;
    }
    Connection* c = slab_->at(slot);
    return c->generation == generation ? c : nullptr;
}

Connection* DriverNet::at_slot(std::uint32_t slot) {
    return slot < capacity_ && slab_->in_use(slot) ? slab_->at(slot) : nullptr;
}

void DriverNet::queue_flush(Connection& c) {
    if (!c.queued(Connection::queued_flush)) {
        c.set_queued(Connection::queued_flush, true);
        flush_list_.push_back({c.slot, c.generation});
    }
}

void DriverNet::queue_rearm(Connection& c) {
    if (!c.queued(Connection::queued_rearm)) {
        c.set_queued(Connection::queued_rearm, true);
        rearm_list_.push_back({c.slot, c.generation});
    }
}

} // namespace gatio::net
