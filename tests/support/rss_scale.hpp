#pragma once

#include <cstdint>

namespace gatio::test {

// ThreadSanitizer gives every byte gatiod touches about five more (its shadow cells and the
// meta shadow); a bound on gatiod's memory growth scales by this in a tsan build.
#if defined(__SANITIZE_THREAD__)
inline constexpr std::uint64_t rss_scale = 6;
#else
inline constexpr std::uint64_t rss_scale = 1;
#endif

} // namespace gatio::test
