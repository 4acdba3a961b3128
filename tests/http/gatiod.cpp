#include "gatiod.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <thread>

#include "tests/support/gatiod.hpp"

namespace gatio::http::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Gatiod::Gatiod(std::vector<Listener> listeners, const std::string& more_toml,
               const std::vector<std::string>& wrapper)
    : listeners_(std::move(listeners)) {
    std::string config = "[daemon]\n"
                         "log_level = \"info\"\n" +
                         more_toml +
                         "\n[topology]\n"
                         "mode = \"manual\"\n"
                         "[[tpc]]\n"
                         "name = \"node0\"\n"
                         "numa_node = 0\n"
                         "[[tpc.driver]]\n"
                         "name = \"d0\"\n"
                         "cpu = 0\n"
                         "[[tpc.driver]]\n"
                         "name = \"d1\"\n"
                         "cpu = 1\n";
    for (Listener& l : listeners_) {
        l.port = free_port();
        config += "[[listener]]\nname = \"" + l.name + "\"\naddress = \"127.0.0.1:" + std::to_string(l.port) +
                  "\"\nhandler = \"http\"\n" + l.extra + "\n[listener.options]\n" + l.options + "\n";
    }
    const fs::path config_file = dir_.write("gatio.toml", config);
    std::vector<std::string> argv = wrapper;
    const std::vector<std::string> own = ::gatio::test::gatiod_argv(config_file);
    argv.insert(argv.end(), own.begin(), own.end());
    process_ = std::make_unique<::gatio::test::Child>(::gatio::test::Spawn{.argv = argv,
                                                                           .env = ::gatio::test::gatiod_env(),
                                                                           .log = dir_.path() / "gatiod.log",
                                                                           .merge_output = true});
    ::gatio::test::wait_running(*process_);
}

Gatiod::~Gatiod() = default;

std::uint16_t Gatiod::port(std::string_view listener) const {
    for (const Listener& l : listeners_) {
        if (l.name == listener) {
            return l.port;
        }
    }
    FAIL("no listener " << listener);
    return 0;
}

pid_t Gatiod::pid() const {
    return process_->pid();
}

std::string Gatiod::log() const {
    return process_->err();
}

bool Gatiod::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) {
    return process_->wait_for_stderr(needle, timeout);
}

int Gatiod::stop() {
    REQUIRE(process_->pid() > 0);
    return process_->stop();
}

Client::Client(std::uint16_t port) : socket_(::gatio::test::Socket::tcp(port)) {
    REQUIRE(socket_.set_nodelay());
}

void Client::send(std::string_view bytes) {
    socket_.send_all(bytes);
}

void Client::send_bytewise(std::string_view bytes, std::chrono::microseconds pause) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        send(bytes.substr(i, 1));
        if (pause.count() > 0) {
            std::this_thread::sleep_for(pause);
        }
    }
}

bool Client::receive(Clock::time_point deadline) {
    if (eof_) {
        return false;
    }
    char buf[65536];
    const ssize_t n = socket_.receive(buf, sizeof buf, deadline);
    if (n < 0 && errno == ETIMEDOUT) {
        return false;
    }
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        eof_ = true;
        return false;
    }
    INFO("recv: " << std::strerror(errno));
    REQUIRE(n > 0);
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::vector<Response> Client::read(std::size_t count, const std::vector<bool>& answers_head,
                                   std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        std::string rest;
        std::vector<Response> got = split_responses(buffer_, answers_head, &rest);
        std::size_t finals = 0;
        for (const Response& r : got) {
            finals += r.status >= 200 ? 1 : 0;
        }
        if (finals >= count || !receive(deadline)) {
            // Read once more: the last receive may have completed responses.
            got = split_responses(buffer_, answers_head, &rest);
            buffer_ = rest;
            return got;
        }
    }
}

bool Client::closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (receive(deadline)) {
    }
    return eof_;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
    std::vector<std::string> resolved = argv;
    resolved.at(0) = ::gatio::test::find_program(argv[0]);
    if (resolved[0].empty()) {
        FAIL(argv[0] << " is not in PATH");
    }
    ::gatio::test::Child child(::gatio::test::Spawn{.argv = resolved, .merge_output = true});
    const int status = child.wait(timeout);
    CommandResult result;
    result.output = child.out();
    INFO(argv[0] << " output:\n" << result.output);
    REQUIRE(status >= 0);
    // 128 + signal is no normal exit.
    result.status = status < 128 ? status : -1;
    return result;
}

} // namespace gatio::http::test
