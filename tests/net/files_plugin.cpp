// A test handler for the file services (ABI 1.4), written against the C ABI alone. A client
// speaks one command per line; each answer is one line (except "send", which streams):
//   open FLAGS PATH   opens PATH (FLAGS: r, w, rw, d, or rb for READ|BENEATH|NO_SYMLINKS
//                     relative to the directory "root" opened first), reads all of it with
//                     file_read, and answers "open OK SIZE BYTES-READ MODE-OCT" or
//                     "open ERR ERRNO-NAME" (an error of the open or of the first read).
//   root PATH         opens PATH as the directory later "rb" opens are relative to: "root OK".
//   mode FLAGS PATH   opens PATH as "open" does, stats it and closes it without reading:
//                     "mode OK MODE-OCT" or "mode ERR ERRNO-NAME".
//   write PATH TEXT   creates PATH with TEXT, fsyncs and closes it: "write OK N".
//   send PATH         streams PATH to the client through lent buffers (file_read_lent and
//                     lent_send, at most 4 reads in flight), then closes the connection.
//   hold PATH         opens PATH and keeps the handle in a global any instance can see: "hold OK".
//   use               reads with the held handle: "use R" (R: the service's return code).
//   stale             opens, closes and reads with the closed handle: "stale R".
//   trunc PATH        opens PATH and reads 64 KiB at offset 0: "trunc N"; then
//   next              reads 64 KiB at offset 65536 of it and stats it: "next N SIZE".
//   pend PATH         opens PATH (a FIFO, read-write so the open never blocks) and starts a read
//                     that stays pending (nobody writes): "pend OK".
//   unpend            closes that file: "unpend CANCELLED CLOSED" (the read's result, the close's).
//   many N PATH       starts N opens of PATH at once: "many OK K LIMIT L" (K accepted, L refused
//                     with GATIO_ERR_LIMIT); the opened files are closed again.
//   lents N PATH      opens PATH, then starts N lent reads at once: "lents K LIMIT L".
// Every completion is logged as "files: KIND done RESULT" for the tests to count.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include <gatio/plugin.h>

namespace {

const gatio_services* svc = nullptr;
gatio_file held_file = 0; // "hold": shared by every instance, to be refused by the others

struct Instance {
    gatio_host* host;
};

struct Session {
    Instance* instance = nullptr;
    gatio_conn conn = 0;
    bool gone = false;
    unsigned busy = 0; // completions still to come that name this session
    gatio_file file = 0;
    gatio_file root = 0;
    gatio_file_stat st{};
    std::vector<std::uint8_t> buf;
    std::uint64_t offset = 0;
    std::uint64_t total = 0;
    int first_error = 0;
    std::string pending_word;
    // "send"
    unsigned in_flight = 0;
    bool at_end = false;
    bool waiting_drain = false;
    // "unpend"
    std::int64_t cancelled = 1;
    // "many"
    unsigned many_left = 0;
    unsigned many_ok = 0;
    unsigned many_limit = 0;
    std::string text;
};

const char* errno_name(std::int64_t result) {
    switch (-result) {
    case ENOENT:
        return "ENOENT";
    case EACCES:
        return "EACCES";
    case EISDIR:
        return "EISDIR";
    case ENOTDIR:
        return "ENOTDIR";
    case EXDEV:
        return "EXDEV";
    case ELOOP:
        return "ELOOP";
    case ECANCELED:
        return "ECANCELED";
    case ENXIO:
        return "ENXIO";
    default:
        return "OTHER";
    }
}

void log_line(gatio_host* host, const std::string& text) {
    svc->log(host, GATIO_LOG_INFO, text.data(), text.size());
}

void reply(Session& s, const std::string& text) {
    if (!s.gone) {
        const std::string line = text + "\n";
        svc->send(s.instance->host, s.conn, line.data(), line.size());
    }
}

// A completion came back: the session may go once its connection is gone too.
bool settle(Session* s) {
    --s->busy;
    if (s->gone && s->busy == 0) {
        delete s;
        return false;
    }
    return !s->gone;
}

void start_open(Session& s, gatio_file dir, std::uint32_t flags, const std::string& path,
                void (*done)(gatio_host*, void*, int, gatio_file)) {
    gatio_file_open_args a{};
    a.struct_size = sizeof a;
    a.flags = flags;
    a.dir = dir;
    a.path = path.c_str();
    a.mode = 0644;
    a.done = done;
    a.arg = &s;
    const int r = svc->file_open(s.instance->host, &a);
    if (r == GATIO_OK) {
        ++s.busy;
    } else {
        reply(s, "open REFUSED " + std::to_string(r));
    }
}

// ---- open: open, stat, read everything

void read_next(Session& s);

void read_done(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: read done " + std::to_string(result));
    if (!settle(s)) {
        return;
    }
    if (result < 0 && s->first_error == 0) {
        s->first_error = static_cast<int>(result);
    }
    if (result > 0) {
        s->total += static_cast<std::uint64_t>(result);
        s->offset += static_cast<std::uint64_t>(result);
        read_next(*s);
        return;
    }
    svc->file_close(host, s->file, nullptr, nullptr);
    s->file = 0;
    if (s->first_error != 0) {
        reply(*s, std::string("open ERR ") + errno_name(s->first_error));
    } else {
        char mode[16];
        std::snprintf(mode, sizeof mode, "%o", s->st.mode);
        reply(*s, "open OK " + std::to_string(s->st.size) + " " + std::to_string(s->total) + " " + mode);
    }
}

void read_next(Session& s) {
    s.buf.resize(65536);
    if (svc->file_read(s.instance->host, s.file, s.offset, s.buf.data(), s.buf.size(), read_done, &s) ==
        GATIO_OK) {
        ++s.busy;
    }
}

void stat_done(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: stat done " + std::to_string(result));
    if (!settle(s)) {
        return;
    }
    s->offset = 0;
    s->total = 0;
    s->first_error = 0;
    read_next(*s);
}

void open_done(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: open done " + std::to_string(result));
    if (!settle(s)) {
        if (file != 0) {
            svc->file_close(host, file, nullptr, nullptr);
        }
        return;
    }
    if (result < 0) {
        reply(*s, std::string("open ERR ") + errno_name(result));
        return;
    }
    s->file = file;
    s->st = gatio_file_stat{};
    s->st.struct_size = sizeof s->st;
    if (svc->file_stat(host, file, &s->st, stat_done, s) == GATIO_OK) {
        ++s->busy;
    }
}

void root_done(gatio_host*, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    s->root = file;
    reply(*s, result == 0 ? "root OK" : std::string("root ERR ") + errno_name(result));
}

// ---- mode: open and stat only

void mode_stated(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    svc->file_close(host, s->file, nullptr, nullptr);
    s->file = 0;
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", s->st.mode);
    reply(*s, result < 0 ? std::string("mode ERR ") + errno_name(result) : std::string("mode OK ") + mode);
}

void mode_opened(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        if (file != 0) {
            svc->file_close(host, file, nullptr, nullptr);
        }
        return;
    }
    if (result < 0) {
        reply(*s, std::string("mode ERR ") + errno_name(result));
        return;
    }
    s->file = file;
    s->st = gatio_file_stat{};
    s->st.struct_size = sizeof s->st;
    if (svc->file_stat(host, file, &s->st, mode_stated, s) == GATIO_OK) {
        ++s->busy;
    }
}

// ---- send: lent reads streamed without a copy

void send_more(Session& s);

void drained(gatio_host*, void* arg, int) {
    auto* s = static_cast<Session*>(arg);
    s->waiting_drain = false;
    if (settle(s)) {
        send_more(*s);
    }
}

void lent_done(gatio_host* host, void* arg, std::int64_t result, gatio_lent buf, const std::uint8_t*) {
    auto* s = static_cast<Session*>(arg);
    --s->in_flight;
    if (!settle(s)) {
        if (buf != 0) {
            svc->lent_release(host, buf);
        }
        return;
    }
    if (result <= 0) {
        s->at_end = true;
    } else if ((s->offset += static_cast<std::uint64_t>(result), false)) {
    } else if (svc->lent_send(host, s->conn, buf, 0, static_cast<std::size_t>(result)) != GATIO_OK) {
        svc->lent_release(host, buf);
        s->at_end = true;
    }
    send_more(*s);
}

void send_more(Session& s) {
    gatio_host* host = s.instance->host;
    const std::size_t chunk = svc->lent_buffer_size(host);
    // Reads complete in order of submission for one file here, but the test only needs the
    // stream in order: one read in flight at a time keeps it so.
    while (!s.at_end && s.in_flight == 0 && !s.waiting_drain) {
        if (svc->pending_output(host, s.conn) > (std::size_t{4} << 20)) {
            if (svc->notify_drained(host, s.conn, drained, &s) == GATIO_OK) {
                s.waiting_drain = true;
                ++s.busy;
            }
            return;
        }
        if (svc->file_read_lent(host, s.file, s.offset, chunk, lent_done, &s) != GATIO_OK) {
            s.at_end = true;
            break;
        }
        ++s.in_flight;
        ++s.busy;
    }
    if (s.at_end && s.in_flight == 0 && s.file != 0) {
        svc->file_close(host, s.file, nullptr, nullptr);
        s.file = 0;
        svc->close(host, s.conn, GATIO_CLOSE_FLUSH);
    }
}

void send_open_done(gatio_host*, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    if (result < 0) {
        reply(*s, std::string("send ERR ") + errno_name(result));
        return;
    }
    s->file = file;
    s->offset = 0;
    send_more(*s);
}

// ---- hold / use / stale

void hold_done(gatio_host*, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    held_file = file;
    reply(*s, result == 0 ? "hold OK" : "hold ERR");
}

void never(gatio_host* host, void*, std::int64_t result) {
    log_line(host, "files: unexpected done " + std::to_string(result));
}

void stale_closed(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: close done " + std::to_string(result));
    if (!settle(s)) {
        return;
    }
    std::uint8_t byte = 0;
    reply(*s, "stale " + std::to_string(svc->file_read(host, s->file, 0, &byte, 1, never, nullptr)));
    s->file = 0;
}

void stale_opened(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    if (result < 0) {
        reply(*s, "stale ERR");
        return;
    }
    s->file = file;
    if (svc->file_close(host, file, stale_closed, s) == GATIO_OK) {
        ++s->busy;
    }
}

// ---- trunc / next

void trunc_read(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: read done " + std::to_string(result));
    if (settle(s)) {
        reply(*s, s->pending_word + " " + std::to_string(result));
    }
}

void trunc_opened(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    if (result < 0) {
        reply(*s, std::string("trunc ERR ") + errno_name(result));
        return;
    }
    s->file = file;
    s->buf.resize(65536);
    s->pending_word = "trunc";
    if (svc->file_read(host, file, 0, s->buf.data(), s->buf.size(), trunc_read, s) == GATIO_OK) {
        ++s->busy;
    }
}

void next_stat(gatio_host*, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    if (settle(s)) {
        reply(*s, s->text + " " + (result == 0 ? std::to_string(s->st.size) : std::string("ERR")));
    }
}

void next_read(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: read done " + std::to_string(result));
    if (!settle(s)) {
        return;
    }
    s->text = "next " + std::to_string(result);
    s->st = gatio_file_stat{};
    s->st.struct_size = sizeof s->st;
    if (svc->file_stat(host, s->file, &s->st, next_stat, s) == GATIO_OK) {
        ++s->busy;
    }
}

// ---- pend / unpend

void pend_read(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: pending read done " + std::to_string(result));
    s->cancelled = result;
    settle(s);
}

void pend_opened(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    if (result < 0) {
        reply(*s, std::string("pend ERR ") + errno_name(result));
        return;
    }
    s->file = file;
    s->buf.resize(4096);
    const int r = svc->file_read(host, file, 0, s->buf.data(), s->buf.size(), pend_read, s);
    if (r == GATIO_OK) {
        ++s->busy;
    }
    reply(*s, r == GATIO_OK ? "pend OK" : "pend REFUSED");
}

void unpend_closed(gatio_host* host, void* arg, std::int64_t result) {
    auto* s = static_cast<Session*>(arg);
    log_line(host, "files: close done " + std::to_string(result));
    if (settle(s)) {
        reply(*s, "unpend " + std::to_string(s->cancelled) + " " + std::to_string(result));
    }
}

// ---- many / lents

void many_opened(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (file != 0) {
        svc->file_close(host, file, nullptr, nullptr);
    }
    if (!settle(s)) {
        return;
    }
    s->many_ok += result == 0 ? 1 : 0;
    if (--s->many_left == 0) {
        reply(*s, "many OK " + std::to_string(s->many_ok) + " LIMIT " + std::to_string(s->many_limit));
    }
}

void lents_read(gatio_host* host, void* arg, std::int64_t result, gatio_lent buf, const std::uint8_t*) {
    auto* s = static_cast<Session*>(arg);
    if (buf != 0) {
        svc->lent_release(host, buf);
    }
    if (!settle(s)) {
        return;
    }
    s->many_ok += result > 0 ? 1 : 0;
    if (--s->many_left == 0) {
        svc->file_close(host, s->file, nullptr, nullptr);
        s->file = 0;
        reply(*s, "lents " + std::to_string(s->many_ok) + " LIMIT " + std::to_string(s->many_limit));
    }
}

void lents_opened(gatio_host* host, void* arg, int result, gatio_file file) {
    auto* s = static_cast<Session*>(arg);
    if (!settle(s)) {
        return;
    }
    if (result < 0) {
        reply(*s, "lents ERR");
        return;
    }
    s->file = file;
    const unsigned n = s->many_left;
    s->many_left = 0;
    for (unsigned i = 0; i < n; ++i) {
        const int r = svc->file_read_lent(host, file, 0, 4096, lents_read, s);
        if (r == GATIO_OK) {
            ++s->busy;
            ++s->many_left;
        } else if (r == GATIO_ERR_LIMIT) {
            ++s->many_limit;
        }
    }
    if (s->many_left == 0) {
        reply(*s, "lents 0 LIMIT " + std::to_string(s->many_limit));
    }
}

std::uint32_t parse_flags(std::string_view f) {
    if (f == "r") {
        return GATIO_FILE_READ;
    }
    if (f == "w") {
        return GATIO_FILE_WRITE;
    }
    if (f == "rw") {
        return GATIO_FILE_READ | GATIO_FILE_WRITE;
    }
    if (f == "d") {
        return GATIO_FILE_DIRECTORY;
    }
    if (f == "rb") {
        return GATIO_FILE_READ | GATIO_FILE_BENEATH | GATIO_FILE_NO_SYMLINKS;
    }
    return 0;
}

void command(Session& s, std::string_view line) {
    const auto space = line.find(' ');
    const std::string_view word = line.substr(0, space);
    const std::string rest =
        space == std::string_view::npos ? std::string() : std::string(line.substr(space + 1));
    gatio_host* host = s.instance->host;
    if (word == "open") {
        const auto sp = rest.find(' ');
        const std::uint32_t flags = parse_flags(std::string_view(rest).substr(0, sp));
        const std::string path = rest.substr(sp + 1);
        const bool beneath = (flags & GATIO_FILE_BENEATH) != 0;
        start_open(s, beneath ? s.root : 0, flags, path, open_done);
    } else if (word == "mode") {
        const auto sp = rest.find(' ');
        const std::uint32_t flags = parse_flags(std::string_view(rest).substr(0, sp));
        start_open(s, (flags & GATIO_FILE_BENEATH) != 0 ? s.root : 0, flags, rest.substr(sp + 1),
                   mode_opened);
    } else if (word == "root") {
        start_open(s, 0, GATIO_FILE_DIRECTORY, rest, root_done);
    } else if (word == "write") {
        const auto sp = rest.find(' ');
        s.text = rest.substr(sp + 1);
        const std::string path = rest.substr(0, sp);
        gatio_file_open_args a{};
        a.struct_size = sizeof a;
        a.flags = GATIO_FILE_WRITE | GATIO_FILE_CREATE | GATIO_FILE_TRUNCATE;
        a.path = path.c_str();
        a.mode = 0600;
        a.arg = &s;
        a.done = [](gatio_host* h, void* arg, int result, gatio_file file) {
            auto* ss = static_cast<Session*>(arg);
            if (!settle(ss)) {
                return;
            }
            if (result < 0) {
                reply(*ss, std::string("write ERR ") + errno_name(result));
                return;
            }
            ss->file = file;
            auto wrote = [](gatio_host* h2, void* arg2, std::int64_t n) {
                auto* s2 = static_cast<Session*>(arg2);
                if (!settle(s2)) {
                    return;
                }
                s2->total = static_cast<std::uint64_t>(n);
                auto synced = [](gatio_host* h3, void* arg3, std::int64_t r3) {
                    auto* s3 = static_cast<Session*>(arg3);
                    if (!settle(s3)) {
                        return;
                    }
                    svc->file_close(h3, s3->file, nullptr, nullptr);
                    s3->file = 0;
                    reply(*s3,
                          r3 == 0 ? "write OK " + std::to_string(s3->total) : std::string("write ERR sync"));
                };
                if (svc->file_fsync(h2, s2->file, 0, synced, s2) == GATIO_OK) {
                    ++s2->busy;
                }
            };
            if (svc->file_write(h, file, 0, ss->text.data(), ss->text.size(), wrote, ss) == GATIO_OK) {
                ++ss->busy;
            }
        };
        if (svc->file_open(host, &a) == GATIO_OK) {
            ++s.busy;
        }
    } else if (word == "send") {
        start_open(s, 0, GATIO_FILE_READ, rest, send_open_done);
    } else if (word == "hold") {
        start_open(s, 0, GATIO_FILE_READ, rest, hold_done);
    } else if (word == "use") {
        std::uint8_t byte = 0;
        reply(s, "use " + std::to_string(svc->file_read(host, held_file, 0, &byte, 1, never, nullptr)));
    } else if (word == "stale") {
        start_open(s, 0, GATIO_FILE_READ, rest, stale_opened);
    } else if (word == "trunc") {
        start_open(s, 0, GATIO_FILE_READ, rest, trunc_opened);
    } else if (word == "next") {
        if (svc->file_read(host, s.file, 65536, s.buf.data(), s.buf.size(), next_read, &s) == GATIO_OK) {
            ++s.busy;
        }
    } else if (word == "pend") {
        start_open(s, 0, GATIO_FILE_READ | GATIO_FILE_WRITE, rest, pend_opened);
    } else if (word == "unpend") {
        if (svc->file_close(host, s.file, unpend_closed, &s) == GATIO_OK) {
            ++s.busy;
        }
        s.file = 0;
    } else if (word == "many" || word == "lents") {
        const auto sp = rest.find(' ');
        const unsigned n = static_cast<unsigned>(std::stoul(rest.substr(0, sp)));
        const std::string path = rest.substr(sp + 1);
        s.many_ok = 0;
        s.many_limit = 0;
        if (word == "lents") {
            s.many_left = n;
            start_open(s, 0, GATIO_FILE_READ, path, lents_opened);
            return;
        }
        s.many_left = 0;
        for (unsigned i = 0; i < n; ++i) {
            gatio_file_open_args a{};
            a.struct_size = sizeof a;
            a.flags = GATIO_FILE_READ;
            a.path = path.c_str();
            a.done = many_opened;
            a.arg = &s;
            const int r = svc->file_open(host, &a);
            if (r == GATIO_OK) {
                ++s.busy;
                ++s.many_left;
            } else if (r == GATIO_ERR_LIMIT) {
                ++s.many_limit;
            }
        }
        if (s.many_left == 0) {
            reply(s, "many OK 0 LIMIT " + std::to_string(s.many_limit));
        }
    } else {
        reply(s, "unknown");
    }
}

int create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error, size_t size) {
    svc = info->services;
    if (svc->struct_size < GATIO_SERVICES_SIZE_1_3 + 10 * sizeof(void*)) {
        std::snprintf(error, size, "the host has no file services");
        return 1;
    }
    *instance = new Instance{host};
    return 0;
}

void destroy(void* instance) {
    auto* inst = static_cast<Instance*>(instance);
    log_line(inst->host, "files: instance destroyed");
    delete inst;
}

int on_open(void* instance, gatio_conn conn, const gatio_conn_info*, void** user) {
    auto* s = new Session{};
    s->instance = static_cast<Instance*>(instance);
    s->conn = conn;
    ++s->busy; // the connection's own hold, let go in on_close
    *user = s;
    return 0;
}

std::int64_t on_data(void*, gatio_conn, void* user, const std::uint8_t* data, size_t len) {
    auto& s = *static_cast<Session*>(user);
    std::size_t used = 0;
    while (used < len) {
        const auto* begin = reinterpret_cast<const char*>(data) + used;
        const void* nl = std::memchr(begin, '\n', len - used);
        if (nl == nullptr) {
            break;
        }
        const std::string_view line(begin, static_cast<std::size_t>(static_cast<const char*>(nl) - begin));
        used += line.size() + 1;
        command(s, line);
    }
    return static_cast<std::int64_t>(used);
}

void on_close(void*, gatio_conn, void* user, int) {
    auto* s = static_cast<Session*>(user);
    s->gone = true;
    if (--s->busy == 0) {
        delete s;
    }
}

const gatio_plugin descriptor = [] {
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof d;
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = "files";
    d.version = "1";
    d.max_unconsumed = 4096;
    d.instance_create = create;
    d.instance_destroy = destroy;
    d.on_open = on_open;
    d.on_data = on_data;
    d.on_close = on_close;
    return d;
}();

} // namespace

extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {
    return &descriptor;
}
