// UDP: one bound socket per driver with a multishot recvmsg into the driver's provided buffers.
// Each datagram goes to the handler with its source; replies are copied into reply slots and
// sent with sendmsg to that source, all of a loop turn's replies submitted together.
#pragma once

#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/slab.hpp"
#include "net/endpoint.hpp"

namespace gatio::net {

class UdpEndpoint;

struct UdpReply final : core::Completion {
    explicit UdpReply(UdpEndpoint& ep) : endpoint(ep) {}
    void on_completion(const io_uring_cqe& cqe, unsigned tag) override;

    UdpEndpoint& endpoint;
    sockaddr_storage to{};
    msghdr msg{};
    iovec iov{};
};

class UdpEndpoint final : public Endpoint, public core::Completion {
public:
    UdpEndpoint(DriverNet& net, DriverListener& listener) : Endpoint(net, listener) {}

    // Arena bytes carve() takes on a driver whose buffers are `buffer_size` bytes.
    static std::size_t arena_bytes(std::uint32_t reply_slots, std::uint32_t buffer_size);

    void carve(core::Driver& driver) override;
    void start(core::Driver& driver) override;
    void poll() override;
    void drain() override;
    bool drained() const override;
    void retire() override;

    void on_completion(const io_uring_cqe& cqe, unsigned tag) override;
    void reply_done(UdpReply& r, int res);

    int send_to(const sockaddr* to, socklen_t to_len, const void* data, std::size_t len) override;

private:
    enum Tag : unsigned { tag_recv = 0, tag_cancel = 1 };

    void arm_recv();
    void cancel_recv();
    void datagram(std::uint16_t buffer, int length);

    std::unique_ptr<core::Slab<UdpReply>> replies_;
    std::byte* reply_data_ = nullptr; // reply_slots x reply_capacity_
    std::uint32_t reply_capacity_ = 0;
    msghdr recv_msg_{}; // the layout the kernel writes into each buffer
    bool recv_active_ = false;
    bool recv_cancelling_ = false;
    bool rearm_ = false;
    bool draining_ = false;
    std::uint64_t error_logged_ = 0;
};

} // namespace gatio::net
