// libFuzzer entry point for the resp parser and commands; the check is shared with the tests.
#include <cstddef>
#include <cstdint>

#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // A failed check throws: uncaught, it aborts and libFuzzer saves the input.
    gatio::resp::check::run_case({data, size});
    return 0;
}
