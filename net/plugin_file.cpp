#include "net/plugin_file.hpp"

#include <cerrno>
#include <cstring>
#include <elf.h>
#include <fmt/format.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace gatio::net {

namespace {

#if defined(__x86_64__)
constexpr Elf64_Half host_machine = EM_X86_64;
#elif defined(__aarch64__)
constexpr Elf64_Half host_machine = EM_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr Elf64_Half host_machine = EM_RISCV;
#else
#error "gatiod loads 64-bit ELF handlers: add this architecture's EM_ value"
#endif

// A header table larger than this is not something a compiler emits; refusing it keeps the
// check's memory bounded.
constexpr Elf64_Half max_program_headers = 1024;

bool read_exact(int fd, void* out, std::size_t size, off_t offset) {
    auto* p = static_cast<char*>(out);
    while (size > 0) {
        ssize_t n = ::pread(fd, p, size, offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
        offset += n;
    }
    return true;
}

// `what` prefixes the cause when the checked object is not the plugin file itself.
std::string check_owner(const struct stat& st, uid_t daemon_uid, std::string_view what) {
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return fmt::format("{}writable by group or others (mode {:04o}); refused", what, st.st_mode & 07777);
    }
    if (st.st_uid != 0 && st.st_uid != daemon_uid) {
        return fmt::format(
            "{}owned by uid {}, but only root or the daemon's user (uid {}) may own a plugin; refused", what,
            st.st_uid, daemon_uid);
    }
    return {};
}

std::string check_elf(int fd) {
    Elf64_Ehdr eh{};
    if (!read_exact(fd, &eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        return "not a shared object (no ELF header)";
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        return "not a 64-bit ELF object";
    }
    if (eh.e_type != ET_DYN) {
        return fmt::format("not a shared object (ELF type {})", eh.e_type);
    }
    if (eh.e_machine != host_machine) {
        return fmt::format("built for another architecture (ELF machine {}, expected {})", eh.e_machine,
                           host_machine);
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > max_program_headers) {
        return "malformed ELF program header table";
    }
    std::vector<Elf64_Phdr> ph(eh.e_phnum);
    if (!read_exact(fd, ph.data(), ph.size() * sizeof(Elf64_Phdr), static_cast<off_t>(eh.e_phoff))) {
        return "malformed ELF program header table";
    }
    for (const auto& h : ph) {
        if (h.p_type == PT_GNU_STACK) {
            if ((h.p_flags & PF_X) != 0) {
                return "requires an executable stack (PT_GNU_STACK is executable); refused";
            }
            return {};
        }
    }
    // Without the header the dynamic loader assumes the object needs an executable stack.
    return "has no PT_GNU_STACK program header, so it would get an executable stack; refused";
}

} // namespace

std::string check_plugin_file(int fd, uid_t daemon_uid) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return fmt::format("cannot stat: {}", std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return "not a regular file";
    }
    if (auto owner = check_owner(st, daemon_uid, ""); !owner.empty()) {
        return owner;
    }
    return check_elf(fd);
}

std::string check_plugin_folder(const std::filesystem::path& folder, uid_t daemon_uid) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) {
        return fmt::format("folder {}: cannot stat: {}", folder.string(), std::strerror(errno));
    }
    if ((st.st_mode & S_ISVTX) != 0) {
        st.st_mode &= ~static_cast<mode_t>(S_IWGRP | S_IWOTH);
    }
    return check_owner(st, daemon_uid, fmt::format("folder {} is ", folder.string()));
}

} // namespace gatio::net
