#pragma once
// Skipping a test that cannot run in this environment (no journald, not root, one CPU...).
// Catch2 2 has no skip of its own: GATIO_SKIP says why, marks the run and leaves the test case.
// A run with a skip and no failure exits with gatio::test::skip_exit_code, which CTest reports
// as "Skipped" (SKIP_RETURN_CODE, set where the tests are registered).
#include <catch2/catch.hpp>

namespace gatio::test {

// The exit code of automake's and CTest's convention for a skipped test.
inline constexpr int skip_exit_code = 77;

// Records that the running test case was skipped (read by the shared main()).
void mark_skipped();

} // namespace gatio::test

#define GATIO_SKIP(reason)                                                                                   \
    do {                                                                                                     \
        ::gatio::test::mark_skipped();                                                                       \
        WARN("skipped: " << reason);                                                                         \
        return;                                                                                              \
    } while (false)
