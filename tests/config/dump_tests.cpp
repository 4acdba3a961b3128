#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "sandbox.hpp"

using namespace gatio::config;
using namespace gatio::config::test;

namespace {

// Loads text, dumps it, loads the dump from the same file name, and checks both Configs say the
// same. Returns the dump for further checks.
std::string round_trip(const Sandbox& box, std::string_view text, const Overrides& overrides = {}) {
    const Config first = box.valid(text, overrides);
    const std::string dumped = dump(first);
    INFO(dumped);
    const LoadResult again = load_string(dumped, first.file);
    for (const Diagnostic& d : again.errors) {
        UNSCOPED_INFO(d.to_string());
    }
    REQUIRE(again.config);
    CHECK(*again.config == first);
    // Dumping is a fixed point: the second dump is the first one.
    CHECK(dump(*again.config) == dumped);
    return dumped;
}

} // namespace

TEST_CASE("dump writes every default, sections in schema order", "[dump]") {
    Sandbox box;
    const std::string text = round_trip(box, "");
    const std::vector<std::string> in_order{
        "[daemon]\n",
        "plugin_dir = \"" + default_plugin_dir().string() + "\"\n",
        "log_level = \"info\"\n",
        "shutdown_grace = \"10s\"\n",
        "[admin]\n",
        "max_connections = 64\n",
        "idle_timeout = \"10s\"\n",
        "[topology]\n",
        "mode = \"auto\"\n",
        "ring_entries = 1024\n",
        "buffer_size = \"16KiB\"\n",
        "buffer_count = 1024\n",
        "[io_uring]\n",
        "defer_taskrun = true\n",
        "direct_descriptors = true\n",
        "multishot_recv = true\n",
        "submit_batching = true\n",
        "cq_factor = 4\n",
        "single_send = true\n",
        "min_wait = \"0us\"\n",
        "wait_batch = 16\n",
        "spin = \"0us\"\n",
        "recv_bundle = false\n",
        "pbuf_incremental = false\n",
    };
    std::size_t at = 0;
    for (const std::string& expected : in_order) {
        INFO(expected);
        const std::size_t found = text.find(expected, at);
        REQUIRE(found != std::string::npos);
        at = found + expected.size();
    }
    CHECK(text.find("[[listener]]") == std::string::npos);
    CHECK(text.find("[[tpc]]") == std::string::npos);
}

TEST_CASE("dump round-trips a manual topology with listeners", "[dump]") {
    Sandbox box;
    const std::string text = round_trip(box, doc(R"(
[daemon]
plugin_dir = "plugins"
log_level = "critical"
shutdown_grace = "90s"
user = "nobody"
[admin]
listen = "[::1]:9100"
[topology]
mode = "manual"
buffer_size = 2048
[[tpc]]
name = "node0"
numa_node = 0
memory = "local"
[[tpc.driver]]
name = "d0"
cpu = 0
[[tpc.driver]]
name = "d1"
cpu = 1
role = "exec"
ring_entries = 64
[io_uring]
multishot_recv = false
cq_factor = 2
[[listener]]
name = "tcp"
address = "*:7000"
handler = "echo"
drivers = ["d0", "node0"]
idle_timeout = "1500ms"
send_high_watermark = 4096
send_low_watermark = 0
[[listener]]
name = "udp"
transport = "udp"
address = "[::]:7001"
handler = "handlers/custom.so"
steer_to_cpu = true
)"));
    // Inherited ring settings are written out per driver.
    CHECK(text.find(
              "name = \"d0\"\ncpu = 0\nrole = \"io+exec\"\nring_entries = 1024\nbuffer_size = \"2KiB\"\n") !=
          std::string::npos);
    CHECK(text.find("drivers = [\"d0\", \"node0\"]\n") != std::string::npos);
    CHECK(text.find("drivers = \"*\"\n") != std::string::npos);
    CHECK(text.find("idle_timeout = \"1500ms\"\n") != std::string::npos);
    CHECK(text.find("send_low_watermark = \"0B\"\n") != std::string::npos);
    CHECK(text.find("handler = \"handlers/custom.so\"\n") != std::string::npos);
}

TEST_CASE("dump round-trips an automatic topology with a cpulist", "[dump]") {
    Sandbox box;
    const std::string text = round_trip(box, doc(R"(
[topology]
cpus = "8,0-2,3"
ring_entries = 8
buffer_count = 32768
)"));
    CHECK(text.find("cpus = \"0-3,8\"\n") != std::string::npos);
}

TEST_CASE("dump round-trips option trees, awkward keys and strings", "[dump][options]") {
    Sandbox box;
    const std::string text = round_trip(box, doc(R"(
[daemon]
plugin_dir = "plugins"
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "echo"
[listener.options]
z = "quote \" backslash \\ tab \t newline \n bell \u0007 del \u007f é"
"key with spaces" = 1
"" = "empty key"
"dotted.key" = true
floats = [0.1, -0.0, 1e300, 5e-324, 3.0, inf, -inf]
ints = [-9223372036854775808, 9223372036854775807, 0]
empty_array = []
empty_table = {}
nested = { b = { c = [[1, 2], [{ d = "e" }]] }, a = false }
[[listener.options.routes]]
path = "/a"
[[listener.options.routes]]
path = "/b"
)"));
    CHECK(text.find("\"key with spaces\" = 1\n") != std::string::npos);
    CHECK(text.find("\"\" = \"empty key\"\n") != std::string::npos);
    CHECK(text.find("floats = [0.1, -0.0, 1e+300, 5e-324, 3.0, inf, -inf]\n") != std::string::npos);
    CHECK(text.find("nested = { b = { c = [[1, 2], [{ d = \"e\" }]] }, a = false }\n") != std::string::npos);
}

TEST_CASE("a NaN option is written as nan and read back as NaN", "[dump][options]") {
    Sandbox box;
    const Config c = box.valid(doc(R"(
[daemon]
plugin_dir = "plugins"
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "echo"
[listener.options]
x = nan
)"));
    const std::string text = dump(c);
    CHECK(text.find("x = nan\n") != std::string::npos);
    const LoadResult again = load_string(text, c.file);
    REQUIRE(again.config);
    CHECK(std::isnan(std::get<double>(again.config->listeners.at(0).options.at(0).second.value)));
}

TEST_CASE("dump writes the effective plugin_dir, so overrides survive a round trip", "[dump][paths]") {
    Sandbox box;
    const std::string text =
        round_trip(box, "[[listener]]\nname = \"web\"\naddress = \"*:80\"\nhandler = \"echo\"\n",
                   Overrides{box.dir() / "plugins"});
    CHECK(text.find("plugin_dir = \"" + (box.dir() / "plugins").string() + "\"\n") != std::string::npos);
}

TEST_CASE("positions say where, not what: settings written elsewhere compare equal", "[dump]") {
    Sandbox box;
    const std::string body = "[[listener]]\nname = \"web\"\naddress = \"*:80\"\nhandler = \"echo\"\n"
                             "[listener.options]\nk = [1]\n";
    const Config a = box.valid(std::string(daemon_section) + body);
    const Config b = box.valid("# moved down by two lines\n\n" + std::string(daemon_section) + body);
    CHECK(a.positions.listener(0).table.line + 2 == b.positions.listener(0).table.line);
    CHECK(a.listeners[0] == b.listeners[0]);
    CHECK(a == b);

    const Config c = box.valid(std::string(daemon_section) + body + "x = 2\n");
    CHECK_FALSE(a.listeners[0] == c.listeners[0]);
    CHECK_FALSE(a == c);
}

TEST_CASE("keywords print as they are written", "[dump]") {
    CHECK(to_string(LogLevel::critical) == "critical");
    CHECK(to_string(TopologyMode::automatic) == "auto");
    CHECK(to_string(MemoryPolicy::preferred) == "preferred");
    CHECK(to_string(DriverRole::io_exec) == "io+exec");
    CHECK(to_string(Transport::udp) == "udp");
}
