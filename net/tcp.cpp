#include "net/tcp.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utility>

#include "net/driver_net.hpp"

namespace gatio::net {

namespace {

// How long a failed accept waits before it is armed again (EMFILE and the like clear slowly).
constexpr auto accept_retry_delay = std::chrono::milliseconds(10);

// Requests that end this way were cancelled by us or had nothing left to cancel.
bool benign_cancel(int res) {
    return res == 0 || res == -ENOENT || res == -EALREADY;
}

// The bytes of `a` a connect uses: 0 when it is no address gatiod connects to (a family other
// than IPv4, IPv6 and a unix path, or shorter than its family needs).
socklen_t connect_length(const sockaddr* a, socklen_t len) {
    if (len < static_cast<socklen_t>(sizeof(sa_family_t))) {
        return 0;
    }
    switch (a->sa_family) {
    case AF_INET:
        return len >= static_cast<socklen_t>(sizeof(sockaddr_in)) ? sizeof(sockaddr_in) : 0;
    case AF_INET6:
        return len >= static_cast<socklen_t>(sizeof(sockaddr_in6)) ? sizeof(sockaddr_in6) : 0;
    case AF_UNIX: {
        // A path, NUL-terminated within the address; abstract names (a leading NUL) are not files.
        constexpr auto path_at = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path));
        if (len <= path_at + 1 || len > static_cast<socklen_t>(sizeof(sockaddr_un))) {
            return 0;
        }
        const auto* un = reinterpret_cast<const sockaddr_un*>(a);
        const std::size_t room = static_cast<std::size_t>(len - path_at);
        const std::size_t path = ::strnlen(un->sun_path, room);
        return path == 0 || path == room ? 0 : static_cast<socklen_t>(path_at + path + 1);
    }
    default:
        return 0;
    }
}

} // namespace

void Connection::on_completion(const io_uring_cqe& cqe, unsigned tag) {
    endpoint.on_connection(*this, cqe, tag);
}

void Connection::assert_invariants() const {
    // One send at a time, and only of bytes still queued.
    assert((send == Send::in_flight) == (in_flight > 0));
    assert(in_flight <= out.pending());
    // Left-over input exists only while open, and always in a carry buffer.
    assert(carry_len == 0 || carry != ChunkPool::none);
    assert(phase == Phase::open || (carry == ChunkPool::none && carry_len == 0));
    // Output is flushed before our FIN, and dropped once closing unless a send still holds it.
    assert(phase != Phase::shutting || (send == Send::idle && out.pending() == 0));
    assert(phase < Phase::closing || send == Send::in_flight || out.pending() == 0);
    // Closing only ever waits for requests: it never arms a receive.
    assert(phase < Phase::closing || (read != Read::armed && read != Read::bounded));
    // The close goes out only once nothing else can complete into the slot.
    assert(phase < Phase::close_sent || (!reading() && send == Send::idle && side_ops == 0));
    assert((pauses & ~(pause_plugin | pause_watermark | pause_drain)) == 0);
    // Before it is open, an outbound connection neither reads nor writes.
    assert(phase != Phase::connecting || (!reading() && send == Send::idle && out.pending() == 0));
    assert(dial == Dial::none || phase == Phase::connecting || phase == Phase::closing);
    assert((lists & ~(queued_flush | queued_rearm)) == 0);
    // Request arguments are held only while the kernel may read them.
    assert(args == no_args || send == Send::in_flight || dial != Dial::none);
}

// ---------------------------------------------------------------- listening socket

void TcpEndpoint::start(core::Driver& d) {
    Endpoint::start(d);
    direct_ = net_.direct_descriptors();
    reserve_ =
        std::max<std::uint32_t>(1, static_cast<std::uint32_t>((std::uint64_t{config().send_buffer_reserve} +
                                                               net_.chunks().chunk_size() - 1) /
                                                              net_.chunks().chunk_size()));
    struct stat st {};
    if (::fstat(listener_.socket.get(), &st) == 0) {
        socket_inode_ = st.st_ino;
    }
    arm_accept();
}

void TcpEndpoint::carve(core::Driver& d) {
    if (plugin().max_unconsumed > 0) {
        carry_capacity_ = carry_bytes(plugin(), d.ring_settings());
        carry_pool_ = std::make_unique<ChunkPool>(
            net_.memory(), std::min(config().max_connections, net_.options().carry_buffers), carry_capacity_);
    }
}

void TcpEndpoint::arm_accept() {
    io_uring_sqe* sqe = driver().get_sqe(static_cast<core::Completion*>(this), tag_accept);
    if (direct_) {
        io_uring_prep_multishot_accept_direct(sqe, listener_.socket.get(), nullptr, nullptr, 0);
    } else {
        io_uring_prep_multishot_accept(sqe, listener_.socket.get(), nullptr, nullptr, SOCK_CLOEXEC);
    }
    accept_active_ = true;
}

void TcpEndpoint::on_completion(const io_uring_cqe& cqe, unsigned tag) {
    switch (tag) {
    case tag_accept:
        if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
            accept_active_ = false;
        }
        if (cqe.res >= 0) {
            accepted(cqe.res);
        } else if (cqe.res != -ECANCELED) {
            ++net_.stats().accept_errors;
            // Logged once per burst: a full descriptor table fails every accept alike.
            if (accept_error_logged_++ == 0) {
                log().warn("{}: accept failed: {} (retrying; further failures are only counted)",
                           describe_listener(config()), std::strerror(-cqe.res));
            }
        }
        if (!accept_active_ && !draining_ && !retiring_) {
            if (cqe.res < 0 && cqe.res != -ECANCELED) {
                // Let the cause clear instead of spinning on it.
                accept_retry_timer_ = driver().schedule_timer(accept_retry_delay, [this] {
                    accept_retry_ = false;
                    if (!draining_ && !retiring_ && !accept_active_) {
                        arm_accept();
                    }
                });
                accept_retry_ = accept_retry_timer_.valid();
                if (!accept_retry_) {
                    ++net_.stats().timer_exhausted;
                    arm_accept();
                }
            } else {
                arm_accept();
            }
        }
        if (!accept_active_ && (draining_ || retiring_)) {
            listener_.socket.reset();
            if (!draining_) {
                // Accept waiters are woken one at a time: the cancelled accept may have taken
                // the wake-up of a connection still queued, which no other waiter then sees.
                net_.look_again(socket_inode_);
            }
        }
        break;
    case tag_cancel_accept:
        accept_cancelling_ = false;
        if (!benign_cancel(cqe.res)) {
            log().error("{}: cancelling the accept failed: {}", describe_listener(config()),
                        std::strerror(-cqe.res));
        }
        break;
    case tag_reject:
        --reject_ops_;
        if (cqe.res < 0) {
            log().error("{}: closing a refused connection failed: {}", describe_listener(config()),
                        std::strerror(-cqe.res));
        }
        break;
    default:
        assert(false && "unknown listener tag");
    }
}

void TcpEndpoint::reject(int fd, const char* limit) {
    ++net_.stats().rejected;
    ++counters().refused;
    std::uint64_t skipped = 0;
    if (limit != nullptr && refusal_log_.admit(driver().now_ns(), skipped)) {
        log().warn("{}: a new connection was closed at once: {}{}", describe_listener(config()), limit,
                   skipped > 0
                       ? fmt::format(" ({} more refusals since the last record were only counted)", skipped)
                       : std::string());
    }
    if (!direct_) {
        ::close(fd);
        return;
    }
    io_uring_sqe* sqe = driver().get_sqe(static_cast<core::Completion*>(this), tag_reject);
    io_uring_prep_close_direct(sqe, static_cast<unsigned>(fd));
    ++reject_ops_;
}

void TcpEndpoint::accepted(int fd) {
    accept_error_logged_ = 0;
    if (draining_) {
        reject(fd, nullptr); // stopping: taking none is the point, not a limit to report
        return;
    }
    ListenerShared& s = shared();
    if (s.connections->fetch_add(1, std::memory_order_relaxed) >= config().max_connections) {
        s.connections->fetch_sub(1, std::memory_order_relaxed);
        reject(fd, "the listener's max_connections are open");
        return;
    }
    if (!net_.budget().admit(reserve_)) {
        // Its reserve would eat into what connections already open were promised.
        s.connections->fetch_sub(1, std::memory_order_relaxed);
        ++net_.stats().output_admissions_refused;
        reject(fd, "the driver's output reserves are taken (each open connection holds its "
                   "send_buffer_reserve of half of [network] output_memory)");
        return;
    }
    Connection* c = net_.create_connection(*this, fd, direct_);
    if (c == nullptr) {
        net_.budget().leave(reserve_);
        s.connections->fetch_sub(1, std::memory_order_relaxed);
        reject(fd, "every connection slot of the driver is in use (the max_connections and max_outbound of "
                   "the listeners it serves)");
        return;
    }
    ++live_;
    ++net_.stats().accepted;
    ++counters().accepted;
    c->last_active_ns = driver().now_ns();

    gatio_conn_info info{};
    info.struct_size = sizeof info;
    sockaddr_storage peer{}, local{};
    if (!direct_) {
        // A direct descriptor has no file descriptor to ask; the handler then gets no addresses.
        socklen_t peer_len = sizeof peer, local_len = sizeof local;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
            info.peer = reinterpret_cast<const sockaddr*>(&peer);
            info.peer_len = peer_len;
        }
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
            info.local = reinterpret_cast<const sockaddr*>(&local);
            info.local_len = local_len;
        }
    }
    if (plugin().on_open != nullptr && guarded("on_open", "the connection is reset", c->handle(),
                                               plugin().on_open, instance(), c->handle(), &info, &c->user)
                                               .value_or(1) != 0) {
        abort(*c, GATIO_CLOSE_LOCAL, true);
        return;
    }
    if (c->phase != Connection::Phase::open) {
        return; // the handler closed it from on_open
    }
    if (config().idle_timeout.count() > 0) {
        arm_timer(*c, c->last_active_ns + std::chrono::nanoseconds(config().idle_timeout).count());
    }
    update_reading(*c);
    c->assert_invariants();
}

void TcpEndpoint::cancel_accept() {
    if (accept_retry_) {
        // Pending, so the cancel succeeds: no callback can reach this endpoint afterwards.
        driver().cancel_timer(accept_retry_timer_);
        accept_retry_ = false;
    }
    if (accept_active_ && !accept_cancelling_) {
        io_uring_sqe* sqe = driver().get_sqe(static_cast<core::Completion*>(this), tag_cancel_accept);
        io_uring_prep_cancel64(sqe, core::encode_completion(static_cast<core::Completion*>(this), tag_accept),
                               0);
        accept_cancelling_ = true;
    } else if (!accept_active_) {
        listener_.socket.reset();
    }
}

void TcpEndpoint::look_again(std::uint64_t socket) {
    if (socket != socket_inode_ || !accept_active_ || accept_cancelling_ || draining_ || retiring_) {
        return;
    }
    // Cancelled, then armed again at once (-ECANCELED above): arming starts with an accept
    // attempt, which takes whatever is queued.
    io_uring_sqe* sqe = driver().get_sqe(static_cast<core::Completion*>(this), tag_cancel_accept);
    io_uring_prep_cancel64(sqe, core::encode_completion(static_cast<core::Completion*>(this), tag_accept), 0);
    accept_cancelling_ = true;
}

void TcpEndpoint::retire() {
    // Connections the kernel accepted before the cancel took effect are still served here.
    retiring_ = true;
    cancel_accept();
}

void TcpEndpoint::drain() {
    draining_ = true;
    cancel_accept();
    for (std::uint32_t i = 0; i < net_.connection_slots(); ++i) {
        Connection* c = net_.at_slot(i);
        if (c != nullptr && &c->endpoint == this && c->phase == Connection::Phase::open) {
            c->drain = Connection::Drain::notice;
            c->drain_left = static_cast<std::uint32_t>(std::min<std::uint64_t>(
                net_.options().drain_read_limit, std::numeric_limits<std::uint32_t>::max()));
            c->pause(Connection::pause_drain, true);
            update_reading(*c);
            drain_progress(*c);
        }
    }
}

void TcpEndpoint::drain_progress(Connection& c) {
    if (c.drain != Connection::Drain::notice || c.phase != Connection::Phase::open || c.reading()) {
        return; // the receive being cancelled, or the last one, completes first
    }
    // Requests the kernel already holds were sent before the drain began: the last non-blocking
    // receives take them, one buffer each, until the kernel has nothing more or drain_read_limit
    // is taken, so that a peer still sending cannot keep the drain reading. Output above the
    // send watermark holds them back until it is sent (the send's completion settles the
    // connection again); a handler that paused reading decides in on_drain.
    if (!c.eof() && c.drain_left > 0 && !c.paused(Connection::pause_plugin)) {
        if (c.paused(Connection::pause_watermark)) {
            return;
        }
        // Once the output budget is tight, no more than the output the handler may then queue.
        const bool tight = net_.budget().tight();
        const std::size_t room = tight ? read_room(c) : 0;
        if (!tight || room > 0) {
            const std::size_t len = tight ? std::min<std::size_t>(room, net_.buffers().buffer_size()) : 0;
            io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_recv);
            io_uring_prep_recv(sqe, c.fd, nullptr, static_cast<unsigned>(len), MSG_DONTWAIT);
            sqe->flags |= IOSQE_BUFFER_SELECT | (c.fixed ? IOSQE_FIXED_FILE : 0);
            sqe->buf_group = net_.buffer_group();
            c.read = Connection::Read::last;
            return;
        }
    }
    drain_notice(c);
}

void TcpEndpoint::drain_notice(Connection& c) {
    // Work already received goes on: replies still to come are sent before the close.
    c.drain = Connection::Drain::none;
    int action = GATIO_DRAIN_FINISH;
    if (plugin().on_drain != nullptr) {
        std::optional<int> r = guarded("on_drain", "the connection is reset", c.handle(), plugin().on_drain,
                                       instance(), c.handle(), c.user);
        if (!r) {
            abort(c, GATIO_CLOSE_LOCAL, true);
            return;
        }
        if (c.phase != Connection::Phase::open) {
            return; // the handler closed it from on_drain
        }
        action = *r;
    }
    switch (action) {
    case GATIO_DRAIN_READ:
        c.drain = Connection::Drain::handler;
        c.pause(Connection::pause_drain, false);
        update_reading(c);
        break;
    case GATIO_DRAIN_FINISH:
        if (plugin().on_drain != nullptr) {
            c.drain = Connection::Drain::handler;
        } else {
            c.drain = Connection::Drain::host;
            ++host_drains_;
        }
        break;
    default:
        begin_close(c, GATIO_CLOSE_SHUTDOWN);
        break;
    }
}

void TcpEndpoint::poll() {
    // A handler without on_drain: its connections close once the instance has no task or
    // posted function in flight and nothing more can arrive from the kernel.
    if (host_drains_ == 0 || tasks_pending() > 0) {
        return;
    }
    for (std::uint32_t i = 0; i < net_.connection_slots() && host_drains_ > 0; ++i) {
        Connection* c = net_.at_slot(i);
        if (c == nullptr || &c->endpoint != this || c->drain != Connection::Drain::host) {
            continue;
        }
        if (c->phase != Connection::Phase::open) {
            c->drain = Connection::Drain::none;
            --host_drains_;
        } else if (!c->reading()) {
            c->drain = Connection::Drain::none;
            --host_drains_;
            begin_close(*c, GATIO_CLOSE_SHUTDOWN);
            c->assert_invariants();
        }
    }
}

bool TcpEndpoint::drained() const {
    return live_ == 0 && !accept_active_ && !accept_cancelling_ && reject_ops_ == 0;
}

void TcpEndpoint::stop() {
    // The grace period is over: whatever is still open goes now. Requests still in flight die
    // with the ring, so nothing completes into the freed slots.
    for (std::uint32_t i = 0; i < net_.connection_slots(); ++i) {
        Connection* c = net_.at_slot(i);
        if (c == nullptr || &c->endpoint != this) {
            continue;
        }
        if (!c->fixed && c->phase < Connection::Phase::close_sent) {
            ::close(c->fd); // once a close was submitted, the descriptor may belong to someone else
        }
        if (c->reason == 0) {
            c->reason = GATIO_CLOSE_SHUTDOWN;
        }
        drop_output(*c);
        c->dial = Connection::Dial::none; // a pending connect dies with the ring: done says -ECANCELED
        net_.release_args(*c);            // nothing takes them again before the ring goes
        c->read = Connection::Read::idle;
        c->send = Connection::Send::idle;
        c->in_flight = 0;
        c->side_ops = 0;
        c->phase = Connection::Phase::closed;
        finalize(*c);
    }
    listener_.socket.reset();
    Endpoint::stop();
}

// ---------------------------------------------------------------- services

Connection* TcpEndpoint::find(gatio_conn conn) {
    auto h = core::Handle::unpack(conn);
    Connection* c = h ? net_.find(h->slot, h->generation) : nullptr;
    return c != nullptr && &c->endpoint == this ? c : nullptr;
}

int TcpEndpoint::send(gatio_conn conn, const iovec* iov, std::size_t count) {
    Connection* c = find(conn);
    if (c == nullptr || c->phase != Connection::Phase::open || c->shut_wanted) {
        return GATIO_ERR_CLOSED;
    }
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (iov[i].iov_base == nullptr && iov[i].iov_len != 0) {
            return GATIO_ERR_INVALID;
        }
        total += iov[i].iov_len;
    }
    if (total == 0) {
        return GATIO_OK;
    }
    if (total >
        config().send_buffer_limit - std::min<std::size_t>(c->out.pending(), config().send_buffer_limit)) {
        ++net_.stats().output_refused;
        return GATIO_ERR_LIMIT;
    }
    const std::uint32_t more = c->out.chunks_needed(net_.chunks(), total);
    OutputBudget& budget = net_.budget();
    const bool was_tight = budget.tight();
    const bool granted = more == 0 || budget.grow(reserve_, c->out.chunks(), more);
    if (!was_tight && budget.tight()) {
        net_.tighten();
    }
    if (!granted) {
        ++net_.stats().output_refused;
        return GATIO_ERR_LIMIT;
    }
    [[maybe_unused]] const bool appended = c->out.append(net_.chunks(), iov, count, total);
    assert(appended); // the budget never promises more chunks than the pool has
    assert(net_.chunks().count() - net_.chunks().available() <= budget.committed());
    net_.queue_flush(*c);
    check_backpressure(*c);
    c->assert_invariants();
    return GATIO_OK;
}

int TcpEndpoint::lent_send(gatio_conn conn, gatio_lent buf, std::size_t offset, std::size_t len) {
    LentPool& lent = net_.files().lent();
    const std::uint32_t b = lent.find(this, buf);
    if (b == LentPool::none || len == 0 || offset > lent.filled(b) || len > lent.filled(b) - offset) {
        return GATIO_ERR_INVALID;
    }
    Connection* c = find(conn);
    if (c == nullptr || c->phase != Connection::Phase::open || c->shut_wanted) {
        return GATIO_ERR_CLOSED;
    }
    // The bytes stay in the lent buffer: they take none of the output chunks, but count
    // against the connection's limit and watermarks like copied output.
    if (len >
        config().send_buffer_limit - std::min<std::size_t>(c->out.pending(), config().send_buffer_limit)) {
        ++net_.stats().output_refused;
        return GATIO_ERR_LIMIT;
    }
    c->out.append_lent(lent, b, static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(len));
    net_.queue_flush(*c);
    check_backpressure(*c);
    c->assert_invariants();
    return GATIO_OK;
}

int TcpEndpoint::send_received(gatio_conn conn, const std::uint8_t* data, std::size_t len) {
    ReceiveHolds& holds = net_.holds();
    if (!holds.within(this, data, len)) {
        return GATIO_ERR_INVALID;
    }
    Connection* c = find(conn);
    if (c == nullptr || c->phase != Connection::Phase::open || c->shut_wanted) {
        return GATIO_ERR_CLOSED;
    }
    if (len == 0) {
        return GATIO_OK;
    }
    // Checked before a hold is taken, so that a refusal leaves nothing held.
    if (len >
        config().send_buffer_limit - std::min<std::size_t>(c->out.pending(), config().send_buffer_limit)) {
        ++net_.stats().output_refused;
        return GATIO_ERR_LIMIT;
    }
    const std::uint32_t record = holds.hold(data, c->out.held());
    if (record == LentPool::none) {
        ++net_.stats().receive_copies;
        const iovec one{const_cast<std::uint8_t*>(data), len};
        return send(conn, &one, 1);
    }
    ++net_.stats().receive_holds;
    // Like a lent buffer's bytes: no output chunk, but the connection's limit and watermarks.
    c->out.append_lent(net_.files().lent(), record, 0, static_cast<std::uint32_t>(len));
    net_.queue_flush(*c);
    check_backpressure(*c);
    c->assert_invariants();
    return GATIO_OK;
}

int TcpEndpoint::shutdown_write(gatio_conn conn) {
    Connection* c = find(conn);
    if (c == nullptr || c->phase != Connection::Phase::open) {
        return GATIO_ERR_CLOSED;
    }
    c->shut_wanted = true;
    shut_write(*c);
    c->assert_invariants();
    return GATIO_OK;
}

void TcpEndpoint::shut_write(Connection& c) {
    if (c.phase != Connection::Phase::open || !c.shut_wanted || c.write_shut ||
        c.send != Connection::Send::idle || c.out.pending() > 0) {
        return;
    }
    c.write_shut = true;
    io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_shutdown);
    io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
    if (c.fixed) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    ++c.side_ops;
}

int TcpEndpoint::close(gatio_conn conn, int mode) {
    Connection* c = find(conn);
    if (c == nullptr || c->phase >= Connection::Phase::closing) {
        return GATIO_ERR_CLOSED;
    }
    if (c->phase == Connection::Phase::connecting) {
        to_closing(*c);
        return GATIO_OK;
    }
    if (mode == GATIO_CLOSE_ABORT) {
        abort(*c, GATIO_CLOSE_LOCAL, true);
    } else if (c->phase == Connection::Phase::open) {
        begin_close(*c, GATIO_CLOSE_LOCAL);
        c->assert_invariants();
    }
    return GATIO_OK;
}

int TcpEndpoint::pause_read(gatio_conn conn) {
    Connection* c = find(conn);
    if (c == nullptr || c->phase != Connection::Phase::open) {
        return GATIO_ERR_CLOSED;
    }
    c->pause(Connection::pause_plugin, true);
    update_reading(*c);
    c->assert_invariants();
    return GATIO_OK;
}

int TcpEndpoint::resume_read(gatio_conn conn) {
    Connection* c = find(conn);
    if (c == nullptr || c->phase != Connection::Phase::open) {
        return GATIO_ERR_CLOSED;
    }
    c->pause(Connection::pause_plugin, false);
    if (!c->queued(Connection::queued_rearm)) {
        update_reading(*c);
    }
    c->assert_invariants();
    return GATIO_OK;
}

int TcpEndpoint::set_user(gatio_conn conn, void* user) {
    Connection* c = find(conn);
    if (c == nullptr) {
        return GATIO_ERR_CLOSED;
    }
    c->user = user;
    return GATIO_OK;
}

void* TcpEndpoint::get_user(gatio_conn conn) {
    Connection* c = find(conn);
    return c != nullptr ? c->user : nullptr;
}

std::size_t TcpEndpoint::pending_output(gatio_conn conn) {
    Connection* c = find(conn);
    return c != nullptr ? c->out.pending() : 0;
}

// ---------------------------------------------------------------- outbound connections

int TcpEndpoint::connect(const gatio_connect_args& args, gatio_conn* conn) {
    if (!driver().features().connect) {
        return GATIO_ERR_UNSUPPORTED;
    }
    if (draining_) {
        return GATIO_ERR_CLOSED;
    }
    const socklen_t len = connect_length(args.address, args.address_len);
    if (len == 0) {
        return GATIO_ERR_INVALID;
    }
    if (outbound_ >= config().max_outbound) {
        return GATIO_ERR_LIMIT;
    }
    if (!net_.budget().admit(reserve_)) {
        ++net_.stats().output_admissions_refused;
        return GATIO_ERR_LIMIT;
    }
    const int family = args.address->sa_family;
    // Blocking, as accepted sockets are: the ring waits for readiness itself.
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        net_.budget().leave(reserve_);
        return errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM ? GATIO_ERR_LIMIT
                                                                                         : GATIO_ERR_INVALID;
    }
    if (family != AF_UNIX) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // as on accepted sockets
    }
    Connection* c = net_.create_connection(*this, fd, false);
    if (c == nullptr) {
        ::close(fd);
        net_.budget().leave(reserve_);
        return GATIO_ERR_LIMIT;
    }
    ++live_;
    ++outbound_;
    c->outbound = true;
    c->phase = Connection::Phase::connecting;
    c->user = args.user;
    c->connect_done = args.done;
    c->connect_result = -ECANCELED; // until the kernel or the timer says otherwise
    std::memcpy(&net_.hold_args(*c).connect_to, args.address, len);
    c->connect_len = len;
    const std::uint64_t timeout_ms =
        args.timeout_ms != 0 ? args.timeout_ms : static_cast<std::uint64_t>(config().connect_timeout.count());
    arm_timer(*c, driver().now_ns() + static_cast<std::int64_t>(timeout_ms) * 1'000'000);
    if (direct_) {
        // Into the direct-descriptor table, like accepted sockets, once the kernel says where.
        c->registered = fd;
        io_uring_sqe* sqe = driver().get_sqe(c, Connection::tag_register);
        io_uring_prep_files_update(sqe, &c->registered, 1, static_cast<int>(IORING_FILE_INDEX_ALLOC));
        c->dial = Connection::Dial::registering;
        ++c->side_ops;
    } else {
        submit_connect(*c);
    }
    c->assert_invariants();
    *conn = c->handle();
    return GATIO_OK;
}

void TcpEndpoint::submit_connect(Connection& c) {
    io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_connect);
    io_uring_prep_connect(sqe, c.fd, reinterpret_cast<const sockaddr*>(&net_.args_of(c).connect_to),
                          c.connect_len);
    if (c.fixed) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    c.dial = Connection::Dial::connecting;
    ++c.side_ops;
}

void TcpEndpoint::dial_done(Connection& c, unsigned tag, int res) {
    --c.side_ops;
    c.dial = Connection::Dial::none;
    if (tag == Connection::tag_register) {
        if (res == 1) {
            // The table holds the socket now; the plain descriptor is not needed any more.
            ::close(c.fd);
            c.fd = c.registered;
            c.fixed = true;
        } // else (the table is full): the plain descriptor serves, as without direct descriptors
        if (c.phase == Connection::Phase::connecting) {
            submit_connect(c);
        } else {
            net_.release_args(c); // closed meanwhile: the address is never sent
        }
        return;
    }
    net_.release_args(c); // the connect is over: its address is not read again
    if (c.phase != Connection::Phase::connecting) {
        return; // closed meanwhile: the connect was cancelled
    }
    if (res == 0) {
        connected(c);
        return;
    }
    c.connect_result = res;
    to_closing(c);
}

void TcpEndpoint::connected(Connection& c) {
    c.phase = Connection::Phase::open;
    if (c.timer.valid()) {
        driver().cancel_timer(c.timer);
        c.timer = {};
    }
    ++net_.stats().outbound_connected;
    c.last_active_ns = driver().now_ns();
    auto* done = std::exchange(c.connect_done, nullptr);
    if (!guarded("connect done", "the connection is reset", c.handle(), done, static_cast<gatio_host*>(this),
                 c.handle(), c.user, 0)) {
        abort(c, GATIO_CLOSE_LOCAL, true);
        return;
    }
    if (c.phase != Connection::Phase::open) {
        return; // the handler closed it from done
    }
    if (config().idle_timeout.count() > 0) {
        arm_timer(c, c.last_active_ns + std::chrono::nanoseconds(config().idle_timeout).count());
    }
    update_reading(c);
}

int TcpEndpoint::notify_drained(gatio_conn conn, void (*fn)(gatio_host*, void*, int), void* arg) {
    Connection* c = find(conn);
    if (c == nullptr || c->phase >= Connection::Phase::closing) {
        return GATIO_ERR_CLOSED;
    }
    if (c->out.pending() == 0) {
        return GATIO_ERR_INVALID;
    }
    if (c->drained_fn != nullptr) {
        return GATIO_ERR_LIMIT;
    }
    c->drained_fn = fn;
    c->drained_arg = arg;
    return GATIO_OK;
}

void TcpEndpoint::fire_drained(Connection& c, int status) {
    if (c.drained_fn == nullptr) {
        return;
    }
    auto* fn = std::exchange(c.drained_fn, nullptr);
    void* arg = std::exchange(c.drained_arg, nullptr);
    guarded("notify_drained", "the handler carries on", c.handle(), fn, static_cast<gatio_host*>(this), arg,
            status);
}

// ---------------------------------------------------------------- connection events

void TcpEndpoint::on_connection(Connection& c, const io_uring_cqe& cqe, unsigned tag) {
    switch (tag) {
    case Connection::tag_recv:
        recv_done(c, cqe);
        break;
    case Connection::tag_send:
        send_done(c, cqe.res);
        break;
    case Connection::tag_cancel:
        --c.side_ops;
        if (!benign_cancel(cqe.res)) {
            log().error("{}: connection {}: cancel failed: {}", describe_listener(config()), c.handle(),
                        std::strerror(-cqe.res));
        }
        break;
    case Connection::tag_shutdown:
        --c.side_ops;
        // The peer may have gone already (ENOTCONN): nothing to wait for then.
        if (cqe.res < 0 && c.phase == Connection::Phase::shutting) {
            to_closing(c);
        }
        break;
    case Connection::tag_register:
    case Connection::tag_connect:
        dial_done(c, tag, cqe.res);
        break;
    case Connection::tag_close:
        c.phase = Connection::Phase::closed;
        if (cqe.res < 0) {
            log().error("{}: connection {}: close failed: {}", describe_listener(config()), c.handle(),
                        std::strerror(-cqe.res));
        }
        break;
    default:
        assert(false && "unknown connection tag");
    }
    settle(c);
}

void TcpEndpoint::recv_done(Connection& c, const io_uring_cqe& cqe) {
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
    const bool multishot = c.read == Connection::Read::armed && net_.multishot_recv();
    if (c.read == Connection::Read::last) {
        // Taken from the drain's allowance; nothing more queued (or a failure) ends it, while
        // ENOBUFS tries again once buffers come back.
        c.drain_left = cqe.res > 0
                           ? c.drain_left - std::min(c.drain_left, static_cast<std::uint32_t>(cqe.res))
                       : cqe.res == -ENOBUFS ? c.drain_left
                                             : 0;
    }
    if (!more) {
        c.read = Connection::Read::idle;
    }
    const bool has_buffer = core::BufferRing::has_buffer(cqe.flags);
    const std::uint16_t id = has_buffer ? core::BufferRing::buffer_id(cqe.flags) : 0;
    if (cqe.res > 0) {
        if (!has_buffer) {
            log().error("{}: connection {}: receive completed without a provided buffer",
                        describe_listener(config()), c.handle());
            abort(c, GATIO_CLOSE_RESET, true);
            return;
        }
        take_received(c, id, static_cast<std::size_t>(cqe.res),
                      (cqe.flags & core::uapi::cqe_f_buf_more) != 0);
        if (!more && c.read == Connection::Read::idle) {
            if (multishot) {
                ++net_.stats().recv_multishot_ends;
                net_.queue_rearm(c);
            }
        }
        return;
    }
    // Without data an incremental ring's buffer was not consumed: it is still the kernel's.
    if (has_buffer && !net_.buffers().incremental()) {
        net_.buffers().recycle(id);
    }
    if (cqe.res == 0) {
        c.read = Connection::Read::ended;
        if (c.phase == Connection::Phase::open) {
            std::optional<int> action = GATIO_EOF_CLOSE;
            if (plugin().on_eof != nullptr) {
                action = guarded("on_eof", "the connection is reset", c.handle(), plugin().on_eof, instance(),
                                 c.handle(), c.user);
            }
            if (!action) {
                abort(c, GATIO_CLOSE_LOCAL, true);
            } else if (*action != GATIO_EOF_KEEP && c.phase == Connection::Phase::open) {
                begin_close(c, GATIO_CLOSE_PEER);
            }
        } else if (c.phase == Connection::Phase::shutting) {
            to_closing(c);
        }
        return;
    }
    switch (-cqe.res) {
    case EAGAIN:
        break; // the drain's last receive: nothing more was received
    case ENOBUFS:
        // Every buffer provided was in use: the ring gets more while it has never-used ones,
        // and the rest come back as handlers return, so try again next turn.
        ++net_.stats().recv_enobufs;
        net_.buffers().grow();
        net_.queue_rearm(c);
        break;
    case ECANCELED:
        break;
    default:
        if (c.phase < Connection::Phase::closing) {
            ++net_.stats().peer_resets;
            abort(c, GATIO_CLOSE_RESET, false);
        }
        break;
    }
}

void TcpEndpoint::take_received(Connection& c, std::uint16_t id, std::size_t len, bool kernel_keeps) {
    // A bundle (IORING_RECVSEND_BUNDLE) filled several buffers in ring order, each whole but the
    // last; any other receive fills one. Each goes to the handler while the connection is open,
    // then back to the kernel unless output holds it. In an incremental ring the data starts
    // where the buffer's previous completion, of any connection, ended, and the last buffer
    // stays the kernel's when the completion says so (IORING_CQE_F_BUF_MORE).
    core::BufferRing& buffers = net_.buffers();
    if (kernel_keeps) {
        ++net_.stats().recv_buffer_kept;
    }
    for (;;) {
        const std::uint32_t at = buffers.offset(id);
        const std::size_t n = std::min<std::size_t>(len, buffers.buffer_size() - at);
        len -= n;
        const std::uint16_t next = len > 0 ? buffers.next_in_ring(id) : 0;
        buffers.consumed(id, static_cast<std::uint32_t>(n), len == 0 && kernel_keeps);
        if (c.phase == Connection::Phase::open) {
            c.last_active_ns = driver().now_ns();
            deliver(c, reinterpret_cast<const std::uint8_t*>(buffers.data(id)) + at, n);
        }
        net_.holds().recycle(id);
        if (len == 0) {
            return;
        }
        ++net_.stats().recv_bundled;
        id = next;
    }
}

void TcpEndpoint::deliver(Connection& c, const std::uint8_t* data, std::size_t len) {
    net_.stats().bytes_received += len;
    counters().bytes_received += len;
    const std::uint8_t* p = data;
    std::size_t n = len;
    if (c.carry_len > 0) {
        // Left over last time: the new bytes go behind them, contiguous for the handler.
        assert(c.carry != ChunkPool::none && c.carry_len + len <= carry_capacity_);
        std::byte* carry = carry_pool_->data(c.carry);
        std::memcpy(carry + c.carry_len, data, len);
        p = reinterpret_cast<const std::uint8_t*>(carry);
        n = c.carry_len + len;
    }
    ++net_.stats().dispatched;
    ++counters().dispatched;
    // A throw counts as a fault already: it resets the connection like GATIO_DATA_RESET.
    net_.holds().begin(this, p, n);
    std::int64_t r = guarded("on_data", "the connection is reset", c.handle(), plugin().on_data, instance(),
                             c.handle(), c.user, p, n)
                         .value_or(GATIO_DATA_RESET);
    net_.holds().end();
    if (c.phase != Connection::Phase::open) {
        release_carry(c);
        return; // the handler closed it while handling the data
    }
    if (r == GATIO_DATA_CLOSE) {
        release_carry(c);
        begin_close(c, GATIO_CLOSE_LOCAL);
        return;
    }
    if (r < 0 || static_cast<std::uint64_t>(r) > n) {
        if (r != GATIO_DATA_RESET) {
            plugin_error();
            log().error("{}: connection {}: on_data returned {} for {} bytes; resetting it",
                        describe_listener(config()), c.handle(), r, n);
        }
        release_carry(c);
        abort(c, GATIO_CLOSE_LOCAL, true);
        return;
    }
    std::size_t rest = n - static_cast<std::size_t>(r);
    if (rest == 0) {
        release_carry(c);
        return;
    }
    if (rest > plugin().max_unconsumed) {
        ++net_.stats().limit_closes;
        release_carry(c);
        abort(c, GATIO_CLOSE_LIMIT, true);
        return;
    }
    if (c.carry == ChunkPool::none) {
        c.carry = carry_pool_->take();
        if (c.carry == ChunkPool::none) {
            ++net_.stats().limit_closes;
            log().warn("{}: every carry buffer is in use; closing connection {}", describe_listener(config()),
                       c.handle());
            abort(c, GATIO_CLOSE_LIMIT, true);
            return;
        }
    }
    std::memmove(carry_pool_->data(c.carry), p + r, rest);
    c.carry_len = static_cast<std::uint32_t>(rest);
}

void TcpEndpoint::release_carry(Connection& c) {
    if (c.carry != ChunkPool::none) {
        carry_pool_->give(c.carry);
        c.carry = ChunkPool::none;
    }
    c.carry_len = 0;
}

void TcpEndpoint::send_done(Connection& c, int res) {
    net_.release_args(c); // a gathered send's
    const std::size_t sent = c.in_flight;
    c.send = Connection::Send::idle;
    c.in_flight = 0;
    if (std::exchange(c.zerocopy, LentPool::none) != LentPool::none && res == -EOPNOTSUPP) {
        // Not a socket that sends from user pages: nothing went out, the plain path sends it.
        ++net_.stats().zerocopy_fallbacks;
        c.zerocopy_refused = true;
        res = 0;
    }
    if (res > 0) {
        auto n = static_cast<std::size_t>(res);
        net_.stats().bytes_sent += n;
        counters().bytes_sent += n;
        if (n < sent) {
            ++net_.stats().partial_sends;
        }
        consume_output(c, n);
        c.last_active_ns = driver().now_ns();
    }
    if (c.phase >= Connection::Phase::closing) {
        drop_output(c);
        return;
    }
    if (res < 0 && res != -ECANCELED) {
        // EPIPE, ECONNRESET and the like: the peer is gone.
        ++net_.stats().peer_resets;
        abort(c, GATIO_CLOSE_RESET, false);
        return;
    }
    if (c.out.pending() > 0) {
        net_.queue_flush(c);
    } else {
        fire_drained(c, GATIO_OK);
        shut_write(c);
    }
    if (c.paused(Connection::pause_watermark) && c.out.pending() <= config().send_low_watermark) {
        c.pause(Connection::pause_watermark, false);
    }
    if (c.phase == Connection::Phase::flushing) {
        progress(c);
    }
}

// ---------------------------------------------------------------- reading

bool TcpEndpoint::reading_wanted(const Connection& c) const {
    switch (c.phase) {
    case Connection::Phase::open:
        return !c.eof() && c.pauses == 0 && (!net_.budget().tight() || read_room(c) > 0);
    case Connection::Phase::flushing:
    case Connection::Phase::shutting:
        return !c.eof(); // discard input so that closing does not turn into a reset
    default:
        return false;
    }
}

std::size_t TcpEndpoint::read_room(const Connection& c) const {
    const std::uint32_t held = c.out.chunks();
    const std::size_t room = c.out.room(net_.chunks(), held < reserve_ ? reserve_ - held : 0);
    const std::size_t limit = config().send_buffer_limit;
    return std::min(room, limit - std::min(limit, c.out.pending()));
}

void TcpEndpoint::update_reading(Connection& c) {
    const bool want = reading_wanted(c);
    // Once the budget is tight an open connection reads only what its charge has room for.
    const bool bound = c.phase == Connection::Phase::open && net_.budget().tight();
    if (want && c.read == Connection::Read::idle) {
        arm_recv(c);
    } else if ((c.read == Connection::Read::armed && (!want || bound)) ||
               (c.read == Connection::Read::bounded && !want)) {
        cancel(c, Connection::tag_recv);
        c.read = Connection::Read::cancelling;
    }
}

void TcpEndpoint::bound_reads(Connection& c) {
    update_reading(c);
    c.assert_invariants();
}

void TcpEndpoint::arm_recv(Connection& c) {
    io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_recv);
    if (c.phase == Connection::Phase::open && net_.budget().tight()) {
        // One buffer at most, and no more of it than the output the handler may then queue
        // (a length caps what the kernel copies into a provided buffer).
        const std::size_t len = std::min<std::size_t>(read_room(c), net_.buffers().buffer_size());
        assert(len > 0); // reading_wanted
        io_uring_prep_recv(sqe, c.fd, nullptr, static_cast<unsigned>(len), 0);
        c.read = Connection::Read::bounded;
    } else {
        if (net_.multishot_recv()) {
            io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
            if (net_.recv_bundle()) {
                sqe->ioprio |= core::uapi::recvsend_bundle;
            }
        } else {
            io_uring_prep_recv(sqe, c.fd, nullptr, 0, 0);
        }
        c.read = Connection::Read::armed;
    }
    sqe->flags |= IOSQE_BUFFER_SELECT | (c.fixed ? IOSQE_FIXED_FILE : 0);
    sqe->buf_group = net_.buffer_group();
}

void TcpEndpoint::rearm_one(Connection& c) {
    if (reading_wanted(c) && c.read == Connection::Read::idle) {
        ++net_.stats().recv_rearms;
    }
    settle(c);
}

void TcpEndpoint::cancel(Connection& c, unsigned tag) {
    io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_cancel);
    // A zero-copy send completes into the lent pool (send_zerocopy).
    const bool zerocopy = tag == Connection::tag_send && c.zerocopy != LentPool::none;
    io_uring_prep_cancel64(
        sqe, zerocopy ? net_.files().lent().zerocopy_user_data(c.zerocopy) : core::encode_completion(&c, tag),
        0);
    ++c.side_ops;
}

void TcpEndpoint::check_backpressure(Connection& c) {
    if ((plugin().flags & GATIO_PLUGIN_SELF_PACED) != 0) {
        return; // the handler paces its connections itself
    }
    if (!c.paused(Connection::pause_watermark) && c.out.pending() > config().send_high_watermark) {
        c.pause(Connection::pause_watermark, true);
        ++net_.stats().read_pauses;
        update_reading(c);
    }
}

void TcpEndpoint::consume_output(Connection& c, std::size_t bytes) {
    const std::uint32_t before = c.out.chunks();
    c.out.consume(net_.chunks(), bytes);
    net_.budget().shrink(reserve_, before, c.out.chunks());
}

void TcpEndpoint::drop_output(Connection& c) {
    const std::uint32_t before = c.out.chunks();
    c.out.clear(net_.chunks());
    net_.budget().shrink(reserve_, before, 0);
}

// ---------------------------------------------------------------- writing

std::uint32_t TcpEndpoint::zerocopy_min(const Connection& c) const {
    return c.zerocopy_refused || !net_.options().zerocopy_send ? 0 : net_.options().zerocopy_send_min;
}

void TcpEndpoint::send_zerocopy(Connection& c, std::uint32_t b) {
    LentPool& lent = net_.files().lent();
    const LentPool::Queued& q = lent.queued(b);
    // Its completions go to the lent pool, which hands the first one on to the connection.
    io_uring_sqe* sqe = driver().get_sqe(lent.zerocopy_submit(b, &c, Connection::tag_send), 0);
    io_uring_prep_send_zc_fixed(sqe, c.fd, lent.data(b) + q.offset, q.len, MSG_NOSIGNAL, 0, b);
    if (c.fixed) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    c.send = Connection::Send::in_flight;
    c.in_flight = q.len;
    c.zerocopy = b;
    ++net_.stats().zerocopy_sends;
}

void TcpEndpoint::flush_one(Connection& c) {
    if ((c.phase == Connection::Phase::open || c.phase == Connection::Phase::flushing) &&
        c.send == Connection::Send::idle && c.out.pending() > 0) {
        send_queued(c);
    }
    if (c.phase == Connection::Phase::flushing) {
        progress(c);
    }
    c.assert_invariants();
}

void TcpEndpoint::send_queued(Connection& c) {
    const std::uint32_t zerocopy = zerocopy_min(c);
    const std::uint32_t front = zerocopy > 0 ? c.out.zerocopy_front(zerocopy) : LentPool::none;
    if (front != LentPool::none) {
        send_zerocopy(c, front);
        return;
    }
    std::size_t bytes = 0;
    std::array<iovec, RequestArgs::max_iov> slices; // until we know whether a msghdr is needed
    const std::size_t n = c.out.gather(net_.chunks(), slices.data(), slices.size(), bytes, zerocopy);
    io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_send);
    if (n == 1 && net_.single_send()) {
        // The common reply: one slice, sent without a msghdr for the kernel to import.
        io_uring_prep_send(sqe, c.fd, slices[0].iov_base, slices[0].iov_len, MSG_NOSIGNAL);
        ++net_.stats().single_sends;
    } else {
        RequestArgs& a = net_.hold_args(c);
        std::copy_n(slices.begin(), n, a.iov);
        a.msg = msghdr{};
        a.msg.msg_iov = a.iov;
        a.msg.msg_iovlen = n;
        io_uring_prep_sendmsg(sqe, c.fd, &a.msg, MSG_NOSIGNAL);
    }
    if (c.fixed) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    c.send = Connection::Send::in_flight;
    c.in_flight = bytes;
}

// ---------------------------------------------------------------- closing

void TcpEndpoint::begin_close(Connection& c, int reason) {
    if (c.phase == Connection::Phase::connecting) {
        to_closing(c); // nothing to flush: the connect is cancelled, done reports -ECANCELED
        return;
    }
    if (c.phase != Connection::Phase::open) {
        return;
    }
    c.reason = reason;
    c.phase = Connection::Phase::flushing;
    release_carry(c);
    progress(c);
}

void TcpEndpoint::abort(Connection& c, int reason, bool reset) {
    if (c.phase >= Connection::Phase::closing) {
        return;
    }
    if (c.reason == 0 || c.phase == Connection::Phase::open) {
        c.reason = reason;
    }
    if (reset && !c.fixed) {
        // Zero linger: the close sends a reset and drops unsent data. (A direct descriptor has
        // no file descriptor to set it on; its close is an ordinary one.)
        linger l{1, 0};
        ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    release_carry(c);
    to_closing(c);
}

// An orderly close moves on once output is flushed: FIN, then wait for the peer's.
void TcpEndpoint::progress(Connection& c) {
    if (c.phase != Connection::Phase::flushing || c.send != Connection::Send::idle || c.out.pending() > 0) {
        return;
    }
    if (c.eof()) {
        to_closing(c);
        return;
    }
    c.phase = Connection::Phase::shutting;
    io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_shutdown);
    io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
    if (c.fixed) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    ++c.side_ops;
    c.shut_deadline_ns = driver().now_ns() + std::chrono::nanoseconds(net_.options().close_linger).count();
    arm_timer(c, c.shut_deadline_ns);
    update_reading(c);
}

void TcpEndpoint::to_closing(Connection& c) {
    if (c.phase == Connection::Phase::connecting && c.dial == Connection::Dial::connecting) {
        cancel(c, Connection::tag_connect);
    }
    if (c.read == Connection::Read::armed || c.read == Connection::Read::bounded) {
        cancel(c, Connection::tag_recv);
        c.read = Connection::Read::cancelling;
    }
    if (c.send == Connection::Send::in_flight) {
        cancel(c, Connection::tag_send);
    } else {
        drop_output(c);
    }
    c.phase = Connection::Phase::closing;
    // Nothing in flight (a paused or half-closed connection closed from a timer, say): no
    // completion would move it on, so close now.
    settle(c);
}

// After every event: take the next step the connection's state allows.
void TcpEndpoint::settle(Connection& c) {
    switch (c.phase) {
    case Connection::Phase::connecting:
        break;
    case Connection::Phase::open:
    case Connection::Phase::flushing:
    case Connection::Phase::shutting:
        if (!c.queued(Connection::queued_rearm)) {
            update_reading(c);
        }
        drain_progress(c);
        break;
    case Connection::Phase::closing:
        if (!c.reading() && c.send == Connection::Send::idle && c.side_ops == 0) {
            c.phase = Connection::Phase::close_sent;
            io_uring_sqe* sqe = driver().get_sqe(&c, Connection::tag_close);
            if (c.fixed) {
                io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.fd));
            } else {
                io_uring_prep_close(sqe, c.fd);
            }
        }
        break;
    case Connection::Phase::close_sent:
        break;
    case Connection::Phase::closed:
        finalize(c);
        return;
    }
    c.assert_invariants();
}

void TcpEndpoint::finalize(Connection& c) {
    if (c.timer.valid()) {
        driver().cancel_timer(c.timer);
        c.timer = {};
    }
    release_carry(c);
    drop_output(c);
    net_.budget().leave(reserve_);
    if (c.drain == Connection::Drain::host) {
        --host_drains_;
    }
    --live_;
    c.assert_invariants();
    if (c.outbound) {
        --outbound_;
        if (auto* done = std::exchange(c.connect_done, nullptr)) {
            // It never connected: done reports why instead of on_close.
            ++net_.stats().outbound_failed;
            guarded("connect done", "nothing else is affected", c.handle(), done,
                    static_cast<gatio_host*>(this), c.handle(), c.user, c.connect_result);
            net_.destroy_connection(c);
            return;
        }
        ++net_.stats().outbound_closed;
    } else {
        shared().connections->fetch_sub(1, std::memory_order_relaxed);
        ++net_.stats().closed;
        ++counters().closed;
    }
    fire_drained(c, GATIO_ERR_CLOSED);
    if (plugin().on_close != nullptr) {
        guarded("on_close", "the connection is gone all the same", c.handle(), plugin().on_close, instance(),
                c.handle(), c.user, c.reason != 0 ? c.reason : GATIO_CLOSE_LOCAL);
    }
    net_.destroy_connection(c);
}

// ---------------------------------------------------------------- timers

void TcpEndpoint::arm_timer(Connection& c, std::int64_t at_ns) {
    if (c.timer.valid()) {
        driver().cancel_timer(c.timer);
        c.timer = {};
    }
    std::int64_t delay = std::max<std::int64_t>(at_ns - driver().now_ns(), 0);
    DriverNet* net = &net_;
    std::uint32_t slot = c.slot, generation = c.generation;
    c.timer = driver().schedule_timer(std::chrono::nanoseconds(delay), [net, slot, generation] {
        if (Connection* conn = net->find(slot, generation)) {
            conn->endpoint.timer_fired(*conn);
        }
        net->flush();
    });
    if (!c.timer.valid()) {
        ++net_.stats().timer_exhausted;
    }
}

void TcpEndpoint::timer_fired(Connection& c) {
    c.timer = {};
    if (c.phase == Connection::Phase::connecting) {
        c.connect_result = -ETIMEDOUT; // the connect timeout: cancel it
        to_closing(c);
        return;
    }
    const std::int64_t now = driver().now_ns();
    const std::int64_t idle = std::chrono::nanoseconds(config().idle_timeout).count();
    if (c.phase == Connection::Phase::shutting) {
        if (now >= c.shut_deadline_ns) {
            to_closing(c); // the peer never sent its FIN
        } else {
            arm_timer(c, c.shut_deadline_ns);
        }
    } else if ((c.phase == Connection::Phase::open || c.phase == Connection::Phase::flushing) && idle > 0) {
        if (now - c.last_active_ns >= idle) {
            ++net_.stats().idle_closes;
            if (c.phase == Connection::Phase::open && c.out.pending() == 0 &&
                c.send == Connection::Send::idle) {
                begin_close(c, GATIO_CLOSE_IDLE);
            } else {
                abort(c, GATIO_CLOSE_IDLE, true); // output the peer is not taking: give up on it
            }
        } else {
            arm_timer(c, c.last_active_ns + idle);
        }
    }
    settle(c);
}

} // namespace gatio::net
