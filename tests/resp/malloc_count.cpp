// Preloaded into a gatiod under test: counts every call into glibc's allocator and every read
// of the wall clock (clock_gettime of CLOCK_REALTIME) and, when the process exits, writes the
// two counts to the file GATIO_MALLOC_COUNT_FILE names. The resp tests
// compare two runs that differ only in the number of requests, so what one request allocates
// shows as the difference.
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

using ClockGettime = int (*)(clockid_t, timespec*);

namespace {

std::atomic<unsigned long> g_calls{0};
std::atomic<unsigned long> g_clock_reads{0};

void count() {
    g_calls.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((destructor)) void report() {
    const char* path = std::getenv("GATIO_MALLOC_COUNT_FILE");
    if (path == nullptr) {
        return;
    }
    char text[48];
    int n = std::snprintf(text, sizeof text, "%lu %lu\n", g_calls.load(), g_clock_reads.load());
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0 && n > 0) {
        (void)!::write(fd, text, static_cast<std::size_t>(n));
        ::close(fd);
    }
}

} // namespace

extern "C" {

void* malloc(std::size_t size) {
    count();
    return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) {
    count();
    return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) {
    count();
    return __libc_realloc(p, size);
}

void* memalign(std::size_t align, std::size_t size) {
    count();
    return __libc_memalign(align, size);
}

void* aligned_alloc(std::size_t align, std::size_t size) {
    count();
    return __libc_memalign(align, size);
}

int clock_gettime(clockid_t id, timespec* ts) {
    static const auto next = reinterpret_cast<ClockGettime>(::dlsym(RTLD_NEXT, "clock_gettime"));
    if (id == CLOCK_REALTIME) {
        g_clock_reads.fetch_add(1, std::memory_order_relaxed);
    }
    return next(id, ts);
}

int posix_memalign(void** out, std::size_t align, std::size_t size) {
    count();
    void* p = __libc_memalign(align, size);
    if (p == nullptr) {
        return 12; // ENOMEM
    }
    *out = p;
    return 0;
}
}
