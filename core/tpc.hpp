// A Thread Pool Context: the drivers of one NUMA node (by default) and the memory they share.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/arena.hpp"
#include "core/topology.hpp"

namespace gatio::core {

struct RuntimeOptions;

class Tpc {
public:
    Tpc(const TpcPlan& plan, std::size_t arena_bytes);

    const std::string& name() const { return name_; }
    int index() const { return index_; }
    int numa_node() const { return numa_node_; }
    config::MemoryPolicy memory() const { return memory_; }
    Arena& arena() { return *arena_; }

    const std::vector<int>& drivers() const { return drivers_; }           // global indexes
    const std::vector<int>& exec_drivers() const { return exec_drivers_; } // role exec or io+exec
    // TPC indexes by NUMA distance from this one: itself first, ties by index.
    const std::vector<int>& nearest() const { return nearest_; }
    void set_nearest(std::vector<int> order) { nearest_ = std::move(order); }

    // Address space a TPC's arena reserves for `plan` (buffer rings, task, timer and mailbox
    // slabs of each driver, plus the extra asked for modules).
    static std::size_t arena_bytes_for(const TpcPlan& plan, int total_drivers, const RuntimeOptions& options);

private:
    std::string name_;
    int index_;
    int numa_node_;
    config::MemoryPolicy memory_;
    std::unique_ptr<Arena> arena_;
    std::vector<int> drivers_;
    std::vector<int> exec_drivers_;
    std::vector<int> nearest_;
};

} // namespace gatio::core
