// The sockets a listener is served from: one per serving driver, each with SO_REUSEPORT and
// identical options, so the kernel spreads connections and datagrams across drivers without a
// shared accept queue.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/fd.hpp"

namespace gatio::net {

// "listener "web" (tcp 127.0.0.1:7000)": how errors name a listener.
std::string describe_listener(const config::ListenerConfig& l);

// The socket file of a unix-domain listener. SO_REUSEPORT does not apply to unix sockets, so the
// socket is bound once and every driver's copy, in every generation that keeps the address, is
// a dup of it: they share one accept queue. Held by each copy (DriverListener::socket_file); the
// last holder to let go removes the file, unless something else has replaced it since.
class SocketFile;

// Creates, configures and binds one socket of `l` (and listens, for TCP). IPv6 addresses are
// IPv6-only, so "*:80" and "[::]:80" can be separate listeners. A unix address gives a dup of
// the listener's bound socket while `*file` or another copy holds it, else binds a new one
// (replacing a socket file nothing listens on, refusing one that a process answers on) with
// the listener's socket_mode; `file` must then be given and receives the socket file's holder.
// Throws std::runtime_error naming the listener, the step and the errno text.
core::Fd open_listener_socket(const config::ListenerConfig& l, std::shared_ptr<SocketFile>* file = nullptr);

// The holder of the socket file bound for `l`'s unix address, or null when none is (an IP
// address, or nothing of it open): what a copy that dups a kept socket must hold.
std::shared_ptr<SocketFile> bound_socket_file(const config::ListenerConfig& l);

// A socket of `l` made from `fd`, an already bound (and, for TCP, listening) socket the process
// inherited: a dup() of it, so that each serving driver owns its own descriptor while the caller
// keeps `fd`. Checks that it is a socket of the listener's transport and family bound to its
// address (nothing else may answer in its name) and sets TCP_NODELAY as on sockets gatiod
// opens. Throws std::runtime_error naming the listener and `origin` (where the socket came from).
core::Fd adopt_listener_socket(const config::ListenerConfig& l, int fd, std::string_view origin);

// Attaches a reuseport program to the group `sockets` belong to (sockets[i] was bound i-th):
// the socket of the driver on the CPU that received a connection or datagram gets it, i.e.
// sockets[i] for a packet handled on cpus[i]; other CPUs fall back to the kernel's hash.
// Throws std::runtime_error naming the listener.
void steer_to_cpus(const config::ListenerConfig& l, int socket, const std::vector<int>& cpus);
// Takes such a program off the group `socket` belongs to (none attached is fine). Throws
// std::runtime_error naming the listener.
void unsteer(const config::ListenerConfig& l, int socket);

} // namespace gatio::net
