/* A handler whose init() refuses, with its own reason. */
#include <stdio.h>

#include "test_plugin.h"

static int fail_init(const gatio_services* services, char* error, size_t error_size) {
    snprintf(error, error_size, "license file missing (host ABI %u.%u)", (unsigned)services->abi_major,
             (unsigned)services->abi_minor);
    return 1;
}

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .init = fail_init};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
