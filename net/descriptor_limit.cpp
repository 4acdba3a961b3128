#include "net/descriptor_limit.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

namespace gatio::net {

std::uint32_t DescriptorLimit::table_slots(std::uint64_t wanted) const {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>({wanted, allowed, UINT32_MAX}));
}

DescriptorLimit raise_descriptor_limit(std::uint64_t needed) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return {needed};
    }
    if (lim.rlim_cur >= needed) {
        return {lim.rlim_cur};
    }
    // Privileged processes may lift the hard limit too; others get as close as it allows.
    rlimit want{static_cast<rlim_t>(needed), std::max<rlim_t>(lim.rlim_max, needed)};
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) {
        return {needed};
    }
    want = {std::min<rlim_t>(needed, lim.rlim_max), lim.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
        spdlog::warn("raising RLIMIT_NOFILE to {}: {}", want.rlim_cur, std::strerror(errno));
        return {lim.rlim_cur};
    }
    return {want.rlim_cur};
}

void report_descriptor_cap(const DescriptorLimit& limit, std::uint64_t wanted) {
    if (!limit.caps(wanted)) {
        return;
    }
    spdlog::info("RLIMIT_NOFILE allows {} descriptors, which caps each driver's table of direct descriptors "
                 "and so the connections it holds at once (its listeners' max_connections add up to {}; "
                 "raise LimitNOFILE= for more)",
                 limit.allowed, wanted);
}

} // namespace gatio::net
