#include "core/buffer_ring.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/ring.hpp"

namespace gatio::core {

namespace {

// Linux 6.8's IORING_REGISTER_PBUF_STATUS, which Debian 12's headers predate.
constexpr unsigned register_pbuf_status = 26;
struct PbufStatus {
    std::uint32_t buf_group;
    std::uint32_t head; // the kernel's consumer index, modulo 2^16
    std::uint32_t resv[8];
};

} // namespace

BufferRing::BufferRing(io_uring& ring, Arena& arena, std::uint16_t group, std::uint32_t count,
                       std::uint32_t size, bool incremental)
    : group_(group), count_(count), size_(size), incremental_(incremental) {
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
        throw std::invalid_argument("buffer group " + std::to_string(group) + ": count " +
                                    std::to_string(count) + " is not a power of two in 1..32768");
    }
    if (size == 0) {
        throw std::invalid_argument("buffer group " + std::to_string(group) + ": buffer size is 0");
    }
    // The kernel maps the ring itself, so it must start on a page.
    auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    br_ = static_cast<io_uring_buf_ring*>(arena.allocate(sizeof(io_uring_buf) * count, page));
    buffers_ = static_cast<std::byte*>(arena.allocate(static_cast<std::size_t>(count) * size, cache_line));
    order_ = static_cast<std::uint16_t*>(arena.allocate(2 * sizeof(std::uint16_t) * count, cache_line));
    position_ = static_cast<std::uint32_t*>(arena.allocate(sizeof(std::uint32_t) * count, cache_line));
    order_mask_ = 2 * count - 1;
    offset_ = static_cast<std::uint32_t*>(arena.allocate(sizeof(std::uint32_t) * count, cache_line));
    kept_ = static_cast<bool*>(arena.allocate(sizeof(bool) * count, cache_line));
    std::fill_n(offset_, count, 0U);
    std::fill_n(kept_, count, false);

    // The buffers are left untouched: the kernel's copy of a receive faults a page in like any
    // write, so a buffer costs memory once the kernel has picked it.
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br_);
    reg.ring_entries = count;
    reg.bgid = group;
    reg.pad = incremental ? uapi::pbuf_ring_inc : 0; // the kernel's flags since 6.12; pad in older headers
    int ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret < 0) {
        throw std::runtime_error("registering buffer group " + std::to_string(group) + " (" +
                                 std::to_string(count) + " x " + std::to_string(size) +
                                 " bytes): " + std::strerror(-ret));
    }
    io_uring_buf_ring_init(br_);
    mask_ = io_uring_buf_ring_mask(count);
    provide(std::min(count, initial_provided));
}

std::size_t BufferRing::memory_for(std::uint32_t count, std::uint32_t size) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t per_buffer = std::size_t{size} + sizeof(io_uring_buf) + 2 * sizeof(std::uint16_t) +
                                   2 * sizeof(std::uint32_t) + sizeof(bool);
    return static_cast<std::size_t>(count) * per_buffer + page + 5 * cache_line;
}

void BufferRing::add(std::uint16_t id, int offset) {
    io_uring_buf_ring_add(br_, data(id), size_, id, mask_, offset);
    order_[added_ & order_mask_] = id;
    position_[id] = added_ & order_mask_;
    ++added_;
}

void BufferRing::provide(std::uint32_t more) {
    for (std::uint32_t i = 0; i < more; ++i) {
        add(static_cast<std::uint16_t>(provided_ + i), static_cast<int>(i));
    }
    io_uring_buf_ring_advance(br_, static_cast<int>(more));
    provided_ += more;
}

bool BufferRing::grow() {
    if (provided_ == count_) {
        return false;
    }
    provide(std::min(provided_, count_ - provided_));
    return true;
}

BufferRing::~BufferRing() = default;

void BufferRing::recycle(std::uint16_t id) {
    assert(id < provided_ && !kept_[id]);
    offset_[id] = 0;
    add(id, 0);
    io_uring_buf_ring_advance(br_, 1);
}

int BufferRing::available(io_uring& ring) const {
    PbufStatus status{};
    status.buf_group = group_;
    if (::syscall(__NR_io_uring_register, ring.ring_fd, register_pbuf_status, &status, 1) < 0) {
        return -1;
    }
    // Both indexes wrap at 2^16; the ring never holds more than 32768 buffers.
    return static_cast<std::uint16_t>(br_->tail - static_cast<std::uint16_t>(status.head));
}

} // namespace gatio::core
