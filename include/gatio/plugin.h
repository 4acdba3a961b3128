/*
 * The Gatio protocol-handler ABI, version 1.
 *
 * A handler is a shared object exporting one C function, gatio_plugin_entry(), which returns a
 * static descriptor. gatiod loads the object once, checks the descriptor's version and size,
 * calls its init() once, then creates one instance per (listener, driver) that uses it and
 * delivers that driver's connections and datagrams to that instance, always on the driver's own
 * thread. The host lends its services through a table (gatio_services) handed to init() and to
 * every instance.
 *
 * Versioning: the descriptor and the services table start with abi_major, abi_minor and
 * struct_size; the argument structs start with struct_size. A different major is refused. Minor
 * versions only append fields at the end; a reader treats the fields lying beyond the
 * struct_size it was given as absent (NULL / 0). Nothing in this header
 * uses C++ types, and no exception may cross it: C++ handlers catch everything (plugin.hpp does).
 * gatiod still catches whatever escapes a call into the handler (a callback, a timer, a task's
 * run or done, a posted function): it counts the fault in the listener's plugin_errors, logs it
 * (at most one record per second per listener and driver), and resets only the connection
 * concerned (on_open, on_data, on_eof), drops the task (run: done is not called) or carries on
 * (on_close, on_datagram, timers, done, posted functions). The process never stops for it.
 *
 * Threads: gatiod runs one driver thread per core. Unless a comment says otherwise, a function
 * taking a gatio_host may only be called on that host's driver thread, i.e. from a callback of
 * the instance it was given to (connection, datagram, timer, posted work it receives, task
 * completion). A call from any other thread is refused without touching anything: the
 * services answer GATIO_ERR_INVALID (NULL, 0 or nothing where they return no gatio_result),
 * and the first such call of an instance is logged. Nothing here blocks; a handler that blocks
 * stalls every connection of its driver.
 */
#ifndef GATIO_PLUGIN_H
#define GATIO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GATIO_ABI_MAJOR 1
#define GATIO_ABI_MINOR 5

/* The one symbol gatiod looks up in a handler object. */
#define GATIO_PLUGIN_ENTRY_NAME "gatio_plugin_entry"

#if defined(__GNUC__)
#define GATIO_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define GATIO_PLUGIN_EXPORT
#endif

/* ---- Results ------------------------------------------------------------------------------- */

/* Service calls return GATIO_OK or one of these negative codes. */
enum gatio_result {
    GATIO_OK = 0,
    GATIO_ERR_CLOSED = -1,     /* the connection is closed or closing, or the handle is stale */
    GATIO_ERR_TYPE = -2,       /* an option holds a value of another type */
    GATIO_ERR_RANGE = -3,      /* a value does not parse or does not fit the asked type */
    GATIO_ERR_LIMIT = -4,      /* a configured limit would be exceeded; nothing was done */
    GATIO_ERR_INVALID = -5,    /* an argument is out of its documented domain */
    GATIO_ERR_UNSUPPORTED = -6 /* the call does not apply here (e.g. send on a UDP host) */
};

/* ---- Limits -------------------------------------------------------------------------------- */

/* The longest delay timer_start accepts: 30 days. */
#define GATIO_TIMER_MAX_DELAY_MS UINT64_C(2592000000)

/* The largest max_unconsumed a descriptor may declare: 16 MiB. */
#define GATIO_MAX_UNCONSUMED_LIMIT (UINT32_C(16) << 20)

/* The longest descriptor name (letters, digits, '_', '-', '.') and version (printable ASCII), in
 * bytes without the terminating NUL. */
#define GATIO_PLUGIN_NAME_MAX 64
#define GATIO_PLUGIN_VERSION_MAX 64

/* ---- Handles ------------------------------------------------------------------------------- */

/* The host side of one instance: one listener on one driver. Opaque; owned by gatiod. */
typedef struct gatio_host gatio_host;

/* One node of the listener's [listener.options] tree. Opaque; owned by gatiod and valid until the
 * instance it was given to is destroyed. */
typedef struct gatio_option gatio_option;

typedef struct gatio_services gatio_services;

/* A TCP connection. Valid from on_open until on_close returns; afterwards every service taking it
 * returns GATIO_ERR_CLOSED (handles carry a generation and are never reused for another
 * connection in a way a stale handle could reach). 0 is never a valid handle. */
typedef uint64_t gatio_conn;

/* A timer started with timer_start; 0 is never a valid handle. A handle belongs to the instance
 * whose host started it: no other instance can cancel that timer with it. */
typedef uint64_t gatio_timer;

/* Since 1.4: a file (or directory) opened with file_open. 0 is never a valid handle. A handle
 * belongs to the instance whose host opened it: every other instance, and every call after
 * file_close, gets GATIO_ERR_INVALID for it (handles carry a generation, like connections). */
typedef uint64_t gatio_file;

/* Since 1.4: a buffer the host lends to a read (file_read_lent). 0 is never a valid handle. It
 * belongs to the instance it was lent to until that instance gives it back (lent_send,
 * lent_release) or is destroyed. */
typedef uint64_t gatio_lent;

enum gatio_transport { GATIO_TRANSPORT_TCP = 1u << 0, GATIO_TRANSPORT_UDP = 1u << 1 };

enum gatio_log_level {
    GATIO_LOG_TRACE = 0,
    GATIO_LOG_DEBUG = 1,
    GATIO_LOG_INFO = 2,
    GATIO_LOG_WARN = 3,
    GATIO_LOG_ERROR = 4,
    GATIO_LOG_CRITICAL = 5
};

/* ---- Options (typed accessors over the listener's options tree) ---------------------------- */

enum gatio_option_type {
    GATIO_OPTION_BOOL = 1,
    GATIO_OPTION_INT = 2,
    GATIO_OPTION_DOUBLE = 3,
    GATIO_OPTION_STRING = 4,
    GATIO_OPTION_ARRAY = 5,
    GATIO_OPTION_TABLE = 6
};

/* ---- Callback arguments -------------------------------------------------------------------- */

/* What an instance is created for. Valid during instance_create only, except `options`, `services`
 * and the strings, which stay valid until instance_destroy returns. */
typedef struct gatio_instance_info {
    uint32_t struct_size;
    uint32_t transport;             /* one gatio_transport value */
    const char* listener;           /* the listener's name */
    const char* driver;             /* the driver's name */
    uint32_t driver_index;          /* 0-based, unique in the process */
    uint32_t driver_count;          /* drivers in the process */
    const gatio_option* options;    /* the root table; an empty table when none was written */
    const gatio_services* services; /* the same table init() received */
    /* Since 1.1, appended to the first layout; absent (treat as NULL / 0) when struct_size does not reach
     * them. The global indexes of the drivers that execute tasks (role exec or io+exec), in
     * ascending order: the targets that make sense for GATIO_PLACE_DRIVER when work must run
     * where tasks run (e.g. state sharded across drivers). The same list for every instance;
     * valid until instance_destroy returns. */
    const uint32_t* exec_drivers;
    uint32_t exec_driver_count;
} gatio_instance_info;

/* Size of the first layout of gatio_instance_info, which has no exec_drivers. */
#define GATIO_INSTANCE_INFO_SIZE_1_0 (offsetof(gatio_instance_info, services) + sizeof(void*))

/* A new TCP connection. Valid during on_open only. peer and local are NULL (lengths 0) when
 * the host cannot know them: connections accepted into direct descriptors have no file
 * descriptor to ask. */
typedef struct gatio_conn_info {
    uint32_t struct_size;
    socklen_t peer_len;
    const struct sockaddr* peer;
    socklen_t local_len;
    const struct sockaddr* local;
} gatio_conn_info;

/* One received datagram. `data` and `source` are lent for the duration of on_datagram only. */
typedef struct gatio_datagram {
    uint32_t struct_size;
    uint32_t flags; /* GATIO_DATAGRAM_* */
    const uint8_t* data;
    size_t len;
    const struct sockaddr* source;
    socklen_t source_len;
} gatio_datagram;

/* The datagram was larger than the receive buffer; `data` holds its first `len` bytes. */
#define GATIO_DATAGRAM_TRUNCATED (1u << 0)

/* on_data's result, besides a byte count >= 0. */
#define GATIO_DATA_CLOSE (INT64_C(-1)) /* close after flushing queued output */
#define GATIO_DATA_RESET (INT64_C(-2)) /* close at once, dropping queued output, peer sees RST */

/* on_eof's result. */
enum gatio_eof_action {
    GATIO_EOF_CLOSE = 0, /* flush queued output, then close */
    GATIO_EOF_KEEP = 1   /* keep the connection open for writing; the handler closes it later */
};

/* Why on_close is called. */
enum gatio_close_reason {
    GATIO_CLOSE_PEER = 1,     /* the peer closed its side and our output was flushed */
    GATIO_CLOSE_RESET = 2,    /* the peer reset the connection, or a socket error occurred */
    GATIO_CLOSE_LOCAL = 3,    /* the handler asked (close service, GATIO_DATA_CLOSE/RESET) */
    GATIO_CLOSE_IDLE = 4,     /* no traffic for the listener's idle_timeout */
    GATIO_CLOSE_SHUTDOWN = 5, /* gatiod is stopping */
    GATIO_CLOSE_LIMIT = 6     /* the handler left more than max_unconsumed bytes unconsumed */
};

/* on_drain's result (since 1.3): what the connection still needs once gatiod is stopping. */
enum gatio_drain_action {
    GATIO_DRAIN_CLOSE = 0,  /* nothing of it is in progress: flush queued output, then close */
    GATIO_DRAIN_FINISH = 1, /* replies to requests already received are still to come: the host
                             * reads no more; the handler closes (close service) once they are
                             * queued */
    GATIO_DRAIN_READ = 2    /* a request is partly received: the host keeps reading so that it can
                             * complete; the handler closes once it is answered */
};

/* How the close service closes. */
enum gatio_close_mode {
    GATIO_CLOSE_FLUSH = 0, /* send everything queued, then shut down and close */
    GATIO_CLOSE_ABORT = 1  /* drop queued output and reset the connection (a plain close for
                            * direct descriptors, which have no socket option to ask for a reset) */
};

/* Where a spawned task runs. */
enum gatio_placement {
    GATIO_PLACE_SAME_DRIVER = 0,  /* the submitting driver (cache-hot); least loaded if it is io-only */
    GATIO_PLACE_LEAST_LOADED = 1, /* the less loaded of two exec-capable drivers drawn at random,
                                   * NUMA-local first */
    GATIO_PLACE_DRIVER = 2,       /* the driver whose index is gatio_task.driver, whatever its role */
    GATIO_PLACE_KEY = 3           /* since 1.3: gatio_task.driver holds a key, and the task runs on
                                   * the exec-capable driver that key maps to: the same key always
                                   * on the same driver (state sharded by key), keys spread evenly */
};

enum gatio_priority {
    GATIO_PRIORITY_LATENCY = 0, /* runs before batch tasks queued on the same driver */
    GATIO_PRIORITY_BATCH = 1    /* runs when no latency task waits, never starved */
};

/* A unit of work for spawn. Copied by spawn; `arg` is the caller's and must stay valid until
 * `done` has been called. */
typedef struct gatio_task {
    uint32_t struct_size;
    uint32_t placement; /* gatio_placement */
    uint32_t driver;    /* target driver index for GATIO_PLACE_DRIVER; the key for GATIO_PLACE_KEY */
    uint32_t priority;  /* gatio_priority */
    /* Runs on the executing driver's thread. It has no host of its own: it may call services only
     * through the host of an instance of the driver it runs on (that host's thread), and only
     * while that instance exists, as the resp plugin's pub/sub delivery does. */
    void (*run)(void* arg);
    /* Runs afterwards on the submitting driver's thread, where the host may be used again.
     * Optional. When gatiod stops before the task has come back, neither run nor done may be
     * called: memory owned by `arg` must not rely on them to be freed at shutdown. */
    void (*done)(gatio_host* host, void* arg);
    void* arg;
} gatio_task;

/* Since 1.3: an outbound connection, for the connect service. Copied by connect. */
typedef struct gatio_connect_args {
    uint32_t struct_size;
    /* How long the connect may take, in milliseconds; 0: the listener's connect_timeout. */
    uint32_t timeout_ms;
    /* Where to: AF_INET, AF_INET6 or AF_UNIX (a path; no abstract names), numeric only. */
    const struct sockaddr* address;
    socklen_t address_len;
    /* Required. Called once, later, on the host's driver thread with the outcome: 0 when
     * connected, else a negative errno: -ECONNREFUSED, -ETIMEDOUT (the timeout passed),
     * -ENETUNREACH, -EHOSTUNREACH, -ENOENT (no socket at a unix path), -ECANCELED (closed
     * before it connected, or gatiod is stopping), or another the kernel gave. Connected, `conn`
     * is then a connection of this instance like an accepted one: send, close, pause_read,
     * idle_timeout and the descriptor's on_data, on_eof and on_close (on_open is not called).
     * Failed, `conn` is dead once done returns and on_close does not follow. */
    void (*done)(gatio_host* host, gatio_conn conn, void* user, int result);
    /* The connection's user pointer from the start, passed to done and to the callbacks. */
    void* user;
} gatio_connect_args;

/* Since 1.4: file_open's flags. Exactly one of READ, WRITE or READ|WRITE, or DIRECTORY alone. */
#define GATIO_FILE_READ (1u << 0)      /* O_RDONLY, or O_RDWR with GATIO_FILE_WRITE */
#define GATIO_FILE_WRITE (1u << 1)     /* O_WRONLY, or O_RDWR with GATIO_FILE_READ */
#define GATIO_FILE_CREATE (1u << 2)    /* O_CREAT with args->mode (WRITE only) */
#define GATIO_FILE_EXCLUSIVE (1u << 3) /* O_EXCL: with CREATE, fail with -EEXIST if it exists */
#define GATIO_FILE_TRUNCATE (1u << 4)  /* O_TRUNC (WRITE only) */
#define GATIO_FILE_APPEND (1u << 5)    /* O_APPEND: every write goes to the end (WRITE only) */
/* Opens a directory, to serve as args->dir of later opens; -ENOTDIR when the path is not one. */
#define GATIO_FILE_DIRECTORY (1u << 6)
/* The path may not leave args->dir: absolute paths, ".." above it and symlinks pointing
 * outside fail with -EXDEV (openat2's RESOLVE_BENEATH; a file server confines itself to its
 * root with it). */
#define GATIO_FILE_BENEATH (1u << 7)
/* No component of the path may be a symlink: -ELOOP (RESOLVE_NO_SYMLINKS). */
#define GATIO_FILE_NO_SYMLINKS (1u << 8)

/* Since 1.4: what file_stat reports (from statx). */
typedef struct gatio_file_stat {
    uint32_t struct_size; /* set by the caller: sizeof(gatio_file_stat) */
    uint32_t mode;        /* st_mode: the file type (S_IFREG, S_IFDIR, ...) and permission bits */
    uint64_t size;        /* bytes */
    int64_t mtime_sec;    /* last modification, seconds since the epoch ... */
    uint32_t mtime_nsec;  /* ... and nanoseconds */
    uint32_t nlink;
    int64_t ctime_sec; /* last status change */
    uint32_t ctime_nsec;
    uint32_t uid;
    uint32_t gid;
    uint32_t blksize; /* the preferred I/O size */
    uint64_t ino;
    uint32_t dev_major; /* the device holding the file */
    uint32_t dev_minor;
} gatio_file_stat;

/* Since 1.4: a file to open, for file_open. Copied by file_open, path included. */
typedef struct gatio_file_open_args {
    uint32_t struct_size;
    uint32_t flags; /* GATIO_FILE_* */
    /* A directory opened with GATIO_FILE_DIRECTORY by this instance, to which `path` is
     * relative; 0: gatiod's working directory. */
    gatio_file dir;
    const char* path; /* NUL-terminated, 1 to 4095 bytes */
    uint32_t mode;    /* permission bits for GATIO_FILE_CREATE, e.g. 0644; else ignored */
    /* Required. Called once, later, on the host's driver thread: result 0 and the new handle
     * in `file`, or a negative errno (-ENOENT, -EACCES, -EISDIR when a directory is opened for
     * writing, -ENOTDIR, -EXDEV / -ELOOP for the resolve flags, -EMFILE when the process's
     * descriptors are exhausted, -ECANCELED when the instance retires or gatiod stops first)
     * and file 0. */
    void (*done)(gatio_host* host, void* arg, int result, gatio_file file);
    void* arg;
} gatio_file_open_args;

/* Since 1.4: the completion of file_read, file_write, file_fsync, file_stat and file_close:
 * result is the byte count (read, write), 0 (fsync, stat, close) or a negative errno. */
typedef void (*gatio_file_done_fn)(gatio_host* host, void* arg, int64_t result);

/* Since 1.4: the completion of file_read_lent. With result > 0, `buf` is a lent buffer whose
 * first `result` bytes, at `data`, are the file's bytes from the offset asked; the handler owns
 * it until it passes it to lent_send or lent_release. With result 0 (the offset is at or past
 * the end) or a negative errno, buf is 0 and data NULL. */
typedef void (*gatio_lent_done_fn)(gatio_host* host, void* arg, int64_t result, gatio_lent buf,
                                   const uint8_t* data);
/* Since 1.4: a metric a handler defines, for metric_register. Copied by metric_register. */
enum gatio_metric_type {
    GATIO_METRIC_COUNTER = 1, /* only goes up (metric_add with delta >= 0) */
    GATIO_METRIC_GAUGE = 2    /* goes up and down (metric_add, metric_set) */
};

typedef struct gatio_metric_args {
    uint32_t struct_size;
    uint32_t type; /* gatio_metric_type */
    /* The family name: a letter or '_', then letters, digits and '_', at most
     * GATIO_METRIC_NAME_MAX bytes; names starting with "gatio_" are the host's. Every series of
     * one name has the same type and help. */
    const char* name;
    /* The family's HELP text, at most GATIO_METRIC_HELP_MAX bytes. */
    const char* help;
    /* label_count labels (at most GATIO_METRIC_MAX_LABELS) that tell this series from the others
     * of its family: names as for `name` (not "listener", "driver" or "tpc", which the host adds,
     * nor starting with "__"), each distinct; values any text of at most GATIO_METRIC_LABEL_MAX
     * bytes. */
    const char* const* label_names;
    const char* const* label_values;
    size_t label_count;
} gatio_metric_args;

/* A registered series; 0 is never a valid handle. */
typedef uint64_t gatio_metric;

#define GATIO_METRIC_NAME_MAX 128
#define GATIO_METRIC_HELP_MAX 512
#define GATIO_METRIC_LABEL_MAX 256
#define GATIO_METRIC_MAX_LABELS 8
/* The series one listener may register on one driver, across its reloads. */
#define GATIO_METRIC_MAX_SERIES 4096

/* ---- Host services ------------------------------------------------------------------------- */

struct gatio_services {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size;

    /* TCP output. Both copy the bytes before returning, so the caller's buffers are free
     * afterwards. Output is queued per connection and written in order, coalesced with
     * everything else produced in the same loop turn. GATIO_ERR_CLOSED after a close was asked;
     * GATIO_ERR_LIMIT if queueing would exceed the driver's output memory limit. */
    int (*send)(gatio_host* host, gatio_conn conn, const void* data, size_t len);
    int (*sendv)(gatio_host* host, gatio_conn conn, const struct iovec* iov, size_t iovcnt);

    /* Starts closing (gatio_close_mode). on_close follows later, never from inside this call. */
    int (*close)(gatio_host* host, gatio_conn conn, int mode);

    /* Stops / restarts delivering data for conn. Independent of the host's own back-pressure
     * pause (reading runs only when neither holds it). Bytes the kernel had already received
     * for the connection may still be delivered right after pause_read (the receive in flight
     * is being cancelled); then nothing until resume_read. Bytes of the current on_data call
     * are the caller's to handle. */
    int (*pause_read)(gatio_host* host, gatio_conn conn);
    int (*resume_read)(gatio_host* host, gatio_conn conn);

    /* The per-connection user pointer (initially what on_open stored, else NULL). */
    int (*set_user)(gatio_host* host, gatio_conn conn, void* user);
    void* (*get_user)(gatio_host* host, gatio_conn conn);

    /* Bytes queued on conn and not yet acknowledged by the kernel (0 for stale handles). */
    size_t (*pending_output)(gatio_host* host, gatio_conn conn);

    /* UDP output: copies the datagram and sends it from the listener's socket to `to` within the
     * same loop turn, batched with the turn's other replies. */
    int (*send_to)(gatio_host* host, const struct sockaddr* to, socklen_t to_len, const void* data,
                   size_t len);

    /* Timers on the host's driver (timer wheel resolution). fn runs once on that driver's thread
     * unless cancelled first. Returns 0 when no timer could be started: fn is NULL, delay_ms is
     * above GATIO_TIMER_MAX_DELAY_MS, or every timer slot is in use. Timers still pending at
     * instance teardown are cancelled without running. */
    gatio_timer (*timer_start)(gatio_host* host, uint64_t delay_ms, void (*fn)(gatio_host* host, void* arg),
                               void* arg);
    /* GATIO_OK if it was pending and will not run; GATIO_ERR_INVALID if it already ran, was
     * cancelled, is unknown, or was started by another instance (another listener, or the same
     * listener on another driver): a handle is only good on the host that started it. */
    int (*timer_cancel)(gatio_host* host, gatio_timer timer);

    /* Logging through the driver's logger: records carry the TPC, driver, listener and plugin.
     * `msg` need not be NUL-terminated; it is copied. */
    void (*log)(gatio_host* host, int level, const char* msg, size_t len);
    int (*log_enabled)(gatio_host* host, int level);

    /* Runs fn(arg) once on driver `driver`'s thread, FIFO with this driver's other posts there.
     * fn has no host and may not call services. GATIO_ERR_INVALID for an unknown driver;
     * GATIO_ERR_LIMIT when every task slot of this driver is in flight (retry later). */
    int (*post)(gatio_host* host, uint32_t driver, void (*fn)(void* arg), void* arg);

    /* Submits a task (see gatio_task). GATIO_ERR_INVALID for a bad placement, priority or
     * driver; GATIO_ERR_LIMIT when every task slot of this driver is in flight (retry later). */
    int (*spawn)(gatio_host* host, const gatio_task* task);

    /* Options. Each may be called from any thread (the tree is immutable). Accessors return
     * GATIO_ERR_TYPE when the node holds another type, and leave *out untouched on error. */
    int (*option_type)(const gatio_option* node);                                  /* gatio_option_type */
    const gatio_option* (*option_get)(const gatio_option* table, const char* key); /* NULL if absent */
    size_t (*option_count)(const gatio_option* node); /* entries of an array or table, else 0 */
    const gatio_option* (*option_at)(const gatio_option* node, size_t index); /* NULL if out of range */
    const char* (*option_key_at)(const gatio_option* table, size_t index);    /* NULL if out of range */
    int (*option_bool)(const gatio_option* node, int* out);
    int (*option_int)(const gatio_option* node, int64_t* out);
    int (*option_double)(const gatio_option* node, double* out); /* integers convert */
    /* NUL-terminated; *len may be NULL. */
    int (*option_string)(const gatio_option* node, const char** out, size_t* len);
    /* A duration string ("250ms", "10s", "5m", "1h") or an integer count of milliseconds. */
    int (*option_duration_ms)(const gatio_option* node, int64_t* out);
    /* A size string ("512B", "64KiB", "1MiB", "1GiB") or an integer count of bytes. */
    int (*option_size)(const gatio_option* node, uint64_t* out);

    /* Since 1.2, appended: the process's health and metrics, for handlers that report them to
     * operators (gatiod's built-in [admin] handler is one). Absent when struct_size does not
     * reach them (GATIO_SERVICES_SIZE_1_1). */

    /* The drivers the process's liveness monitor holds stalled now: each left a no-op posted
     * to it unanswered for a whole liveness period, so its thread is blocked. It is the same
     * judgement that withholds systemd's WATCHDOG=1. Writes the indexes of up to `capacity` of
     * them, ascending, into `drivers` (NULL allowed when capacity is 0) and returns how many are
     * stalled in all. */
    size_t (*stalled_drivers)(gatio_host* host, uint32_t* drivers, size_t capacity);
    /* The configured name of driver `driver` (0-based, as gatio_instance_info counts them),
     * NUL-terminated and valid until instance_destroy returns; NULL for an unknown index. */
    const char* (*driver_name)(gatio_host* host, uint32_t driver);
    /* Renders the process's counters (every driver and listener) in the Prometheus text
     * exposition format, version 0.0.4, into buf: *len gets the length of the whole text and
     * at most `capacity` bytes of it are written. GATIO_ERR_LIMIT when the text is longer than
     * capacity (nothing is written then). Only the host of gatiod's [admin] listener holds the
     * catalog of listeners it reports: every other host answers GATIO_ERR_UNSUPPORTED. */
    int (*metrics_text)(gatio_host* host, char* buf, size_t capacity, size_t* len);

    /* Since 1.3, appended; absent when struct_size does not reach it (GATIO_SERVICES_SIZE_1_2).
     *
     * The listener's state: one object per listener name that gatiod keeps across reloads, both
     * those that change the listener's options and those that find its handler file replaced
     * (a new object of the same ABI loaded beside the old one). The first call for a listener
     * name calls create(arg) on the calling thread and keeps what it returns with `layout` and
     * `release`; every later call, from any instance of a listener of that name in this
     * generation or a later one, returns that same object, provided `layout` is the same
     * string. A different layout, a NULL create or a create that returns NULL answers NULL
     * (the handler then fails instance_create: a reload keeps the running listener). May be
     * called from instance_create; the host serializes the calls.
     *
     * The object is used in place by whichever code asks for it, so `layout` must name its
     * in-memory layout exactly (type, version, build) and change whenever that does. The object
     * that created it stays loaded as long as it lives, so function pointers and vtables into
     * that object's code stay valid, but its globals are not those of a replaced copy. The
     * instances of every driver share it: the handler synchronizes access to it. gatiod calls
     * release(data) once no generation of the listener is left (a reload removed it and its
     * last instance is destroyed, or gatiod stops after destroying every instance). */
    void* (*listener_state)(gatio_host* host, const char* layout, void* (*create)(void* arg), void* arg,
                            void (*release)(void* data));

    /* Since 1.3, appended: asynchronous I/O through the driver's ring. Absent when struct_size
     * does not reach them (GATIO_SERVICES_SIZE_1_2). */

    /* Starts an outbound stream connection (see gatio_connect_args) and stores its handle in
     * *conn; the outcome comes to args->done. Until then the handle only takes close (which
     * cancels the connect: done gets -ECANCELED), set_user and get_user; send and the rest
     * answer GATIO_ERR_CLOSED. GATIO_ERR_LIMIT when the instance already has the listener's
     * max_outbound connections open or connecting, or the driver has no connection slot, output
     * reserve or descriptor left; GATIO_ERR_INVALID for a bad argument or address;
     * GATIO_ERR_CLOSED while gatiod is stopping; GATIO_ERR_UNSUPPORTED on a UDP host or a kernel
     * without IORING_OP_CONNECT. Nothing is started when it does not return GATIO_OK. */
    int (*connect)(gatio_host* host, const gatio_connect_args* args, gatio_conn* conn);

    /* Calls fn(host, arg, status) once on the host's driver when every byte queued on conn so
     * far has been acknowledged by the kernel (status GATIO_OK), or when the connection closes
     * first (status GATIO_ERR_CLOSED, just before on_close). Never from inside this call. One
     * watch per connection at a time. GATIO_ERR_CLOSED for a stale or closing connection;
     * GATIO_ERR_INVALID when fn is NULL or nothing is pending (pending_output is 0: fn is not
     * called); GATIO_ERR_LIMIT when a watch is already set on conn. */
    int (*notify_drained)(gatio_host* host, gatio_conn conn,
                          void (*fn)(gatio_host* host, void* arg, int status), void* arg);

    /* Since 1.4, appended: files through the driver's ring. Absent when struct_size does not
     * reach them (GATIO_SERVICES_SIZE_1_3).
     *
     * Every call returns GATIO_OK, after which its completion is called exactly once, later
     * (never from inside the call), on the host's driver thread; or an error code, after which
     * nothing was started and the completion is never called:
     *   GATIO_ERR_INVALID     a NULL completion or path, bad flags, a handle that is 0, stale
     *                         (closed), or another instance's, a directory handle where a file
     *                         is needed or the reverse;
     *   GATIO_ERR_LIMIT       the instance already has the listener's max_file_ops operations
     *                         in flight, or (open) max_open_files files open or opening, or
     *                         the driver has no file slot ([network] open_files) or (read_lent)
     *                         no free lent buffer ([network] lent_buffers) left: retry later;
     *   GATIO_ERR_CLOSED      the instance's teardown has begun (a reload retired it and its
     *                         last connection is gone, or gatiod's shutdown grace has ended;
     *                         until then, the drain included, files work as before);
     *   GATIO_ERR_UNSUPPORTED the kernel lacks the opcodes (gatiod --version lists them), or
     *                         (open) the resolve flags need IORING_OP_OPENAT2 and it lacks it.
     * Memory the caller names (read buffers, write data, the stat struct) must stay valid until
     * the completion runs. Operations on one file may run concurrently and complete in any
     * order. A file's position is never used: reads and writes name their offset.
     *
     * Cancellation: file_close cancels the file's pending operations, and the instance's
     * teardown cancels all of the instance's (its files are then closed without a completion);
     * the teardown waits for them. A cancelled operation's completion is called once with
     * -ECANCELED, after the kernel has let go of its memory, and always before
     * instance_destroy. */

    /* Opens args->path (see gatio_file_open_args). The open never waits for a peer: it is made
     * O_NONBLOCK (cleared again once open), so a FIFO without a writer opens for reading at
     * once and for writing without a reader fails with -ENXIO. Check the type with file_stat
     * before reading a path a client named: a FIFO's or a device's read waits for data. */
    int (*file_open)(gatio_host* host, const gatio_file_open_args* args);
    /* Reads up to len bytes (1 to 2 GiB) at offset into buf; result is the count read, 0 at
     * the end of the file, fewer than len when the file ends sooner (or was truncated), and
     * -EISDIR for a directory opened with GATIO_FILE_READ (which opens; file_stat tells). */
    int (*file_read)(gatio_host* host, gatio_file file, uint64_t offset, void* buf, size_t len,
                     gatio_file_done_fn done, void* arg);
    /* Writes len bytes (1 to 2 GiB) of data at offset (ignored with GATIO_FILE_APPEND); result
     * is the count written, which may be fewer than len. data is not copied. */
    int (*file_write)(gatio_host* host, gatio_file file, uint64_t offset, const void* data, size_t len,
                      gatio_file_done_fn done, void* arg);
    /* Flushes the file's data, and its metadata unless `datasync` is non-zero, to storage. */
    int (*file_fsync)(gatio_host* host, gatio_file file, int datasync, gatio_file_done_fn done, void* arg);
    /* Fills *out (out->struct_size set by the caller; fields beyond it are left alone) with
     * the open file's status as it is now, then calls done with 0. */
    int (*file_stat)(gatio_host* host, gatio_file file, gatio_file_stat* out, gatio_file_done_fn done,
                     void* arg);
    /* Closes the file: the handle is stale from this call on, the file's pending operations
     * complete with -ECANCELED, then the descriptor is closed and done (optional: NULL) gets
     * 0 or a negative errno. */
    int (*file_close)(gatio_host* host, gatio_file file, gatio_file_done_fn done, void* arg);

    /* Reads up to len bytes at offset into a buffer of the driver's lent pool, without a copy
     * to the handler (see gatio_lent_done_fn). len is 1 to lent_buffer_size(); longer reads
     * are asked in several calls. */
    int (*file_read_lent)(gatio_host* host, gatio_file file, uint64_t offset, size_t len,
                          gatio_lent_done_fn done, void* arg);
    /* Queues bytes [offset, offset + len) of a lent buffer (within what its read returned) on
     * conn's output, in order with what send queued before and after, without copying them.
     * On GATIO_OK the buffer passes to the host, which returns it to the pool once the kernel
     * has sent its bytes or the connection closes; the handler must not touch it any more. On
     * an error it stays the handler's: GATIO_ERR_INVALID for a bad, stale or foreign buffer
     * or range, GATIO_ERR_CLOSED / GATIO_ERR_LIMIT as for send. */
    int (*lent_send)(gatio_host* host, gatio_conn conn, gatio_lent buf, size_t offset, size_t len);
    /* Gives a lent buffer back to the pool unsent. GATIO_ERR_INVALID for a bad, stale or
     * foreign buffer. Buffers still held when the instance is destroyed return by themselves. */
    int (*lent_release)(gatio_host* host, gatio_lent buf);
    /* The size of each of the driver's lent buffers ([network] lent_buffer_size), in bytes. */
    size_t (*lent_buffer_size)(gatio_host* host);
    /* Since 1.4, appended; absent when struct_size does not reach it (GATIO_SERVICES_SIZE_1_3).
     * Half-closes conn: once every byte queued so far has gone out, our FIN follows (shutdown
     * SHUT_WR), while reading goes on as before, so the peer can still answer; its own FIN then
     * comes to on_eof, and the handler closes (close, or GATIO_EOF_CLOSE). From this call on,
     * send and sendv answer GATIO_ERR_CLOSED. Asking again does nothing. GATIO_ERR_CLOSED for a
     * stale, closing or still connecting connection. */
    int (*shutdown_write)(gatio_host* host, gatio_conn conn);

    /* Since 1.4, appended: metrics the handler defines, shown on the [admin] listener's /metrics
     * (and in metrics_text) after the host's own families, each sample labelled with the
     * listener, driver and tpc besides its own labels. Absent when struct_size does not reach
     * them (GATIO_SERVICES_SIZE_1_3).
     *
     * A series belongs to the listener on the host's driver and lives as long as that listener
     * does, across reloads: an instance that registers what an earlier generation of the same
     * listener registered on the same driver (same name and labels) gets the same series and its
     * value carries on, so a count never goes back. Values are 64-bit signed integers, 0 at
     * first; updates are one relaxed store by the driver's own thread (no lock, no system
     * call), read by the admin driver whenever /metrics is asked for.
     *
     * metric_register stores the handle in *metric: GATIO_ERR_INVALID for a bad argument (see
     * gatio_metric_args) or a name already registered with another type or help on this host's
     * listener and driver; GATIO_ERR_LIMIT past GATIO_METRIC_MAX_SERIES. Registering allocates:
     * do it when the instance is created, not per request. */
    int (*metric_register)(gatio_host* host, const gatio_metric_args* args, gatio_metric* metric);
    /* Adds delta to the series (a counter takes only delta >= 0). GATIO_ERR_INVALID for a handle
     * this host's listener did not register on this driver, or a negative delta on a counter. */
    int (*metric_add)(gatio_host* host, gatio_metric metric, int64_t delta);
    /* Sets a gauge to value. GATIO_ERR_INVALID for an unknown handle or a counter. */
    int (*metric_set)(gatio_host* host, gatio_metric metric, int64_t value);

    /* Since 1.5, appended; absent when struct_size does not reach it (GATIO_SERVICES_SIZE_1_4).
     * Inside on_data only: queues bytes [data, data + len) of the slice on_data was given on
     * conn (any connection of the same instance, the one receiving included), in order with
     * what send queued on it before and after, like send, but without copying them when it can:
     * the receive buffer holding them then stays out of the kernel's ring until they have been
     * sent or conn closes. The bytes are copied as send copies them instead (the call is then
     * the same as send) when they are not in a receive buffer (input left unconsumed last time
     * sits in a carry buffer), or a bound of [network] receive_holds and
     * receive_holds_per_connection, or the ring's own (at most half its buffers held), is
     * reached. Either way the handler may forget the bytes once this returns, and pending_output,
     * notify_drained, send_buffer_limit and the watermarks count them like sent ones.
     * GATIO_ERR_INVALID when called outside on_data, from another instance's host, or with a
     * range that is not within the slice; otherwise as send. */
    int (*send_received)(gatio_host* host, gatio_conn conn, const uint8_t* data, size_t len);
};

/* Size of the services table of 1.1, which ends with option_size. */
#define GATIO_SERVICES_SIZE_1_1 (offsetof(gatio_services, option_size) + sizeof(void (*)(void)))
/* Size of the services table of 1.2, which ends with metrics_text. */
#define GATIO_SERVICES_SIZE_1_2 (offsetof(gatio_services, metrics_text) + sizeof(void (*)(void)))
/* Size of the services table of 1.3, which ends with notify_drained. */
#define GATIO_SERVICES_SIZE_1_3 (offsetof(gatio_services, notify_drained) + sizeof(void (*)(void)))
/* Size of the services table of 1.4, which ends with metric_set. */
#define GATIO_SERVICES_SIZE_1_4 (offsetof(gatio_services, metric_set) + sizeof(void (*)(void)))

/* ---- The descriptor a handler exports ------------------------------------------------------ */

typedef struct gatio_plugin {
    uint32_t abi_major;   /* GATIO_ABI_MAJOR the handler was built with */
    uint32_t abi_minor;   /* GATIO_ABI_MINOR the handler was built with */
    uint32_t struct_size; /* sizeof(gatio_plugin) as the handler saw it */
    uint32_t transports;  /* gatio_transport bits the handler serves; no others may be set */
    /* Short name used in logs, e.g. "echo": 1 to GATIO_PLUGIN_NAME_MAX letters, digits, '_',
     * '-' or '.'. */
    const char* name;
    /* The handler's own version, free-form printable ASCII up to GATIO_PLUGIN_VERSION_MAX
     * bytes; may be NULL. */
    const char* version;

    /* The most input bytes on_data may leave unconsumed on a connection, at most
     * GATIO_MAX_UNCONSUMED_LIMIT. The host keeps them and presents them again, followed by new
     * data; a connection exceeding it is closed with GATIO_CLOSE_LIMIT. 0 means on_data always
     * consumes everything it is given. */
    uint32_t max_unconsumed;

    /* Optional. Called once after loading, on the loading thread, before any instance exists.
     * `services` stays valid until fini returns. Return 0, or non-zero after writing a
     * NUL-terminated reason into `error` (at most error_size bytes); gatiod then refuses to
     * start and reports the reason. */
    int (*init)(const gatio_services* services, char* error, size_t error_size);
    /* Optional. Called once before unloading, after every instance is destroyed. */
    void (*fini)(void);

    /* Required. Creates the instance for one (listener, driver), on that driver's thread, before
     * the driver accepts traffic. Store it in *instance and return 0, or write a reason into
     * `error` and return non-zero (the start fails naming the listener, driver and reason). */
    int (*instance_create)(gatio_host* host, const gatio_instance_info* info, void** instance, char* error,
                           size_t error_size);
    /* Required. Destroys the instance on its driver's thread after every connection's on_close. */
    void (*instance_destroy)(void* instance);

    /* TCP (required when transports has GATIO_TRANSPORT_TCP, except where marked optional). */

    /* Optional. A connection was accepted. Return 0 to keep it, non-zero to reset it at once
     * (on_close then follows with GATIO_CLOSE_LOCAL). *user is the connection's user slot
     * (NULL on entry): storing into it and calling set_user are the same thing. */
    int (*on_open)(void* instance, gatio_conn conn, const gatio_conn_info* info, void** user);
    /* Bytes arrived. `data` is lent for this call only: it lives in the driver's receive buffer,
     * returned to the kernel as soon as this returns (unless send_received, since 1.5, keeps it
     * for a send). It holds the bytes left unconsumed last time followed by the new ones.
     * Return how many leading bytes were consumed (0..len), or GATIO_DATA_CLOSE /
     * GATIO_DATA_RESET. */
    int64_t (*on_data)(void* instance, gatio_conn conn, void* user, const uint8_t* data, size_t len);
    /* Optional. The peer shut down its sending side (after every byte it sent was delivered).
     * Return a gatio_eof_action; when absent, GATIO_EOF_CLOSE. */
    int (*on_eof)(void* instance, gatio_conn conn, void* user);
    /* Optional. The connection is gone (gatio_close_reason); the handle dies when this returns.
     * Called exactly once per connection on_open kept (and for rejected ones). */
    void (*on_close)(void* instance, gatio_conn conn, void* user, int reason);

    /* UDP (required when transports has GATIO_TRANSPORT_UDP). Reply with send_to. */
    void (*on_datagram)(void* instance, const gatio_datagram* datagram);

    /* Since 1.3, appended; absent (NULL) when struct_size does not reach it (GATIO_PLUGIN_SIZE_1_2).
     *
     * Optional. The drain notice: gatiod is stopping (SIGTERM) and has stopped accepting. Called
     * once for each connection still open, on its driver's thread; the connection stays open
     * and send works as before. The handler may queue a protocol-level "shutting down" answer
     * or close from inside. Returns a gatio_drain_action (anything else counts as
     * GATIO_DRAIN_CLOSE). Without on_drain the host reads no more from the connection and closes
     * it once no task or posted function of the instance is in flight, after flushing what is
     * queued. Whatever is still open when shutdown_grace ends is closed with
     * GATIO_CLOSE_SHUTDOWN, and tasks not yet run by then are dropped (neither run nor done). */
    int (*on_drain)(void* instance, gatio_conn conn, void* user);

    /* Since 1.4, appended; 0 when struct_size does not reach it (GATIO_PLUGIN_SIZE_1_3).
     * GATIO_PLUGIN_* bits; the loader refuses others. */
    uint32_t flags;
} gatio_plugin;

/* The host does not stop reading a connection because the connection's own unsent output passed
 * the listener's send_high_watermark: the handler paces its connections itself (pause_read,
 * pending_output, notify_drained). A proxy needs it: the output of its upstream connection is
 * what the client sent, so pausing the upstream's input for it would tie the two directions
 * together, and with a peer that does the same (an echo server) neither side would read again.
 * send_buffer_limit and the driver's output budget still hold. */
#define GATIO_PLUGIN_SELF_PACED (1u << 0)

/* Size of the first layout of major 1; a smaller struct_size is refused. */
#define GATIO_PLUGIN_SIZE_1_0 (offsetof(gatio_plugin, on_datagram) + sizeof(void (*)(void)))
/* Size of the descriptor of 1.0 to 1.2, which ends with on_datagram (the same layout). */
#define GATIO_PLUGIN_SIZE_1_2 GATIO_PLUGIN_SIZE_1_0
/* Size of the descriptor of 1.3, which ends with on_drain. */
#define GATIO_PLUGIN_SIZE_1_3 (offsetof(gatio_plugin, on_drain) + sizeof(void (*)(void)))

/* The entry point's type. It must return a pointer to storage that lives as long as the object
 * stays loaded, and must not fail; validation that can fail belongs in init(). */
typedef const gatio_plugin* (*gatio_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* GATIO_PLUGIN_H */
