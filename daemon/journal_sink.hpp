// A spdlog sink speaking journald's native protocol (sd_journal_sendv): real priorities, and the
// context of a logger's name ("tpc=.. driver=.. listener=.. plugin=..") as GATIO_* fields that
// journalctl can filter on, e.g. journalctl GATIO_DRIVER=cpu1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <spdlog/common.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>
#include <string>
#include <string_view>
#include <sys/uio.h>
#include <utility>
#include <vector>

namespace gatio::daemon {

inline constexpr std::string_view syslog_identifier = "gatiod";

// syslog priority (LOG_DEBUG .. LOG_CRIT) for an spdlog level.
int journal_priority(spdlog::level::level_enum level);

// The fields of one journal entry, "NAME=value" each. Storage is reused from one entry to
// the next, so a sink that keeps one record allocates only when an entry is larger than any
// before it.
class JournalRecord {
public:
    JournalRecord();

    void build(spdlog::level::level_enum level, std::string_view logger_name, std::string_view message,
               const spdlog::source_loc& source = {});

    std::vector<std::string_view> fields() const;
    const iovec* iov() const { return iov_.data(); }
    int iov_count() const { return static_cast<int>(iov_.size()); }

private:
    void add(std::string_view name, std::string_view value);

    std::string text_;
    std::vector<std::pair<std::size_t, std::size_t>> spans_; // offset and length in text_
    std::vector<iovec> iov_;
};

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    // Entries journald refused (no journal socket, full buffer); each was written to stderr
    // with a "<priority>" prefix instead, which journald's stream reader also understands.
    std::uint64_t failed_writes() const { return failed_writes_; }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

private:
    JournalRecord record_;
    std::uint64_t failed_writes_ = 0;
};

} // namespace gatio::daemon
