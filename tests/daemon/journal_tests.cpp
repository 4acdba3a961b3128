// The journald sink: fields built for each entry, and, where journald runs, a round trip
// through the journal itself.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <spdlog/logger.h>
#include <string>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>
#include <vector>

#include "core/log.hpp"
#include "daemon/journal_sink.hpp"
#include "tests/support/skip.hpp"

using gatio::daemon::journal_priority;
using gatio::daemon::JournalRecord;
using Fields = std::vector<std::string_view>;

TEST_CASE("spdlog levels map to syslog priorities", "[journal]") {
    CHECK(journal_priority(spdlog::level::trace) == LOG_DEBUG);
    CHECK(journal_priority(spdlog::level::debug) == LOG_DEBUG);
    CHECK(journal_priority(spdlog::level::info) == LOG_INFO);
    CHECK(journal_priority(spdlog::level::warn) == LOG_WARNING);
    CHECK(journal_priority(spdlog::level::err) == LOG_ERR);
    CHECK(journal_priority(spdlog::level::critical) == LOG_CRIT);
}

TEST_CASE("journal fields carry the message, priority, identifier and context", "[journal]") {
    JournalRecord r;
    const auto name = gatio::log::context_name({"node0", "cpu1", "web", "echo"});
    r.build(spdlog::level::warn, name, "slow client\nsecond line");
    CHECK(r.fields() == Fields{"MESSAGE=slow client\nsecond line", "PRIORITY=4", "SYSLOG_IDENTIFIER=gatiod",
                               "GATIO_TPC=node0", "GATIO_DRIVER=cpu1", "GATIO_LISTENER=web",
                               "GATIO_PLUGIN=echo"});
    REQUIRE(r.iov_count() == 7);
    CHECK(std::string_view(static_cast<const char*>(r.iov()[3].iov_base), r.iov()[3].iov_len) ==
          "GATIO_TPC=node0");

    SECTION("only the context present is written") {
        r.build(spdlog::level::info, gatio::log::context_name({"node1", "cpu9", {}, {}}), "up");
        CHECK(r.fields() == Fields{"MESSAGE=up", "PRIORITY=6", "SYSLOG_IDENTIFIER=gatiod", "GATIO_TPC=node1",
                                   "GATIO_DRIVER=cpu9"});
    }
    SECTION("the process logger has no context") {
        r.build(spdlog::level::critical, "", "io_uring unusable");
        CHECK(r.fields() == Fields{"MESSAGE=io_uring unusable", "PRIORITY=2", "SYSLOG_IDENTIFIER=gatiod"});
    }
    SECTION("source locations become CODE_ fields") {
        r.build(spdlog::level::err, "plugin=echo", "bad frame",
                spdlog::source_loc{"net/conn.cpp", 42, "on_recv"});
        CHECK(r.fields() == Fields{"MESSAGE=bad frame", "PRIORITY=3", "SYSLOG_IDENTIFIER=gatiod",
                                   "GATIO_PLUGIN=echo", "CODE_FILE=net/conn.cpp", "CODE_LINE=42",
                                   "CODE_FUNC=on_recv"});
    }
    SECTION("a large entry after small ones keeps every field intact") {
        const std::string big(10'000, 'x');
        r.build(spdlog::level::debug, "listener=l", big);
        REQUIRE(r.iov_count() == 4);
        CHECK(std::string_view(static_cast<const char*>(r.iov()[0].iov_base), r.iov()[0].iov_len) ==
              "MESSAGE=" + big);
        CHECK(std::string_view(static_cast<const char*>(r.iov()[3].iov_base), r.iov()[3].iov_len) ==
              "GATIO_LISTENER=l");
    }
}

namespace {

std::string journal_field(sd_journal* j, const char* name) {
    const void* data = nullptr;
    std::size_t length = 0;
    if (sd_journal_get_data(j, name, &data, &length) < 0) {
        return {};
    }
    std::string_view field(static_cast<const char*>(data), length);
    return std::string(field.substr(field.find('=') + 1));
}

} // namespace

TEST_CASE("entries written by the sink read back from the journal with their fields", "[journal]") {
    if (!std::filesystem::exists("/run/systemd/journal/socket")) {
        GATIO_SKIP("journald is not running here (no /run/systemd/journal/socket): no journal to read "
                   "back from; field building is covered above");
    }
    auto sink = std::make_shared<gatio::daemon::JournalSink>();
    spdlog::logger logger(gatio::log::context_name({"node0", "cpu1", "web", "echo"}), sink);
    std::random_device random;
    const std::string text =
        "gatio journal test " + std::to_string(::getpid()) + '-' + std::to_string(random());
    logger.error("{}", text);
    REQUIRE(sink->failed_writes() == 0);

    sd_journal* j = nullptr;
    REQUIRE(sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY) >= 0);
    const std::string match = "MESSAGE=" + text;
    REQUIRE(sd_journal_add_match(j, match.data(), match.size()) >= 0);
    bool found = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!found && std::chrono::steady_clock::now() < deadline) {
        sd_journal_seek_head(j);
        if (sd_journal_next(j) > 0) {
            found = true;
        } else {
            sd_journal_wait(j, 200'000);
        }
    }
    if (found) {
        CHECK(journal_field(j, "PRIORITY") == "3");
        CHECK(journal_field(j, "SYSLOG_IDENTIFIER") == "gatiod");
        CHECK(journal_field(j, "GATIO_TPC") == "node0");
        CHECK(journal_field(j, "GATIO_DRIVER") == "cpu1");
        CHECK(journal_field(j, "GATIO_LISTENER") == "web");
        CHECK(journal_field(j, "GATIO_PLUGIN") == "echo");
    }
    sd_journal_close(j);
    CHECK(found);
}
