/* A handler whose name would break the key=value context of every log record it appears in. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .name = "two words"};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
