// A coroutine handler (gatio/coro.hpp) reading files with the file awaitables. One command per
// line:
//   cat PATH     opens PATH, stats it, reads it in 4 KiB steps and sends it, then closes it and
//                answers "\nend SIZE SENT CLOSE\n" (CLOSE: close_file's result), or
//                "error ERRNO\n" when the open failed
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <gatio/coro.hpp>

namespace {

class FilesCoro {
public:
    FilesCoro(gatio::Host, const gatio::InstanceInfo&) {}

    gatio::coro::Task<> serve(gatio::coro::Stream& s) {
        std::string line;
        for (;;) {
            gatio::coro::Received in = co_await s.next_data();
            if (!in) {
                co_return;
            }
            line.append(in.text());
            for (auto nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n')) {
                const std::string command = line.substr(0, nl);
                line.erase(0, nl + 1);
                if (command.rfind("cat ", 0) == 0) {
                    co_await cat(s, command.substr(4));
                } else {
                    s.send(std::string_view("unknown\n"));
                }
            }
        }
    }

private:
    static gatio::coro::Task<> cat(gatio::coro::Stream& s, std::string path) {
        gatio::coro::FileResult f = co_await gatio::coro::open_file(s, path);
        if (!f) {
            s.send("error " + std::to_string(f.status == GATIO_OK ? f.error() : f.status) + "\n");
            co_return;
        }
        gatio_file_stat st{};
        co_await gatio::coro::stat_file(s, f.file, st);
        std::array<std::uint8_t, 4096> buf{};
        std::uint64_t sent = 0;
        for (;;) {
            gatio::coro::FileResult n = co_await gatio::coro::read_file(s, f.file, sent, buf);
            if (!n || n.bytes() == 0) {
                break;
            }
            s.send(std::span<const std::uint8_t>(buf.data(), n.bytes()));
            sent += n.bytes();
        }
        gatio::coro::FileResult closed = co_await gatio::coro::close_file(s, f.file);
        s.send("\nend " + std::to_string(st.size) + " " + std::to_string(sent) + " " +
               std::to_string(closed.value) + "\n");
    }
};

} // namespace

GATIO_EXPORT_CORO_PLUGIN(FilesCoro, "files-coro", "1")
