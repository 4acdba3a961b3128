#include "daemon/privileges.hpp"

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace gatio::daemon {

namespace {

std::string failed(const std::string& user, const char* step) {
    return "daemon.user '" + user + "': " + step + ": " + std::strerror(errno);
}

} // namespace

std::string drop_privileges(const std::string& user) {
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        return errno != 0 ? failed(user, "getpwnam") : "daemon.user '" + user + "': no such user";
    }
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    if (::geteuid() == uid && ::getuid() == uid) {
        return "";
    }
    // Groups first: once the uid changes, the process may no longer change its groups.
    if (::initgroups(user.c_str(), gid) != 0) {
        return failed(user, "initgroups");
    }
    if (::setgid(gid) != 0) {
        return failed(user, "setgid");
    }
    if (::setuid(uid) != 0) {
        return failed(user, "setuid");
    }
    if (uid != 0 && ::setuid(0) == 0) {
        return "daemon.user '" + user + "': root could be regained after setuid; refusing to run";
    }
    return "";
}

} // namespace gatio::daemon
