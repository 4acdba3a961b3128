#include "daemon/logging.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/journal_sink.hpp"

namespace gatio::daemon {

namespace {

// %* in the console pattern: the logger's context in brackets, or nothing for the process logger.
class ContextFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        if (msg.logger_name.size() == 0) {
            return;
        }
        dest.push_back('[');
        dest.append(msg.logger_name.data(), msg.logger_name.data() + msg.logger_name.size());
        dest.push_back(']');
        dest.push_back(' ');
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<ContextFlag>(); }
};

constexpr const char* journal_socket = "/run/systemd/journal/socket";

std::size_t queue_capacity = 0; // of the running logger, for the dropped-messages report

template <typename T>
bool parse_number(std::string_view text, T& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

} // namespace

bool journal_stream_matches(std::string_view journal_stream, dev_t dev, ino_t ino) {
    auto colon = journal_stream.find(':');
    if (colon == std::string_view::npos) {
        return false;
    }
    unsigned long long want_dev = 0;
    unsigned long long want_ino = 0;
    if (!parse_number(journal_stream.substr(0, colon), want_dev) ||
        !parse_number(journal_stream.substr(colon + 1), want_ino)) {
        return false;
    }
    return want_dev == static_cast<unsigned long long>(dev) &&
           want_ino == static_cast<unsigned long long>(ino);
}

LogTarget effective_log_target(LogTarget requested) {
    if (requested != LogTarget::automatic) {
        return requested;
    }
    const char* env = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (env == nullptr || ::fstat(STDERR_FILENO, &st) != 0) {
        return LogTarget::console;
    }
    return journal_stream_matches(env, st.st_dev, st.st_ino) ? LogTarget::journal : LogTarget::console;
}

spdlog::level::level_enum spdlog_level(config::LogLevel level) {
    switch (level) {
    case config::LogLevel::trace:
        return spdlog::level::trace;
    case config::LogLevel::debug:
        return spdlog::level::debug;
    case config::LogLevel::info:
        return spdlog::level::info;
    case config::LogLevel::warn:
        return spdlog::level::warn;
    case config::LogLevel::error:
        return spdlog::level::err;
    case config::LogLevel::critical:
        return spdlog::level::critical;
    case config::LogLevel::off:
        break;
    }
    return spdlog::level::off;
}

std::unique_ptr<spdlog::formatter> make_console_formatter() {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<ContextFlag>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-8l%$ %*%v");
    return formatter;
}

void start_logging(LogTarget target, config::LogLevel level, const LoggingLimits& limits) {
    spdlog::sink_ptr sink;
    // sd_journal_sendv silently discards entries when journald is not there at all, so a
    // missing socket sends everything to the console instead, with a warning saying so.
    const bool want_journal = effective_log_target(target) == LogTarget::journal;
    const bool journal_missing = want_journal && ::access(journal_socket, F_OK) != 0;
    if (want_journal && !journal_missing) {
        sink = std::make_shared<JournalSink>();
    } else {
        sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        sink->set_formatter(make_console_formatter());
    }
    queue_capacity = limits.queue_messages;
    spdlog::init_thread_pool(limits.queue_messages, 1);
    spdlog::set_default_logger(make_async_logger(std::move(sink), level));
    if (journal_missing) {
        spdlog::warn(
            "logging: journal target chosen but {} does not exist (journald not running): logging to "
            "the console",
            journal_socket);
    }
}

std::shared_ptr<spdlog::logger> make_async_logger(spdlog::sink_ptr sink, config::LogLevel level) {
    auto logger = std::make_shared<spdlog::async_logger>("", std::move(sink), spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::overrun_oldest);
    logger->set_level(spdlog_level(level));
    // Errors and worse are rare and matter: have the writer flush right after them.
    logger->flush_on(spdlog::level::err);
    return logger;
}

std::size_t dropped_messages() {
    auto pool = spdlog::thread_pool();
    return pool ? pool->overrun_counter() : 0;
}

void stop_logging() {
    if (const std::size_t dropped = dropped_messages(); dropped > 0) {
        spdlog::warn("logging: {} messages dropped because the log queue ({} entries) was full", dropped,
                     queue_capacity);
    }
    // The last reference to the logger is this one, released after shutdown() has drained the
    // queue and joined the writer: otherwise whichever of the writer and this thread lets go last
    // deletes the logger, ordered only by an atomic count inside Debian's libspdlog, which
    // ThreadSanitizer does not see. The join it does see.
    const auto logger = spdlog::default_logger();
    logger->flush();
    spdlog::shutdown();
}

} // namespace gatio::daemon
