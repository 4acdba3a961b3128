// TCP: one listening socket per driver with a multishot accept, and the connections it yields.
//
// A connection's life, all on its driver's thread:
//   open      multishot recv with buffer select; data goes to the handler and the buffer back to
//             the ring as soon as on_data returns; output is queued and sent by one gathered
//             sendmsg at a time, continued after partial sends.
//   flushing  an orderly close was asked: input is discarded, queued output still goes out.
//   shutting  output is flushed and our FIN sent (shutdown SHUT_WR); input is discarded until
//             the peer's FIN or close_linger, so unread input cannot turn our close into a reset.
//   closing   waiting for the receive and send in flight to end (cancelled) before closing.
//   closed    the close was submitted; when it completes the handler's on_close runs and the
//             slot is freed.
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

struct Connection final : core::Completion {
    enum Tag : unsigned { tag_recv = 0, tag_send = 1, tag_cancel = 2, tag_shutdown = 3, tag_close = 4 };
    enum class Phase : std::uint8_t { open, flushing, shutting, closing, closed };
    static constexpr std::size_t max_iov = 16;

    Connection(TcpEndpoint& ep, std::uint32_t slot_index, std::uint32_t gen, int descriptor, bool direct)
        : endpoint(ep), slot(slot_index), generation(gen), fd(descriptor), fixed(direct) {}

    void on_completion(const io_uring_cqe& cqe, unsigned tag) override;

    gatio_conn handle() const { return core::Handle{slot, generation}.pack(); }

    TcpEndpoint& endpoint;
    std::uint32_t slot;       // set by DriverNet::create_connection
    std::uint32_t generation; // likewise
    const int fd;             // a direct-descriptor index when `fixed`, else a file descriptor
    const bool fixed;
    Phase phase = Phase::open;
    int reason = 0; // gatio_close_reason, set when closing starts
    bool opened = false;
    bool eof = false; // the peer's FIN arrived
    bool recv_active = false;
    bool recv_cancelling = false;
    bool send_active = false;
    bool close_active = false;
    bool paused_by_plugin = false;
    bool paused_by_watermark = false;
    bool paused_by_pressure = false;
    bool queued_flush = false;
    bool queued_rearm = false;
    bool queued_pressure = false;
    bool timer_armed = false;
    std::uint8_t side_ops = 0; // cancels and the shutdown in flight
    void* user = nullptr;
    OutputQueue out;
    std::size_t in_flight = 0; // bytes of the send in flight
    std::uint32_t carry = ChunkPool::none;
    std::uint32_t carry_len = 0;
    core::TimerId timer;
    std::int64_t last_active_ns = 0;
    std::int64_t shut_deadline_ns = 0;
    msghdr msg{};
    iovec iov[max_iov]{};
};

class TcpEndpoint final : public Endpoint, public core::Completion {
public:
    TcpEndpoint(DriverNet& net, DriverListener& listener) : Endpoint(net, listener) {}

    void start(core::Driver& driver) override;
    void drain() override;
    bool drained() const override;
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
    void resume_after_pressure(Connection& c);
    void timer_fired(Connection& c);

    int send(gatio_conn conn, const iovec* iov, std::size_t count) override;
    int close(gatio_conn conn, int mode) override;
    int pause_read(gatio_conn conn) override;
    int resume_read(gatio_conn conn) override;
    int set_user(gatio_conn conn, void* user) override;
    void* get_user(gatio_conn conn) override;
    std::size_t pending_output(gatio_conn conn) override;

private:
    enum Tag : unsigned { tag_accept = 0, tag_cancel_accept = 1, tag_reject = 2, tag_retry = 3 };

    Connection* find(gatio_conn conn);
    void arm_accept();
    void cancel_accept();
    void accepted(int fd);
    void reject(int fd);

    void recv_done(Connection& c, const io_uring_cqe& cqe);
    void send_done(Connection& c, int res);
    void deliver(Connection& c, const std::uint8_t* data, std::size_t len);
    bool reading_wanted(const Connection& c) const;
    void update_reading(Connection& c);
    void arm_recv(Connection& c);
    void cancel(Connection& c, unsigned tag);
    void check_backpressure(Connection& c);
    void begin_close(Connection& c, int reason);
    void abort(Connection& c, int reason, bool reset);
    void progress(Connection& c);
    void to_closing(Connection& c);
    void settle(Connection& c);
    void finalize(Connection& c);
    void arm_timer(Connection& c, std::int64_t at_ns);
    void release_carry(Connection& c);

    std::unique_ptr<ChunkPool> carry_pool_; // handlers with max_unconsumed > 0 only
    std::uint32_t carry_capacity_ = 0;
    std::uint32_t live_ = 0; // connections of this endpoint in the slab
    bool direct_ = false;
    bool accept_active_ = false;
    bool accept_cancelling_ = false;
    bool accept_retry_ = false; // accept_retry_timer_ is pending: it arms the accept again
    core::TimerId accept_retry_timer_;
    std::uint64_t socket_inode_ = 0; // of the listening socket, which dup()s share
    bool draining_ = false;
    std::uint32_t reject_ops_ = 0;
    std::uint64_t accept_error_logged_ = 0;
};

} // namespace gatio::net
