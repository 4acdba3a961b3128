#include "net/listener_socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/filter.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

int get_int(const config::ListenerConfig& l, int fd, int level, int name, std::string_view what) {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, level, name, &value, &len) != 0) {
        fail(l, what, errno);
    }
    return value;
}

std::string_view family_name(int family) {
    return family == AF_INET    ? "IPv4"
           : family == AF_INET6 ? "IPv6"
           : family == AF_UNIX  ? "unix-domain"
                                : "non-IP";
}

std::string address_text(const sockaddr_storage& a) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (a.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(a);
        ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
        return fmt::format("{}:{}", host, ntohs(in.sin_port));
    }
    if (a.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
        ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
        return fmt::format("[{}]:{}", host, ntohs(in6.sin6_port));
    }
    if (a.ss_family == AF_UNIX) {
        const auto& un = reinterpret_cast<const sockaddr_un&>(a);
        return fmt::format("unix:{}",
                           std::string_view(un.sun_path, ::strnlen(un.sun_path, sizeof un.sun_path)));
    }
    return fmt::format("an address of family {}", a.ss_family);
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) {
        return false;
    }
    if (a.ss_family == AF_INET) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in&>(b);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    if (a.ss_family == AF_INET6) {
        const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
        return x.sin6_port == y.sin6_port && x.sin6_scope_id == y.sin6_scope_id &&
               std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
    }
    if (a.ss_family == AF_UNIX) {
        const auto& x = reinterpret_cast<const sockaddr_un&>(a);
        const auto& y = reinterpret_cast<const sockaddr_un&>(b);
        return std::strncmp(x.sun_path, y.sun_path, sizeof x.sun_path) == 0;
    }
    return false;
}

// The socket files gatiod has bound, by path. Opened on the main thread, let go of on drivers.
std::mutex socket_files_lock;
std::map<std::string, std::weak_ptr<SocketFile>, std::less<>> socket_files;

// Whether a process accepts connections on the socket file at `path`: connecting is the one
// test that does not guess (the file outlives the process that bound it). A full backlog
// (EAGAIN) still means someone listens.
bool someone_listens(const config::ListenerConfig& l) {
    core::Fd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (probe.get() < 0) {
        fail(l, "socket (to probe the existing socket file)", errno);
    }
    if (::connect(probe.get(), l.address.sockaddr_ptr(), l.address.length) == 0) {
        return true;
    }
    return errno != ECONNREFUSED && errno != ENOENT;
}

} // namespace

class SocketFile {
public:
    SocketFile(std::string path, core::Fd socket, dev_t dev, ino_t ino)
        : path_(std::move(path)), socket_(std::move(socket)), dev_(dev), ino_(ino) {}
    SocketFile(const SocketFile&) = delete;
    SocketFile& operator=(const SocketFile&) = delete;

    // Under the registry's lock, so that binding the path again waits until the file is gone.
    ~SocketFile() {
        std::lock_guard lock(socket_files_lock);
        struct stat st {};
        // Only the file this socket was bound to: another process may have replaced it.
        if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
            ::unlink(path_.c_str());
        }
        socket_.reset();
        auto it = socket_files.find(path_);
        if (it != socket_files.end() && it->second.expired()) {
            socket_files.erase(it);
        }
    }

    int socket() const { return socket_.get(); }

private:
    std::string path_;
    core::Fd socket_;
    dev_t dev_;
    ino_t ino_;
};

namespace {

core::Fd dup_socket(const config::ListenerConfig& l, int fd) {
    core::Fd s{::fcntl(fd, F_DUPFD_CLOEXEC, 0)};
    if (s.get() < 0) {
        fail(l, "dup of its socket", errno);
    }
    return s;
}

core::Fd open_unix_listener(const config::ListenerConfig& l, std::shared_ptr<SocketFile>* file) {
    if (file == nullptr) {
        throw std::logic_error(describe_listener(l) + ": a unix-domain socket needs a holder for its file");
    }
    std::lock_guard lock(socket_files_lock);
    const std::string path(l.address.unix_path());
    if (auto it = socket_files.find(path); it != socket_files.end()) {
        if (auto held = it->second.lock()) {
            *file = held;
            return dup_socket(l, held->socket());
        }
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            throw std::runtime_error(
                fmt::format("{}: \"{}\" exists and is not a socket; gatiod replaces only sockets",
                            describe_listener(l), path));
        }
        if (someone_listens(l)) {
            throw std::runtime_error(
                fmt::format("{}: a process already listens on \"{}\"", describe_listener(l), path));
        }
        // A socket left behind by a process that is gone.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            const int err = errno;
            fail(l, fmt::format("unlink of the stale socket file \"{}\"", path), err);
        }
    }
    core::Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.get() < 0) {
        fail(l, "socket", errno);
    }
    if (::bind(s.get(), l.address.sockaddr_ptr(), l.address.length) != 0) {
        fail(l, "bind", errno);
    }
    if (::lstat(path.c_str(), &st) != 0) {
        const int err = errno;
        fail(l, fmt::format("stat of the bound socket file \"{}\"", path), err);
    }
    auto bound = std::make_shared<SocketFile>(path, std::move(s), st.st_dev, st.st_ino);
    // Before listen, so that no client connects while the umask's bits still apply.
    if (l.socket_mode && ::chmod(path.c_str(), static_cast<mode_t>(*l.socket_mode)) != 0) {
        const int err = errno;
        fail(l, fmt::format("chmod of \"{}\"", path), err);
    }
    if (::listen(bound->socket(), static_cast<int>(l.backlog)) != 0) {
        fail(l, "listen", errno);
    }
    socket_files[path] = bound;
    *file = bound;
    return dup_socket(l, bound->socket());
}

} // namespace

std::shared_ptr<SocketFile> bound_socket_file(const config::ListenerConfig& l) {
    if (!l.address.is_unix()) {
        return nullptr;
    }
    std::lock_guard lock(socket_files_lock);
    auto it = socket_files.find(l.address.unix_path());
    return it == socket_files.end() ? nullptr : it->second.lock();
}

std::string describe_listener(const config::ListenerConfig& l) {
    return fmt::format("listener \"{}\" ({} {})", l.name,
                       l.transport == config::Transport::tcp ? "tcp" : "udp", l.address.text);
}

core::Fd open_listener_socket(const config::ListenerConfig& l, std::shared_ptr<SocketFile>* file) {
    if (l.address.is_unix()) {
        return open_unix_listener(l, file);
    }
    const bool tcp = l.transport == config::Transport::tcp;
    core::Fd s{::socket(l.address.family(), (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0)};
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

core::Fd adopt_listener_socket(const config::ListenerConfig& l, int fd, std::string_view origin) {
    const bool tcp = l.transport == config::Transport::tcp;
    auto refuse = [&](const std::string& why) {
        throw std::runtime_error(fmt::format("{}: {} {}", describe_listener(l), origin, why));
    };
    const int type = get_int(l, fd, SOL_SOCKET, SO_TYPE, "getsockopt(SO_TYPE) of the inherited socket");
    if (type != (tcp ? SOCK_STREAM : SOCK_DGRAM)) {
        refuse(fmt::format("is not a {} socket", tcp ? "stream (TCP)" : "datagram (UDP)"));
    }
    const int family = get_int(l, fd, SOL_SOCKET, SO_DOMAIN, "getsockopt(SO_DOMAIN) of the inherited socket");
    if (family != l.address.family()) {
        refuse(fmt::format("is an {} socket, the listener's address is {}", family_name(family),
                           family_name(l.address.family())));
    }
    if (tcp &&
        get_int(l, fd, SOL_SOCKET, SO_ACCEPTCONN, "getsockopt(SO_ACCEPTCONN) of the inherited socket") == 0) {
        refuse("is not listening");
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
        fail(l, "getsockname of the inherited socket", errno);
    }
    if (!same_address(bound, l.address.storage)) {
        refuse(fmt::format("is bound to {}, not to the configured address {}", address_text(bound),
                           l.address.text));
    }
    core::Fd s{::fcntl(fd, F_DUPFD_CLOEXEC, 0)};
    if (s.get() < 0) {
        fail(l, "dup of the inherited socket", errno);
    }
    if (tcp && family != AF_UNIX) {
        set_int(l, s.get(), IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY) on the inherited socket");
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

void unsteer(const config::ListenerConfig& l, int socket) {
    int unused = 0;
    if (::setsockopt(socket, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof unused) != 0 &&
        errno != ENOENT) {
        fail(l, "setsockopt(SO_DETACH_REUSEPORT_BPF)", errno);
    }
}

} // namespace gatio::net
