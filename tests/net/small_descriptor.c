/* A handler whose descriptor claims to end after its version fields. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .struct_size = 16};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
