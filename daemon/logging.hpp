// Process-wide logging: an asynchronous default logger whose sinks are either the console
// (stderr) or the journal. Driver threads only format and enqueue; when the queue is full
// the oldest message is dropped (and counted) instead of blocking the caller.
#pragma once

#include <cstddef>
#include <memory>
#include <spdlog/common.h>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>
#include <string_view>
#include <sys/types.h>

#include "config/config.hpp"
#include "daemon/cli.hpp"

namespace gatio::daemon {

struct LoggingLimits {
    std::size_t queue_messages = 8192; // messages waiting for the writer thread
};

// JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected to our stdout/stderr;
// true when it names the file that fd 2 is (device dev, inode ino).
bool journal_stream_matches(std::string_view journal_stream, dev_t dev, ino_t ino);

// auto becomes journal when stderr is journald's stream, else console.
LogTarget effective_log_target(LogTarget requested);

spdlog::level::level_enum spdlog_level(config::LogLevel level);

// Console lines: "2026-01-31 12:00:00.123 info     [tpc=node0 driver=cpu1] message".
std::unique_ptr<spdlog::formatter> make_console_formatter();

// An asynchronous logger on spdlog's global thread pool (created by start_logging) that
// drops the oldest queued message instead of blocking when the queue is full.
std::shared_ptr<spdlog::logger> make_async_logger(spdlog::sink_ptr sink, config::LogLevel level);

// Installs the asynchronous default logger. Call once, on the main thread, before any thread
// that logs is started.
void start_logging(LogTarget target, config::LogLevel level, const LoggingLimits& limits = {});

// Flushes and tears the logger down; reports messages dropped because the queue was full.
void stop_logging();

// Messages dropped so far because the queue was full.
std::size_t dropped_messages();

} // namespace gatio::daemon
