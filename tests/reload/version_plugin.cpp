// A test handler built once per version: answers every TCP byte with "v<VERSION>\n", so a test
// can tell which build of a replaced file serves a connection. Built with -fgnu-unique, it
// carries a GNU unique symbol of its own version's name (a static local of a template, in a
// namespace of default visibility, instantiated for the version), as a new release of a C++
// plugin gets from a libstdc++ template it did not use before: the dynamic loader, which binds
// every later definition of a unique name to the first, keeps the object that brought the name
// mapped after dlclose.
#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

#include <gatio/plugin.hpp>

#ifndef VERSION_NUMBER
#error "VERSION_NUMBER numbers the build (1, 2, ...)"
#endif
#define VERSION_QUOTE(n) #n
#define VERSION_STRING(n) VERSION_QUOTE(n)
#define VERSION_TEXT "v" VERSION_STRING(VERSION_NUMBER)

namespace __attribute__((visibility("default"))) gatio_test_version {

    template <int Version>
    std::atomic<std::uint64_t>& bytes_answered() {
        // Every driver's instance counts into it: atomic.
        static std::atomic<std::uint64_t> n{0};
        return n;
    }

} // namespace gatio_test_version

namespace {

class Version {
public:
    Version(gatio::Host, const gatio::InstanceInfo&) {}

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        gatio_test_version::bytes_answered<VERSION_NUMBER>().fetch_add(data.size(),
                                                                       std::memory_order_relaxed);
        return c.send(std::string_view(VERSION_TEXT "\n")) == GATIO_OK
                   ? static_cast<std::int64_t>(data.size())
                   : GATIO_DATA_RESET;
    }

    static constexpr std::uint32_t max_unconsumed = 64;
};

} // namespace

GATIO_EXPORT_PLUGIN(Version, "version", VERSION_TEXT, GATIO_TRANSPORT_TCP)
