// The net tests' loopback clients and ports: tests/support's.
#pragma once

#include "tests/support/socket.hpp"

namespace gatio::tests {

using ::gatio::test::free_port;
using ::gatio::test::loopback;
using Socket = ::gatio::test::Socket;

} // namespace gatio::tests
