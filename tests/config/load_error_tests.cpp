// Invalid configurations: each asserts the exact diagnostics, positions included.
#include <catch2/catch.hpp>
#include <fstream>

#include "sandbox.hpp"

using namespace gatio::config;
using namespace gatio::config::test;

using Errors = std::vector<std::string>;

namespace {

// A valid document (lines 1-6: [daemon] then a listener "web" on 127.0.0.1:80) followed by
// `extra`, which starts on line 7 inside the listener's table.
std::string web(std::string_view extra) {
    return doc(R"(
[daemon]
plugin_dir = "plugins"
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "echo"
)") + doc(extra);
}

// A valid manual topology (lines 1-8: one TPC "node0" with driver "d0" on CPU 0) followed by
// `extra` from line 9, inside d0's table.
std::string manual(std::string_view extra) {
    return doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
)") + doc(extra);
}

} // namespace

TEST_CASE("the sandbox helpers accept what they should", "[errors]") {
    // Guards the fixtures above: every error below comes from the lines a case adds.
    Sandbox box;
    CHECK(box.load(web("")).config);
    CHECK(box.load(manual("")).config);
}

TEST_CASE("TOML syntax errors are one diagnostic at the parser's position", "[errors][syntax]") {
    Sandbox box;
    CHECK(box.errors("a = \n") ==
          Errors{"1:5: Error while parsing key-value pair: expected value, saw '\\n'"});
    CHECK(box.errors(doc(R"(
[daemon]
log_level = "info"
log_level = "warn"
)")) == Errors{"3:13: Error while parsing key-value pair: cannot redefine existing string 'log_level'"});
    CHECK(box.errors(doc(R"(
[io_uring]
cq_factor = 99999999999999999999
)")) == Errors{"2:33: Error while parsing decimal integer: '99999999999999999999' is not representable in 64 "
               "bits"});
}

TEST_CASE("top-level keys and section types", "[errors][top]") {
    Sandbox box;
    CHECK(box.errors("[deamon]\n") == Errors{"1:2: unknown key 'deamon'; did you mean 'daemon'?"});
    CHECK(box.errors("[listeners]\n") == Errors{"1:2: unknown key 'listeners'; did you mean 'listener'?"});
    CHECK(box.errors("foo = 1\n") == Errors{"1:1: unknown key 'foo'"});
    CHECK(box.errors("daemon = 5\n") == Errors{"1:10: daemon: expected a table, got an integer"});
    CHECK(box.errors("[listener]\nname = \"x\"\n") ==
          Errors{"1:1: listener: expected an array of tables ([[listener]]), got a table"});
    CHECK(box.errors("listener = [1, \"x\"]\n") ==
          Errors{"1:13: listener[0]: expected a table, got an integer",
                 "1:16: listener[1]: expected a table, got a string"});
}

TEST_CASE("[daemon] values", "[errors][daemon]") {
    Sandbox box;
    CHECK(box.errors("[daemon]\nlog_level = \"verbose\"\n") ==
          Errors{"2:13: daemon: log_level: expected 'trace', 'debug', 'info', 'warn', 'error', 'critical' or "
                 "'off', "
                 "got 'verbose'"});
    CHECK(box.errors("[daemon]\nlog_level = 3\n") ==
          Errors{"2:13: daemon: log_level: expected 'trace', 'debug', 'info', 'warn', 'error', 'critical' or "
                 "'off', "
                 "got an integer"});
    CHECK(box.errors("[daemon]\nshutdown_grace = \"10\"\n") ==
          Errors{"2:18: daemon: shutdown_grace: expected a whole number followed by ms, s, m or h, such as "
                 "'250ms' or "
                 "'10s', got '10'"});
    CHECK(box.errors("[daemon]\nshutdown_grace = \"-1s\"\n") ==
          Errors{"2:18: daemon: shutdown_grace: expected a non-negative duration, got '-1s'"});
    CHECK(box.errors("[daemon]\nshutdown_grace = \"9223372036854775808ms\"\n") ==
          Errors{"2:18: daemon: shutdown_grace: expected a duration of at most 9223372036854775807ms, got "
                 "'9223372036854775808ms'"});
    CHECK(box.errors("[daemon]\nuser = \"\"\n") ==
          Errors{"2:8: daemon: user: expected a non-empty user name, got ''"});
    CHECK(box.errors("[daemon]\nplugin_dir = \"\"\n") ==
          Errors{"2:14: daemon: plugin_dir: expected a non-empty path, got ''"});
    CHECK(box.errors("[daemon]\nplugins_dir = \"x\"\n") ==
          Errors{"2:1: daemon: unknown key 'plugins_dir'; did you mean 'plugin_dir'?"});
}

TEST_CASE("[admin] listen", "[errors][admin]") {
    Sandbox box;
    CHECK(box.errors("[admin]\nlisten = \"localhost:9100\"\n") ==
          Errors{"2:10: admin: listen: expected an address such as '127.0.0.1:80', '[::1]:80' or '*:80', got "
                 "'localhost:9100'"});
    CHECK(box.errors("[admin]\nlisten = \"127.0.0.1:0\"\n") ==
          Errors{"2:10: admin: listen: expected a port from 1 to 65535, got '127.0.0.1:0'"});
    CHECK(box.errors("[admin]\nlisten = 9100\n") ==
          Errors{"2:10: admin: listen: expected an address such as '127.0.0.1:80', got an integer"});
    // The admin endpoint may come before or after the listener it clashes with.
    CHECK(box.errors(web("") + "[admin]\nlisten = \"127.0.0.1:80\"\n") ==
          Errors{"8:10: admin: listen address 127.0.0.1:80 is already used by listener \"web\" (line 5)"});
    CHECK(box.errors("[admin]\nlisten = \"*:80\"\n" + web("")) ==
          Errors{"2:10: admin: listen address *:80 overlaps 127.0.0.1:80 of listener \"web\" (line 7)"});
}

TEST_CASE("[admin] max_connections and idle_timeout", "[errors][admin]") {
    Sandbox box;
    CHECK(box.errors("[admin]\nmax_connections = 0\n") ==
          Errors{"2:19: admin: max_connections: expected an integer from 1 to 65536, got 0"});
    CHECK(box.errors("[admin]\nmax_connections = 65537\n") ==
          Errors{"2:19: admin: max_connections: expected an integer from 1 to 65536, got 65537"});
    CHECK(box.errors("[admin]\nidle_timeout = \"1.5s\"\n") ==
          Errors{
              "2:16: admin: idle_timeout: expected a whole number followed by ms, s, m or h, such as '250ms' "
              "or '10s', got '1.5s'"});
}

TEST_CASE("[topology] values", "[errors][topology]") {
    Sandbox box;
    CHECK(box.errors("[topology]\nmode = \"automatic\"\n") ==
          Errors{"2:8: topology: mode: expected 'auto' or 'manual', got 'automatic'"});
    CHECK(box.errors("[topology]\nmdoe = \"manual\"\n") ==
          Errors{"2:1: topology: unknown key 'mdoe'; did you mean 'mode'?"});
    CHECK(box.errors("[topology]\ncpus = \"0-3,\"\n") ==
          Errors{"2:8: topology: cpus: expected a cpulist such as '0-3,8', got '0-3,'"});
    CHECK(box.errors("[topology]\ncpus = \"3-1\"\n") ==
          Errors{"2:8: topology: cpus: expected ranges written low-high, got '3-1'"});
    CHECK(box.errors("[topology]\ncpus = [0, 1]\n") ==
          Errors{"2:8: topology: cpus: expected a string, got an array"});
    CHECK(box.errors("[topology]\nring_entries = 1000\n") ==
          Errors{"2:16: topology: ring_entries: expected a power of two from 8 to 32768, got 1000"});
    CHECK(box.errors("[topology]\nring_entries = 4\n") ==
          Errors{"2:16: topology: ring_entries: expected a power of two from 8 to 32768, got 4"});
    CHECK(box.errors("[topology]\nbuffer_size = \"2MiB\"\n") ==
          Errors{"2:15: topology: buffer_size: expected a size from 512B to 1MiB, got '2MiB'"});
    CHECK(box.errors("[topology]\nbuffer_size = \"16KB\"\n") ==
          Errors{"2:15: topology: buffer_size: expected a whole number of bytes, optionally followed by B, "
                 "KiB, MiB "
                 "or GiB, such as '64KiB', got '16KB'"});
    CHECK(box.errors("[topology]\nbuffer_size = 100\n") ==
          Errors{"2:15: topology: buffer_size: expected a size from 512B to 1MiB, got 100"});
    CHECK(box.errors("[topology]\nbuffer_size = true\n") ==
          Errors{"2:15: topology: buffer_size: expected a size from 512B to 1MiB, got a boolean"});
    CHECK(box.errors("[topology]\nbuffer_count = 0\n") ==
          Errors{"2:16: topology: buffer_count: expected a power of two from 1 to 32768, got 0"});
    CHECK(box.errors("[topology]\nbuffer_count = \"8\"\n") ==
          Errors{"2:16: topology: buffer_count: expected a power of two from 1 to 32768, got a string"});
}

TEST_CASE("auto and manual topology rules", "[errors][topology]") {
    Sandbox box;
    CHECK(box.errors("[[tpc]]\nname = \"node0\"\nnuma_node = 0\n") ==
          Errors{"1:1: tpc: only allowed when topology mode is 'manual'"});
    CHECK(box.errors("[topology]\nmode = \"manual\"\n") ==
          Errors{"2:8: topology: mode 'manual' needs at least one [[tpc]]"});
    CHECK(box.errors("tpc = []\n[topology]\nmode = \"manual\"\n") ==
          Errors{"3:8: topology: mode 'manual' needs at least one [[tpc]]"});
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
cpus = "0-1"
[[tpc]]
name = "node0"
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
)")) == Errors{"3:8: topology: cpus: only allowed when mode is 'auto' (in manual mode each driver names its "
               "cpu)"});
}

TEST_CASE("[[tpc]] values", "[errors][tpc]") {
    Sandbox box;
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
[[tpc]]
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
)")) == Errors{"3:1: tpc: missing required key 'name'"});
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "node 0"
numa_node = 0
[[tpc.driver]]
name = "d0"
cpu = 0
)")) == Errors{"4:8: tpc: name: expected a name of 1 to 32 letters, digits, '_', '.' or '-', got 'node 0'"});
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = -1
memory = "strict"
[[tpc.driver]]
name = "d0"
cpu = 0
)")) == Errors{"5:13: tpc \"node0\": numa_node: expected an integer from 0 to 1023, got -1",
               "6:10: tpc \"node0\": memory: expected 'bind', 'preferred', 'interleave' or 'local', got "
               "'strict'"});
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "node0"
[[tpc.driver]]
name = "d0"
cpu = 0
)")) == Errors{"3:1: tpc \"node0\": missing required key 'numa_node'"});
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = 0
)")) == Errors{"3:1: tpc \"node0\": needs at least one [[tpc.driver]]"});
    CHECK(box.errors(doc(R"(
[topology]
mode = "manual"
[[tpc]]
name = "node0"
numa_node = 0
[tpc.driver]
name = "d0"
)")) == Errors{"6:1: tpc \"node0\": driver: expected an array of tables ([[tpc.driver]]), got a table"});
}

TEST_CASE("[[tpc.driver]] values", "[errors][driver]") {
    Sandbox box;
    CHECK(box.errors(manual("[[tpc.driver]]\nrole = \"io\"\n")) ==
          Errors{"9:1: tpc \"node0\": driver: missing required key 'name'",
                 "9:1: tpc \"node0\": driver: missing required key 'cpu'"});
    CHECK(box.errors(manual("[[tpc.driver]]\nname = \"d1\"\ncpu = 4096\n")) ==
          Errors{"11:7: tpc \"node0\": driver \"d1\": cpu: expected an integer from 0 to 4095, got 4096"});
    CHECK(box.errors(manual("role = \"both\"\n")) ==
          Errors{"9:8: tpc \"node0\": driver \"d0\": role: expected 'io', 'exec' or 'io+exec', got 'both'"});
    CHECK(box.errors(manual("buffer_count = 3\n")) ==
          Errors{"9:16: tpc \"node0\": driver \"d0\": buffer_count: expected a power of two from 1 to 32768, "
                 "got 3"});
    CHECK(box.errors(manual("ring_entires = 64\n")) ==
          Errors{
              "9:1: tpc \"node0\": driver \"d0\": unknown key 'ring_entires'; did you mean 'ring_entries'?"});
    CHECK(box.errors(manual("cpu = 1\n")) ==
          Errors{"9:7: Error while parsing key-value pair: cannot redefine existing integer 'cpu'"});
}

TEST_CASE("names are unique and CPUs are used once", "[errors][unique]") {
    Sandbox box;
    CHECK(box.errors(manual("[[tpc.driver]]\nname = \"d1\"\ncpu = 0\n")) ==
          Errors{"11:7: tpc \"node0\": driver \"d1\": cpu 0 is already used by driver \"d0\" (line 8)"});
    CHECK(box.errors(manual(R"(
[[tpc]]
name = "node1"
numa_node = 1
[[tpc.driver]]
name = "d9"
cpu = 0
)")) == Errors{"14:7: tpc \"node1\": driver \"d9\": cpu 0 is already used by driver \"d0\" (line 8)"});
    CHECK(box.errors(manual("[[tpc.driver]]\nname = \"node0\"\ncpu = 1\n")) ==
          Errors{"10:8: tpc \"node0\": driver \"node0\": name is already used by tpc \"node0\" (line 4)"});
    CHECK(box.errors(manual(R"(
[[tpc]]
name = "d0"
numa_node = 0
[[tpc.driver]]
name = "d1"
cpu = 1
)")) == Errors{"10:8: tpc \"d0\": name is already used by driver \"d0\" (line 7)"});
    CHECK(box.errors(web("[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:81\"\nhandler = \"echo\"\n")) ==
          Errors{"8:8: listener \"web\": name is already used by listener \"web\" (line 4)"});
}

TEST_CASE("[io_uring] values", "[errors][io_uring]") {
    Sandbox box;
    CHECK(box.errors("[io_uring]\ncq_factor = 0\n") ==
          Errors{"2:13: io_uring: cq_factor: expected an integer from 1 to 64, got 0"});
    CHECK(box.errors("[io_uring]\ncq_factor = 65\n") ==
          Errors{"2:13: io_uring: cq_factor: expected an integer from 1 to 64, got 65"});
    CHECK(box.errors("[io_uring]\ncq_factor = 4.0\n") ==
          Errors{"2:13: io_uring: cq_factor: expected an integer from 1 to 64, got a float"});
    CHECK(box.errors("[io_uring]\ndefer_taskrun = \"yes\"\n") ==
          Errors{"2:17: io_uring: defer_taskrun: expected a boolean, got a string"});
    CHECK(box.errors("[io_uring]\nsqpoll = true\n") == Errors{"2:1: io_uring: unknown key 'sqpoll'"});
    CHECK(box.errors("[io_uring]\nmin_wait = \"101ms\"\n") ==
          Errors{"2:12: io_uring: min_wait: expected a duration of at most 100000us, got '101ms'"});
    CHECK(box.errors("[io_uring]\nspin = \"20\"\n") ==
          Errors{"2:8: io_uring: spin: expected a whole number followed by us, ms or s, such as '50us', got "
                 "'20'"});
    CHECK(box.errors("[io_uring]\nspin = 20\n") ==
          Errors{"2:8: io_uring: spin: expected a duration such as '50us', got an integer"});
    CHECK(box.errors("[io_uring]\nwait_batch = 1\n") ==
          Errors{"2:14: io_uring: wait_batch: expected an integer from 2 to 4096, got 1"});
}

TEST_CASE("[network] values", "[errors][network]") {
    Sandbox box;
    CHECK(box.errors("[network]\noutput_memory = \"512KiB\"\n") ==
          Errors{"2:17: network: output_memory: expected a size from 1MiB to 64GiB, got '512KiB'"});
    CHECK(box.errors("[network]\ncarry_buffers = 0\n") ==
          Errors{"2:17: network: carry_buffers: expected an integer from 1 to 1048576, got 0"});
    CHECK(box.errors("[network]\nudp_reply_slots = 65537\n") ==
          Errors{"2:19: network: udp_reply_slots: expected an integer from 1 to 65536, got 65537"});
    CHECK(box.errors("[network]\nclose_linger = \"2h\"\n") ==
          Errors{"2:16: network: close_linger: expected a duration from 0s to 1h, got '2h'"});
    CHECK(box.errors("[network]\nclose_linger = 5\n") ==
          Errors{"2:16: network: close_linger: expected a duration such as '10s', got an integer"});
    CHECK(box.errors("[network]\noutput_chunk = 1\n") == Errors{"2:1: network: unknown key 'output_chunk'"});
    CHECK(box.errors("[network]\nopen_files = 0\n") ==
          Errors{"2:14: network: open_files: expected an integer from 1 to 1048576, got 0"});
    CHECK(box.errors("[network]\nfile_operations = 1048577\n") ==
          Errors{"2:19: network: file_operations: expected an integer from 1 to 1048576, got 1048577"});
    CHECK(box.errors("[network]\nlent_buffers = 65537\n") ==
          Errors{"2:16: network: lent_buffers: expected an integer from 1 to 65536, got 65537"});
    CHECK(box.errors("[network]\nreceive_holds = 65537\n") ==
          Errors{"2:17: network: receive_holds: expected an integer from 0 to 65536, got 65537"});
    CHECK(box.errors("[network]\nreceive_holds_per_connection = -1\n") ==
          Errors{"2:32: network: receive_holds_per_connection: expected an integer from 0 to 65536, got -1"});
    CHECK(box.errors("[network]\nlent_buffer_size = \"1KiB\"\n") ==
          Errors{"2:20: network: lent_buffer_size: expected a size from 4KiB to 16MiB, got '1KiB'"});
    CHECK(box.errors("[network]\nzerocopy_send_min = \"2KiB\"\n") ==
          Errors{"2:21: network: zerocopy_send_min: expected a size from 4KiB to 16MiB, got '2KiB'"});
    CHECK(box.errors("[network]\nzerocopy_send_min = \"32MiB\"\n") ==
          Errors{"2:21: network: zerocopy_send_min: expected a size from 4KiB to 16MiB, got '32MiB'"});
    CHECK(box.errors("[network]\nzerocopy_send = \"yes\"\n") ==
          Errors{"2:17: network: zerocopy_send: expected a boolean, got a string"});
}

TEST_CASE("[[listener]] send buffer limit and reserve", "[errors][listener]") {
    Sandbox box;
    CHECK(
        box.errors(web("send_buffer_limit = \"1MiB\"\n")) ==
        Errors{"7:21: listener \"web\": send_buffer_limit 1MiB must be more than send_high_watermark 1MiB"});
    // The limit keeps its default (32MiB): the error points at the watermark that was written.
    CHECK(box.errors(web("send_high_watermark = \"64MiB\"\n")) ==
          Errors{
              "7:23: listener \"web\": send_buffer_limit 32MiB must be more than send_high_watermark 64MiB"});
    CHECK(box.errors(web("send_buffer_reserve = \"64MiB\"\n")) ==
          Errors{"7:23: listener \"web\": send_buffer_reserve 64MiB must not be more than send_buffer_limit "
                 "32MiB"});
    CHECK(box.errors(web("send_buffer_reserve = 0\n")) ==
          Errors{"7:23: listener \"web\": send_buffer_reserve: expected a size from 1B to 1GiB, got 0"});
}

TEST_CASE("[[listener]] required keys, name, transport and address", "[errors][listener]") {
    Sandbox box;
    CHECK(box.errors("[[listener]]\ntransport = \"udp\"\n") ==
          Errors{"1:1: listener: missing required key 'name'",
                 "1:1: listener: missing required key 'address'",
                 "1:1: listener: missing required key 'handler'"});
    CHECK(box.errors(doc(R"(
[[listener]]
name = "a-name-that-is-thirty-three-chars"
address = "127.0.0.1:80"
handler = "/nonexistent/x.so"
)")) == Errors{"2:8: listener: name: expected a name of 1 to 32 letters, digits, '_', '.' or '-', got "
               "'a-name-that-is-thirty-three-chars'",
               "4:11: listener: handler: no plugin file '/nonexistent/x.so'"});
    CHECK(box.errors(web("transport = \"sctp\"\n")) ==
          Errors{"7:13: listener \"web\": transport: expected 'tcp' or 'udp', got 'sctp'"});
    CHECK(box.errors(web("adress = \"127.0.0.1:81\"\n")) ==
          Errors{"7:1: listener \"web\": unknown key 'adress'; did you mean 'address'?"});
    const std::string head =
        "[daemon]\nplugin_dir = \"plugins\"\n[[listener]]\nname = \"web\"\nhandler = \"echo\"\n";
    CHECK(box.errors(head + "address = \"localhost:80\"\n") ==
          Errors{"6:11: listener \"web\": address: expected an address such as '127.0.0.1:80', '[::1]:80' or "
                 "'*:80', "
                 "got 'localhost:80'"});
    CHECK(box.errors(head + "address = \"127.0.0.1:70000\"\n") ==
          Errors{"6:11: listener \"web\": address: expected a port from 1 to 65535, got '127.0.0.1:70000'"});
    CHECK(box.errors(head + "address = \"::1:80\"\n") ==
          Errors{"6:11: listener \"web\": address: expected an address such as '127.0.0.1:80', '[::1]:80' or "
                 "'*:80', "
                 "got '::1:80'"});
}

TEST_CASE("[[listener]] handler files are checked for real", "[errors][listener][handler]") {
    Sandbox box;
    const std::string head =
        "[daemon]\nplugin_dir = \"plugins\"\n[[listener]]\nname = \"web\"\naddress = \"*:80\"\n";
    CHECK(box.errors(head + "handler = \"missing\"\n") ==
          Errors{"6:11: listener \"web\": handler: no plugin file '<dir>/plugins/missing.so'"});
    CHECK(box.errors(head + "handler = \"handlers/missing.so\"\n") ==
          Errors{"6:11: listener \"web\": handler: no plugin file '<dir>/handlers/missing.so'"});
    CHECK(box.errors(head + "handler = \"folder\"\n") ==
          Errors{"6:11: listener \"web\": handler: '<dir>/plugins/folder.so' is not a regular file"});
    CHECK(box.errors(head + "handler = \"\"\n") ==
          Errors{"6:11: listener \"web\": handler: expected a plugin name or a path, got ''"});
    CHECK(box.errors(head + "handler = \"plugins/echo.so/x\"\n") ==
          Errors{"6:11: listener \"web\": handler: no plugin file '<dir>/plugins/echo.so/x'"});
}

TEST_CASE("[[listener]] drivers", "[errors][listener]") {
    Sandbox box;
    CHECK(
        box.errors(web("drivers = \"all\"\n")) ==
        Errors{
            "7:11: listener \"web\": drivers: expected '*' or a non-empty array of driver or TPC names, got "
            "'all'"});
    CHECK(box.errors(web("drivers = []\n")) == Errors{"7:11: listener \"web\": drivers: expected '*' or a "
                                                      "non-empty array of driver or TPC names, got an "
                                                      "empty array"});
    CHECK(box.errors(web("drivers = 1\n")) == Errors{"7:11: listener \"web\": drivers: expected '*' or a "
                                                     "non-empty array of driver or TPC names, got an "
                                                     "integer"});
    CHECK(box.errors(web("drivers = [\"d0\", \"d0\", \"*\", 3]\n")) ==
          Errors{"7:18: listener \"web\": drivers[1]: 'd0' is listed twice",
                 "7:24: listener \"web\": drivers[2]: expected a name of 1 to 32 letters, digits, '_', '.' "
                 "or '-', got "
                 "'*'",
                 "7:29: listener \"web\": drivers[3]: expected a driver or TPC name, got an integer"});
}

TEST_CASE("[[listener]] limits and timeouts", "[errors][listener]") {
    Sandbox box;
    CHECK(box.errors(web("backlog = 0\n")) ==
          Errors{"7:11: listener \"web\": backlog: expected an integer from 1 to 65535, got 0"});
    CHECK(box.errors(web("backlog = 65536\n")) ==
          Errors{"7:11: listener \"web\": backlog: expected an integer from 1 to 65535, got 65536"});
    CHECK(box.errors(web("backlog = 1.0\n")) ==
          Errors{"7:11: listener \"web\": backlog: expected an integer from 1 to 65535, got a float"});
    CHECK(box.errors(web("max_connections = 0\n")) ==
          Errors{"7:19: listener \"web\": max_connections: expected an integer from 1 to 1048576, got 0"});
    CHECK(box.errors(web("max_connections = 1048577\n")) ==
          Errors{
              "7:19: listener \"web\": max_connections: expected an integer from 1 to 1048576, got 1048577"});
    CHECK(box.errors(web("idle_timeout = \"1.5s\"\n")) ==
          Errors{"7:16: listener \"web\": idle_timeout: expected a whole number followed by ms, s, m or h, "
                 "such as "
                 "'250ms' or '10s', got '1.5s'"});
    CHECK(box.errors(web("steer_to_cpu = \"true\"\n")) ==
          Errors{"7:16: listener \"web\": steer_to_cpu: expected a boolean, got a string"});
}

TEST_CASE("[[listener]] send watermarks", "[errors][listener]") {
    Sandbox box;
    CHECK(
        box.errors(web("send_high_watermark = \"64KiB\"\nsend_low_watermark = \"64KiB\"\n")) ==
        Errors{
            "8:22: listener \"web\": send_low_watermark 64KiB must be less than send_high_watermark 64KiB"});
    // The low mark keeps its default (256KiB): the error points at the key that was written.
    CHECK(
        box.errors(web("send_high_watermark = 65536\n")) ==
        Errors{
            "7:23: listener \"web\": send_low_watermark 256KiB must be less than send_high_watermark 64KiB"});
    CHECK(box.errors(web("send_high_watermark = 0\n")) ==
          Errors{"7:23: listener \"web\": send_high_watermark: expected a size from 1B to 1GiB, got 0"});
    CHECK(box.errors(web("send_low_watermark = \"2GiB\"\n")) ==
          Errors{"7:22: listener \"web\": send_low_watermark: expected a size from 0B to 1GiB, got '2GiB'"});
}

TEST_CASE("[listener.options] holds plain values only", "[errors][options]") {
    Sandbox box;
    CHECK(box.errors(web("[listener.options]\nstart = 1979-05-27\n")) ==
          Errors{"8:9: listener \"web\": options.start: expected a string, integer, float, boolean, array or "
                 "table, "
                 "got a date"});
    CHECK(
        box.errors(web("[listener.options]\nslots = [{ at = 07:32:00 }, 1979-05-27T07:32:00Z]\n")) ==
        Errors{
            "8:17: listener \"web\": options.slots[0].at: expected a string, integer, float, boolean, array "
            "or "
            "table, got a time",
            "8:29: listener \"web\": options.slots[1]: expected a string, integer, float, boolean, array or "
            "table, got a date-time"});
    CHECK(box.errors(web("options = 5\n")) ==
          Errors{"7:11: listener \"web\": options: expected a table, got an integer"});
}

TEST_CASE("listeners may not bind clashing addresses", "[errors][addresses]") {
    Sandbox box;
    const auto second = [](std::string_view transport, std::string_view address) {
        return "[[listener]]\nname = \"two\"\ntransport = \"" + std::string(transport) + "\"\naddress = \"" +
               std::string(address) + "\"\nhandler = \"echo\"\n";
    };
    CHECK(box.errors(web(second("tcp", "127.0.0.1:80"))) ==
          Errors{"10:11: listener \"two\": tcp address 127.0.0.1:80 is already used by listener \"web\" "
                 "(line 5)"});
    CHECK(
        box.errors(web(second("tcp", "*:80"))) ==
        Errors{
            "10:11: listener \"two\": tcp address *:80 overlaps 127.0.0.1:80 of listener \"web\" (line 5)"});
    CHECK(box.errors(web(second("tcp", "0.0.0.0:80"))) ==
          Errors{"10:11: listener \"two\": tcp address 0.0.0.0:80 overlaps 127.0.0.1:80 of listener \"web\" "
                 "(line 5)"});
    const std::string v6 = "[daemon]\nplugin_dir = \"plugins\"\n" + second("udp", "[::1]:53");
    CHECK(box.errors(v6 + second("udp", "[::]:53")) ==
          Errors{
              "9:8: listener \"two\": name is already used by listener \"two\" (line 4)",
              "11:11: listener \"two\": udp address [::]:53 overlaps [::1]:53 of listener \"two\" (line 6)"});
    CHECK(box.errors(v6 + second("udp", "[0::1]:53")) ==
          Errors{
              "9:8: listener \"two\": name is already used by listener \"two\" (line 4)",
              "11:11: listener \"two\": udp address [0::1]:53 is already used by listener \"two\" (line 6)"});
}

TEST_CASE("every error in a file is reported at once, in file order", "[errors][order]") {
    Sandbox box;
    CHECK(box.errors(doc(R"(
[[listener]]
name = "web"
address = "127.0.0.1:80"
handler = "nope"
backlog = -5
[daemon]
plugin_dir = "plugins"
log_level = "loud"
[io_uring]
cq_factor = 100
[topology]
ring_entries = 7
)")) == Errors{"4:11: listener \"web\": handler: no plugin file '<dir>/plugins/nope.so'",
               "5:11: listener \"web\": backlog: expected an integer from 1 to 65535, got -5",
               "8:13: daemon: log_level: expected 'trace', 'debug', 'info', 'warn', 'error', 'critical' or "
               "'off', "
               "got 'loud'",
               "10:13: io_uring: cq_factor: expected an integer from 1 to 64, got 100",
               "12:16: topology: ring_entries: expected a power of two from 8 to 32768, got 7"});
}

TEST_CASE("unix: listener addresses and socket_mode", "[errors][listener][unix]") {
    Sandbox box;
    const std::string head =
        "[daemon]\nplugin_dir = \"plugins\"\n[[listener]]\nname = \"web\"\nhandler = \"echo\"\n";
    const std::string folder = box.dir().string();
    CHECK(box.errors(head + "address = \"unix:run/app.sock\"\n") ==
          Errors{"6:11: listener \"web\": address: expected an absolute socket path after 'unix:', got "
                 "'unix:run/app.sock'"});
    const std::string long_path = "/" + std::string(107, 'a');
    CHECK(box.errors(head + "address = \"unix:" + long_path + "\"\n") ==
          Errors{"6:11: listener \"web\": address: the socket path of 'unix:" + long_path +
                 "' is 108 bytes long, at most 107 fit in a socket address"});
    CHECK(
        box.errors(head + "address = \"unix:/nonexistent-folder/app.sock\"\n") ==
        Errors{"6:11: listener \"web\": address: the socket's folder '/nonexistent-folder': No such file or "
               "directory"});
    std::ofstream(box.dir() / "plain") << "not a socket";
    CHECK(box.errors(head + "address = \"unix:" + folder + "/plain/app.sock\"\n") ==
          Errors{"6:11: listener \"web\": address: the socket's folder '<dir>/plain' is not a folder"});
    CHECK(box.errors(head + "address = \"unix:" + folder + "/plain\"\n") ==
          Errors{"6:11: listener \"web\": address: '<dir>/plain' exists and is not a socket; gatiod replaces "
                 "only sockets"});
    const std::string sock = "address = \"unix:" + folder + "/app.sock\"\n";
    CHECK(box.errors(head + sock + "transport = \"udp\"\n") ==
          Errors{"6:11: listener \"web\": address: a unix: address serves stream listeners only (transport = "
                 "\"tcp\")"});
    CHECK(box.errors(head + sock + "steer_to_cpu = true\n") ==
          Errors{"7:16: listener \"web\": steer_to_cpu: applies to IP addresses only, not to unix: ones"});
    CHECK(
        box.errors(head + sock + "socket_mode = \"0800\"\n") ==
        Errors{
            "7:15: listener \"web\": socket_mode: expected octal permission bits from '0' to '0777' such as "
            "'0660', got '0800'"});
    CHECK(
        box.errors(head + sock + "socket_mode = \"1777\"\n") ==
        Errors{
            "7:15: listener \"web\": socket_mode: expected octal permission bits from '0' to '0777' such as "
            "'0660', got '1777'"});
    CHECK(box.errors(head + sock + "socket_mode = 660\n") ==
          Errors{"7:15: listener \"web\": socket_mode: expected a string, got an integer"});
    CHECK(box.errors(head + "address = \"127.0.0.1:80\"\nsocket_mode = \"0660\"\n") ==
          Errors{"7:15: listener \"web\": socket_mode: applies to unix: addresses only"});
    CHECK(
        box.errors(head + sock + "[[listener]]\nname = \"two\"\nhandler = \"echo\"\n" + sock) ==
        Errors{"10:11: listener \"two\": tcp address unix:<dir>/app.sock is already used by listener \"web\" "
               "(line 6)"});
    CHECK(box.errors("[admin]\nlisten = \"unix:" + folder + "/admin.sock\"\n") ==
          Errors{"2:10: admin: listen: expected an IP address such as '127.0.0.1:9100', got "
                 "'unix:<dir>/admin.sock'"});
}

TEST_CASE("a unix: listener loads with its socket_mode", "[load][unix]") {
    Sandbox box;
    const std::string folder = box.dir().string();
    const Config c = box.valid("[daemon]\nplugin_dir = \"plugins\"\n[[listener]]\nname = \"web\"\nhandler = "
                               "\"echo\"\naddress = \"unix:" +
                               folder + "/app.sock\"\nsocket_mode = \"0660\"\n");
    REQUIRE(c.listeners.size() == 1);
    const auto& l = c.listeners[0];
    CHECK(l.address.is_unix());
    CHECK(l.address.unix_path() == folder + "/app.sock");
    CHECK(l.address.port == 0);
    CHECK(l.socket_mode == 0660u);
}
