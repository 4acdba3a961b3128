// The install layout, checked on a DESTDIR install of this build tree: where everything goes,
// the units as systemd-analyze judges them, and the SDK used by the out-of-tree example plugin
// (found with find_package(Gatio), and with pkg-config), loaded by the installed gatiod.
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gatio/plugin.h>

#include "harness.hpp"
#include "sdk.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using gatio::test::read_file;
using namespace gatio::service_test;

namespace {

const std::string cmake = GATIO_CMAKE_COMMAND;
const std::string sbindir = GATIO_INSTALL_SBINDIR;
const std::string sysconfdir = GATIO_INSTALL_SYSCONFDIR;
const std::string libdir = GATIO_INSTALL_LIBDIR;
const std::string plugindir = libdir + "/gatio/plugins";

// An executable found on PATH, or "".
std::string on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const fs::path candidate = fs::path(dir) / name;
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    return "";
}

// The installed gatiod serving `plugin` on a fresh port: the answer to "hello\n".
std::string serve_with(const Installed& inst, const fs::path& plugin) {
    const int port = free_port();
    const auto file =
        inst.dir().write("shout.toml", config_text("", tcp_listener("shout", port, plugin.string()) +
                                                           "[listener.options]\nsuffix = \"!\"\n"));
    Child child({inst.at(sbindir + "/gatiod").string(), "-c", file.string()}, clean_env());
    REQUIRE(child.wait_for_output(" running; SIGTERM or SIGINT stops it", 60s));
    const std::string answer = tcp_round_trip(port, "hello\n", 7);
    child.signal(SIGTERM);
    CHECK(child.wait(60s) == 0);
    return answer;
}

} // namespace

TEST_CASE("cmake --install with DESTDIR: gatiod, plugins, a configuration that loads them, units, SDK",
          "[service][install]") {
    Installed inst;
    for (const std::string& p :
         {sbindir + "/gatiod", plugindir + "/echo.so", plugindir + "/http.so", plugindir + "/resp.so",
          sysconfdir + "/gatio/gatio.toml", std::string(GATIO_SYSTEMD_UNIT_DIR) + "/gatiod.service",
          std::string(GATIO_SYSTEMD_UNIT_DIR) + "/gatiod.socket",
          std::string(GATIO_TMPFILES_DIR) + "/gatio.conf", std::string(GATIO_SYSUSERS_DIR) + "/gatio.conf",
          std::string(GATIO_INSTALL_DATADIR) + "/gatio/systemd/notify-reload.conf",
          std::string(GATIO_INSTALL_DATADIR) + "/doc/gatio/operations.md",
          std::string(GATIO_INSTALL_INCLUDEDIR) + "/gatio/plugin.h",
          std::string(GATIO_INSTALL_INCLUDEDIR) + "/gatio/plugin.hpp",
          std::string(GATIO_INSTALL_INCLUDEDIR) + "/gatio/coro.hpp",
          libdir + "/cmake/Gatio/GatioConfig.cmake", libdir + "/cmake/Gatio/GatioConfigVersion.cmake",
          libdir + "/cmake/Gatio/GatioPlugin.cmake", libdir + "/pkgconfig/gatio-plugin.pc"}) {
        INFO(p);
        CHECK(fs::is_regular_file(inst.at(p)));
    }
    const auto unit = read_file(inst.at(std::string(GATIO_SYSTEMD_UNIT_DIR) + "/gatiod.service"));
    CHECK(unit.find("\nExecStart=" + sbindir + "/gatiod -c " + sysconfdir + "/gatio/gatio.toml\n") !=
          std::string::npos);

    const fs::path conf = inst.at(sysconfdir + "/gatio/gatio.toml");
    CHECK(read_file(conf).find("\nplugin_dir = \"" + plugindir + "\"\n") != std::string::npos);
    if (::sysconf(_SC_NPROCESSORS_ONLN) >= 2) { // the example pins drivers to CPUs 0 and 1
        const auto check = run({inst.at(sbindir + "/gatiod").string(), "-t", "-c", conf.string(),
                                "--plugin-dir", inst.at(plugindir).string()});
        INFO(check.output);
        CHECK(check.code == 0);
    }

    // Installing again keeps the configuration someone may have edited.
    std::ofstream(conf, std::ios::app) << "# edited\n";
    const auto again = run({cmake, "--install", GATIO_BINARY_DIR}, {"DESTDIR=" + inst.root().string()});
    REQUIRE(again.code == 0);
    CHECK(read_file(conf).find("# edited\n") != std::string::npos);
    CHECK(fs::is_regular_file(conf.string() + ".new"));
}

TEST_CASE("systemd-analyze: the installed units verify, and the service's exposure is at most 2.0",
          "[service][install]") {
    const std::string analyze = on_path("systemd-analyze");
    if (analyze.empty()) {
        GATIO_SKIP("systemd-analyze not found: the units cannot be checked");
    }
    Installed inst;
    // Copies whose gatiod is the installed one, so that verify finds the executables it names.
    const fs::path units = inst.dir().path() / "units";
    fs::create_directories(units);
    for (const std::string name : {"gatiod.service", "gatiod.socket"}) {
        std::string text = read_file(inst.at(std::string(GATIO_SYSTEMD_UNIT_DIR) + "/" + name));
        for (auto at = text.find(sbindir + "/"); at != std::string::npos; at = text.find(sbindir + "/", at)) {
            text.replace(at, sbindir.size(), inst.at(sbindir).string());
            at += inst.at(sbindir).string().size();
        }
        std::ofstream(units / name) << text;
    }
    const auto verify = run({analyze, "verify", "--man=no", (units / "gatiod.service").string(),
                             (units / "gatiod.socket").string()});
    INFO(verify.output);
    CHECK(verify.code == 0);
    CHECK(verify.output.empty());

    const auto security = run({analyze, "security", "--offline=yes", (units / "gatiod.service").string()});
    INFO(security.output);
    REQUIRE(security.code == 0);
    const std::string marker = "Overall exposure level for gatiod.service: ";
    const auto at = security.output.find(marker);
    REQUIRE(at != std::string::npos);
    const double exposure = std::stod(security.output.substr(at + marker.size()));
    CHECK(exposure <= 2.0);
}

TEST_CASE("the out-of-tree example plugin builds with find_package(Gatio) against a DESTDIR install and is "
          "served by the installed gatiod",
          "[service][install][sdk]") {
    Installed inst;
    const auto plugin = build_example(inst, "out-of-tree-plugin", "shout",
                                      {"-DCMAKE_PREFIX_PATH=" + inst.at(GATIO_INSTALL_PREFIX).string()}, {});
    CHECK(serve_with(inst, plugin) == "HELLO!\n");
}

TEST_CASE("the out-of-tree example plugin builds with pkg-config (gatio-plugin.pc) against a DESTDIR install",
          "[service][install][sdk]") {
    const std::string pkg_config = on_path("pkg-config");
    REQUIRE(!pkg_config.empty());
    Installed inst;
    const std::vector<std::string> env{"PKG_CONFIG_PATH=" + inst.at(libdir + "/pkgconfig").string(),
                                       "PKG_CONFIG_SYSROOT_DIR=" + inst.root().string()};
    auto variable = [&](const std::string& name) {
        auto r = run({pkg_config, "--variable=" + name, "gatio-plugin"}, env);
        REQUIRE(r.code == 0);
        return r.output;
    };
    CHECK(variable("abi_major") == std::to_string(GATIO_ABI_MAJOR) + "\n");
    CHECK(variable("abi_minor") == std::to_string(GATIO_ABI_MINOR) + "\n");
    CHECK(variable("plugindir").find(plugindir + "\n") != std::string::npos);
    const auto plugin =
        build_example(inst, "out-of-tree-plugin", "shout", {"-DSHOUT_USE_PKG_CONFIG=ON"}, env);
    CHECK(serve_with(inst, plugin) == "HELLO!\n");
}
