// The AF_UNIX datagram socket a service manager listens on: NOTIFY_SOCKET for gatiod.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatio::test {

class NotifySocket {
public:
    explicit NotifySocket(const std::filesystem::path& path);
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;
    ~NotifySocket();

    std::string env() const { return "NOTIFY_SOCKET=" + path_.string(); }
    // Receives messages until one satisfies `match`: its index in messages(), or nullopt when the
    // timeout passes. Only messages received by this call are matched; all are kept.
    std::optional<std::size_t> wait_for(const std::function<bool(const std::string&)>& match,
                                        std::chrono::milliseconds timeout);
    const std::vector<std::string>& messages() const { return messages_; }

private:
    std::filesystem::path path_;
    int fd_ = -1;
    std::vector<std::string> messages_;
};

// The value of NAME= in a notification ("READY=1\nSTATUS=..."), if present.
std::optional<std::string> notify_field(const std::string& message, std::string_view name);

} // namespace gatio::test
