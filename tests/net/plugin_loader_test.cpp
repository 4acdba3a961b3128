// The loader against real shared objects: the bundled echo handler, and handlers built with one
// defect each (tests/net/*.c). Every refusal is checked word for word, since operators read them.
#include <catch2/catch.hpp>
#include <cstring>
#include <elf.h>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "net/plugin_loader.hpp"
#include "net/plugin_services.hpp"
#include "tests/net/temp_dir.hpp"
#include "tests/support/skip.hpp"

namespace fs = std::filesystem;
using gatio::net::load_plugin;
using gatio::net::LoadPolicy;
using gatio::tests::TempDir;

namespace {

const fs::path test_plugins{GATIO_TEST_PLUGIN_DIR};
const fs::path echo_path = fs::path{GATIO_PLUGIN_OUTPUT_DIR} / "echo.so";

std::string load_error(const fs::path& path, LoadPolicy policy = {}) {
    auto r = load_plugin(path, policy, gatio::net::host_services());
    REQUIRE_FALSE(r.plugin);
    return r.error;
}

std::string quoted(const fs::path& p) {
    return "plugin \"" + p.string() + "\": ";
}

bool mapped(const fs::path& p) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        if (line.find(p.string()) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// Copies `from` into dir and applies `edit` to its ELF header and program headers.
template <typename Edit>
fs::path patched_copy(const fs::path& from, const fs::path& dir, Edit edit) {
    std::ifstream in(from, std::ios::binary);
    std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    REQUIRE(bytes.size() > sizeof(Elf64_Ehdr));
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    std::vector<Elf64_Phdr> ph(eh.e_phnum);
    REQUIRE(eh.e_phoff + ph.size() * sizeof(Elf64_Phdr) <= bytes.size());
    std::memcpy(ph.data(), bytes.data() + eh.e_phoff, ph.size() * sizeof(Elf64_Phdr));
    edit(eh, ph);
    std::memcpy(bytes.data(), &eh, sizeof eh);
    std::memcpy(bytes.data() + eh.e_phoff, ph.data(), ph.size() * sizeof(Elf64_Phdr));
    auto out = dir / from.filename();
    std::ofstream(out, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    fs::permissions(out, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
    return out;
}

} // namespace

TEST_CASE("the 1.0 descriptor layout is frozen", "[plugin]") {
    // Moving any field would break every handler built for ABI 1.0.
    STATIC_REQUIRE(GATIO_PLUGIN_SIZE_1_0 == 112);
    STATIC_REQUIRE(offsetof(gatio_plugin, struct_size) == 8);
    STATIC_REQUIRE(offsetof(gatio_plugin, init) == 40);
    // The services table only grows at its end: 1.1's layout stays a prefix of later ones.
    STATIC_REQUIRE(GATIO_SERVICES_SIZE_1_1 == 224);
    STATIC_REQUIRE(offsetof(gatio_services, stalled_drivers) == GATIO_SERVICES_SIZE_1_1);
    STATIC_REQUIRE(GATIO_SERVICES_SIZE_1_2 == 248);
    STATIC_REQUIRE(offsetof(gatio_services, listener_state) == GATIO_SERVICES_SIZE_1_2);
    // 1.3 appends to the descriptor: 1.0 to 1.2 descriptors end where on_drain begins.
    STATIC_REQUIRE(GATIO_PLUGIN_SIZE_1_2 == 112);
    STATIC_REQUIRE(offsetof(gatio_plugin, on_drain) == GATIO_PLUGIN_SIZE_1_2);
    STATIC_REQUIRE(offsetof(gatio_services, connect) ==
                   offsetof(gatio_services, listener_state) + sizeof(void*));
    STATIC_REQUIRE(offsetof(gatio_services, notify_drained) ==
                   offsetof(gatio_services, connect) + sizeof(void*));
    // 1.4 appends the file services, shutdown_write and the handler metrics after notify_drained,
    // and the descriptor's flags after on_drain.
    STATIC_REQUIRE(GATIO_SERVICES_SIZE_1_3 == 272);
    STATIC_REQUIRE(offsetof(gatio_services, file_open) == GATIO_SERVICES_SIZE_1_3);
    STATIC_REQUIRE(offsetof(gatio_services, shutdown_write) == GATIO_SERVICES_SIZE_1_3 + 10 * sizeof(void*));
    STATIC_REQUIRE(GATIO_SERVICES_SIZE_1_4 == 384);
    STATIC_REQUIRE(offsetof(gatio_services, metric_set) + sizeof(void*) == GATIO_SERVICES_SIZE_1_4);
    // 1.5 appends send_received.
    STATIC_REQUIRE(offsetof(gatio_services, send_received) == GATIO_SERVICES_SIZE_1_4);
    STATIC_REQUIRE(offsetof(gatio_services, send_received) + sizeof(void*) == sizeof(gatio_services));
    STATIC_REQUIRE(offsetof(gatio_plugin, flags) == GATIO_PLUGIN_SIZE_1_3);
    STATIC_REQUIRE(sizeof(gatio_file_open_args) == 48);
    STATIC_REQUIRE(sizeof(gatio_file_stat) == 72);
    STATIC_REQUIRE(sizeof(gatio_metric_args) == 48);
    STATIC_REQUIRE(sizeof(gatio_connect_args) == 40);
}

TEST_CASE("the echo handler loads and describes itself", "[plugin]") {
    auto r = load_plugin(echo_path, {}, gatio::net::host_services());
    INFO(r.error);
    REQUIRE(r.plugin);
    const auto& d = r.plugin->descriptor();
    CHECK(r.plugin->name() == "echo");
    CHECK(std::string(d.version) == "1.0");
    CHECK(d.abi_major == GATIO_ABI_MAJOR);
    CHECK(r.plugin->serves(gatio::config::Transport::tcp));
    CHECK(r.plugin->serves(gatio::config::Transport::udp));
    CHECK(d.on_data != nullptr);
    CHECK(d.on_datagram != nullptr);
    CHECK(d.on_eof == nullptr); // echo keeps the default: close once the peer is done
    CHECK(d.max_unconsumed == 0);
}

TEST_CASE("a missing file is named", "[plugin]") {
    TempDir dir;
    auto p = dir.path() / "absent.so";
    CHECK(load_error(p) == quoted(p) + "file not found");
}

TEST_CASE("a text file named .so is not a shared object", "[plugin]") {
    TempDir dir;
    auto p = dir.write("text.so", "this is not an ELF object\n");
    CHECK(load_error(p) == quoted(p) + "not a shared object (no ELF header)");
}

TEST_CASE("a directory is not a plugin", "[plugin]") {
    TempDir dir;
    auto p = dir.path() / "dir.so";
    fs::create_directory(p);
    CHECK(load_error(p) == quoted(p) + "not a regular file");
}

TEST_CASE("an object without the entry point is refused", "[plugin]") {
    auto p = test_plugins / "no_entry.so";
    CHECK(load_error(p) == quoted(p) + "entry point gatio_plugin_entry not found");
}

TEST_CASE("another ABI major is refused", "[plugin]") {
    auto p = test_plugins / "bad_major.so";
    CHECK(load_error(p) == quoted(p) + "ABI major version 2 is not supported (this gatiod speaks 1.4)");
}

TEST_CASE("a descriptor smaller than the 1.0 layout is refused", "[plugin]") {
    auto p = test_plugins / "small_descriptor.so";
    CHECK(load_error(p) == quoted(p) + "descriptor is 16 bytes, at least 112 expected for ABI 1.0");
}

TEST_CASE("descriptor fields beyond their bounds are refused, naming field and limit", "[plugin]") {
    auto huge = test_plugins / "huge_unconsumed.so";
    CHECK(load_error(huge) ==
          quoted(huge) + "descriptor field max_unconsumed is 4294967280, above the limit of 16777216");
    auto transport = test_plugins / "unknown_transport.so";
    CHECK(load_error(transport) ==
          quoted(transport) + "descriptor field transports has unknown bits 0x8 (TCP is 0x1, UDP 0x2)");
    auto name = test_plugins / "bad_name.so";
    CHECK(load_error(name) ==
          quoted(name) + "descriptor field name may only hold letters, digits, '_', '-' and '.'");
    auto version = test_plugins / "long_version.so";
    CHECK(load_error(version) ==
          quoted(version) + "descriptor field version is longer than the limit of 64 bytes");
}

TEST_CASE("an object requiring an executable stack is refused before it is loaded", "[plugin]") {
    auto p = test_plugins / "exec_stack.so";
    CHECK(load_error(p) == quoted(p) + "requires an executable stack (PT_GNU_STACK is executable); refused");
    CHECK_FALSE(mapped(p));
}

TEST_CASE("init failure carries the plugin's own message", "[plugin]") {
    auto p = test_plugins / "init_fail.so";
    CHECK(load_error(p) == quoted(p) + "init failed: license file missing (host ABI 1.4)");
}

TEST_CASE("an unresolved symbol fails at load time, not later", "[plugin]") {
    auto p = test_plugins / "undefined_symbol.so";
    auto e = load_error(p);
    CHECK_THAT(e, Catch::StartsWith(quoted(p) + "dlopen failed: "));
    CHECK_THAT(e, Catch::Contains("undefined symbol: gatio_test_function_nobody_defines"));
}

TEST_CASE("ELF headers that do not fit are refused", "[plugin]") {
    TempDir dir;
    auto src = test_plugins / "tcp_only.so";
    SECTION("no PT_GNU_STACK header") {
        auto p = patched_copy(src, dir.path(), [](Elf64_Ehdr&, std::vector<Elf64_Phdr>& ph) {
            for (auto& h : ph) {
                if (h.p_type == PT_GNU_STACK) {
                    h.p_type = PT_NULL;
                }
            }
        });
        CHECK(load_error(p) ==
              quoted(p) + "has no PT_GNU_STACK program header, so it would get an executable stack; refused");
    }
    SECTION("an executable rather than a shared object") {
        auto p = patched_copy(src, dir.path(), [](Elf64_Ehdr& eh, auto&) { eh.e_type = ET_EXEC; });
        CHECK(load_error(p) == quoted(p) + "not a shared object (ELF type 2)");
    }
    SECTION("another architecture") {
        auto p = patched_copy(src, dir.path(), [](Elf64_Ehdr& eh, auto&) {
            eh.e_machine = eh.e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
        });
        CHECK_THAT(load_error(p),
                   Catch::StartsWith(quoted(p) + "built for another architecture (ELF machine "));
    }
    SECTION("the unpatched copy loads") {
        auto p = patched_copy(src, dir.path(), [](Elf64_Ehdr&, auto&) {});
        auto r = load_plugin(p, {}, gatio::net::host_services());
        INFO(r.error);
        CHECK(r.plugin);
    }
}

TEST_CASE("files others could have written are refused", "[plugin]") {
    TempDir dir;
    auto p = dir.path() / "echo.so";
    fs::copy_file(echo_path, p);
    SECTION("group-writable") {
        REQUIRE(::chmod(p.c_str(), 0664) == 0);
        CHECK(load_error(p) == quoted(p) + "writable by group or others (mode 0664); refused");
    }
    SECTION("world-writable") {
        REQUIRE(::chmod(p.c_str(), 0757) == 0);
        CHECK(load_error(p) == quoted(p) + "writable by group or others (mode 0757); refused");
    }
}

TEST_CASE("a plugin owned by another user than root or the daemon's is refused", "[plugin]") {
    if (::geteuid() != 0) {
        GATIO_SKIP("not root: cannot give the copy to another owner");
    }
    TempDir dir;
    auto p = dir.path() / "echo.so";
    fs::copy_file(echo_path, p);
    REQUIRE(::chmod(p.c_str(), 0755) == 0);
    REQUIRE(::chown(p.c_str(), 4242, 4242) == 0);
    CHECK(load_error(p) == quoted(p) +
                               "owned by uid 4242, but only root or the daemon's user (uid 0) may own a "
                               "plugin; refused");
    // The user gatiod runs as may own its plugins.
    auto r = load_plugin(p, LoadPolicy{4242}, gatio::net::host_services());
    INFO(r.error);
    CHECK(r.plugin);
}

TEST_CASE("a plugin in a folder others could write is refused", "[plugin]") {
    TempDir dir;
    auto p = dir.path() / "echo.so";
    fs::copy_file(echo_path, p);
    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
    CHECK(load_error(p) == quoted(p) + "folder " + dir.path().string() +
                               " is writable by group or others (mode 0777); refused");
    // Sticky folders such as /tmp only let owners replace their files.
    REQUIRE(::chmod(dir.path().c_str(), 01777) == 0);
    auto r = load_plugin(p, {}, gatio::net::host_services());
    INFO(r.error);
    CHECK(r.plugin);
}

TEST_CASE("a configuration's plugins load once per file and must serve their transport", "[plugin]") {
    gatio::config::Config config;
    auto listener = [&](std::string name, gatio::config::Transport t, fs::path handler) {
        gatio::config::ListenerConfig l;
        l.name = std::move(name);
        l.transport = t;
        l.handler_path = std::move(handler);
        config.listeners.push_back(l);
    };
    using gatio::config::Transport;
    listener("web", Transport::tcp, echo_path);
    listener("dns", Transport::udp, echo_path);
    listener("raw", Transport::tcp, test_plugins / "tcp_only.so");
    listener("stats", Transport::udp, test_plugins / "tcp_only.so");
    listener("broken", Transport::tcp, test_plugins / "bad_major.so");
    listener("broken-too", Transport::tcp, test_plugins / "bad_major.so");

    auto r = gatio::net::load_plugins(config, {}, gatio::net::host_services());
    REQUIRE(r.errors.size() == 2);
    CHECK(r.errors[0] == "listener \"stats\": plugin \"" + (test_plugins / "tcp_only.so").string() +
                             "\" (tcp-only) does not serve udp");
    CHECK_THAT(r.errors[1], Catch::StartsWith(quoted(test_plugins / "bad_major.so") + "ABI major version 2"));
    CHECK(r.plugins.by_path.size() == 2);
    CHECK(&r.plugins.for_listener(config.listeners[0]) == &r.plugins.for_listener(config.listeners[1]));
    CHECK(r.plugins.for_listener(config.listeners[2]).name() == "tcp-only");
}
