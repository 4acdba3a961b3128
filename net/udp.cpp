#include "net/udp.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "net/driver_net.hpp"

namespace gatio::net {

void UdpReply::on_completion(const io_uring_cqe& cqe, unsigned) {
    endpoint.reply_done(*this, cqe.res);
}

std::size_t UdpEndpoint::arena_bytes(std::uint32_t reply_slots, std::uint32_t buffer_size) {
    // Three allocations: the reply slab's objects and free list, and the reply buffers.
    return static_cast<std::size_t>(reply_slots) * (sizeof(UdpReply) + sizeof(std::uint32_t) + buffer_size) +
           core::alignment_slack(3);
}

void UdpEndpoint::carve(core::Driver& d) {
    const std::uint32_t slots = net_.options().udp_reply_slots;
    reply_capacity_ = d.ring_settings().buffer_size;
    replies_ = std::make_unique<core::Slab<UdpReply>>(net_.memory(), slots);
    reply_data_ = static_cast<std::byte*>(
        net_.memory().allocate(static_cast<std::size_t>(slots) * reply_capacity_, core::cache_line));
}

void UdpEndpoint::start(core::Driver& d) {
    Endpoint::start(d);
    // Each buffer receives an io_uring_recvmsg_out header, the source address, then the payload.
    recv_msg_.msg_namelen = sizeof(sockaddr_storage);
    recv_msg_.msg_controllen = 0;
    arm_recv();
}

void UdpEndpoint::arm_recv() {
    io_uring_sqe* sqe = driver().get_sqe(static_cast<core::Completion*>(this), tag_recv);
    if (net_.multishot_recv()) {
        io_uring_prep_recvmsg_multishot(sqe, listener_.socket.get(), &recv_msg_, 0);
    } else {
        io_uring_prep_recvmsg(sqe, listener_.socket.get(), &recv_msg_, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = net_.buffer_group();
    recv_active_ = true;
}

void UdpEndpoint::on_completion(const io_uring_cqe& cqe, unsigned tag) {
    if (tag == tag_cancel) {
        recv_cancelling_ = false;
        if (cqe.res != 0 && cqe.res != -ENOENT && cqe.res != -EALREADY) {
            log().error("{}: cancelling the receive failed: {}", describe_listener(config()),
                        std::strerror(-cqe.res));
        }
        return;
    }
    assert(tag == tag_recv);
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
        recv_active_ = false;
    }
    if (core::BufferRing::has_buffer(cqe.flags)) {
        std::uint16_t id = core::BufferRing::buffer_id(cqe.flags);
        assert(!net_.buffers().incremental()); // a module serving UDP keeps whole buffers
        if (cqe.res > 0 && !draining_) {
            datagram(id, cqe.res);
        }
        net_.buffers().recycle(id);
    } else if (cqe.res == -ENOBUFS) {
        ++net_.stats().recv_enobufs;
        net_.buffers().grow();
    } else if (cqe.res < 0 && cqe.res != -ECANCELED) {
        if (error_logged_++ == 0) {
            log().warn("{}: receive failed: {} (re-armed; further failures are only counted)",
                       describe_listener(config()), std::strerror(-cqe.res));
        }
        ++net_.stats().datagram_drops;
    }
    if (!recv_active_ && !draining_ && !retiring_) {
        // Buffers come back as handlers return: arm again in this turn's poll.
        rearm_ = true;
    }
}

void UdpEndpoint::datagram(std::uint16_t buffer, int length) {
    std::byte* base = net_.buffers().data(buffer);
    io_uring_recvmsg_out* out = io_uring_recvmsg_validate(base, length, &recv_msg_);
    if (out == nullptr) {
        ++net_.stats().datagram_drops;
        log().error("{}: a received datagram's header does not fit its buffer", describe_listener(config()));
        return;
    }
    ++net_.stats().datagrams_received;
    ++counters().datagrams_received;
    gatio_datagram d{};
    d.struct_size = sizeof d;
    if ((out->flags & MSG_TRUNC) != 0) {
        ++net_.stats().datagrams_truncated;
        d.flags |= GATIO_DATAGRAM_TRUNCATED;
    }
    d.data = static_cast<const std::uint8_t*>(io_uring_recvmsg_payload(out, &recv_msg_));
    d.len = io_uring_recvmsg_payload_length(out, length, &recv_msg_);
    d.source = static_cast<const sockaddr*>(io_uring_recvmsg_name(out));
    d.source_len = std::min<socklen_t>(out->namelen, recv_msg_.msg_namelen);
    error_logged_ = 0;
    ++net_.stats().dispatched;
    ++counters().dispatched;
    guarded("on_datagram", "the datagram is dropped", 0, plugin().on_datagram, instance(), &d);
}

int UdpEndpoint::send_to(const sockaddr* to, socklen_t to_len, const void* data, std::size_t len) {
    if (to_len == 0 || to_len > sizeof(sockaddr_storage)) {
        return GATIO_ERR_INVALID;
    }
    UdpReply* r = len <= reply_capacity_ ? replies_->create(*this) : nullptr;
    if (r == nullptr) {
        ++net_.stats().datagram_drops;
        ++counters().datagram_drops;
        return GATIO_ERR_LIMIT;
    }
    std::byte* payload = reply_data_ + static_cast<std::size_t>(replies_->index_of(r)) * reply_capacity_;
    std::memcpy(payload, data, len);
    std::memcpy(&r->to, to, to_len);
    r->iov = iovec{payload, len};
    r->msg.msg_name = &r->to;
    r->msg.msg_namelen = to_len;
    r->msg.msg_iov = &r->iov;
    r->msg.msg_iovlen = 1;
    io_uring_sqe* sqe = driver().get_sqe(r, 0);
    io_uring_prep_sendmsg(sqe, listener_.socket.get(), &r->msg, 0);
    return GATIO_OK;
}

void UdpEndpoint::reply_done(UdpReply& r, int res) {
    if (res >= 0) {
        ++net_.stats().datagrams_sent;
        ++counters().datagrams_sent;
    } else {
        ++net_.stats().datagram_drops;
        ++counters().datagram_drops;
        if (error_logged_++ == 0) {
            log().warn("{}: sending a reply failed: {}", describe_listener(config()), std::strerror(-res));
        }
    }
    replies_->destroy(&r);
}

void UdpEndpoint::poll() {
    if (rearm_ && !recv_active_ && !draining_ && !retiring_) {
        rearm_ = false;
        if (net_.multishot_recv()) {
            ++net_.stats().udp_rearms;
        }
        arm_recv();
    }
}

void UdpEndpoint::drain() {
    draining_ = true;
    cancel_recv();
}

void UdpEndpoint::retire() {
    // Datagrams the receive still delivers are answered; the socket closes with this endpoint.
    retiring_ = true;
    cancel_recv();
}

void UdpEndpoint::cancel_recv() {
    if (recv_active_ && !recv_cancelling_) {
        io_uring_sqe* sqe = driver().get_sqe(static_cast<core::Completion*>(this), tag_cancel);
        io_uring_prep_cancel64(sqe, core::encode_completion(static_cast<core::Completion*>(this), tag_recv),
                               0);
        recv_cancelling_ = true;
    }
}

bool UdpEndpoint::drained() const {
    // An endpoint whose start failed has no reply slab and nothing in flight.
    return !recv_active_ && !recv_cancelling_ && (!replies_ || replies_->size() == 0);
}

} // namespace gatio::net
