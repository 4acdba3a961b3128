// Readers for each part of the schema, and the checks that span several parts. Internal to
// config/; load.cpp runs them in order and collects what they report.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/load.hpp"
#include "config/reader.hpp"

namespace gatio::config::detail {

// Upper bound of numa_node: Linux's MAX_NUMNODES with the largest NODES_SHIFT (10).
inline constexpr std::int64_t max_numa_node = 1023;

inline constexpr std::uint64_t max_watermark = 1u << 30;
inline constexpr std::uint64_t min_output_memory = 1u << 20;
inline constexpr std::uint64_t max_output_memory = std::uint64_t{64} << 30;
inline constexpr std::int64_t max_carry_buffers = 1 << 20;
inline constexpr std::int64_t max_udp_reply_slots = 1 << 16;
inline constexpr std::uint64_t min_drain_read_limit = 64u << 10;
inline constexpr std::uint64_t max_drain_read_limit = std::uint64_t{1} << 30;
inline constexpr Duration max_close_linger = std::chrono::hours(1);
inline constexpr std::int64_t max_file_count = 1 << 20; // open_files, file_operations and the listeners'
inline constexpr std::int64_t max_lent_buffers = 1 << 16;
inline constexpr std::uint64_t min_lent_buffer_size = 4u << 10;
inline constexpr std::uint64_t max_lent_buffer_size = 16u << 20;
inline constexpr std::uint64_t min_zerocopy_send_min = 4u << 10;
inline constexpr std::uint64_t max_zerocopy_send_min = 16u << 20;
inline constexpr std::int64_t max_receive_holds = 1 << 16;

// Lexically normal, without a trailing separator (except for "/").
std::filesystem::path normalized(const std::filesystem::path& path);

// `folder` is the absolute folder of the configuration file.
DaemonSection read_daemon(const toml::table& table, const std::filesystem::path& folder,
                          const Overrides& overrides, Reporter& out);
// Each reader records where its settings were written in the Positions given to it.
AdminSection read_admin(const toml::table& table, SourcePos& listen_at, Reporter& out);
IoUringTuning read_io_uring(const toml::table& table, Reporter& out);
NetworkSection read_network(const toml::table& table, Reporter& out);

// `tpc` is the top-level [[tpc]] array, if any (nullptr when absent); `tpcs` its tables.
TopologySection read_topology(const toml::table& table, const toml::node* tpc,
                              const std::vector<const toml::table*>& tpcs, Positions& at, Reporter& out);

std::vector<ListenerConfig> read_listeners(const std::vector<const toml::table*>& tables,
                                           const std::filesystem::path& folder,
                                           const std::filesystem::path& plugin_dir,
                                           std::vector<ListenerPositions>& at, Reporter& out);

// [listener.options] as an OptionTable in file order; `context` prefixes messages.
OptionTable read_options(const toml::table& table, const std::string& context, Reporter& out);

// Checks that relate several entries: duplicate names, shared CPUs, clashing addresses.
void cross_check(const Config& config, Reporter& out);

// `kind "name"`, or just kind when the name is unknown.
std::string named(std::string_view kind, std::string_view name);

} // namespace gatio::config::detail
