// A latency histogram with fixed memory: log-linear buckets (16 per power of two), so any
// percentile is read back within 1/16 (6.25%) of the true value, from nanoseconds to hours.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace gatio::loadgen {

class Histogram {
public:
    void record(std::uint64_t ns) {
        ++counts_[bucket_of(ns)];
        ++total_;
    }

    void merge(const Histogram& other) {
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            counts_[i] += other.counts_[i];
        }
        total_ += other.total_;
    }

    std::uint64_t count() const { return total_; }

    // The upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
    std::uint64_t quantile(double q) const {
        if (total_ == 0) {
            return 0;
        }
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
        rank = rank == 0 ? 1 : rank;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                return upper_bound(i);
            }
        }
        return upper_bound(counts_.size() - 1);
    }

private:
    static constexpr unsigned sub_bits = 4;
    static constexpr unsigned sub = 1u << sub_bits;

    // Values below `sub` get a bucket each; above, the top bit picks the group and the next
    // sub_bits bits the bucket within it.
    static std::size_t bucket_of(std::uint64_t v) {
        if (v < sub) {
            return static_cast<std::size_t>(v);
        }
        unsigned top = 63u - static_cast<unsigned>(std::countl_zero(v));
        auto mantissa = static_cast<unsigned>((v >> (top - sub_bits)) & (sub - 1));
        return static_cast<std::size_t>((top - sub_bits + 1) * sub + mantissa);
    }

    static std::uint64_t upper_bound(std::size_t bucket) {
        if (bucket < sub) {
            return bucket;
        }
        auto group = static_cast<unsigned>(bucket / sub); // >= 1
        auto mantissa = static_cast<std::uint64_t>(bucket % sub);
        unsigned top = group + sub_bits - 1;
        std::uint64_t base = (std::uint64_t{1} << top) | (mantissa << (top - sub_bits));
        return base + (std::uint64_t{1} << (top - sub_bits)) - 1;
    }

    std::array<std::uint64_t, (64 - sub_bits + 1) * sub> counts_{};
    std::uint64_t total_ = 0;
};

} // namespace gatio::loadgen
