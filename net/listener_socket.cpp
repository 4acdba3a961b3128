#include "net/listener_socket.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace gatio::net {

namespace {

[[noreturn]] void fail(const config::ListenerConfig& l, std::string_view step, int err) {
    throw std::runtime_error(fmt::format("{}: {}: {}", describe_listener(l), step, std::strerror(err)));
}

void set_int(const config::ListenerConfig& l, int fd, int level, int name, int value, std::string_view what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
        fail(l, what, errno);
    }
}

} // namespace

SocketFd& SocketFd::operator=(SocketFd&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

void SocketFd::reset() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

std::string describe_listener(const config::ListenerConfig& l) {
    return fmt::format("listener \"{}\" ({} {})", l.name,
                       l.transport == config::Transport::tcp ? "tcp" : "udp", l.address.text);
}

SocketFd open_listener_socket(const config::ListenerConfig& l) {
    const bool tcp = l.transport == config::Transport::tcp;
    SocketFd s{::socket(l.address.family(), (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0)};
    if (s.get() < 0) {
        fail(l, "socket", errno);
    }
    set_int(l, s.get(), SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
    if (tcp) {
        // Restarting must not wait for the previous process's TIME_WAIT entries.
        set_int(l, s.get(), SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
        // Accepted sockets inherit it: gathered writes already coalesce, Nagle would only
        // delay the answers of pipelined requests.
        set_int(l, s.get(), IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
    }
    if (l.address.family() == AF_INET6) {
        set_int(l, s.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)");
    }
    if (::bind(s.get(), l.address.sockaddr_ptr(), l.address.length) != 0) {
        fail(l, "bind", errno);
    }
    if (tcp && ::listen(s.get(), static_cast<int>(l.backlog)) != 0) {
        fail(l, "listen", errno);
    }
    return s;
}

void steer_to_cpus(const config::ListenerConfig& l, int socket, const std::vector<int>& cpus) {
    // A = the CPU handling the packet; return the index of the socket serving that CPU, or an
    // out-of-range index, which makes the kernel fall back to its hash.
    std::vector<sock_filter> code;
    code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_CPU)));
    for (std::size_t i = 0; i < cpus.size(); ++i) {
        code.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(cpus[i]), 0, 1));
        code.push_back(BPF_STMT(BPF_RET | BPF_K, static_cast<std::uint32_t>(i)));
    }
    code.push_back(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));
    sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(socket, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
        fail(l, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)", errno);
    }
}

} // namespace gatio::net
