// The http handler: static routes over HTTP/1.1 and 1.0 with keep-alive and pipelining.
//
// Each instance (one listener on one driver) renders its responses up front and gives each
// connection a parser slot (max_connections at most); slots are allocated a block at a time as
// connections first need them and kept for reuse, so memory follows the most connections ever
// open at once and serving a request allocates nothing: the parser keeps no request bytes and
// the answers are slices of pre-rendered text handed to sendv. A request must complete its head within
// header_timeout of its first byte and its body within body_timeout of its head: the slots in each phase form
// a list in deadline order, and one host timer per instance waits for the earliest. docs/plugins.md lists the
// options.
//
// A root route's GET or HEAD is answered from the file it names through the host's file
// services (ABI 1.4): open beneath the route's folder, stat, then the head and the bytes asked
// for, read into buffers the host lends and sent from them without a copy, one read at a time
// and no further ahead of the socket than read_ahead. While that answer is under way the
// connection's reading is paused and bytes already received after the request wait in the
// request's carry buffer; they are fed once the answer is queued, so answers stay in order.
// With open_file_cache, a regular file answered recently is answered again from its cached
// handle and stat (no open, stat or close) for open_file_cache_valid after its open.
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <gatio/plugin.hpp>

#include "date.hpp"
#include "file_cache.hpp"
#include "files.hpp"
#include "settings.hpp"
#include "site.hpp"

namespace {

using gatio::http::Parser;
using Clock = std::chrono::steady_clock;
using Phase = Parser::Phase;

constexpr std::uint32_t nil = UINT32_MAX;

class SendOutput final : public gatio::http::Output {
public:
    explicit SendOutput(const gatio::Connection& c) : c_(c) {}
    bool write(std::span<const iovec> slices) override { return c_.sendv(slices) == GATIO_OK; }

private:
    const gatio::Connection& c_;
};

struct Slot;
struct State;

// One root route request being answered from a file; an instance has max_open_files of them,
// with their buffers, from its creation.
struct Job {
    State* state = nullptr;
    Slot* slot = nullptr;
    std::uint32_t index = 0; // in the instance's pool
    gatio::http::Site::Tail tail{};
    bool with_body = true;     // not HEAD
    bool directory = false;    // the path ended in '/'
    bool tried_index = false;  // the open under way is the folder's index file
    bool overflow = false;     // bytes after the request did not fit the carry: close after it
    std::uint32_t pending = 0; // operations and timers whose completion has not run
    gatio_file file = 0;
    gatio::http::FileCache::Entry* cached = nullptr; // the cache's, when `file` is
    gatio_file_stat stat{};
    std::uint64_t offset = 0; // the next byte to read
    std::uint64_t end = 0;    // one past the last byte to send
    std::uint32_t carry_len = 0;
    char* path = nullptr;     // relative to the root, NUL-terminated
    char* location = nullptr; // a redirect's Location
    char* head = nullptr;     // the answer's head
    char* carry = nullptr;    // bytes received after the request
    std::array<char, gatio::http::etag_capacity> etag{};
    std::size_t etag_len = 0;
    std::array<char, gatio::http::date_length> last_modified{};
};

// One connection's parser and its place on a deadline list.
struct Slot {
    Slot(Parser p, std::uint32_t i) : parser(p), index(i) {}
    Parser parser;
    std::uint32_t index; // in the instance's table
    gatio_conn conn = 0;
    Clock::time_point deadline{};
    std::uint32_t prev = nil;
    std::uint32_t next = nil;
    Phase phase = Phase::idle;   // the phase `deadline` was set for; idle: on no list
    std::uint32_t completed = 0; // the parser's count when `deadline` was set
    bool timed_out = false;      // answered 408 and closing
    bool draining = false;       // gatiod is stopping: close once the request under way is answered
    bool closed = false;         // on_close ran while a Job's operations were pending
    Job* job = nullptr;          // the file answer under way
};

// The slots whose request is in one phase, earliest deadline first: each deadline is the same
// timeout after the moment it was set, and slots are appended as that moment moves forward.
struct DeadlineList {
    std::uint32_t first = nil;
    std::uint32_t last = nil;
};

// Lives on the heap so the timer arguments and the parsers' pointers into the site stay valid
// however the handler object itself is moved.
struct State {
    State(gatio::Host h, const gatio::InstanceInfo& info)
        : host(h), where("listener " + std::string(info.listener) + " on driver " + std::string(info.driver)),
          site(gatio::http::read_settings(info.options)) {
        capacity = site.settings().max_connections;
        // Room for every block's pointer and every slot given back, reserved but not touched:
        // the lists then never reallocate while connections come and go.
        blocks.reserve((capacity + block_slots - 1) / block_slots);
        captures.reserve((capacity + block_slots - 1) / block_slots);
        free_slots.reserve(capacity);
        if (site.has_root_routes()) {
            open_roots();
        }
        gatio::http::DateClock::local().refresh();
        if (host.start_timer(std::chrono::milliseconds(gatio::http::next_second_delay_ms()), &tick, this) ==
            0) {
            throw gatio::PluginError("cannot start the Date timer of " + where +
                                     ": the driver's timer limit is reached");
        }
    }

    // Rearms itself each second; should the driver's timers run out, the Date is refreshed from
    // on_data instead (still formatted at most once per second).
    static void tick(gatio_host*, void* arg) {
        auto* self = static_cast<State*>(arg);
        gatio::http::DateClock::local().refresh();
        if (self->host.start_timer(std::chrono::milliseconds(gatio::http::next_second_delay_ms()), &tick,
                                   self) == 0) {
            self->clock_from_data = true;
            self->host.warn("http: cannot rearm the Date timer of " + self->where +
                            ": the driver's timer limit is reached; refreshing the Date on receive instead");
        }
    }

    std::string_view date() const {
        if (clock_from_data) {
            gatio::http::DateClock::local().refresh();
        }
        return gatio::http::DateClock::local().text();
    }

    Slot& at(std::uint32_t i) { return blocks[i / block_slots][i % block_slots]; }

    // ---- Root routes -------------------------------------------------------------------------

    const gatio_services& sv() const { return host.services(); }

    struct RootOpen {
        State* state;
        std::size_t route;
    };

    void open_roots() {
        if (sv().struct_size < offsetof(gatio_services, lent_buffer_size) + sizeof(void (*)())) {
            throw gatio::PluginError("routes with a root need the host's file services (ABI 1.4), which this "
                                     "gatiod does not offer");
        }
        const auto& settings = site.settings();
        max_path = settings.max_path;
        std::size_t longest_index = 0;
        for (const auto& r : settings.routes) {
            longest_index = std::max(longest_index, r.index.size());
        }
        capture_bytes = max_path + gatio::http::captured_fields_bytes;
        path_bytes = max_path + 1 + longest_index + 1;
        // The head: fixed fields, the Server text, the type and a Location of up to 3 bytes per
        // path byte.
        location_bytes = 3 * std::size_t{max_path} + 1;
        head_bytes = 640 + settings.server.size() + location_bytes;
        carry_bytes = settings.limits.max_header_bytes;
        const std::size_t per_job = path_bytes + location_bytes + head_bytes + carry_bytes;
        job_memory = std::make_unique<char[]>(per_job * settings.max_open_files);
        scratch = std::make_unique<char[]>(carry_bytes);
        jobs.resize(settings.max_open_files);
        free_jobs.reserve(settings.max_open_files);
        for (std::uint32_t i = 0; i < settings.max_open_files; ++i) {
            Job& j = jobs[i];
            j.state = this;
            j.index = i;
            char* base = job_memory.get() + per_job * i;
            j.path = base;
            j.location = base + path_bytes;
            j.head = j.location + location_bytes;
            j.carry = j.head + head_bytes;
            free_jobs.push_back(settings.max_open_files - 1 - i);
        }
        cache = std::make_unique<gatio::http::FileCache>(settings.open_file_cache, path_bytes,
                                                         settings.open_file_cache_valid, &cache_close, this);
        dirs.assign(settings.routes.size(), 0);
        root_opens.reserve(settings.routes.size());
        for (std::size_t i = 0; i < settings.routes.size(); ++i) {
            if (settings.routes[i].root.empty()) {
                continue;
            }
            root_opens.push_back(RootOpen{this, i});
            gatio_file_open_args args{};
            args.struct_size = sizeof(args);
            args.flags = GATIO_FILE_DIRECTORY;
            args.path = settings.routes[i].root.c_str();
            args.done = &root_opened;
            args.arg = &root_opens.back();
            const int rc = sv().file_open(host.handle(), &args);
            if (rc != GATIO_OK) {
                throw gatio::PluginError("cannot open the root \"" + settings.routes[i].root + "\" of " +
                                         where + ": the host's file_open answered " + std::to_string(rc));
            }
        }
    }

    static void cache_close(void* self, gatio_file file) {
        auto* s = static_cast<State*>(self);
        s->sv().file_close(s->host.handle(), file, nullptr, nullptr);
    }

    // The request's file from the open-file cache, when it is there and still valid.
    bool from_cache(Job& job) {
        auto* e = cache->find(job.slot->parser.request().route, job.path, Clock::now());
        if (e == nullptr) {
            return false;
        }
        job.cached = e;
        job.file = e->file;
        job.stat = e->stat;
        return true;
    }

    static void root_opened(gatio_host*, void* arg, int result, gatio_file file) {
        auto* r = static_cast<RootOpen*>(arg);
        State& s = *r->state;
        if (result < 0) {
            // Its requests are answered 503 until a reload opens it again.
            s.host.warn("http: cannot open the root \"" + s.site.route(static_cast<int>(r->route)).root +
                        "\" of " + s.where + ": " + std::strerror(-result) +
                        "; its requests are answered 503");
            return;
        }
        s.dirs[r->route] = file;
    }

    enum class Outcome { keep, close, reset };

    // Feeds bytes to a connection's parser and answers every request they complete, starting
    // the file answer of a root route's request (and carrying the bytes after it).
    Outcome feed(Slot& slot, const gatio::Connection& c, std::span<const std::uint8_t> data) {
        SendOutput out(c);
        for (;;) {
            std::size_t consumed = data.size();
            const gatio::http::Verdict v = site.serve(slot.parser, data, date(), out, &consumed);
            switch (v) {
            case gatio::http::Verdict::keep:
                track(slot);
                if (slot.draining && slot.parser.phase() == Phase::idle) {
                    return Outcome::close; // the request under way when the drain began is answered
                }
                return Outcome::keep;
            case gatio::http::Verdict::close:
                unlink(slot);
                return Outcome::close;
            case gatio::http::Verdict::reset:
                unlink(slot);
                return Outcome::reset;
            case gatio::http::Verdict::file:
                break;
            }
            track(slot); // the request is complete: no deadline runs while it is answered
            data = data.subspan(consumed);
            const Start started = start_file(slot, c, data);
            if (started == Start::failed) {
                unlink(slot);
                return Outcome::reset;
            }
            if (started == Start::started) {
                return Outcome::keep;
            }
            // Answered at once (an error status): go on with the bytes after it.
            if (!slot.parser.request().keep_alive) {
                return Outcome::close;
            }
        }
    }

    enum class Start { started, answered, failed };

    Start start_file(Slot& slot, const gatio::Connection& c, std::span<const std::uint8_t> rest) {
        const gatio::http::Request& req = slot.parser.request();
        const auto tail = gatio::http::Site::tail_for(req);
        const bool with_body = req.method != gatio::http::Method::head;
        SendOutput out(c);
        auto quick = [&](int status) {
            return site.answer(status, tail, with_body, date(), out) ? Start::answered : Start::failed;
        };
        const gatio_file dir = dirs[static_cast<std::size_t>(req.route)];
        if (dir == 0) {
            return quick(503);
        }
        const auto path = slot.parser.path();
        if (!path) {
            return quick(414);
        }
        if (free_jobs.empty()) {
            // Logged at 1, 2, 4, 8 ... so that a flood cannot flood the journal too.
            ++jobs_refused;
            if ((jobs_refused & (jobs_refused - 1)) == 0) {
                host.warn("http: answered 503 to a file request on " + where + ": all " +
                          std::to_string(jobs.size()) + " files (max_open_files) are in use; " +
                          std::to_string(jobs_refused) + " refused so far");
            }
            return quick(503);
        }
        Job& job = jobs[free_jobs.back()];
        const auto rel = gatio::http::relative_path(path->substr(req.prefix_length), {job.path, max_path});
        switch (rel.status) {
        case gatio::http::PathStatus::ok:
            break;
        case gatio::http::PathStatus::bad:
            return quick(400);
        case gatio::http::PathStatus::forbidden:
            return quick(403);
        case gatio::http::PathStatus::too_long:
            return quick(414);
        }
        std::size_t len = rel.length;
        if (len == 0) {
            job.path[len++] = '.';
        }
        job.path[len] = '\0';
        free_jobs.pop_back();
        job.slot = &slot;
        job.tail = tail;
        job.with_body = with_body;
        job.directory = rel.directory;
        job.tried_index = false;
        job.overflow = rest.size() > carry_bytes;
        job.carry_len = job.overflow ? 0 : static_cast<std::uint32_t>(rest.size());
        if (!rest.empty() && !job.overflow) {
            std::memcpy(job.carry, rest.data(), rest.size());
        }
        job.file = 0;
        job.cached = nullptr;
        job.offset = 0;
        job.end = 0;
        slot.job = &job;
        if (!job.directory && from_cache(job)) {
            const gatio::http::FileHead h = head_for(job);
            if (!job.with_body || h.length == 0) {
                // Answered at once, like an error status: the caller goes on with the bytes after it.
                const std::size_t n = site.file_head({job.head, head_bytes}, h, job.tail, date());
                const bool sent = n != 0 && c.send(std::string_view{job.head, n}) == GATIO_OK;
                close_file(job);
                slot.job = nullptr;
                job.slot = nullptr;
                free_jobs.push_back(job.index);
                return sent ? Start::answered : Start::failed;
            }
            c.pause_read();
            send_head(job, h, true);
            return Start::started;
        }
        // What arrives while the answer is under way waits in the carry.
        c.pause_read();
        if (!open(job, dir)) {
            slot.job = nullptr;
            free_jobs.push_back(job.index);
            c.resume_read();
            return quick(503);
        }
        return Start::started;
    }

    // A file request that failed on gatiod's side, not the client's: the operator hears which
    // file, where and why, at the 1st, 2nd, 4th, 8th ... failure so that a flood cannot flood
    // the journal too.
    void file_failed(const Job& job, std::string_view step, const std::string& cause) {
        ++file_failures;
        if ((file_failures & (file_failures - 1)) != 0) {
            return;
        }
        const gatio::http::Route& route = site.route(job.slot->parser.request().route);
        host.warn("http: file \"" + route.root + "/" + job.path + "\" on " + where + ": " +
                  std::string(step) + ": " + cause + " (" + std::to_string(file_failures) +
                  " such failures so far)");
    }

    static std::string errno_text(std::int64_t result) { return std::strerror(static_cast<int>(-result)); }

    static std::string refusal_text(int rc) { return "the host refused it (" + std::to_string(rc) + ")"; }

    bool open(Job& job, gatio_file dir) {
        gatio_file_open_args args{};
        args.struct_size = sizeof(args);
        args.flags = GATIO_FILE_READ | GATIO_FILE_BENEATH;
        args.dir = dir;
        args.path = job.path;
        args.done = &opened;
        args.arg = &job;
        if (const int rc = sv().file_open(host.handle(), &args); rc != GATIO_OK) {
            file_failed(job, "open", refusal_text(rc));
            return false;
        }
        ++job.pending;
        return true;
    }

    gatio::Connection conn_of(const Job& job) const {
        return gatio::Connection(host, job.slot->conn, job.slot);
    }

    // The answer cannot be given at all: an error status instead, with the request's tail.
    void fail(Job& job, int status) {
        close_file(job);
        const gatio::Connection c = conn_of(job);
        SendOutput out(c);
        if (!site.answer(status, job.tail, job.with_body, date(), out)) {
            c.close(GATIO_CLOSE_ABORT); // on_close finds the job and gives it back
            return;
        }
        finish(job);
    }

    // The head promised bytes that cannot be sent: the connection ends after those sent.
    void cut(Job& job, gatio_close_mode mode) {
        close_file(job);
        conn_of(job).close(mode); // on_close finds the job and gives it back
    }

    void close_file(Job& job) {
        if (job.cached != nullptr) {
            cache->release(job.cached); // the cache closes it once it lets go of it
            job.cached = nullptr;
            job.file = 0;
            return;
        }
        if (job.file != 0) {
            sv().file_close(host.handle(), job.file, nullptr, nullptr);
            job.file = 0;
        }
    }

    static int status_for(int error) {
        switch (error) {
        case -ENOENT:
        case -ENOTDIR:
        case -ENAMETOOLONG:
            return 404;
        case -EACCES:
        case -EPERM:
        case -EXDEV: // a symlink leading out of the root, or an absolute one
        case -ELOOP:
        case -ENXIO: // a unix socket
            return 403;
        case -EMFILE:
        case -ENFILE:
        case -ECANCELED:
        case -EWOULDBLOCK: // another process holds a lease on it: the open does not wait
            return 503;
        default:
            return 500;
        }
    }

    // Whether the job's connection closed meanwhile; then the job ends once nothing is pending.
    static bool gone(Job& job) {
        if (!job.slot->closed) {
            return false;
        }
        job.state->close_file(job);
        if (job.pending == 0) {
            job.state->release_closed(job);
        }
        return true;
    }

    void release_closed(Job& job) {
        Slot& slot = *job.slot;
        slot.job = nullptr;
        job.slot = nullptr;
        free_jobs.push_back(job.index);
        slot.closed = false;
        free_slots.push_back(slot.index);
    }

    static void opened(gatio_host*, void* arg, int result, gatio_file file) {
        Job& job = *static_cast<Job*>(arg);
        --job.pending;
        job.file = file;
        if (gone(job)) {
            return;
        }
        State& s = *job.state;
        if (result < 0) {
            const int status = status_for(result);
            if (status >= 500) {
                s.file_failed(job, "open", errno_text(result));
            }
            s.fail(job, status);
            return;
        }
        job.stat = {};
        job.stat.struct_size = sizeof(job.stat);
        if (const int rc = s.sv().file_stat(s.host.handle(), job.file, &job.stat, &stated, &job);
            rc != GATIO_OK) {
            s.file_failed(job, "stat", refusal_text(rc));
            s.fail(job, 503);
            return;
        }
        ++job.pending;
    }

    static void stated(gatio_host*, void* arg, std::int64_t result) {
        Job& job = *static_cast<Job*>(arg);
        --job.pending;
        if (gone(job)) {
            return;
        }
        State& s = *job.state;
        if (result < 0) {
            const int status = status_for(static_cast<int>(result));
            if (status >= 500) {
                s.file_failed(job, "stat", errno_text(result));
            }
            s.fail(job, status);
            return;
        }
        const std::uint32_t type = job.stat.mode & S_IFMT;
        if (type == S_IFDIR) {
            s.close_file(job);
            s.folder(job);
            return;
        }
        if (type != S_IFREG) {
            s.fail(job, 403); // a FIFO, a socket or a device exists but is nothing to serve
            return;
        }
        job.cached =
            s.cache->insert(job.slot->parser.request().route, job.path, job.file, job.stat, Clock::now());
        s.answer_file(job);
    }

    // A folder: its index file when it was named with a trailing '/', else a redirect there.
    void folder(Job& job) {
        if (!job.directory) {
            const auto path = job.slot->parser.path();
            gatio::http::FileHead h;
            h.status = 301;
            std::size_t n = gatio::http::encode_path(*path, {job.location, location_bytes - 1});
            job.location[n++] = '/';
            h.location = {job.location, n};
            send_head(job, h, false);
            return;
        }
        const gatio::http::Route& route = site.route(job.slot->parser.request().route);
        if (job.tried_index || route.index.empty()) {
            fail(job, 404);
            return;
        }
        std::size_t len = std::strlen(job.path);
        if (len == 1 && job.path[0] == '.') {
            len = 0;
        } else {
            job.path[len++] = '/';
        }
        std::memcpy(job.path + len, route.index.data(), route.index.size());
        job.path[len + route.index.size()] = '\0';
        job.tried_index = true;
        if (from_cache(job)) {
            answer_file(job);
            return;
        }
        const gatio_file dir = dirs[static_cast<std::size_t>(job.slot->parser.request().route)];
        if (dir == 0 || !open(job, dir)) {
            fail(job, 503);
        }
    }

    void answer_file(Job& job) {
        const gatio::http::FileHead h = head_for(job);
        send_head(job, h, job.with_body && h.length > 0);
    }

    // The head the request's conditions and Range call for; sets the bytes to send.
    gatio::http::FileHead head_for(Job& job) {
        const gatio_file_stat& st = job.stat;
        job.etag_len = gatio::http::format_etag(
            st.size, st.mtime_sec * 1'000'000'000 + static_cast<std::int64_t>(st.mtime_nsec), job.etag);
        gatio::http::format_date(static_cast<std::time_t>(st.mtime_sec), job.last_modified);
        const Parser& p = job.slot->parser;
        using gatio::http::Captured;
        gatio::http::Conditions cond;
        cond.if_none_match = p.field(Captured::if_none_match);
        cond.if_modified_since = p.field(Captured::if_modified_since);
        cond.range = p.field(Captured::range);
        cond.if_range = p.field(Captured::if_range);
        const std::string_view etag{job.etag.data(), job.etag_len};
        const auto a = gatio::http::decide({st.size, static_cast<std::time_t>(st.mtime_sec), etag}, cond);
        gatio::http::FileHead h;
        h.status = a.status;
        h.content_type = gatio::http::content_type_for(job.path);
        h.size = st.size;
        h.etag = etag;
        h.last_modified = {job.last_modified.data(), job.last_modified.size()};
        h.first = a.range.first;
        h.length = a.status == 200 || a.status == 206 ? a.range.length : 0;
        job.offset = a.range.first;
        job.end = a.range.first + h.length;
        return h;
    }

    void send_head(Job& job, const gatio::http::FileHead& h, bool body) {
        const std::size_t n = site.file_head({job.head, head_bytes}, h, job.tail, date());
        const gatio::Connection c = conn_of(job);
        if (n == 0 || c.send(std::string_view{job.head, n}) != GATIO_OK) {
            cut(job, GATIO_CLOSE_ABORT);
            return;
        }
        if (!body) {
            close_file(job);
            finish(job);
            return;
        }
        read_next(job);
    }

    void read_next(Job& job) {
        const std::uint64_t n =
            std::min<std::uint64_t>(sv().lent_buffer_size(host.handle()), job.end - job.offset);
        const int rc = sv().file_read_lent(host.handle(), job.file, job.offset, n, &got, &job);
        if (rc == GATIO_OK) {
            ++job.pending;
            return;
        }
        if (rc != GATIO_ERR_LIMIT) {
            file_failed(job, "read", refusal_text(rc) + "; the connection ends with what was sent");
            cut(job, GATIO_CLOSE_FLUSH);
            return;
        }
        // No lent buffer or operation left: again once this connection's output drained, which
        // gives buffers back, or after a millisecond when it has nothing queued.
        if (!wait_drained(job)) {
            if (host.start_timer(std::chrono::milliseconds(1), &retry, &job) == 0) {
                cut(job, GATIO_CLOSE_FLUSH);
                return;
            }
            ++job.pending;
        }
    }

    bool wait_drained(Job& job) {
        return sv().notify_drained(host.handle(), job.slot->conn, &drained, &job) == GATIO_OK;
    }

    static void retry(gatio_host*, void* arg) {
        Job& job = *static_cast<Job*>(arg);
        --job.pending;
        if (gone(job)) {
            return;
        }
        job.state->read_next(job);
    }

    static void drained(gatio_host*, void* arg, int status) {
        Job& job = *static_cast<Job*>(arg);
        if (status != GATIO_OK || job.slot->closed) {
            return; // on_close follows
        }
        job.state->read_next(job);
    }

    static void got(gatio_host*, void* arg, std::int64_t result, gatio_lent buf, const std::uint8_t*) {
        Job& job = *static_cast<Job*>(arg);
        State& s = *job.state;
        --job.pending;
        if (job.slot->closed) {
            if (buf != 0) {
                s.sv().lent_release(s.host.handle(), buf);
            }
            gone(job);
            return;
        }
        if (result <= 0) {
            // An error, or the file ends sooner than it did at stat (it was truncated): the
            // connection ends with the bytes sent so far, which were the file's.
            if (result < 0) {
                s.file_failed(job, "read", errno_text(result) + "; the connection ends with what was sent");
            }
            s.cut(job, GATIO_CLOSE_FLUSH);
            return;
        }
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(static_cast<std::uint64_t>(result), job.end - job.offset));
        if (s.sv().lent_send(s.host.handle(), job.slot->conn, buf, 0, n) != GATIO_OK) {
            s.sv().lent_release(s.host.handle(), buf);
            s.cut(job, GATIO_CLOSE_ABORT);
            return;
        }
        job.offset += n;
        if (job.offset == job.end) {
            s.close_file(job);
            s.finish(job);
            return;
        }
        if (conn_pending(s, job) > s.site.settings().read_ahead && s.wait_drained(job)) {
            return;
        }
        s.read_next(job);
    }

    static std::size_t conn_pending(State& s, const Job& job) {
        return s.sv().pending_output(s.host.handle(), job.slot->conn);
    }

    // The answer is queued: the connection goes on with what arrived after the request.
    void finish(Job& job) {
        Slot& slot = *job.slot;
        const bool overflow = job.overflow;
        const std::uint32_t carried = job.carry_len;
        if (carried > 0) {
            std::memcpy(scratch.get(), job.carry, carried);
        }
        slot.job = nullptr;
        job.slot = nullptr;
        free_jobs.push_back(job.index);
        const gatio::Connection c(host, slot.conn, &slot);
        if (overflow || job.tail == gatio::http::Site::close_connection || slot.draining) {
            c.close(GATIO_CLOSE_FLUSH);
            return;
        }
        c.resume_read();
        if (carried == 0) {
            return;
        }
        const auto bytes =
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(scratch.get()), carried);
        switch (feed(slot, c, bytes)) {
        case Outcome::keep:
            break;
        case Outcome::close:
            c.close(GATIO_CLOSE_FLUSH);
            break;
        case Outcome::reset:
            c.close(GATIO_CLOSE_ABORT);
            break;
        }
    }

    // Bytes that arrive while a file answer is under way (reading is paused, but a receive
    // already done is still delivered): they wait behind the ones carried.
    void carry(Job& job, std::span<const std::uint8_t> data) {
        if (job.overflow || carry_bytes - job.carry_len < data.size()) {
            job.overflow = true;
            return;
        }
        std::memcpy(job.carry + job.carry_len, data.data(), data.size());
        job.carry_len += static_cast<std::uint32_t>(data.size());
    }
    DeadlineList& list(Phase phase) { return phase == Phase::head ? heads : bodies; }

    // A slot for a new connection: one given back, else the next never used (its block
    // allocated when it is the block's first); nullptr when max_connections are open.
    // Throws std::bad_alloc when a new block cannot be had.
    Slot* take() {
        if (!free_slots.empty()) {
            Slot& slot = at(free_slots.back());
            free_slots.pop_back();
            slot = Slot(site.make_parser(), slot.index);
            lend_capture(slot);
            return &slot;
        }
        if (used == capacity) {
            return nullptr;
        }
        if (used % block_slots == 0) {
            std::vector<Slot> block;
            block.reserve(std::min(block_slots, capacity - used)); // may throw; nothing changed yet
            std::unique_ptr<char[]> capture;
            if (capture_bytes > 0) {
                capture = std::make_unique<char[]>(capture_bytes * block.capacity()); // may throw
            }
            blocks.push_back(std::move(block)); // within the reserved room
            captures.push_back(std::move(capture));
        }
        Slot& slot = blocks.back().emplace_back(site.make_parser(), used);
        ++used;
        lend_capture(slot);
        return &slot;
    }

    // A root route's request is answered from its path and conditional fields, which the
    // parser keeps in the slot's part of its block's capture buffer.
    void lend_capture(Slot& slot) {
        if (capture_bytes > 0) {
            slot.parser.capture_into(captures[slot.index / block_slots].get() +
                                         capture_bytes * (slot.index % block_slots),
                                     max_path);
        }
    }

    void unlink(Slot& slot) {
        if (slot.phase == Phase::idle) {
            return;
        }
        DeadlineList& l = list(slot.phase);
        (slot.prev == nil ? l.first : at(slot.prev).next) = slot.next;
        (slot.next == nil ? l.last : at(slot.next).prev) = slot.prev;
        slot.prev = nil;
        slot.next = nil;
        slot.phase = Phase::idle;
    }

    // Called after each receive the connection survives: a request that reached another phase,
    // or a new request, gets its phase's full timeout from now.
    void track(Slot& slot) {
        const Phase phase = slot.parser.phase();
        const std::uint32_t completed = slot.parser.completed();
        if (phase == slot.phase && completed == slot.completed) {
            return;
        }
        unlink(slot);
        slot.completed = completed;
        if (phase == Phase::idle) {
            return;
        }
        const Clock::time_point now = Clock::now();
        const auto& settings = site.settings();
        slot.phase = phase;
        slot.deadline = now + (phase == Phase::head ? settings.header_timeout : settings.body_timeout);
        DeadlineList& l = list(phase);
        const std::uint32_t i = slot.index;
        slot.prev = l.last;
        (l.last == nil ? l.first : at(l.last).next) = i;
        l.last = i;
        arm(slot.deadline, now);
    }

    // One host timer per instance, due at the earliest deadline of both lists.
    void arm(Clock::time_point due, Clock::time_point now) {
        if (deadline_timer != 0) {
            if (timer_due <= due) {
                return;
            }
            host.cancel_timer(deadline_timer);
        }
        const auto delay =
            std::max(std::chrono::ceil<std::chrono::milliseconds>(due - now), std::chrono::milliseconds(1));
        deadline_timer = host.start_timer(delay, &expire, this);
        timer_due = due;
        if (deadline_timer == 0) {
            // Logged at 1, 2, 4, 8 ... failures; the next request to start or reach its body
            // tries again, and the listener's idle_timeout still closes silent connections.
            ++timer_failures;
            if ((timer_failures & (timer_failures - 1)) == 0) {
                host.warn("http: cannot start the request deadline timer of " + where +
                          ": the driver's timer limit is reached; " + std::to_string(timer_failures) +
                          " times so far");
            }
        }
    }

    static void expire(gatio_host*, void* arg) {
        auto* self = static_cast<State*>(arg);
        self->deadline_timer = 0;
        const Clock::time_point now = Clock::now();
        self->expire_list(self->heads, now);
        self->expire_list(self->bodies, now);
        const std::uint32_t h = self->heads.first;
        const std::uint32_t b = self->bodies.first;
        if (h != nil || b != nil) {
            const Clock::time_point due = h == nil   ? self->at(b).deadline
                                          : b == nil ? self->at(h).deadline
                                                     : std::min(self->at(h).deadline, self->at(b).deadline);
            self->arm(due, now);
        }
    }

    void expire_list(DeadlineList& l, Clock::time_point now) {
        while (l.first != nil && at(l.first).deadline <= now) {
            Slot& slot = at(l.first);
            unlink(slot);
            slot.timed_out = true;
            const gatio::Connection c(host, slot.conn, &slot);
            SendOutput out(c);
            c.close(site.time_out(date(), out) ? GATIO_CLOSE_FLUSH : GATIO_CLOSE_ABORT);
        }
    }

    gatio::Host host;
    std::string where;
    // Slots per block: a block is about 40 KiB, so an instance of the default 65,536
    // connections starts with none and reaches 11 MiB only with that many open.
    static constexpr std::uint32_t block_slots = 256;

    gatio::http::Site site;
    std::uint32_t capacity = 0;                    // max_connections
    std::uint32_t used = 0;                        // slots ever handed out; the next new one is this
    std::vector<std::vector<Slot>> blocks;         // each reserved to its full size, so slots never move
    std::vector<std::unique_ptr<char[]>> captures; // per block: each slot's capture buffer
    // Root routes only: the routes' folders (0 until open, and for other routes), the buffer
    // sizes, the jobs with their buffers and the bytes being fed after a job.
    std::vector<gatio_file> dirs;
    std::unique_ptr<gatio::http::FileCache> cache;
    std::vector<RootOpen> root_opens;
    std::uint32_t max_path = 0;
    std::size_t capture_bytes = 0;
    std::size_t path_bytes = 0;
    std::size_t location_bytes = 0;
    std::size_t head_bytes = 0;
    std::size_t carry_bytes = 0;
    std::unique_ptr<char[]> job_memory;
    std::unique_ptr<char[]> scratch;
    std::vector<Job> jobs;
    std::vector<std::uint32_t> free_jobs;
    std::uint64_t jobs_refused = 0;
    std::uint64_t file_failures = 0;       // file requests that failed on gatiod's side
    std::vector<std::uint32_t> free_slots; // given back, taken again first
    DeadlineList heads;                    // requests whose head is incomplete
    DeadlineList bodies;                   // requests whose body is incomplete
    gatio_timer deadline_timer = 0;
    Clock::time_point timer_due{};
    std::uint64_t refused = 0;
    std::uint64_t timer_failures = 0;
    bool clock_from_data = false;
};

class Http {
public:
    Http(gatio::Host host, const gatio::InstanceInfo& info) : s_(std::make_unique<State>(host, info)) {}

    bool on_open(gatio::Connection c, const gatio_conn_info&) {
        State& s = *s_;
        Slot* slot = nullptr;
        try {
            slot = s.take();
        } catch (const std::bad_alloc&) {
            slot = nullptr; // no memory for a new block: refused like a connection beyond the limit
        }
        if (slot == nullptr) {
            // Logged at 1, 2, 4, 8 ... refusals so a flood cannot flood the journal too.
            ++s.refused;
            if ((s.refused & (s.refused - 1)) == 0) {
                s.host.warn("http: answered 503 to a connection on " + s.where + ": " +
                            (s.used == s.capacity ? "all " + std::to_string(s.capacity) +
                                                        " slots (max_connections) are in use; "
                                                  : std::string("no memory for more slots; ")) +
                            std::to_string(s.refused) + " refused so far");
            }
            // A client told "503" knows to retry later; a bare reset looks like a crash.
            SendOutput out(c);
            if (!s.site.refuse(s.date(), out)) {
                return false;
            }
            c.close(GATIO_CLOSE_FLUSH);
            return true;
        }
        slot->conn = c.id();
        if (c.set_user(slot) != GATIO_OK) {
            s.free_slots.push_back(slot->index);
            return false;
        }
        return true;
    }

    std::int64_t on_data(gatio::Connection c, std::span<const std::uint8_t> data) {
        State& s = *s_;
        Slot* slot = c.user<Slot>();
        if (slot == nullptr || slot->timed_out) {
            return static_cast<std::int64_t>(data.size()); // answered 503 or 408 and closing
        }
        if (slot->job != nullptr) {
            s.carry(*slot->job, data);
            return static_cast<std::int64_t>(data.size());
        }
        switch (s.feed(*slot, c, data)) {
        case State::Outcome::keep:
            return static_cast<std::int64_t>(data.size());
        case State::Outcome::close:
            return GATIO_DATA_CLOSE;
        case State::Outcome::reset:
            break;
        }
        // The driver's output memory is exhausted: a partial answer would corrupt the stream.
        return GATIO_DATA_RESET;
    }

    // gatiod is stopping: an idle connection closes now; one with a request under way (part of
    // its head or body received) may finish it, and closes once it is answered.
    gatio_drain_action on_drain(gatio::Connection c) {
        Slot* slot = c.user<Slot>();
        if (slot == nullptr || slot->timed_out ||
            (slot->parser.phase() == Phase::idle && slot->job == nullptr)) {
            return GATIO_DRAIN_CLOSE;
        }
        slot->draining = true;
        return GATIO_DRAIN_READ;
    }

    void on_close(gatio::Connection c, gatio_close_reason) {
        State& s = *s_;
        if (auto* slot = c.user<Slot>()) {
            s.unlink(*slot);
            if (Job* job = slot->job) {
                // The job's operations still name the slot: both are given back when the last
                // completes (closing the file cancels them).
                slot->closed = true;
                State::gone(*job);
                return;
            }
            s.free_slots.push_back(slot->index);
        }
    }

private:
    std::unique_ptr<State> s_;
};

} // namespace

GATIO_EXPORT_PLUGIN(Http, "http", "1.0", GATIO_TRANSPORT_TCP)
