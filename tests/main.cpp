// One Catch2 main shared by every test program: a run that skipped a test case (GATIO_SKIP) and
// failed none exits with the skip code CTest recognises.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tests/support/skip.hpp"

namespace {
bool skipped = false;
}

void gatio::test::mark_skipped() {
    skipped = true;
}

int main(int argc, char* argv[]) {
    // Catch2 exits with the number of failed assertions: 77 of them must not read as a skip.
    int failed = Catch::Session().run(argc, argv);
    if (failed == 0 && skipped) {
        return gatio::test::skip_exit_code;
    }
    return failed == gatio::test::skip_exit_code ? failed + 1 : failed;
}
