/* A handler that claims a transport bit this ABI does not define. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .transports = GATIO_TRANSPORT_TCP | 0x8u};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
