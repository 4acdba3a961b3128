#include "core/placement.hpp"

#include <algorithm>

namespace gatio::core {

std::uint32_t decayed_busy(std::uint32_t permille, std::int64_t measured_ns, std::int64_t now_ns) {
    const std::int64_t stale = now_ns - measured_ns - busy_window_ns;
    if (stale <= 0) {
        return permille; // renewed within the last window: current
    }
    if (stale >= busy_decay_ns) {
        return 0;
    }
    return static_cast<std::uint32_t>(static_cast<std::int64_t>(permille) * (busy_decay_ns - stale) /
                                      busy_decay_ns);
}

std::uint64_t placement_score(const ExecutorSignals& s, std::int64_t now_ns) {
    const std::uint32_t busy = decayed_busy(s.busy_permille.load(std::memory_order_relaxed),
                                            s.busy_at_ns.load(std::memory_order_relaxed), now_ns);
    std::uint64_t tasks = s.depth.load(std::memory_order_relaxed);
    const std::int64_t since = s.running_since_ns.load(std::memory_order_relaxed);
    if (since != 0 && now_ns > since) {
        tasks += static_cast<std::uint64_t>(
            std::min<std::int64_t>((now_ns - since) / running_weight_ns, max_running_weight));
    }
    return load_per_task * tasks + busy / permille_per_load;
}

PlacementRng::PlacementRng(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull | 1) {}

std::uint64_t PlacementRng::next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
}

std::uint32_t PlacementRng::below(std::uint32_t n) {
    // The high half, scaled: no modulo bias worth speaking of at these sizes.
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
}

Choice two_choices(std::span<const int> candidates, SignalTable signals, PlacementRng& rng,
                   std::int64_t now_ns) {
    const auto n = static_cast<std::uint32_t>(candidates.size());
    if (n == 0) {
        return {};
    }
    auto score_of = [&](int d) { return placement_score(*signals[static_cast<std::size_t>(d)], now_ns); };
    if (n == 1) {
        return {candidates[0], score_of(candidates[0])};
    }
    const std::uint32_t i = rng.below(n);
    std::uint32_t j = rng.below(n - 1);
    j += j >= i ? 1 : 0;
    const int a = candidates[i];
    const int b = candidates[j];
    const std::uint64_t sa = score_of(a);
    const std::uint64_t sb = score_of(b);
    return sb < sa ? Choice{b, sb} : Choice{a, sa};
}

int key_executor(std::uint64_t key, std::span<const int> executors) {
    if (executors.empty()) {
        return -1;
    }
    // splitmix64's finaliser, so that keys differing in a few low bits still spread.
    std::uint64_t h = key + 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    const auto slot = static_cast<std::size_t>((static_cast<unsigned __int128>(h) * executors.size()) >> 64);
    return executors[slot];
}

} // namespace gatio::core
