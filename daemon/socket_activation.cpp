#include "daemon/socket_activation.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <systemd/sd-daemon.h>
#include <unistd.h>

namespace gatio::daemon {

InheritedSockets::InheritedSockets(std::vector<std::pair<std::string, int>> passed) {
    std::map<std::string, std::vector<int>> fds;
    for (auto& [name, fd] : passed) {
        fds[name].push_back(fd);
    }
    for (auto& [name, list] : fds) {
        if (list.size() == 1) {
            by_name_.emplace(name, list.front());
            continue;
        }
        std::string numbers;
        for (int fd : list) {
            numbers += fmt::format("{}{}", numbers.empty() ? "" : ", ", fd);
            ::close(fd);
        }
        error_ += fmt::format("{}socket activation: sockets {} are all named \"{}\", but a listener serves "
                              "one socket: give each its own .socket unit or FileDescriptorName=",
                              error_.empty() ? "" : "\n", numbers, name);
    }
}

InheritedSockets::InheritedSockets(InheritedSockets&& other) noexcept
    : by_name_(std::move(other.by_name_)), error_(std::move(other.error_)) {
    other.by_name_.clear();
}

InheritedSockets& InheritedSockets::operator=(InheritedSockets&& other) noexcept {
    if (this != &other) {
        close_all();
        by_name_ = std::move(other.by_name_);
        error_ = std::move(other.error_);
        other.by_name_.clear();
    }
    return *this;
}

InheritedSockets::~InheritedSockets() {
    close_all();
}

InheritedSockets InheritedSockets::take_from_environment() {
    char** names = nullptr;
    const int n = sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        InheritedSockets none;
        none.error_ =
            fmt::format("socket activation: LISTEN_FDS/LISTEN_FDNAMES cannot be used: {}", std::strerror(-n));
        return none;
    }
    std::vector<std::pair<std::string, int>> passed;
    for (int i = 0; i < n; ++i) {
        // Without LISTEN_FDNAMES every name is "unknown", which matches no listener.
        passed.emplace_back(names != nullptr && names[i] != nullptr ? names[i] : "unknown",
                            SD_LISTEN_FDS_START + i);
    }
    if (names != nullptr) {
        for (int i = 0; i < n; ++i) {
            std::free(names[i]);
        }
        std::free(names);
    }
    return InheritedSockets(std::move(passed));
}

std::vector<std::string> InheritedSockets::close_unmatched(const config::Config& config) {
    std::vector<std::string> closed;
    for (auto it = by_name_.begin(); it != by_name_.end();) {
        const bool used = std::any_of(config.listeners.begin(), config.listeners.end(),
                                      [&](const config::ListenerConfig& l) { return l.name == it->first; });
        if (used) {
            ++it;
            continue;
        }
        closed.push_back(fmt::format("\"{}\" (fd {})", it->first, it->second));
        ::close(it->second);
        it = by_name_.erase(it);
    }
    return closed;
}

void InheritedSockets::close_all() {
    for (const auto& [name, fd] : by_name_) {
        ::close(fd);
    }
    by_name_.clear();
}

} // namespace gatio::daemon
