/* A handler built against a future, incompatible ABI. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .abi_major = GATIO_ABI_MAJOR + 1};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
