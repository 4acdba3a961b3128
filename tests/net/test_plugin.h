/* Shared pieces of the deliberately broken handlers the loader tests load. Each plugin source
 * defines its own descriptor so that exactly one property differs from a valid handler. */
#ifndef GATIO_TEST_PLUGIN_H
#define GATIO_TEST_PLUGIN_H

#include <gatio/plugin.h>

static int test_create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error,
                       size_t error_size) {
    (void)info;
    (void)error;
    (void)error_size;
    *instance = host;
    return 0;
}

static void test_destroy(void* instance) {
    (void)instance;
}

static int64_t test_data(void* instance, gatio_conn conn, void* user, const uint8_t* data, size_t len) {
    (void)instance;
    (void)conn;
    (void)user;
    (void)data;
    return (int64_t)len;
}

/* A valid TCP-only descriptor; plugins override single fields. */
#define TEST_DESCRIPTOR_INIT                                                                                 \
    .abi_major = GATIO_ABI_MAJOR, .abi_minor = GATIO_ABI_MINOR, .struct_size = sizeof(gatio_plugin),         \
    .transports = GATIO_TRANSPORT_TCP, .name = "test", .version = "0", .instance_create = test_create,       \
    .instance_destroy = test_destroy, .on_data = test_data

#endif
