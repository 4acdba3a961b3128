/* A handler depending on a function nothing provides: dlopen(RTLD_NOW) must fail. */
#include "test_plugin.h"

extern int gatio_test_function_nobody_defines(void);

static int init_calls_missing(const gatio_services* services, char* error, size_t error_size) {
    (void)services;
    (void)error;
    (void)error_size;
    return gatio_test_function_nobody_defines();
}

static const gatio_plugin descriptor = {TEST_DESCRIPTOR_INIT, .init = init_calls_missing};

GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
