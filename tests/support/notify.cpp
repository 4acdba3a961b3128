#include "tests/support/notify.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

#include "tests/support/socket.hpp"

namespace gatio::test {

NotifySocket::NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof a.sun_path);
    std::strcpy(a.sun_path, path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        FAIL("notify socket " << path << ": " << std::strerror(errno));
    }
}

NotifySocket::~NotifySocket() {
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
}

std::optional<std::size_t> NotifySocket::wait_for(const std::function<bool(const std::string&)>& match,
                                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (test::wait_for(fd_, POLLIN, deadline)) {
        char buf[4096];
        const ssize_t n = test::receive(fd_, buf, sizeof buf);
        if (n <= 0) {
            continue;
        }
        messages_.emplace_back(buf, static_cast<std::size_t>(n));
        if (match(messages_.back())) {
            return messages_.size() - 1;
        }
    }
    return std::nullopt;
}

std::optional<std::string> notify_field(const std::string& message, std::string_view name) {
    std::size_t start = 0;
    while (start <= message.size()) {
        std::size_t end = message.find('\n', start);
        if (end == std::string::npos) {
            end = message.size();
        }
        const std::string_view line(message.data() + start, end - start);
        if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == '=') {
            return std::string(line.substr(name.size() + 1));
        }
        start = end + 1;
    }
    return std::nullopt;
}

} // namespace gatio::test
