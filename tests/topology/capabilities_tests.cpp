// The kernel report and the io_uring usability check, on the kernel running the tests.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <string>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/capabilities.hpp"

using gatio::core::Capability;
using gatio::core::KernelReport;

namespace {

const Capability* find(const std::vector<Capability>& caps, const std::string& name) {
    auto it = std::find_if(caps.begin(), caps.end(), [&](const Capability& c) { return c.name == name; });
    return it == caps.end() ? nullptr : &*it;
}

// A blocking receive with a timeout on the calling thread, which nothing ever answers: 0 when it
// timed out, else the errno that ended it (EINTR: the thread was interrupted).
int receive_nothing_for_a_while() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    timeval tv{1, 0};
    REQUIRE(::setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    char byte = 0;
    const ssize_t r = ::recv(fds[0], &byte, 1, 0);
    const int err = r < 0 ? errno : 0;
    ::close(fds[0]);
    ::close(fds[1]);
    return err == EAGAIN || err == EWOULDBLOCK ? 0 : (r < 0 ? err : -1);
}

} // namespace

TEST_CASE("the kernel report names this kernel and every probed opcode and feature", "[capabilities]") {
    KernelReport r = gatio::core::probe_kernel();
    utsname u{};
    REQUIRE(uname(&u) == 0);
    CHECK(r.kernel_release == std::string(u.sysname) + " " + u.release);
    // The test suite needs io_uring, so a plain ring must work here and NOP always exists.
    REQUIRE(r.setup_error.empty());
    const Capability* nop = find(r.opcodes, "NOP");
    REQUIRE(nop != nullptr);
    CHECK(nop->supported);
    for (const char* name : {"ACCEPT", "RECV", "RECVMSG", "SEND", "SENDMSG", "MSG_RING", "TIMEOUT",
                             "TIMEOUT_REMOVE", "ASYNC_CANCEL", "CLOSE", "SHUTDOWN", "PROVIDE_BUFFERS"}) {
        INFO(name);
        CHECK(find(r.opcodes, name) != nullptr);
    }
    for (const char* name :
         {"SINGLE_ISSUER", "DEFER_TASKRUN", "COOP_TASKRUN", "SUBMIT_ALL", "CQSIZE", "registered ring fd",
          "sparse files", "buffer rings", "multishot accept", "multishot recv"}) {
        INFO(name);
        CHECK(find(r.features, name) != nullptr);
    }
    std::string text = r.to_string();
    CHECK(text.find("kernel: " + r.kernel_release + "\n") == 0);
    CHECK(text.find("RLIMIT_MEMLOCK: ") != std::string::npos);
    CHECK(text.find("  NOP                 yes\n") != std::string::npos);
    CHECK(text.find("NUMA:\n  node 0: cpus ") != std::string::npos);
}

TEST_CASE("multishot probes agree with the opcode probe", "[capabilities]") {
    KernelReport r = gatio::core::probe_kernel();
    REQUIRE(r.setup_error.empty());
    // A kernel with MSG_RING (6.0) also has multishot accept (5.19), buffer rings (5.19) and
    // multishot recv (6.0): a probe reporting otherwise is broken, not the kernel.
    const Capability* msg_ring = find(r.opcodes, "MSG_RING");
    REQUIRE(msg_ring != nullptr);
    if (msg_ring->supported) {
        for (const char* name : {"multishot accept", "buffer rings", "multishot recv", "sparse files"}) {
            const Capability* c = find(r.features, name);
            REQUIRE(c != nullptr);
            INFO(name << ": " << c->detail);
            CHECK(c->supported);
        }
    }
}

TEST_CASE("what the rings are handed is what the report shows", "[capabilities]") {
    KernelReport r = gatio::core::probe_kernel();
    REQUIRE(r.setup_error.empty());
    const Capability* msg_ring = find(r.opcodes, "MSG_RING");
    const Capability* multishot_recv = find(r.features, "multishot recv");
    REQUIRE(msg_ring != nullptr);
    REQUIRE(multishot_recv != nullptr);
    CHECK(r.support.msg_ring == msg_ring->supported);
    CHECK(r.support.multishot_recv == multishot_recv->supported);
    const Capability* send = find(r.opcodes, "SEND");
    REQUIRE(send != nullptr);
    CHECK(r.support.send == send->supported);
}

TEST_CASE("missing_summary lists exactly the unsupported entries", "[capabilities]") {
    KernelReport r;
    r.kernel_release = "Linux 5.10.0";
    r.opcodes = {{"NOP", true, ""}, {"MSG_RING", false, ""}};
    r.features = {{"DEFER_TASKRUN", false, ""}, {"buffer rings", true, ""}};
    CHECK(r.missing_summary() == "io_uring features missing on kernel Linux 5.10.0: MSG_RING, DEFER_TASKRUN");
    r.opcodes[1].supported = true;
    r.features[0].supported = true;
    CHECK(r.missing_summary().empty());
    r.setup_error = "io_uring_setup: EPERM (Operation not permitted)";
    CHECK(r.missing_summary() ==
          "io_uring unusable on kernel Linux 5.10.0: io_uring_setup: EPERM (Operation not permitted)");
}

TEST_CASE("io_uring is usable for the test process", "[capabilities]") {
    auto problem = gatio::core::check_io_uring_usable(8);
    INFO(problem.value_or(""));
    CHECK_FALSE(problem);
}

// A ring torn down keeps a note of every thread that used it, and the kernel's teardown, which
// runs a while after the close, interrupts each such thread still alive (task work with a
// signal's notification): its blocking socket calls with a timeout then fail with EINTR. The
// probes' rings must therefore leave no note on the caller's thread, which is gatiod's main
// thread or a test's, where clients block on sockets.
TEST_CASE("probing the kernel leaves no teardown that interrupts the caller's blocking calls",
          "[capabilities]") {
    SECTION("probe_kernel") {
        REQUIRE(gatio::core::probe_kernel().setup_error.empty());
        CHECK(receive_nothing_for_a_while() == 0);
    }
    SECTION("check_io_uring_usable") {
        REQUIRE_FALSE(gatio::core::check_io_uring_usable(8));
        CHECK(receive_nothing_for_a_while() == 0);
    }
}
