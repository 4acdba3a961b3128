/* A handler that declares it may leave almost 4 GiB unconsumed per connection. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .max_unconsumed = 0xFFFFFFF0u};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
