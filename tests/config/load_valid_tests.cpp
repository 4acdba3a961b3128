#include <catch2/catch.hpp>
#include <fstream>

#include "sandbox.hpp"

using namespace gatio::config;
using namespace gatio::config::test;

TEST_CASE("an empty file yields every default", "[load]") {
    Sandbox box;
    const Config c = box.valid("");
    CHECK(c.file == box.file());
    CHECK(c.daemon.plugin_dir == default_plugin_dir());
    CHECK(c.daemon.plugin_dir.is_absolute());
    CHECK(c.daemon.plugin_dir.filename() == "plugins");
    CHECK(c.daemon.log_level == LogLevel::info);
    CHECK(c.daemon.shutdown_grace == Duration(10'000));
    CHECK_FALSE(c.daemon.user);
    CHECK_FALSE(c.admin.listen);
    CHECK(c.admin.max_connections == 64);
    CHECK(c.admin.idle_timeout == Duration(10'000));
    CHECK(c.topology.mode == TopologyMode::automatic);
    CHECK_FALSE(c.topology.cpus);
    CHECK(c.topology.ring.ring_entries == 1024);
    CHECK(c.topology.ring.buffer_size == 16384);
    CHECK(c.topology.ring.buffer_count == 1024);
    CHECK(c.topology.tpcs.empty());
    CHECK(c.io_uring == IoUringTuning{true, true, true, true, 4, true});
    CHECK(c.network == NetworkSection{.output_memory = std::uint64_t{32} << 20,
                                      .carry_buffers = 1024,
                                      .udp_reply_slots = 1024,
                                      .close_linger = Duration(5000),
                                      .open_files = 1024,
                                      .file_operations = 1024,
                                      .lent_buffers = 64,
                                      .lent_buffer_size = 256u << 10,
                                      .drain_read_limit = std::uint64_t{8} << 20});
    CHECK(c.listeners.empty());
}

TEST_CASE("[network] and the per-connection output budget are read", "[load]") {
    Sandbox box;
    const Config c = box.valid(std::string(daemon_section) + doc(R"(
[network]
output_memory = "64MiB"
carry_buffers = 16
udp_reply_slots = 8
close_linger = "0s"
open_files = 10
file_operations = 20
lent_buffers = 4
lent_buffer_size = "64KiB"
drain_read_limit = "256KiB"
receive_holds = 8
receive_holds_per_connection = 0
zerocopy_send = true
zerocopy_send_min = "128KiB"
[[listener]]
name = "web"
address = "127.0.0.1:8080"
handler = "echo"
send_buffer_limit = "2MiB"
send_buffer_reserve = "16KiB"
)"));
    CHECK(c.network == NetworkSection{.output_memory = std::uint64_t{64} << 20,
                                      .carry_buffers = 16,
                                      .udp_reply_slots = 8,
                                      .close_linger = Duration(0),
                                      .open_files = 10,
                                      .file_operations = 20,
                                      .lent_buffers = 4,
                                      .lent_buffer_size = 64u << 10,
                                      .zerocopy_send = true,
                                      .zerocopy_send_min = 128u << 10,
                                      .receive_holds = 8,
                                      .receive_holds_per_connection = 0,
                                      .drain_read_limit = 256u << 10});
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].send_buffer_limit == 2u << 20);
    CHECK(c.listeners[0].send_buffer_reserve == 16u << 10);
    const std::string text = dump(c);
    CHECK(text.find(
              "[network]\noutput_memory = \"64MiB\"\ncarry_buffers = 16\nudp_reply_slots = 8\n"
              "close_linger = \"0s\"\nopen_files = 10\nfile_operations = 20\nlent_buffers = 4\n"
              "lent_buffer_size = \"64KiB\"\ndrain_read_limit = \"256KiB\"\nreceive_holds = 8\n"
              "receive_holds_per_connection = 0\nzerocopy_send = true\nzerocopy_send_min = \"128KiB\"\n") !=
          std::string::npos);
    CHECK(text.find("send_buffer_limit = \"2MiB\"\nsend_buffer_reserve = \"16KiB\"\n") != std::string::npos);
}

TEST_CASE("a listener with only its required keys gets every default", "[load]") {
    Sandbox box;
    const Config c = box.valid(std::string(daemon_section) + doc(R"(
[[listener]]
name = "web"
address = "127.0.0.1:8080"
handler = "echo"
)"));
    REQUIRE(c.listeners.size() == 1);
    const ListenerConfig& l = c.listeners[0];
    CHECK(l.name == "web");
    CHECK(l.transport == Transport::tcp);
    CHECK(l.address.text == "127.0.0.1:8080");
    CHECK(l.address.port == 8080);
    CHECK(l.handler == "echo");
    CHECK(l.handler_path == box.dir() / "plugins" / "echo.so");
    CHECK(l.all_drivers);
    CHECK(l.drivers.empty());
    CHECK(c.positions.listener(0).drivers == SourcePos{});
    CHECK(l.backlog == 4096);
    CHECK(l.max_connections == 65536);
    CHECK(l.idle_timeout == Duration(60'000));
    CHECK_FALSE(l.steer_to_cpu);
    CHECK(l.send_high_watermark == 1u << 20);
    CHECK(l.send_low_watermark == 256u << 10);
    CHECK(l.options.empty());
    const ListenerPositions& at = c.positions.listener(0);
    CHECK(at.table == SourcePos{3, 1});
    CHECK(at.name == SourcePos{4, 8});
    CHECK(at.address == SourcePos{5, 11});
    CHECK(at.handler == SourcePos{6, 11});
}

TEST_CASE("[admin] with its limits set", "[load][admin]") {
    Sandbox box;
    const Config c =
        box.valid("[admin]\nlisten = \"127.0.0.1:9100\"\nmax_connections = 8\nidle_timeout = \"2s\"\n");
    REQUIRE(c.admin.listen);
    CHECK(c.admin.max_connections == 8);
    CHECK(c.admin.idle_timeout == Duration(2'000));
}

TEST_CASE("a manual topology with every key set", "[load]") {
    Sandbox box;
    const Config c = box.valid(doc(R"(
[daemon]
plugin_dir = "plugins"
log_level = "debug"
shutdown_grace = "250ms"
user = "gatio"

[admin]
listen = "127.0.0.1:9100"

[topology]
mode = "manual"
ring_entries = 256
buffer_size = 4096
buffer_count = 512

[[tpc]]
name = "node0"
numa_node = 0
memory = "interleave"

  [[tpc.driver]]
  name = "d0"
  cpu = 0

  [[tpc.driver]]
  name = "d1"
  cpu = 1
  role = "io"
  ring_entries = 32768
  buffer_size = "1MiB"
  buffer_count = 1

[[tpc]]
name = "node1"
numa_node = 1

  [[tpc.driver]]
  name = "x2"
  cpu = 4095
  role = "exec"

[io_uring]
defer_taskrun = false
direct_descriptors = false
multishot_recv = false
submit_batching = false
cq_factor = 64
single_send = false
min_wait = "1ms"
wait_batch = 4096
spin = "250us"
recv_bundle = true
pbuf_incremental = true

[[listener]]
name = "echo-udp"
transport = "udp"
address = "[::1]:7001"
handler = "handlers/custom.so"
drivers = ["d1", "node1"]
backlog = 1
max_connections = 1048576
idle_timeout = "0s"
steer_to_cpu = true
send_high_watermark = 2048
send_low_watermark = "1KiB"
)"));
    CHECK(c.daemon.plugin_dir == box.dir() / "plugins");
    CHECK(c.daemon.log_level == LogLevel::debug);
    CHECK(c.daemon.shutdown_grace == Duration(250));
    CHECK(c.daemon.user == "gatio");
    REQUIRE(c.admin.listen);
    CHECK(c.admin.listen->port == 9100);
    CHECK(c.positions.admin_listen == SourcePos{8, 10});

    const TopologySection& t = c.topology;
    CHECK(t.mode == TopologyMode::manual);
    CHECK_FALSE(t.cpus);
    CHECK(t.ring == RingSettings{256, 4096, 512});
    REQUIRE(t.tpcs.size() == 2);
    CHECK(t.tpcs[0].name == "node0");
    CHECK(t.tpcs[0].numa_node == 0);
    CHECK(t.tpcs[0].memory == MemoryPolicy::interleave);
    CHECK(c.positions.tpc(0).table == SourcePos{16, 1});
    CHECK(c.positions.tpc(0).numa_node == SourcePos{18, 13});
    REQUIRE(t.tpcs[0].drivers.size() == 2);
    const DriverConfig& d0 = t.tpcs[0].drivers[0];
    CHECK(d0.name == "d0");
    CHECK(d0.cpu == 0);
    CHECK(d0.role == DriverRole::io_exec);
    CHECK(d0.ring == RingSettings{256, 4096, 512}); // inherited from [topology]
    CHECK(c.positions.driver(0, 0).table == SourcePos{21, 3});
    CHECK(c.positions.driver(0, 0).cpu == SourcePos{23, 9});
    const DriverConfig& d1 = t.tpcs[0].drivers[1];
    CHECK(d1.role == DriverRole::io);
    CHECK(d1.ring == RingSettings{32768, 1u << 20, 1});
    CHECK(t.tpcs[1].memory == MemoryPolicy::bind);
    REQUIRE(t.tpcs[1].drivers.size() == 1);
    CHECK(t.tpcs[1].drivers[0].cpu == 4095);
    CHECK(t.tpcs[1].drivers[0].role == DriverRole::exec);

    CHECK(c.io_uring == IoUringTuning{false, false, false, false, 64, false, std::chrono::microseconds(1000),
                                      4096, std::chrono::microseconds(250), true, true});

    REQUIRE(c.listeners.size() == 1);
    const ListenerConfig& l = c.listeners[0];
    CHECK(l.transport == Transport::udp);
    CHECK(l.address.family() == AF_INET6);
    CHECK(l.handler_path == box.dir() / "handlers" / "custom.so");
    CHECK_FALSE(l.all_drivers);
    CHECK(l.drivers == std::vector<std::string>{"d1", "node1"});
    CHECK(c.positions.listener(0).drivers == SourcePos{60, 11});
    CHECK(l.backlog == 1);
    CHECK(l.max_connections == 1048576);
    CHECK(l.idle_timeout == Duration(0));
    CHECK(l.steer_to_cpu);
    CHECK(l.send_high_watermark == 2048);
    CHECK(l.send_low_watermark == 1024);
}

TEST_CASE("an automatic topology restricted to a cpulist", "[load]") {
    Sandbox box;
    const Config c = box.valid(doc(R"(
[topology]
mode = "auto"
cpus = "0-3,8"
buffer_size = "512B"
)"));
    CHECK(c.topology.mode == TopologyMode::automatic);
    REQUIRE(c.topology.cpus);
    CHECK(c.topology.cpus->cpus() == std::vector<int>{0, 1, 2, 3, 8});
    CHECK(c.positions.topology_cpus == SourcePos{3, 8});
    CHECK(c.topology.ring.buffer_size == 512);
    CHECK(c.topology.tpcs.empty());
}

TEST_CASE("listeners may share a port across transports and across address families", "[load]") {
    Sandbox box;
    const Config c = box.valid(std::string(daemon_section) + doc(R"(
[[listener]]
name = "a"
address = "*:7000"
handler = "echo"
[[listener]]
name = "b"
transport = "udp"
address = "*:7000"
handler = "echo"
[[listener]]
name = "c"
address = "[::]:7000"
handler = "echo"
[[listener]]
name = "d"
address = "127.0.0.1:7001"
handler = "echo"
[[listener]]
name = "e"
address = "127.0.0.2:7001"
handler = "echo"
)"));
    CHECK(c.listeners.size() == 5);
}

TEST_CASE("tpc, driver and listener names live in two namespaces", "[load]") {
    Sandbox box;
    // A listener may be called like a driver: listeners never reference each other.
    const Config c = box.valid(std::string(daemon_section) + doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "n.0_A-z"
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
[[listener]]
name = "d0"
address = "127.0.0.1:80"
handler = "echo"
)"));
    CHECK(c.listeners[0].name == c.topology.tpcs[0].drivers[0].name);
}

TEST_CASE("relative paths resolve against the configuration file's folder", "[load][paths]") {
    Sandbox box;
    const std::string text = doc(R"(
[daemon]
plugin_dir = "../plugins/"
[[listener]]
name = "bare"
address = "127.0.0.1:80"
handler = "http"
[[listener]]
name = "path"
address = "127.0.0.1:81"
handler = "../handlers/./custom.so"
)");
    const LoadResult r = load_string(text, box.dir() / "conf" / "gatio.toml");
    REQUIRE(r.errors.empty());
    REQUIRE(r.config);
    CHECK(r.config->daemon.plugin_dir == box.dir() / "plugins");
    CHECK(r.config->listeners[0].handler_path == box.dir() / "plugins" / "http.so");
    CHECK(r.config->listeners[1].handler_path == box.dir() / "handlers" / "custom.so");

    SECTION("an absolute handler path is taken as is") {
        const std::string absolute = (box.dir() / "handlers" / "custom.so").string();
        const Config c = box.valid(doc(R"(
[[listener]]
name = "abs"
address = "127.0.0.1:80"
handler = ")") + absolute + "\"\n");
        CHECK(c.listeners[0].handler_path == absolute);
    }
}

TEST_CASE("a relative file name is made absolute but reported as given", "[load][paths]") {
    const std::filesystem::path relative = "no-such-folder/gatio.toml";
    const LoadResult ok = load_string("", relative);
    REQUIRE(ok.config);
    CHECK(ok.config->file == std::filesystem::current_path() / relative);

    const LoadResult bad = load_string("[daemon]\nlog_level = 3\n", relative);
    REQUIRE(bad.errors.size() == 1);
    CHECK(bad.errors[0].to_string() ==
          "no-such-folder/gatio.toml:2:13: daemon: log_level: expected 'trace', 'debug', 'info', 'warn', "
          "'error', 'critical' or 'off', got an integer");
}

TEST_CASE("the plugin_dir override wins and resolves against the current directory", "[load][paths]") {
    Sandbox box;
    const std::string text = doc(R"(
[daemon]
plugin_dir = "conf"
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "echo"
)");
    // Without the override, echo is looked up in conf/ and is missing there.
    CHECK(box.errors(text) ==
          std::vector<std::string>{"6:11: listener \"web\": handler: no plugin file '<dir>/conf/echo.so'"});

    SECTION("absolute override") {
        const Config c = box.valid(text, Overrides{box.dir() / "plugins"});
        CHECK(c.daemon.plugin_dir == box.dir() / "plugins");
        CHECK(c.listeners[0].handler_path == box.dir() / "plugins" / "echo.so");
    }
    SECTION("relative override") {
        const auto relative =
            std::filesystem::relative(box.dir() / "plugins", std::filesystem::current_path());
        REQUIRE(relative.is_relative());
        const Config c = box.valid(text, Overrides{relative});
        CHECK(c.daemon.plugin_dir == box.dir() / "plugins");
    }
    SECTION("the override also replaces the built-in default") {
        const Config c = box.valid(doc(R"(
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "echo"
)"),
                                   Overrides{box.dir() / "plugins"});
        CHECK(c.daemon.plugin_dir == box.dir() / "plugins");
    }
    SECTION("an empty override is an error") {
        const LoadResult r = box.load("", Overrides{std::filesystem::path()});
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].to_string() ==
              box.file().string() + ": plugin directory override: expected a non-empty path, got ''");
    }
}

TEST_CASE("listener options become an ordered tree of plain values with positions", "[load][options]") {
    Sandbox box;
    const Config c = box.valid(std::string(daemon_section) + doc(R"(
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "echo"
[listener.options]
zeta = "first"
alpha = 42
ratio = 0.5
on = false
list = [1, "two", 3.0, [true], { k = "v" }]
inline = { z = 1, a = 2 }
dotted.b = 1
dotted.a = 2
"quoted key" = -7
[listener.options.sub]
y = "late"
x = "later"
[[listener.options.routes]]
path = "/a"
[[listener.options.routes]]
path = "/b"
)"));
    const OptionTable& o = c.listeners[0].options;
    std::vector<std::string> keys;
    for (const auto& [key, value] : o) {
        keys.push_back(key);
    }
    CHECK(keys == std::vector<std::string>{"zeta", "alpha", "ratio", "on", "list", "inline", "dotted",
                                           "quoted key", "sub", "routes"});
    CHECK(std::get<std::string>(o[0].second.value) == "first");
    CHECK(std::get<std::int64_t>(o[1].second.value) == 42);
    CHECK(std::get<double>(o[2].second.value) == 0.5);
    CHECK(std::get<bool>(o[3].second.value) == false);

    const auto& list = std::get<OptionArray>(o[4].second.value);
    REQUIRE(list.size() == 5);
    CHECK(std::get<std::int64_t>(list[0].value) == 1);
    CHECK(std::get<std::string>(list[1].value) == "two");
    CHECK(std::get<double>(list[2].value) == 3.0);
    CHECK(std::get<bool>(std::get<OptionArray>(list[3].value).at(0).value));
    const auto& inner = std::get<OptionTable>(list[4].value);
    REQUIRE(inner.size() == 1);
    CHECK(inner[0].first == "k");

    const auto& inline_table = std::get<OptionTable>(o[5].second.value);
    REQUIRE(inline_table.size() == 2);
    CHECK(inline_table[0].first == "z"); // written order, not sorted
    CHECK(inline_table[1].first == "a");

    const auto& dotted = std::get<OptionTable>(o[6].second.value);
    REQUIRE(dotted.size() == 2);
    CHECK(dotted[0].first == "b");
    CHECK(std::get<std::int64_t>(o[7].second.value) == -7);

    const auto& sub = std::get<OptionTable>(o[8].second.value);
    REQUIRE(sub.size() == 2);
    CHECK(sub[0].first == "y");

    const auto& routes = std::get<OptionArray>(o[9].second.value);
    REQUIRE(routes.size() == 2);
    CHECK(std::get<std::string>(std::get<OptionTable>(routes[1].value).at(0).second.value) == "/b");
}

TEST_CASE("load_file reads a real file and reports unreadable ones", "[load][file]") {
    Sandbox box;
    SECTION("a valid file") {
        std::ofstream(box.file()) << daemon_section
                                  << "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:80\"\n"
                                  << "handler = \"echo\"\n";
        const LoadResult r = load_file(box.file());
        REQUIRE(r.errors.empty());
        REQUIRE(r.config);
        CHECK(r.config->file == box.file());
        CHECK(r.config->listeners.at(0).handler_path == box.dir() / "plugins" / "echo.so");
    }
    SECTION("errors name the file as given") {
        std::ofstream(box.file()) << "[daemon]\nshutdown_grace = 10\n";
        const LoadResult r = load_file(box.file());
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].to_string() ==
              box.file().string() +
                  ":2:18: daemon: shutdown_grace: expected a duration such as '10s', got an integer");
    }
    SECTION("a missing file") {
        const LoadResult r = load_file(box.dir() / "missing.toml");
        CHECK_FALSE(r.config);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].to_string() ==
              (box.dir() / "missing.toml").string() + ": cannot open: No such file or directory");
    }
    SECTION("a directory") {
        const LoadResult r = load_file(box.dir());
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].to_string() == box.dir().string() + ": cannot read: Is a directory");
    }
    SECTION("a file over the size limit") {
        std::ofstream(box.file()) << std::string(max_file_bytes + 1, '#');
        const LoadResult r = load_file(box.file());
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message == "larger than 1048576 bytes; not a configuration file?");
    }
    SECTION("a file exactly at the size limit is read") {
        std::ofstream(box.file()) << std::string(max_file_bytes, '#');
        const LoadResult r = load_file(box.file());
        CHECK(r.errors.empty());
        CHECK(r.config);
    }
}

TEST_CASE("the example configuration in the repository loads", "[load][example]") {
    // The example expects --plugin-dir; any folder holding echo.so, http.so and resp.so works.
    Sandbox box;
    const LoadResult r = load_file(GATIO_SOURCE_DIR "/gatio.toml.example", Overrides{box.dir() / "plugins"});
    for (const Diagnostic& d : r.errors) {
        UNSCOPED_INFO(d.to_string());
    }
    REQUIRE(r.config);
    const Config& c = *r.config;
    CHECK(c.topology.mode == TopologyMode::manual);
    REQUIRE(c.topology.tpcs.size() == 1);
    CHECK(c.topology.tpcs[0].name == "node0");
    CHECK(c.topology.tpcs[0].numa_node == 0);
    REQUIRE(c.topology.tpcs[0].drivers.size() == 2);
    CHECK(c.topology.tpcs[0].drivers[0].name == "d0");
    CHECK(c.topology.tpcs[0].drivers[0].cpu == 0);
    CHECK(c.topology.tpcs[0].drivers[0].role == DriverRole::io_exec);
    CHECK(c.topology.tpcs[0].drivers[1].name == "d1");
    CHECK(c.topology.tpcs[0].drivers[1].cpu == 1);
    CHECK(c.topology.tpcs[0].drivers[1].role == DriverRole::io);
    REQUIRE(c.admin.listen);
    CHECK(c.admin.listen->text == "127.0.0.1:9100");
    REQUIRE(c.listeners.size() == 4);
    CHECK(c.listeners[0].name == "echo-tcp");
    CHECK(c.listeners[0].transport == Transport::tcp);
    CHECK(c.listeners[0].address.text == "127.0.0.1:7000");
    CHECK(c.listeners[0].drivers == std::vector<std::string>{"d0"});
    CHECK(c.listeners[1].name == "echo-udp");
    CHECK(c.listeners[1].transport == Transport::udp);
    CHECK(c.listeners[1].address.text == "127.0.0.1:7001");
    CHECK(c.listeners[1].drivers == std::vector<std::string>{"d1"});
    CHECK(c.listeners[2].name == "web");
    CHECK(c.listeners[2].handler_path == box.dir() / "plugins" / "http.so");
    CHECK(c.listeners[3].name == "kv");
    CHECK(c.listeners[3].handler_path == box.dir() / "plugins" / "resp.so");
}
