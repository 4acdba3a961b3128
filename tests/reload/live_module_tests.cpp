// Modules handed to drivers that are already running (Runtime::attach_running), the buffer
// rings such a module registers from its own memory, and modules leaving (Driver::detach).
#include <atomic>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <sys/utsname.h>

#include "tests/core/harness.hpp"

using namespace gatio;
using namespace gatio::core;
using test::LambdaModule;
using test::wait_until;

namespace {

constexpr std::uint16_t group = 7;
constexpr std::uint32_t buffers = 8;

// What a module saw, written on its driver's thread and read by the test afterwards.
struct Trace {
    std::atomic<int> started_on{-1}; // driver index whose thread ran start()
    std::atomic<bool> start_on_own_thread{false};
    std::atomic<int> polls{0};
    std::atomic<int> stopped_on{-1};
    std::atomic<bool> destroyed{false};
    std::atomic<int> available{-2}; // the ring's free buffers as the kernel reports them
};

class Probe final : public LambdaModule {
public:
    explicit Probe(Trace& trace) : trace_(trace) {}
    ~Probe() override { trace_.destroyed.store(true); }

private:
    Trace& trace_;
};

// Registers a buffer ring from its own memory, detaches after `turns` polls and unregisters
// the ring as it stops.
std::unique_ptr<Probe> ring_probe(Trace& trace, int turns) {
    auto m = std::make_unique<Probe>(trace);
    auto memory = std::make_shared<Arena>("probe", std::size_t{1} << 20, 0, config::MemoryPolicy::local);
    Probe* self = m.get();
    m->on_start = [&trace, memory](Driver& d) {
        trace.start_on_own_thread.store(Driver::current() == &d);
        BufferRing& ring = d.add_buffer_ring(group, buffers, 512, *memory);
        trace.available.store(ring.available(d.ring()));
        trace.started_on.store(d.index());
    };
    // Asks for another turn until it leaves (an idle driver would otherwise block).
    m->on_poll = [&trace, self, turns](Driver& d) {
        if (trace.polls.fetch_add(1) + 1 == turns) {
            d.detach(*self);
            return false;
        }
        return true;
    };
    m->on_stop = [&trace, memory](Driver& d) {
        d.remove_buffer_ring(group);
        trace.stopped_on.store(Driver::current() == &d ? d.index() : -1);
    };
    return m;
}

bool kernel_reports_buffer_status() {
    utsname u{};
    int major = 0, minor = 0;
    return ::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
           (major > 6 || (major == 6 && minor >= 8));
}

} // namespace

TEST_CASE("a module handed to a running driver starts on its thread, turns with it and leaves on detach",
          "[live]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    REQUIRE(rt.start().empty());

    Trace first;
    std::unique_ptr<DriverModule> module = ring_probe(first, 3);
    REQUIRE(rt.attach_running(1, module));
    CHECK(module == nullptr);
    REQUIRE(wait_until([&] { return first.destroyed.load(); }));
    CHECK(first.started_on == 1);
    CHECK(first.start_on_own_thread);
    CHECK(first.polls >= 3);
    CHECK(first.stopped_on == 1);
    if (kernel_reports_buffer_status()) {
        CHECK(first.available == static_cast<int>(buffers));
    } else {
        CHECK(first.available == -1);
    }

    // The group was unregistered: a second module can register it again on the same ring.
    Trace second;
    module = ring_probe(second, 1);
    REQUIRE(rt.attach_running(1, module));
    REQUIRE(wait_until([&] { return second.destroyed.load(); }));
    CHECK(second.started_on == 1);
    CHECK(second.stopped_on == 1);

    rt.request_stop();
    rt.join();
    CHECK(rt.failure().empty());
}

TEST_CASE("a module that fails to start is destroyed and the driver keeps running", "[live]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    REQUIRE(rt.start().empty());

    Trace trace;
    auto failing = std::make_unique<Probe>(trace);
    failing->on_start = [](Driver&) { throw std::runtime_error("refused on purpose"); };
    failing->on_poll = [&trace](Driver&) {
        ++trace.polls;
        return false;
    };
    std::unique_ptr<DriverModule> module = std::move(failing);
    REQUIRE(rt.attach_running(0, module));
    REQUIRE(wait_until([&] { return trace.destroyed.load(); }));

    // Still turning: a message posted afterwards runs, and the failed module was never polled.
    std::atomic<bool> ran{false};
    REQUIRE(rt.post(0, [&ran](Driver&) { ran.store(true); }));
    REQUIRE(wait_until([&] { return ran.load(); }));
    CHECK(trace.polls == 0);
    rt.request_stop();
    rt.join();
    CHECK(rt.failure().empty());
}

TEST_CASE("a module cannot be handed over before start or after join, and stays with the caller", "[live]") {
    Runtime rt(test::topology(1), test::machine(), {}, test::options_for(1));
    Trace trace;
    std::unique_ptr<DriverModule> module = std::make_unique<Probe>(trace);
    CHECK_FALSE(rt.attach_running(0, module));
    REQUIRE(module != nullptr);

    REQUIRE(rt.start().empty());
    rt.request_stop();
    rt.join();
    CHECK_FALSE(rt.attach_running(0, module));
    REQUIRE(module != nullptr);
    CHECK_FALSE(trace.destroyed);
    module.reset();
    CHECK(trace.destroyed);
}

TEST_CASE("modules attached while running are stopped with the others", "[live]") {
    Runtime rt(test::topology(2), test::machine(), {}, test::options_for(2));
    REQUIRE(rt.start().empty());
    Trace trace;
    auto probe = std::make_unique<Probe>(trace);
    probe->on_start = [&trace](Driver& d) { trace.started_on.store(d.index()); };
    probe->on_stop = [&trace](Driver& d) { trace.stopped_on.store(d.index()); };
    std::unique_ptr<DriverModule> module = std::move(probe);
    REQUIRE(rt.attach_running(1, module));
    REQUIRE(wait_until([&] { return trace.started_on.load() == 1; }));
    CHECK(trace.stopped_on == -1);
    rt.request_stop();
    rt.join();
    CHECK(trace.stopped_on == 1);
}
