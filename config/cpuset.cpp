#include "config/cpuset.hpp"

namespace gatio::config {

std::vector<int> CpuSet::cpus() const {
    std::vector<int> out;
    out.reserve(size());
    for (int cpu = 0; cpu < max_cpus; ++cpu) {
        if (bits_.test(static_cast<std::size_t>(cpu))) {
            out.push_back(cpu);
        }
    }
    return out;
}

std::string CpuSet::to_string() const {
    std::string out;
    auto list = cpus();
    for (std::size_t i = 0; i < list.size();) {
        std::size_t j = i;
        while (j + 1 < list.size() && list[j + 1] == list[j] + 1) {
            ++j;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(list[i]);
        if (j > i) {
            out += '-';
            out += std::to_string(list[j]);
        }
        i = j + 1;
    }
    return out;
}

} // namespace gatio::config
