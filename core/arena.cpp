#include "core/arena.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

#include "core/numa_policy.hpp"

namespace gatio::core {

namespace {

std::size_t round_up(std::size_t value, std::size_t to) {
    return (value + to - 1) / to * to;
}

} // namespace

Arena::Arena(std::string name, std::size_t bytes, int node, config::MemoryPolicy policy)
    : name_(std::move(name)), node_(node), policy_(policy) {
    auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    capacity_ = round_up(bytes == 0 ? page : bytes, page);
    // NORESERVE: the arena is sized for the worst case; it is address space, and a page costs
    // memory only once something touches it.
    void* p =
        mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        throw std::runtime_error("arena " + name_ + ": reserving " + std::to_string(capacity_) +
                                 " bytes: " + std::strerror(errno));
    }
    base_ = static_cast<unsigned char*>(p);
    try {
        apply_range_policy(base_, capacity_, policy_, node_);
    } catch (const std::exception& e) {
        munmap(base_, capacity_);
        throw std::runtime_error("arena " + name_ + ": " + e.what());
    }
}

Arena::~Arena() {
    munmap(base_, capacity_);
}

void* Arena::allocate(std::size_t bytes, std::size_t align) {
    assert(align != 0 && (align & (align - 1)) == 0);
    unsigned char* out = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (sealed_) {
            throw std::logic_error("arena " + name_ + ": allocation of " + std::to_string(bytes) +
                                   " bytes after start-up");
        }
        auto start = round_up(reinterpret_cast<std::uintptr_t>(base_) + used_, align) -
                     reinterpret_cast<std::uintptr_t>(base_);
        if (start > capacity_ || bytes > capacity_ - start) {
            throw std::runtime_error("arena " + name_ + " exhausted: " + std::to_string(bytes) +
                                     " bytes asked, " +
                                     std::to_string(capacity_ - std::min(used_, capacity_)) + " of " +
                                     std::to_string(capacity_) + " left");
        }
        out = base_ + start;
        used_ = start + bytes;
    }
    // The bump pointer never hands a byte out twice, so `out` lies in pages nothing has touched:
    // the kernel gives those zeroed on first touch, placed by the range's policy at that fault.
    // Writing them here would commit the worst case at start-up.
    return out;
}

void Arena::seal() {
    std::lock_guard lock(mutex_);
    sealed_ = true;
}

std::size_t Arena::used() const {
    std::lock_guard lock(mutex_);
    return used_;
}

} // namespace gatio::core
