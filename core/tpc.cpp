#include "core/tpc.hpp"

#include "core/buffer_ring.hpp"
#include "core/driver.hpp"
#include "core/mailbox.hpp"
#include "core/timer_wheel.hpp"

namespace gatio::core {

namespace {

constexpr std::size_t page = 4096;
// Per-allocation alignment padding and small objects the estimate does not itemise.
constexpr std::size_t slack_per_driver = 256 * 1024;

} // namespace

Tpc::Tpc(const TpcPlan& plan, std::size_t arena_bytes)
    : name_(plan.name), index_(plan.index), numa_node_(plan.numa_node), memory_(plan.memory),
      arena_(std::make_unique<Arena>("tpc " + plan.name, arena_bytes, plan.numa_node, plan.memory)) {
    for (const auto& d : plan.drivers) {
        drivers_.push_back(d.index);
        if (config::does_exec(d.role)) {
            exec_drivers_.push_back(d.index);
        }
    }
}

std::size_t Tpc::arena_bytes_for(const TpcPlan& plan, int total_drivers, const RuntimeOptions& options) {
    auto n = static_cast<std::size_t>(total_drivers);
    std::size_t bytes = options.arena_extra_bytes;
    for (const auto& d : plan.drivers) {
        const DriverLimits& limits = options.limits_for(d.index);
        bytes +=
            options.buffer_rings_per_driver * BufferRing::memory_for(d.ring.buffer_count, d.ring.buffer_size);
        bytes += static_cast<std::size_t>(limits.task_slots) * (sizeof(Task) + sizeof(std::uint32_t));
        bytes += TimerWheel::memory_for(limits.timer_slots, options.timer_wheel_slots);
        bytes += n * (sizeof(SpscQueue<Task*>) + options.mailbox_capacity * sizeof(Task*) + cache_line);
        bytes += sizeof(SpscQueue<ExternalMessage>) + options.external_capacity * sizeof(ExternalMessage);
        bytes += slack_per_driver;
    }
    return bytes;
}

} // namespace gatio::core
