// The validated, immutable configuration of one gatiod process.
//
// Everything below the daemon reads a Config; nothing downstream sees TOML. A Config only
// exists once every key has been checked, so consumers may rely on the invariants documented
// next to each field (ranges, non-empty names, unique CPUs ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <utility>
#include <variant>
#include <vector>

#include "config/cpuset.hpp"
#include "config/source.hpp"

namespace gatio::config {

using Duration = std::chrono::milliseconds;
using Micros = std::chrono::microseconds; // the waits of [io_uring], below a millisecond

enum class LogLevel { trace, debug, info, warn, error, critical, off };
enum class TopologyMode { automatic, manual };
enum class MemoryPolicy { bind, preferred, interleave, local };
enum class DriverRole { io, exec, io_exec };
enum class Transport { tcp, udp };

constexpr bool does_io(DriverRole r) {
    return r != DriverRole::exec;
}
constexpr bool does_exec(DriverRole r) {
    return r != DriverRole::io;
}

// The keyword each value is written as in the file ("info", "manual", "io+exec", ...).
std::string_view to_string(LogLevel level);
std::string_view to_string(TopologyMode mode);
std::string_view to_string(MemoryPolicy memory);
std::string_view to_string(DriverRole role);
std::string_view to_string(Transport transport);

// How a unix-domain socket address starts in the file: "unix:/run/gatio/app.sock".
inline constexpr std::string_view unix_prefix = "unix:";

// A bindable IPv4, IPv6 or unix-domain socket address, as written and as resolved.
struct SocketAddress {
    std::string text; // as written in the file, e.g. "[::1]:8080" or "unix:/run/app.sock"
    sockaddr_storage storage{};
    socklen_t length = 0;
    std::uint16_t port = 0; // 0 for unix-domain addresses

    int family() const { return storage.ss_family; }
    bool is_unix() const { return storage.ss_family == AF_UNIX; }
    // The socket file's path of a unix-domain address, else empty.
    std::string_view unix_path() const {
        return is_unix() ? std::string_view(text).substr(unix_prefix.size()) : std::string_view{};
    }
    const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage); }
    friend bool operator==(const SocketAddress& a, const SocketAddress& b) { return a.text == b.text; }
};

// Plugin options: the [listener.options] table, kept as a tree of plain values in file order.
// A table entry is a struct rather than a std::pair: clang, with libstdc++, rejects a
// std::pair<std::string, OptionValue> inside OptionValue's own variant (the fuzz targets build
// this header with clang).
struct OptionValue;
struct OptionEntry;
using OptionArray = std::vector<OptionValue>;
using OptionTable = std::vector<OptionEntry>;
struct OptionValue {
    std::variant<bool, std::int64_t, double, std::string, OptionArray, OptionTable> value;
    friend bool operator==(const OptionValue&, const OptionValue&) = default;
};
// A key and its value, named as std::pair names them so that map-style code reads the same.
struct OptionEntry {
    std::string first;
    OptionValue second;
    friend bool operator==(const OptionEntry&, const OptionEntry&) = default;
};

// io_uring feature switches. All on by default; turning one off is for measurement (the
// ablation benchmarks) and for kernels that misbehave with a feature.
inline constexpr Micros max_min_wait{100'000};
inline constexpr Micros max_spin{100'000};

struct IoUringTuning {
    bool defer_taskrun = true;      // IORING_SETUP_DEFER_TASKRUN (+ SINGLE_ISSUER)
    bool direct_descriptors = true; // accept into the registered file table
    bool multishot_recv = true;     // multishot recv with provided buffer rings
    bool submit_batching = true;    // one io_uring_enter per loop turn
    std::uint32_t cq_factor = 4;    // CQ entries = cq_factor x SQ entries, 1..64
    bool single_send = true;        // output of one slice goes out with IORING_OP_SEND, not sendmsg
    // A blocking wait asks for wait_batch completions and takes what came once min_wait has
    // passed (IORING_FEAT_MIN_TIMEOUT); 0: return on the first completion.
    Micros min_wait{0};            // 0..max_min_wait
    std::uint32_t wait_batch = 16; // 2..4096
    Micros spin{0};                // peek at the CQ this long before blocking; 0..max_spin
    bool recv_bundle = false;      // multishot receives fill several buffers per CQE (IORING_RECVSEND_BUNDLE)
    bool pbuf_incremental = false; // receives take only the bytes they need of a buffer (IOU_PBUF_RING_INC)
    friend bool operator==(const IoUringTuning&, const IoUringTuning&) = default;
};

struct DaemonSection {
    std::filesystem::path plugin_dir; // absolute once loaded
    LogLevel log_level = LogLevel::info;
    Duration shutdown_grace{10'000};
    std::optional<std::string> user; // drop privileges to this user after binding
    friend bool operator==(const DaemonSection&, const DaemonSection&) = default;
};

// Limits of the networking layer ([network]). Changing them needs a restart.
struct NetworkSection {
    std::uint64_t output_memory = std::uint64_t{32} << 20; // per driver: unsent TCP output, 1MiB..64GiB
    std::uint32_t carry_buffers = 1024;   // per listener and driver, for handlers that leave input
                                          // unconsumed; 1..1048576
    std::uint32_t udp_reply_slots = 1024; // per UDP listener and driver: replies in flight, 1..65536
    Duration close_linger{5000};          // orderly close: wait this long for the peer's FIN, 0..1h
    // Handlers' files (ABI 1.4 file services), per driver.
    std::uint32_t open_files = 1024;             // files open or opening at once, 1..1048576
    std::uint32_t file_operations = 1024;        // file operations in flight at once, 1..1048576
    std::uint32_t lent_buffers = 64;             // buffers lent to reads, 1..65536
    std::uint32_t lent_buffer_size = 256u << 10; // bytes of each, 4KiB..16MiB
    // Lent buffers registered with the ring: read with READ_FIXED, and sent with SEND_ZC when
    // one slice is at least zerocopy_send_min (4KiB..16MiB); smaller slices are copied.
    // Off by default until bench/run has measured it in gatiod (docs/performance.md).
    bool zerocopy_send = false;
    std::uint32_t zerocopy_send_min = 64u << 10;
    // Received slices output sends from their receive buffer (send_received, ABI 1.5), per
    // driver and per connection, 0..65536 (0: always copied).
    std::uint32_t receive_holds = 256;
    std::uint32_t receive_holds_per_connection = 32;
    // On SIGTERM, per connection: the most its last receives take of what the kernel holds,
    // 64KiB..1GiB. Above Linux's largest default TCP receive buffer (tcp_rmem, 6 MiB).
    std::uint64_t drain_read_limit = std::uint64_t{8} << 20;
    friend bool operator==(const NetworkSection&, const NetworkSection&) = default;
};

struct AdminSection {
    std::optional<SocketAddress> listen; // absent: no metrics/health endpoint
    // Enough that a few idle or slow clients leave room for health checks; idle ones go soon.
    std::uint32_t max_connections = 64; // 1..65536
    Duration idle_timeout{10'000};      // 0 = never
    friend bool operator==(const AdminSection&, const AdminSection&) = default;
};

// Per-driver ring and buffer settings. [topology] holds the defaults; a manual driver may
// override each one.
// The largest provided-buffer size the loader accepts (buffer_size).
inline constexpr std::uint64_t max_buffer_size = 1u << 20;

struct RingSettings {
    std::uint32_t ring_entries = 1024; // SQ entries, power of two, 8..32768
    std::uint32_t buffer_size = 16384; // provided-buffer size in bytes, 512..max_buffer_size
    std::uint32_t buffer_count = 1024; // provided buffers per driver, power of two, 1..32768
    friend bool operator==(const RingSettings&, const RingSettings&) = default;
};

struct DriverConfig {
    std::string name; // unique across the whole file
    int cpu = -1;     // one logical CPU; unique across the whole file
    DriverRole role = DriverRole::io_exec;
    RingSettings ring;
    friend bool operator==(const DriverConfig&, const DriverConfig&) = default;
};

struct TpcConfig {
    std::string name; // unique across the whole file
    int numa_node = 0;
    MemoryPolicy memory = MemoryPolicy::bind;
    std::vector<DriverConfig> drivers; // at least one
    friend bool operator==(const TpcConfig&, const TpcConfig&) = default;
};

struct TopologySection {
    TopologyMode mode = TopologyMode::automatic;
    std::optional<CpuSet> cpus;  // auto only: restrict to these CPUs
    RingSettings ring;           // defaults for every driver
    std::vector<TpcConfig> tpcs; // manual only; empty in auto mode
    friend bool operator==(const TopologySection&, const TopologySection&) = default;
};

struct ListenerConfig {
    std::string name; // unique
    Transport transport = Transport::tcp;
    SocketAddress address;
    std::string handler;                // as written: a plugin name or a path
    std::filesystem::path handler_path; // resolved, absolute
    bool all_drivers = true;            // drivers = "*"
    std::vector<std::string> drivers;   // driver or TPC names when !all_drivers
    std::uint32_t backlog = 4096;       // 1..65535
    std::uint32_t max_connections = 65536;
    Duration idle_timeout{60'000};                 // 0 = never
    bool steer_to_cpu = false;                     // reuseport CBPF program on SO_INCOMING_CPU
    std::uint32_t send_high_watermark = 1u << 20;  // unsent bytes above which reading pauses
    std::uint32_t send_low_watermark = 256u << 10; // ... and below which it resumes
    std::uint32_t send_buffer_limit = 32u << 20;   // unsent bytes a connection may hold at most
    std::uint32_t send_buffer_reserve = 4u << 10;  // of the driver's output memory, set aside for
                                                   // each connection while it is open
    std::uint32_t max_outbound = 256;              // per instance (listener x driver): outbound
                                                   // connections open or connecting at once
    Duration connect_timeout{10'000};              // outbound connects that name no timeout
    std::uint32_t max_open_files = 256;            // per instance: files open or opening at once
    std::uint32_t max_file_ops = 256;              // per instance: file operations in flight
    std::optional<std::uint32_t> socket_mode;      // unix addresses: permission bits of the socket
                                                   // file; absent = as the umask leaves them
    OptionTable options;
    friend bool operator==(const ListenerConfig&, const ListenerConfig&) = default;
};

// Where settings were written in the file, for the errors that name FILE:LINE:COLUMN. Kept
// beside the values (Config::positions), not in them: a setting compares equal to the same
// setting written elsewhere, so a reload that only moved lines changes nothing. A SourcePos
// with line 0 means "not written" (a default, or a Config built in code).
// Where a driver's ring settings were written; line 0 for one left at its default.
struct RingPositions {
    SourcePos ring_entries;
    SourcePos buffer_size;
    SourcePos buffer_count;
};

struct DriverPositions {
    SourcePos table; // the [[tpc.driver]] table
    SourcePos name;
    SourcePos cpu;
    SourcePos role;
    RingPositions ring; // a value it does not set has the [topology] one's position
};

struct TpcPositions {
    SourcePos table; // the [[tpc]] table
    SourcePos name;
    SourcePos numa_node;
    std::vector<DriverPositions> drivers; // by index in TpcConfig::drivers
};

struct ListenerPositions {
    SourcePos table; // the [[listener]] table
    SourcePos name;
    SourcePos address;
    SourcePos handler;
    SourcePos drivers; // line 0 when drivers is left at its default "*"
};

struct Positions {
    SourcePos admin_listen;
    SourcePos topology_cpus;
    RingPositions topology_ring;
    std::vector<TpcPositions> tpcs;           // by index in TopologySection::tpcs
    std::vector<ListenerPositions> listeners; // by index in Config::listeners

    // Those of one entry; all "not written" for an index the file did not give positions for.
    const TpcPositions& tpc(std::size_t index) const;
    const DriverPositions& driver(std::size_t tpc, std::size_t index) const;
    const ListenerPositions& listener(std::size_t index) const;
};

struct Config {
    std::filesystem::path file; // the file it was read from, absolute
    DaemonSection daemon;
    AdminSection admin;
    TopologySection topology;
    IoUringTuning io_uring;
    NetworkSection network;
    std::vector<ListenerConfig> listeners;
    Positions positions; // where the above were written; not part of what the file says

    // What the two files say, wherever they say it: every member except positions.
    friend bool operator==(const Config& a, const Config& b) {
        return a.file == b.file && a.daemon == b.daemon && a.admin == b.admin && a.topology == b.topology &&
               a.io_uring == b.io_uring && a.listeners == b.listeners;
    }
};

} // namespace gatio::config
