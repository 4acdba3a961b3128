/* A shared object that exports a descriptor under the wrong name. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry_v2(void) {
    return &descriptor;
}
