// Without this, sd_journal_sendv would add CODE_FILE/LINE/FUNC of this sink to every entry.
#define SD_JOURNAL_SUPPRESS_LOCATION

#include "daemon/journal_sink.hpp"

#include <cstdio>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "core/log.hpp"

namespace gatio::daemon {

namespace {

constexpr std::size_t reserved_text = 4096; // covers the usual entry without growing
constexpr std::size_t reserved_fields = 12;

std::string_view view(spdlog::string_view_t s) {
    return {s.data(), s.size()};
}

} // namespace

int journal_priority(spdlog::level::level_enum level) {
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
        return LOG_DEBUG;
    case spdlog::level::info:
        return LOG_INFO;
    case spdlog::level::warn:
        return LOG_WARNING;
    case spdlog::level::err:
        return LOG_ERR;
    case spdlog::level::critical:
    case spdlog::level::off:
    case spdlog::level::n_levels:
        break;
    }
    return LOG_CRIT;
}

JournalRecord::JournalRecord() {
    text_.reserve(reserved_text);
    spans_.reserve(reserved_fields);
    iov_.reserve(reserved_fields);
}

void JournalRecord::add(std::string_view name, std::string_view value) {
    const std::size_t start = text_.size();
    text_.append(name).append("=").append(value);
    spans_.emplace_back(start, text_.size() - start);
}

void JournalRecord::build(spdlog::level::level_enum level, std::string_view logger_name,
                          std::string_view message, const spdlog::source_loc& source) {
    text_.clear();
    spans_.clear();
    iov_.clear();
    add("MESSAGE", message);
    const char priority[] = {static_cast<char>('0' + journal_priority(level)), '\0'};
    add("PRIORITY", priority);
    add("SYSLOG_IDENTIFIER", syslog_identifier);
    const auto ctx = log::parse_context_name(logger_name);
    if (!ctx.tpc.empty()) {
        add("GATIO_TPC", ctx.tpc);
    }
    if (!ctx.driver.empty()) {
        add("GATIO_DRIVER", ctx.driver);
    }
    if (!ctx.listener.empty()) {
        add("GATIO_LISTENER", ctx.listener);
    }
    if (!ctx.plugin.empty()) {
        add("GATIO_PLUGIN", ctx.plugin);
    }
    if (!source.empty()) {
        if (source.filename != nullptr) {
            add("CODE_FILE", source.filename);
        }
        char line[16];
        const int n = std::snprintf(line, sizeof line, "%d", source.line);
        add("CODE_LINE", std::string_view(line, static_cast<std::size_t>(n)));
        if (source.funcname != nullptr) {
            add("CODE_FUNC", source.funcname);
        }
    }
    // Pointers are taken last: appending may have moved text_.
    for (const auto& [offset, length] : spans_) {
        iov_.push_back(iovec{text_.data() + offset, length});
    }
}

std::vector<std::string_view> JournalRecord::fields() const {
    std::vector<std::string_view> out;
    out.reserve(spans_.size());
    for (const auto& [offset, length] : spans_) {
        out.emplace_back(text_.data() + offset, length);
    }
    return out;
}

void JournalSink::sink_it_(const spdlog::details::log_msg& msg) {
    record_.build(msg.level, view(msg.logger_name), view(msg.payload), msg.source);
    if (sd_journal_sendv(record_.iov(), record_.iov_count()) >= 0) {
        return;
    }
    ++failed_writes_;
    const auto payload = view(msg.payload);
    std::fprintf(stderr, "<%d>%.*s\n", journal_priority(msg.level), static_cast<int>(payload.size()),
                 payload.data());
}

} // namespace gatio::daemon
