// TCP: one listening socket per driver with a multishot accept, and the connections it yields.
//
// A connection's life, all on its driver's thread:
//   open      multishot recv with buffer select; data goes to the handler and the buffer back to
//             the ring as soon as on_data returns; output is queued and sent by one send at a
//             time (IORING_OP_SEND when it is one slice, else a gathered sendmsg), continued
//             after partial sends. While the driver's output budget
//             is tight, one-shot receives of at most the room in the connection's charge.
//   flushing  an orderly close was asked: input is discarded, queued output still goes out.
//   shutting  output is flushed and our FIN sent (shutdown SHUT_WR); input is discarded until
//             the peer's FIN or close_linger, so unread input cannot turn our close into a reset.
//   closing   waiting for the receive and send in flight to end (cancelled) before closing.
//   close_sent the close was submitted; when it completes (closed) the handler's on_close runs
//             and the slot is freed.
// An outbound connection (the connect service) starts in
//   connecting  its socket is being put into the direct-descriptor table, then the connect is
//             in flight under a timer; connected it is open like an accepted one, failed or
//             cancelled it is closed and the handler's done callback (not on_close) reports why.
// Nothing is freed while the kernel may still complete a request naming the connection.
#pragma once

#include <cstdint>
#include <memory>
#include <sys/socket.h>

#include "core/handle.hpp"
#include "net/endpoint.hpp"
#include "net/output_queue.hpp"

namespace gatio::net {

class TcpEndpoint;

// What the kernel reads from our memory while a request is in flight: a gathered send's msghdr
// and slices, or a connect's address. A connection holds one (DriverNet::hold_args) only for
// that time, so an idle connection carries none of these bytes.
struct RequestArgs {
    static constexpr std::size_t max_iov = 16;
    msghdr msg{};
    union {
        iovec iov[max_iov]{};
        sockaddr_storage connect_to;
    };
};

struct Connection final : core::Completion {
    enum Tag : unsigned {
        tag_recv = 0,
        tag_send = 1,
        tag_cancel = 2,
        tag_shutdown = 3,
        tag_close = 4,
        tag_register = 5,
        tag_connect = 6
    };
    // How far closing has come (the header comment). close_sent: the close is in flight;
    // closed: it completed and the slot is about to be freed.
    enum class Phase : std::uint8_t { connecting, open, flushing, shutting, closing, close_sent, closed };
    // An outbound connection's requests before it is open: none, the descriptor's registration
    // in the direct-descriptor table, or the connect.
    enum class Dial : std::uint8_t { none, registering, connecting };
    // The receive request: none, one armed (unbounded: multishot, or one-shot of a whole
    // buffer), one bounded by the connection's output room, one being cancelled, or none ever
    // again (the peer's FIN arrived); last: one of a drain's one-shot non-blocking receives,
    // which take what the kernel already holds for the connection.
    enum class Read : std::uint8_t { idle, armed, bounded, cancelling, ended, last };
    // The one send (IORING_OP_SEND or a gathered sendmsg): none, or one in flight with `in_flight` bytes.
    enum class Send : std::uint8_t { idle, in_flight };
    // Why reading is held back while open (a set of bits).
    enum Pause : std::uint8_t { pause_plugin = 1, pause_watermark = 2, pause_drain = 4 };
    // While gatiod drains. notice: reading stops, what the kernel already received is still
    // delivered, then on_drain is called. Then who closes the connection once its work is done:
    // host, once the instance has nothing in flight (a handler without on_drain), or handler,
    // which answered GATIO_DRAIN_FINISH or GATIO_DRAIN_READ.
    enum class Drain : std::uint8_t { none, notice, host, handler };
    // Which of DriverNet's deferred lists hold the connection (a set of bits).
    enum Queued : std::uint8_t { queued_flush = 1, queued_rearm = 2 };
    static constexpr std::uint32_t no_args = UINT32_MAX;

    Connection(TcpEndpoint& ep, std::uint32_t slot_index, std::uint32_t gen, int descriptor, bool direct)
        : endpoint(ep), slot(slot_index), generation(gen), fd(descriptor), fixed(direct) {}

    void on_completion(const io_uring_cqe& cqe, unsigned tag) override;

    gatio_conn handle() const { return core::Handle{slot, generation}.pack(); }

    bool eof() const { return read == Read::ended; }
    bool reading() const {
        return read == Read::armed || read == Read::bounded || read == Read::cancelling || read == Read::last;
    }
    bool paused(Pause why) const { return (pauses & why) != 0; }
    void pause(Pause why, bool on) { pauses = on ? pauses | why : pauses & ~why; }
    bool queued(Queued list) const { return (lists & list) != 0; }
    void set_queued(Queued list, bool on) { lists = on ? lists | list : lists & ~list; }

    // What holds between any two events; checked after every state change. Fails loudly: a
    // broken invariant means a request could complete into a freed slot or output be lost.
    void assert_invariants() const;

    TcpEndpoint& endpoint;
    std::uint32_t slot;       // set by DriverNet::create_connection
    std::uint32_t generation; // likewise
    int fd;                   // a direct-descriptor index when `fixed`, else a file descriptor
    bool fixed;               // changes only while connecting, when the socket is registered
    Phase phase = Phase::open;
    Dial dial = Dial::none;
    bool outbound = false; // made by the connect service, not accepted
    Read read = Read::idle;
    Send send = Send::idle;
    std::uint8_t pauses = 0;   // Pause bits
    std::uint8_t lists = 0;    // Queued bits
    std::uint8_t side_ops = 0; // cancels and the shutdown in flight
    Drain drain = Drain::none;
    // The handler's shutdown_write: asked (no more sends), and our FIN submitted once the output
    // queued before it went out. Reading goes on until the peer's FIN.
    bool shut_wanted = false;
    bool write_shut = false;
    int reason = 0; // gatio_close_reason, set when closing starts
    // While draining: how many more bytes the last receives may take (drain_read_limit); 0 once
    // the kernel had nothing more (EAGAIN).
    std::uint32_t drain_left = 0;
    void* user = nullptr;
    // The handler's notify_drained watch: called once the output is acknowledged or the
    // connection closes, whichever comes first.
    void (*drained_fn)(gatio_host*, void*, int) = nullptr;
    void* drained_arg = nullptr;
    OutputQueue out;
    std::size_t in_flight = 0; // bytes of the send in flight
    // The lent buffer the send in flight sends with SEND_ZC, else LentPool::none; a socket
    // that refused one (EOPNOTSUPP) is sent to with copies from then on.
    std::uint32_t zerocopy = UINT32_MAX;
    bool zerocopy_refused = false;
    std::uint32_t carry = ChunkPool::none;
    std::uint32_t carry_len = 0;
    core::TimerId timer; // valid while armed
    std::int64_t last_active_ns = 0;
    std::int64_t shut_deadline_ns = 0;
    // Outbound only: the handler's callback until the outcome is reported, and that outcome.
    void (*connect_done)(gatio_host*, gatio_conn, void*, int) = nullptr;
    int connect_result = 0;
    int registered = -1;       // the registration's descriptor in, its table index out
    socklen_t connect_len = 0; // of the held connect_to
    // The RequestArgs held while a gathered send or the connect is in flight, else no_args.
    std::uint32_t args = no_args;
};

class TcpEndpoint final : public Endpoint, public core::Completion {
public:
    TcpEndpoint(DriverNet& net, DriverListener& listener) : Endpoint(net, listener) {}

    void carve(core::Driver& driver) override;
    void start(core::Driver& driver) override;
    void drain() override;
    bool drained() const override;
    void poll() override;
    void stop() override;
    void retire() override;
    void look_again(std::uint64_t socket) override;

    // The listening socket's completions.
    void on_completion(const io_uring_cqe& cqe, unsigned tag) override;
    // A connection's completions.
    void on_connection(Connection& c, const io_uring_cqe& cqe, unsigned tag);
    // Deferred work queued on DriverNet.
    void flush_one(Connection& c);
    void rearm_one(Connection& c);
    // The output budget became tight (DriverNet::tighten).
    void bound_reads(Connection& c);
    void timer_fired(Connection& c);

    int send(gatio_conn conn, const iovec* iov, std::size_t count) override;
    int close(gatio_conn conn, int mode) override;
    int pause_read(gatio_conn conn) override;
    int resume_read(gatio_conn conn) override;
    int set_user(gatio_conn conn, void* user) override;
    void* get_user(gatio_conn conn) override;
    int notify_drained(gatio_conn conn, void (*fn)(gatio_host*, void*, int), void* arg) override;
    std::size_t pending_output(gatio_conn conn) override;
    int connect(const gatio_connect_args& args, gatio_conn* conn) override;
    int lent_send(gatio_conn conn, gatio_lent buf, std::size_t offset, std::size_t len) override;
    int send_received(gatio_conn conn, const std::uint8_t* data, std::size_t len) override;
    int shutdown_write(gatio_conn conn) override;

    // The connection of this endpoint a handle names; nullptr once it is gone. On the driver
    // thread (the state-machine tests read a connection's state through it).
    Connection* find(gatio_conn conn);

private:
    enum Tag : unsigned { tag_accept = 0, tag_cancel_accept = 1, tag_reject = 2, tag_retry = 3 };

    // Sends what c's output holds from its head, with no send in flight.
    void send_queued(Connection& c);
    std::uint32_t zerocopy_min(const Connection& c) const; // 0: no zero-copy send for c
    void send_zerocopy(Connection& c, std::uint32_t buffer);

    void arm_accept();
    void cancel_accept();
    void accepted(int fd);
    // Closes a connection just accepted; `limit` names what refused it (logged at most once
    // per 10 s, the rest counted), nullptr while draining.
    void reject(int fd, const char* limit);
    void dial_done(Connection& c, unsigned tag, int res);
    void submit_connect(Connection& c);
    void connected(Connection& c);

    void recv_done(Connection& c, const io_uring_cqe& cqe);
    void send_done(Connection& c, int res);
    // Delivers and recycles; kernel_keeps: IORING_CQE_F_BUF_MORE (an incremental ring).
    void take_received(Connection& c, std::uint16_t id, std::size_t len, bool kernel_keeps);
    void deliver(Connection& c, const std::uint8_t* data, std::size_t len);
    bool reading_wanted(const Connection& c) const;
    void update_reading(Connection& c);
    void arm_recv(Connection& c);
    void cancel(Connection& c, unsigned tag);
    void check_backpressure(Connection& c);
    // Bytes `c` may still queue within its charge without growing it.
    std::size_t read_room(const Connection& c) const;
    // Every change to a queue goes through these, so that the budget always matches.
    void consume_output(Connection& c, std::size_t bytes);
    void drop_output(Connection& c);
    void begin_close(Connection& c, int reason);
    void abort(Connection& c, int reason, bool reset);
    void progress(Connection& c);
    // An open connection whose handler asked shutdown_write sends its FIN once output is flushed.
    void shut_write(Connection& c);
    void to_closing(Connection& c);
    void settle(Connection& c);
    void finalize(Connection& c);
    void arm_timer(Connection& c, std::int64_t at_ns);
    void release_carry(Connection& c);
    // Drain: once what the kernel received is delivered, what the handler says the connection
    // still needs, and the host's part of it.
    void drain_progress(Connection& c);
    void drain_notice(Connection& c);
    void fire_drained(Connection& c, int status);

    std::unique_ptr<ChunkPool> carry_pool_; // handlers with max_unconsumed > 0 only
    std::uint32_t carry_capacity_ = 0;
    std::uint32_t reserve_ = 0;  // chunks of output budget each connection is admitted with
    std::uint32_t live_ = 0;     // connections of this endpoint in the slab
    std::uint32_t outbound_ = 0; // of those, made by the connect service
    bool direct_ = false;
    bool accept_active_ = false;
    bool accept_cancelling_ = false;
    bool accept_retry_ = false; // accept_retry_timer_ is pending: it arms the accept again
    core::TimerId accept_retry_timer_;
    std::uint64_t socket_inode_ = 0; // of the listening socket, which dup()s share
    bool draining_ = false;
    std::uint32_t host_drains_ = 0; // connections the host closes once the instance is idle
    std::uint32_t reject_ops_ = 0;
    std::uint64_t accept_error_logged_ = 0;
    LogThrottle refusal_log_{10'000'000'000}; // a refused connection: a record per 10 s at most
};

} // namespace gatio::net
