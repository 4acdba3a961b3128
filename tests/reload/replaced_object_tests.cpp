// A handler file replaced again and again, each time by an object the dynamic loader keeps
// mapped after dlclose (GNU unique symbols): every reload must serve the file just installed,
// never an earlier object whose name the new one happens to share.
#include <catch2/catch.hpp>
#include <elf.h>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

using namespace gatio::reload_test;

namespace {

const std::string version_plugin_dir = VERSION_PLUGIN_DIR;

// True when the 64-bit ELF object at `path` exports a symbol bound STB_GNU_UNIQUE (what
// `readelf -Ws` shows as UNIQUE).
bool has_gnu_unique_symbol(const std::filesystem::path& path) {
    const std::string image = gatio::test::read_file(path);
    if (image.size() < sizeof(Elf64_Ehdr) || image.compare(0, SELFMAG, ELFMAG) != 0 ||
        image[EI_CLASS] != ELFCLASS64) {
        return false;
    }
    const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(image.data());
    if (eh->e_shoff == 0 || eh->e_shoff + eh->e_shnum * sizeof(Elf64_Shdr) > image.size()) {
        return false;
    }
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(image.data() + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_offset + sh[i].sh_size > image.size()) {
            continue;
        }
        const auto* sym = reinterpret_cast<const Elf64_Sym*>(image.data() + sh[i].sh_offset);
        for (std::size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
            if (ELF64_ST_BIND(sym[k].st_info) == STB_GNU_UNIQUE && sym[k].st_shndx != SHN_UNDEF) {
                return true;
            }
        }
    }
    return false;
}

// The descriptor of process `pid` open on the file with this device and inode, if any.
std::optional<int> descriptor_on(pid_t pid, dev_t dev, ino_t ino) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        struct stat st {};
        if (::stat(e.path().c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
            return std::stoi(e.path().filename().string());
        }
    }
    return std::nullopt;
}

std::string answer(int port) {
    Connection c(port);
    if (!c.send("which")) {
        return "(no connection)";
    }
    return c.receive(3);
}

} // namespace

TEST_CASE("a handler file replaced by objects that stay mapped after dlclose serves the newest on every "
          "reload, however descriptor numbers come back",
          "[reload]") {
    constexpr int versions = 6;
    auto build = [](int v) {
        return std::filesystem::path(version_plugin_dir) / ("version" + std::to_string(v) + ".so");
    };
    if (!std::filesystem::exists(build(1))) {
        GATIO_SKIP("the version plugins are built only by GCC, the compiler that emits GNU unique symbols");
    }
    for (int v = 1; v <= versions; ++v) {
        INFO(build(v).string());
        REQUIRE(has_gnu_unique_symbol(build(v)));
    }

    TempDir dir;
    const int port = free_port();
    const auto handler = dir.path() / "h.so";
    std::filesystem::copy_file(build(1), handler);
    const auto file = dir.write("gatio.toml", config_text(listener("h", port, handler.string())));
    Gatiod g(file);
    CHECK(answer(port) == "v1\n");

    struct stat installed {};
    std::map<int, ino_t> inode_of;
    std::map<int, int> descriptor_of; // of each version loaded beside an older one
    for (int v = 2; v <= versions; ++v) {
        // Installed the way packages do it: a new file renamed over the old name.
        std::filesystem::copy_file(build(v), dir.path() / "h.so.new");
        std::filesystem::rename(dir.path() / "h.so.new", handler);
        REQUIRE(::stat(handler.c_str(), &installed) == 0);
        inode_of[v] = installed.st_ino;
        REQUIRE(g.reload());
        INFO(g.log());
        INFO("reload to v" << v);
        CHECK(answer(port) == 'v' + std::to_string(v) + '\n');
        auto fd = descriptor_on(g.pid(), installed.st_dev, installed.st_ino);
        REQUIRE(fd);
        descriptor_of[v] = *fd;

        // The version before, idle, retires: its object is let go of. Until it has been, its
        // descriptor's number cannot come back, so wait for that (the descriptor closed, or
        // kept with the loader saying why).
        const int old = v - 1;
        if (old >= 2) {
            const std::string kept = "descriptor " + std::to_string(descriptor_of[old]) + " stays open";
            bool retired = false;
            for (int i = 0; i < 400 && !retired; ++i) {
                std::this_thread::sleep_for(50ms);
                retired =
                    !descriptor_on(g.pid(), installed.st_dev, inode_of[old]) || g.wait_for_log(kept, 1ms);
            }
            REQUIRE(retired);
            // What makes the case: the dynamic loader did not unmap it.
            CHECK(mapped(g.pid(), inode_of[old]));
        }
    }
    CHECK(answer(port) == 'v' + std::to_string(versions) + '\n');
    const int code = g.stop();
    INFO(g.log());
    CHECK(code == 0);
}

TEST_CASE("the bundled plugins have no GNU unique symbols, so a replaced one leaves gatiod's memory",
          "[reload]") {
    for (const char* name : {"echo.so", "http.so", "resp.so"}) {
        const auto path = std::filesystem::path(plugin_dir) / name;
        INFO(path.string());
        REQUIRE(std::filesystem::exists(path));
        CHECK_FALSE(has_gnu_unique_symbol(path));
    }
}
