// libFuzzer entry point for the handler file checks (net/plugin_file.cpp): the input is written
// to a file, which check_plugin_file reads through its descriptor as gatiod does. It must answer
// without a memory error, and may accept only a 64-bit ELF shared object for this machine.
// A failed check throws: uncaught, it aborts and libFuzzer saves the input.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <elf.h>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include "net/plugin_file.hpp"

namespace {

// One in-memory file for every input, owned by us and not writable by others, so that the
// checks reach the ELF headers.
int plugin_file() {
    static const int fd = [] {
        int f = ::memfd_create("fuzz_plugin.so", MFD_CLOEXEC);
        if (f < 0 || ::fchmod(f, 0755) != 0) {
            throw std::system_error(errno, std::generic_category(), "memfd_create");
        }
        return f;
    }();
    return fd;
}

void write_file(int fd, const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd, 0) != 0) {
        throw std::system_error(errno, std::generic_category(), "ftruncate");
    }
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        if (n <= 0) {
            throw std::system_error(errno, std::generic_category(), "pwrite");
        }
        done += static_cast<std::size_t>(n);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int fd = plugin_file();
    write_file(fd, data, size);
    const std::string cause = gatio::net::check_plugin_file(fd, ::geteuid());
    if (!cause.empty()) {
        return 0;
    }
    Elf64_Ehdr eh{};
    if (size < sizeof eh) {
        throw std::logic_error("accepted a file shorter than an ELF header");
    }
    std::memcpy(&eh, data, sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_type != ET_DYN) {
        throw std::logic_error("accepted a file that is not a 64-bit ELF shared object");
    }
    return 0;
}
