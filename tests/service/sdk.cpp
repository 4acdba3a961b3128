#include "sdk.hpp"

#include <catch2/catch.hpp>

namespace gatio::service_test {

Result run(const std::vector<std::string>& argv, std::vector<std::string> env) {
    auto full = clean_env();
    full.insert(full.end(), env.begin(), env.end());
    Child child(argv, full);
    Result r;
    r.code = child.wait(100s);
    r.output = child.output();
    return r;
}

Installed::Installed() {
    const auto r = run({GATIO_CMAKE_COMMAND, "--install", GATIO_BINARY_DIR}, {"DESTDIR=" + root().string()});
    INFO(r.output);
    REQUIRE(r.code == 0);
}

std::filesystem::path build_example(const Installed& inst, const std::string& example,
                                    const std::string& module, const std::vector<std::string>& options,
                                    const std::vector<std::string>& env) {
    const std::filesystem::path build = inst.dir().path() / (example + "-build");
    std::vector<std::string> configure{GATIO_CMAKE_COMMAND,
                                       "-S",
                                       std::string(GATIO_SOURCE_DIR) + "/examples/" + example,
                                       "-B",
                                       build.string(),
                                       "-G",
                                       GATIO_CMAKE_GENERATOR,
                                       "-DCMAKE_CXX_COMPILER=" GATIO_CXX_COMPILER};
    configure.insert(configure.end(), options.begin(), options.end());
    auto r = run(configure, env);
    INFO(r.output);
    REQUIRE(r.code == 0);
    r = run({GATIO_CMAKE_COMMAND, "--build", build.string()}, env);
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE(std::filesystem::exists(build / (module + ".so")));
    return build / (module + ".so");
}

} // namespace gatio::service_test
