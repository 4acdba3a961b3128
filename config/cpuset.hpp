// A set of logical CPU numbers, written as a Linux cpulist ("0-3,8").
#pragma once

#include <bitset>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gatio::config {

class CpuSet {
public:
    static constexpr int max_cpus = 4096; // CONFIG_NR_CPUS upper bound on common kernels

    CpuSet() = default;
    void add(int cpu) { bits_.set(static_cast<std::size_t>(cpu)); }
    bool contains(int cpu) const {
        return cpu >= 0 && cpu < max_cpus && bits_.test(static_cast<std::size_t>(cpu));
    }
    std::size_t size() const { return bits_.count(); }
    bool empty() const { return bits_.none(); }
    std::vector<int> cpus() const; // ascending
    std::string to_string() const; // canonical cpulist, e.g. "0-3,8"
    friend bool operator==(const CpuSet&, const CpuSet&) = default;

private:
    std::bitset<max_cpus> bits_;
};

} // namespace gatio::config
