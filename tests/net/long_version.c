/* A handler whose version is longer than the ABI allows. */
#include "test_plugin.h"

static const gatio_plugin descriptor = {
    TEST_DESCRIPTOR_INIT,
    .version = "0123456789012345678901234567890123456789012345678901234567890123456789"};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
