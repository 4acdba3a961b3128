#include "net/file_service.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <liburing.h>
#include <new>
#include <string>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <utility>

#include "core/driver.hpp"
#include "core/handle.hpp"
#include "net/endpoint.hpp"

namespace gatio::net {

namespace {

constexpr std::uint32_t none = UINT32_MAX;
// io_uring's read and write lengths are 32-bit; the ABI promises up to 2 GiB per call.
constexpr std::size_t max_io = std::size_t{1} << 31;
constexpr std::uint32_t known_flags = GATIO_FILE_READ | GATIO_FILE_WRITE | GATIO_FILE_CREATE |
                                      GATIO_FILE_EXCLUSIVE | GATIO_FILE_TRUNCATE | GATIO_FILE_APPEND |
                                      GATIO_FILE_DIRECTORY | GATIO_FILE_BENEATH | GATIO_FILE_NO_SYMLINKS;
constexpr std::uint32_t resolve_flags = GATIO_FILE_BENEATH | GATIO_FILE_NO_SYMLINKS;
constexpr std::uint32_t write_only_flags = GATIO_FILE_CREATE | GATIO_FILE_TRUNCATE | GATIO_FILE_APPEND;

// open(2) flags for the ABI's, or -1 when the combination is outside the documented domain.
// Every open is O_NONBLOCK, so that it never waits: a FIFO without a writer (or, for writing,
// without a reader) and a device waiting for a carrier open at once or fail. Without it the
// kernel still tries that way inline, but an open its caches cannot resolve (a long symlink, a
// cold directory) goes to an io_uring worker, where a FIFO's open waits for its peer, for ever.
int open_flags(std::uint32_t f) {
    if ((f & ~known_flags) != 0) {
        return -1;
    }
    const std::uint32_t kind = f & ~resolve_flags;
    if ((kind & GATIO_FILE_DIRECTORY) != 0) {
        return kind == GATIO_FILE_DIRECTORY ? O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK : -1;
    }
    const bool rd = (f & GATIO_FILE_READ) != 0;
    const bool wr = (f & GATIO_FILE_WRITE) != 0;
    if ((!rd && !wr) || (!wr && (f & write_only_flags) != 0) ||
        ((f & GATIO_FILE_EXCLUSIVE) != 0 && (f & GATIO_FILE_CREATE) == 0)) {
        return -1;
    }
    int o = (rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NONBLOCK;
    o |= (f & GATIO_FILE_CREATE) != 0 ? O_CREAT : 0;
    o |= (f & GATIO_FILE_EXCLUSIVE) != 0 ? O_EXCL : 0;
    o |= (f & GATIO_FILE_TRUNCATE) != 0 ? O_TRUNC : 0;
    o |= (f & GATIO_FILE_APPEND) != 0 ? O_APPEND : 0;
    return o;
}

// Copies what the caller's struct has room for, field by field up to its struct_size.
void fill_stat(gatio_file_stat& out, const struct statx& x) {
    gatio_file_stat s{};
    s.struct_size = out.struct_size;
    s.mode = x.stx_mode;
    s.size = x.stx_size;
    s.mtime_sec = x.stx_mtime.tv_sec;
    s.mtime_nsec = x.stx_mtime.tv_nsec;
    s.nlink = x.stx_nlink;
    s.ctime_sec = x.stx_ctime.tv_sec;
    s.ctime_nsec = x.stx_ctime.tv_nsec;
    s.uid = x.stx_uid;
    s.gid = x.stx_gid;
    s.blksize = x.stx_blksize;
    s.ino = x.stx_ino;
    s.dev_major = x.stx_dev_major;
    s.dev_minor = x.stx_dev_minor;
    std::memcpy(&out, &s, std::min<std::size_t>(out.struct_size, sizeof s));
}

} // namespace

// ---------------------------------------------------------------- the lent pool

LentPool::LentPool(core::Arena& arena, std::uint32_t count, std::uint32_t size, std::uint32_t external)
    : memory_(static_cast<std::byte*>(arena.allocate(static_cast<std::size_t>(count) * size, 4096))),
      state_(arena.allocate_array<State>(static_cast<std::size_t>(count) + external)), count_(count),
      size_(size), available_(count), external_(external),
      zerocopy_(static_cast<ZeroCopy*>(arena.allocate(sizeof(ZeroCopy) * count, alignof(ZeroCopy)))) {
    // The arena's memory is zero: every state reads as free, with no owner.
    for (std::uint32_t b = 0; b < count; ++b) {
        new (&zerocopy_[b]) ZeroCopy();
        zerocopy_[b].pool = this;
        zerocopy_[b].buffer = b;
    }
}

LentPool::~LentPool() {
    for (std::uint32_t b = 0; b < count_; ++b) {
        zerocopy_[b].~ZeroCopy();
    }
}

std::size_t LentPool::memory_for(std::uint32_t count, std::uint32_t size, std::uint32_t external) {
    return static_cast<std::size_t>(count) * (size + sizeof(State) + sizeof(ZeroCopy)) +
           sizeof(State) * external + 4096 + core::alignment_slack(2);
}

core::Completion* LentPool::zerocopy_submit(std::uint32_t b, core::Completion* sender, unsigned tag) {
    assert(registered(b) && state_[b].out && zerocopy_[b].sender == nullptr);
    zerocopy_[b].sender = sender;
    zerocopy_[b].tag = tag;
    ++in_kernel_;
    return &zerocopy_[b];
}

void LentPool::ZeroCopy::on_completion(const io_uring_cqe& cqe, unsigned) {
    if ((cqe.flags & IORING_CQE_F_NOTIF) != 0) {
        pool->notified(buffer);
        return;
    }
    // The send's own completion: a notification follows when F_MORE says so.
    State& s = pool->state_[buffer];
    core::Completion* to = std::exchange(sender, nullptr);
    assert(to != nullptr);
    --pool->in_kernel_;
    if ((cqe.flags & IORING_CQE_F_MORE) != 0) {
        ++s.notifs;
        ++pool->in_kernel_;
    } else if (s.give_pending) {
        s.give_pending = false;
        pool->give(buffer);
    }
    to->on_completion(cqe, tag);
}

void LentPool::notified(std::uint32_t b) {
    State& s = state_[b];
    assert(s.notifs > 0 && in_kernel_ > 0);
    --s.notifs;
    --in_kernel_;
    if (s.notifs == 0 && s.give_pending) {
        s.give_pending = false;
        give(b);
    }
}

std::uint32_t LentPool::take_external(std::byte* data, std::uint32_t tag) {
    std::uint32_t b = external_free_;
    if (b != none) {
        external_free_ = state_[b].next_free;
    } else if (external_fresh_ < external_) {
        b = count_ + external_fresh_++;
    } else {
        return none;
    }
    State& s = state_[b];
    s.owner = nullptr;
    s.out = true;
    s.next_free = none;
    s.queued = Queued{};
    s.external = data;
    s.tag = tag;
    return b;
}

std::uint32_t LentPool::take(const void* owner) {
    std::uint32_t b = free_head_;
    if (b != none) {
        free_head_ = state_[b].next_free;
    } else if (fresh_ < count_) {
        b = fresh_++;
        state_[b].next_free = none;
        state_[b].queued = Queued{};
    } else {
        return none;
    }
    State& s = state_[b];
    s.owner = owner;
    s.out = true;
    s.filled = 0;
    ++s.generation;
    --available_;
    return b;
}

void LentPool::give(std::uint32_t b) {
    State& s = state_[b];
    assert(s.out && !s.give_pending);
    if (s.notifs > 0 || (!external(b) && zerocopy_[b].sender != nullptr)) {
        s.give_pending = true; // the kernel may still read it: free once it says it is done
        return;
    }
    s.out = false;
    s.owner = nullptr;
    s.queued = Queued{};
    if (external(b)) {
        s.next_free = external_free_;
        external_free_ = b;
        release_(release_context_, s.tag);
        return;
    }
    s.next_free = free_head_;
    free_head_ = b;
    ++available_;
}

std::uint32_t LentPool::find(const void* owner, gatio_lent handle) const {
    auto h = core::Handle::unpack(handle);
    if (!h || h->slot >= fresh_) {
        return none;
    }
    const State& s = state_[h->slot];
    return s.out && s.owner == owner && s.generation == h->generation && s.filled > 0 ? h->slot : none;
}

gatio_lent LentPool::handle(std::uint32_t b) const {
    return core::Handle{b, state_[b].generation}.pack();
}

void LentPool::reclaim(const void* owner) {
    for (std::uint32_t b = 0; b < fresh_; ++b) {
        if (state_[b].out && state_[b].owner == owner) {
            give(b);
        }
    }
}

// ---------------------------------------------------------------- slots and operations

struct FileService::Slot final : core::Completion {
    enum class State : std::uint8_t { free, opening, open, closing };
    enum Tag : unsigned { tag_open = 0, tag_close = 1 };

    void on_completion(const io_uring_cqe& cqe, unsigned tag) override {
        service->slot_done(*this, tag, cqe.res);
    }

    FileService* service = nullptr;
    std::uint32_t index = 0;
    std::uint32_t generation = 0;
    std::uint32_t next_free = none;
    State state = State::free;
    bool directory = false;
    bool cancelled = false;     // the open was cancelled: it reports -ECANCELED
    bool close_pending = false; // file_close was called: the close goes out once ops is 0
    Endpoint* owner = nullptr;
    int fd = -1;
    int flags = 0;         // open(2)'s, for the status flags kept once it is open
    std::uint32_t ops = 0; // operations in flight on it
    void (*open_done)(gatio_host*, void*, int, gatio_file) = nullptr;
    gatio_file_done_fn close_done = nullptr;
    void* arg = nullptr; // open_done's, then close_done's
    open_how how{};
    char path[PATH_MAX]{}; // the kernel copies it when the open is submitted, after file_open returned
};

struct FileService::Op final : core::Completion {
    enum class Kind : std::uint8_t { read, read_lent, write, fsync, stat };

    void on_completion(const io_uring_cqe& cqe, unsigned) override { service->op_done(*this, cqe.res); }

    FileService* service = nullptr;
    std::uint32_t index = 0;
    std::uint32_t next_free = none;
    Kind kind = Kind::read;
    bool busy = false;
    bool cancelled = false;
    Endpoint* owner = nullptr;
    std::uint32_t slot = 0;
    std::uint32_t lent = none;
    gatio_file_done_fn done = nullptr;
    gatio_lent_done_fn lent_done = nullptr;
    void* arg = nullptr;
    gatio_file_stat* out = nullptr;
    struct statx stx {};
};

FileService::FileService(core::Arena& arena, const Limits& limits)
    : limits_(limits),
      slots_(static_cast<Slot*>(arena.allocate(sizeof(Slot) * limits.open_files, alignof(Slot)))),
      ops_(static_cast<Op*>(arena.allocate(sizeof(Op) * limits.operations, alignof(Op)))),
      lent_(arena, limits.lent_buffers, limits.lent_buffer_size, limits.external_records) {}

FileService::~FileService() {
    for (std::uint32_t i = 0; i < fresh_slots_; ++i) {
        if (slots_[i].state == Slot::State::open && slots_[i].fd >= 0) {
            ::close(slots_[i].fd);
        }
        slots_[i].~Slot();
    }
    for (std::uint32_t i = 0; i < fresh_ops_; ++i) {
        ops_[i].~Op();
    }
}

std::size_t FileService::memory_for(const Limits& l) {
    return sizeof(Slot) * l.open_files + sizeof(Op) * l.operations +
           LentPool::memory_for(l.lent_buffers, l.lent_buffer_size, l.external_records) +
           core::alignment_slack(2);
}

void FileService::start(core::Driver& driver, FixedTable& table, bool zerocopy) {
    driver_ = &driver;
    supported_ = driver.features().files;
    openat2_ = driver.features().openat2;
    table_ = &table;
    zerocopy_ = zerocopy && driver.features().zerocopy_send && lent_.count() > 0;
}

bool FileService::claim_fixed() {
    if (table_->owner == this) {
        return true;
    }
    if (table_->owner != nullptr) {
        return false; // another module's, until it leaves
    }
    // Sparse: no page is pinned until a buffer is registered into it.
    const int r = io_uring_register_buffers_sparse(&driver_->ring(), lent_.count());
    if (r < 0) {
        fixed_off("registering a sparse fixed-buffer table", r);
        return false;
    }
    table_->owner = this;
    return true;
}

void FileService::register_lent(std::uint32_t b) {
    iovec iov{lent_.data(b), lent_.size()};
    const __u64 tag = 0;
    const int r = io_uring_register_buffers_update_tag(&driver_->ring(), b, &iov, &tag, 1);
    if (r < 0) {
        fixed_off("registering a lent buffer", r);
        return;
    }
    lent_.set_registered(b);
}

void FileService::fixed_off(const char* what, int error) {
    // Registration pins memory, charged to RLIMIT_MEMLOCK without CAP_IPC_LOCK: once refused,
    // the plain path serves (buffers already registered stay so).
    zerocopy_ = false;
    rlimit lim{};
    ::getrlimit(RLIMIT_MEMLOCK, &lim);
    driver_->log().info("driver {}: files are sent with copies from now on: {} failed: {} "
                        "(RLIMIT_MEMLOCK {} bytes, {} bytes per lent buffer)",
                        driver_->name(), what, std::strerror(-error),
                        lim.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                                      : std::to_string(lim.rlim_cur),
                        lent_.size());
}

void FileService::release_fixed() {
    if (table_ == nullptr || table_->owner != this) {
        return;
    }
    assert(lent_.in_kernel() == 0);
    const int r = io_uring_unregister_buffers(&driver_->ring());
    if (r < 0) {
        driver_->log().error("driver {}: unregistering the lent buffers failed: {}", driver_->name(),
                             std::strerror(-r));
    }
    table_->owner = nullptr;
}

FileService::Slot* FileService::find_slot(const Endpoint& owner, gatio_file file) {
    auto h = core::Handle::unpack(file);
    if (!h || h->slot >= fresh_slots_) {
        return nullptr;
    }
    Slot& s = slots_[h->slot];
    return s.state == Slot::State::open && s.owner == &owner && s.generation == h->generation ? &s : nullptr;
}

int FileService::admit(Endpoint& owner) const {
    if (owner.files.closed || stopping_) {
        return GATIO_ERR_CLOSED;
    }
    if (!supported_) {
        return GATIO_ERR_UNSUPPORTED;
    }
    if (owner.files.pending >= owner.config().max_file_ops) {
        return GATIO_ERR_LIMIT;
    }
    return GATIO_OK;
}

FileService::Op* FileService::take_op(Endpoint& owner, Slot& s) {
    std::uint32_t i = free_ops_;
    if (i != none) {
        free_ops_ = ops_[i].next_free;
    } else if (fresh_ops_ < limits_.operations) {
        i = fresh_ops_++;
        new (&ops_[i]) Op();
        ops_[i].service = this;
        ops_[i].index = i;
    } else {
        return nullptr;
    }
    Op& op = ops_[i];
    op.busy = true;
    op.cancelled = false;
    op.owner = &owner;
    op.slot = s.index;
    op.lent = none;
    op.done = nullptr;
    op.lent_done = nullptr;
    op.out = nullptr;
    ++s.ops;
    ++owner.files.pending;
    ++busy_;
    return &op;
}

void FileService::free_op(Op& op) {
    op.busy = false;
    op.owner = nullptr;
    op.next_free = free_ops_;
    free_ops_ = op.index;
}

void FileService::free_slot(Slot& s) {
    s.state = Slot::State::free;
    s.owner = nullptr;
    s.fd = -1;
    s.next_free = free_slots_;
    free_slots_ = s.index;
}

int FileService::open(Endpoint& owner, const gatio_file_open_args& args) {
    if (int r = admit(owner); r != GATIO_OK) {
        return r;
    }
    const int flags = open_flags(args.flags);
    const std::size_t path_len = args.path != nullptr ? strnlen(args.path, PATH_MAX) : 0;
    if (flags < 0 || path_len == 0 || path_len >= PATH_MAX) {
        return GATIO_ERR_INVALID;
    }
    int dirfd = AT_FDCWD;
    if (args.dir != 0) {
        Slot* dir = find_slot(owner, args.dir);
        if (dir == nullptr || !dir->directory) {
            return GATIO_ERR_INVALID;
        }
        dirfd = dir->fd;
    }
    const bool resolve = (args.flags & resolve_flags) != 0;
    if (resolve && !openat2_) {
        return GATIO_ERR_UNSUPPORTED;
    }
    if (owner.files.open >= owner.config().max_open_files) {
        return GATIO_ERR_LIMIT;
    }
    std::uint32_t i = free_slots_;
    if (i != none) {
        free_slots_ = slots_[i].next_free;
    } else if (fresh_slots_ < limits_.open_files) {
        i = fresh_slots_++;
        new (&slots_[i]) Slot();
        slots_[i].service = this;
        slots_[i].index = i;
    } else {
        return GATIO_ERR_LIMIT;
    }
    Slot& s = slots_[i];
    ++s.generation;
    s.state = Slot::State::opening;
    s.directory = (args.flags & GATIO_FILE_DIRECTORY) != 0;
    s.cancelled = false;
    s.close_pending = false;
    s.owner = &owner;
    s.fd = -1;
    s.flags = flags;
    s.ops = 0;
    s.open_done = args.done;
    s.close_done = nullptr;
    s.arg = args.arg;
    std::memcpy(s.path, args.path, path_len + 1);
    const auto mode = static_cast<mode_t>((args.flags & GATIO_FILE_CREATE) != 0 ? args.mode & 07777 : 0);
    io_uring_sqe* sqe = driver_->get_sqe(&s, Slot::tag_open);
    if (resolve) {
        s.how = open_how{};
        s.how.flags = static_cast<std::uint64_t>(flags);
        s.how.mode = mode;
        s.how.resolve = ((args.flags & GATIO_FILE_BENEATH) != 0 ? RESOLVE_BENEATH : 0) |
                        ((args.flags & GATIO_FILE_NO_SYMLINKS) != 0 ? RESOLVE_NO_SYMLINKS : 0);
        io_uring_prep_openat2(sqe, dirfd, s.path, &s.how);
    } else {
        io_uring_prep_openat(sqe, dirfd, s.path, flags, mode);
    }
    ++owner.files.open;
    ++owner.files.pending;
    ++busy_;
    return GATIO_OK;
}

int FileService::read(Endpoint& owner, gatio_file file, std::uint64_t offset, void* buf, std::size_t len,
                      gatio_file_done_fn done, void* arg) {
    if (int r = admit(owner); r != GATIO_OK) {
        return r;
    }
    Slot* s = find_slot(owner, file);
    if (s == nullptr || s->directory || done == nullptr || buf == nullptr || len == 0 || len > max_io) {
        return GATIO_ERR_INVALID;
    }
    Op* op = take_op(owner, *s);
    if (op == nullptr) {
        return GATIO_ERR_LIMIT;
    }
    op->kind = Op::Kind::read;
    op->done = done;
    op->arg = arg;
    io_uring_prep_read(driver_->get_sqe(op, 0), s->fd, buf, static_cast<unsigned>(len), offset);
    return GATIO_OK;
}

int FileService::read_lent(Endpoint& owner, gatio_file file, std::uint64_t offset, std::size_t len,
                           gatio_lent_done_fn done, void* arg) {
    if (int r = admit(owner); r != GATIO_OK) {
        return r;
    }
    Slot* s = find_slot(owner, file);
    if (s == nullptr || s->directory || done == nullptr || len == 0 || len > lent_.size()) {
        return GATIO_ERR_INVALID;
    }
    const std::uint32_t b = lent_.take(&owner);
    if (b == LentPool::none) {
        return GATIO_ERR_LIMIT;
    }
    if (zerocopy_ && !lent_.registered(b) && claim_fixed()) {
        register_lent(b);
    }
    Op* op = take_op(owner, *s);
    if (op == nullptr) {
        lent_.give(b);
        return GATIO_ERR_LIMIT;
    }
    op->kind = Op::Kind::read_lent;
    op->lent_done = done;
    op->arg = arg;
    op->lent = b;
    io_uring_sqe* sqe = driver_->get_sqe(op, 0);
    if (lent_.registered(b)) {
        io_uring_prep_read_fixed(sqe, s->fd, lent_.data(b), static_cast<unsigned>(len), offset,
                                 static_cast<int>(b));
    } else {
        io_uring_prep_read(sqe, s->fd, lent_.data(b), static_cast<unsigned>(len), offset);
    }
    return GATIO_OK;
}

int FileService::write(Endpoint& owner, gatio_file file, std::uint64_t offset, const void* data,
                       std::size_t len, gatio_file_done_fn done, void* arg) {
    if (int r = admit(owner); r != GATIO_OK) {
        return r;
    }
    Slot* s = find_slot(owner, file);
    if (s == nullptr || s->directory || done == nullptr || data == nullptr || len == 0 || len > max_io) {
        return GATIO_ERR_INVALID;
    }
    Op* op = take_op(owner, *s);
    if (op == nullptr) {
        return GATIO_ERR_LIMIT;
    }
    op->kind = Op::Kind::write;
    op->done = done;
    op->arg = arg;
    io_uring_prep_write(driver_->get_sqe(op, 0), s->fd, data, static_cast<unsigned>(len), offset);
    return GATIO_OK;
}

int FileService::fsync(Endpoint& owner, gatio_file file, bool datasync, gatio_file_done_fn done, void* arg) {
    if (int r = admit(owner); r != GATIO_OK) {
        return r;
    }
    Slot* s = find_slot(owner, file);
    if (s == nullptr || done == nullptr) {
        return GATIO_ERR_INVALID;
    }
    Op* op = take_op(owner, *s);
    if (op == nullptr) {
        return GATIO_ERR_LIMIT;
    }
    op->kind = Op::Kind::fsync;
    op->done = done;
    op->arg = arg;
    io_uring_prep_fsync(driver_->get_sqe(op, 0), s->fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    return GATIO_OK;
}

int FileService::stat(Endpoint& owner, gatio_file file, gatio_file_stat* out, gatio_file_done_fn done,
                      void* arg) {
    if (int r = admit(owner); r != GATIO_OK) {
        return r;
    }
    Slot* s = find_slot(owner, file);
    if (s == nullptr || done == nullptr || out == nullptr || out->struct_size < sizeof(std::uint32_t)) {
        return GATIO_ERR_INVALID;
    }
    Op* op = take_op(owner, *s);
    if (op == nullptr) {
        return GATIO_ERR_LIMIT;
    }
    op->kind = Op::Kind::stat;
    op->done = done;
    op->arg = arg;
    op->out = out;
    io_uring_prep_statx(driver_->get_sqe(op, 0), s->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &op->stx);
    return GATIO_OK;
}

int FileService::close(Endpoint& owner, gatio_file file, gatio_file_done_fn done, void* arg) {
    // A close is not refused for the limits: a handler at its max_file_ops must still be able
    // to let go of a file.
    if (owner.files.closed || stopping_) {
        return GATIO_ERR_CLOSED;
    }
    Slot* s = find_slot(owner, file);
    if (s == nullptr) {
        return GATIO_ERR_INVALID;
    }
    s->state = Slot::State::closing;
    s->close_pending = true;
    s->close_done = done;
    s->arg = arg;
    ++owner.files.pending;
    ++busy_;
    if (s->ops == 0) {
        submit_close(*s);
    } else {
        cancel_ops_of(nullptr, s);
    }
    return GATIO_OK;
}

int FileService::lent_release(Endpoint& owner, gatio_lent buf) {
    const std::uint32_t b = lent_.find(&owner, buf);
    if (b == LentPool::none) {
        return GATIO_ERR_INVALID;
    }
    lent_.give(b);
    return GATIO_OK;
}

void FileService::submit_close(Slot& s) {
    s.close_pending = false;
    io_uring_prep_close(driver_->get_sqe(&s, Slot::tag_close), s.fd);
}

void FileService::cancel_request(std::uint64_t user_data) {
    io_uring_sqe* sqe = driver_->get_sqe_untracked();
    io_uring_prep_cancel64(sqe, user_data, 0);
}

void FileService::cancel_ops_of(const Endpoint* owner, const Slot* slot) {
    for (std::uint32_t i = 0; i < fresh_ops_; ++i) {
        Op& op = ops_[i];
        if (!op.busy || op.cancelled) {
            continue;
        }
        if ((owner == nullptr || op.owner == owner) && (slot == nullptr || op.slot == slot->index)) {
            op.cancelled = true;
            cancel_request(core::encode_completion(&op, 0));
        }
    }
    for (std::uint32_t i = 0; i < fresh_slots_ && slot == nullptr; ++i) {
        Slot& s = slots_[i];
        if (s.state == Slot::State::opening && !s.cancelled && (owner == nullptr || s.owner == owner)) {
            s.cancelled = true;
            cancel_request(core::encode_completion(&s, Slot::tag_open));
        }
    }
}

void FileService::op_done(Op& op, int res) {
    Slot& s = slots_[op.slot];
    Endpoint& owner = *op.owner;
    --s.ops;
    --owner.files.pending;
    --busy_;
    const std::int64_t result = op.cancelled ? -ECANCELED : res;
    const Op::Kind kind = op.kind;
    gatio_file_done_fn done = op.done;
    gatio_lent_done_fn lent_done = op.lent_done;
    void* arg = op.arg;
    std::uint32_t lent = op.lent;
    if (kind == Op::Kind::stat && result >= 0) {
        fill_stat(*op.out, op.stx);
    }
    free_op(op);
    gatio_lent handle = 0;
    const std::uint8_t* data = nullptr;
    if (lent != LentPool::none) {
        if (result > 0) {
            lent_.filled(lent) = static_cast<std::uint32_t>(result);
            handle = lent_.handle(lent);
            data = reinterpret_cast<const std::uint8_t*>(lent_.data(lent));
        } else {
            lent_.give(lent);
        }
    }
    if (s.close_pending && s.ops == 0) {
        submit_close(s);
    }
    if (!owner.has_instance()) {
        return;
    }
    if (kind == Op::Kind::read_lent) {
        owner.guarded("file_read_lent's completion", "carrying on", 0, lent_done, &owner, arg, result, handle,
                      data);
    } else {
        owner.guarded("a file completion", "carrying on", 0, done, &owner, arg, result);
    }
}

void FileService::slot_done(Slot& s, unsigned tag, int res) {
    Endpoint& owner = *s.owner;
    --owner.files.pending;
    --busy_;
    if (tag == Slot::tag_close) {
        gatio_file_done_fn done = s.close_done;
        void* arg = s.arg;
        free_slot(s);
        --owner.files.open;
        if (done != nullptr && owner.has_instance()) {
            owner.guarded("file_close's completion", "carrying on", 0, done, &owner, arg,
                          static_cast<std::int64_t>(res));
        }
        return;
    }
    auto* done = s.open_done;
    void* arg = s.arg;
    int result = res;
    gatio_file handle = 0;
    // Open, the descriptor blocks again (O_NONBLOCK was for the open): io_uring then reads a
    // regular file as any other, and a FIFO's read waits for data, cancellable, like a socket's.
    if (!s.cancelled && res >= 0 && ::fcntl(res, F_SETFL, s.flags & O_APPEND) != 0) {
        const int error = errno;
        ::close(res);
        res = -error;
    }
    if (s.cancelled || res < 0) {
        if (res >= 0) {
            ::close(res); // opened after all, but nobody may use it any more
        }
        result = s.cancelled ? -ECANCELED : res;
        free_slot(s);
        --owner.files.open;
    } else {
        s.fd = res;
        s.state = Slot::State::open;
        result = 0;
        handle = core::Handle{s.index, s.generation}.pack();
    }
    if (owner.has_instance()) {
        owner.guarded("file_open's completion", "carrying on", 0, done, &owner, arg, result, handle);
    }
}

bool FileService::teardown(Endpoint& owner) {
    if (!owner.files.closed) {
        owner.files.closed = true;
        cancel_ops_of(&owner, nullptr);
    }
    if (owner.files.pending > 0) {
        return false;
    }
    for (std::uint32_t i = 0; i < fresh_slots_; ++i) {
        Slot& s = slots_[i];
        if (s.owner == &owner && s.state == Slot::State::open) {
            ::close(s.fd); // a plain close(2) of a file the instance left open: nothing to report
            free_slot(s);
            --owner.files.open;
        }
    }
    lent_.reclaim(&owner);
    return true;
}

bool FileService::owns(std::uint64_t user_data) const {
    const auto* p = reinterpret_cast<const std::byte*>(core::completion_target(user_data));
    const auto* slots = reinterpret_cast<const std::byte*>(slots_);
    const auto* ops = reinterpret_cast<const std::byte*>(ops_);
    return (p >= slots && p < slots + sizeof(Slot) * fresh_slots_) ||
           (p >= ops && p < ops + sizeof(Op) * fresh_ops_);
}

void FileService::stop_all(FileService* const* others, std::size_t count) {
    auto each = [&](auto fn) {
        fn(*this);
        for (std::size_t i = 0; i < count; ++i) {
            if (others[i] != this) {
                fn(*others[i]);
            }
        }
    };
    each([](FileService& f) {
        f.stopping_ = true;
        f.cancel_ops_of(nullptr, nullptr);
    });
    auto busy = [&] {
        std::uint32_t n = 0;
        each([&n](FileService& f) { n += f.busy_; });
        return n;
    };
    io_uring& ring = driver_->ring();
    // The loop has ended: nothing else reaps this ring any more. Completions of other requests
    // die with the ring as before; only the files' are waited for, since the kernel may still
    // write into the handlers' memory until they arrive.
    while (busy() > 0) {
        const int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) {
            driver_->log().error("driver {}: waiting for the handlers' file operations to end failed: {}",
                                 driver_->name(), std::strerror(-r));
            break;
        }
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            const io_uring_cqe copy = *cqe;
            each([&copy](FileService& f) {
                if (copy.user_data != core::no_completion && f.owns(copy.user_data)) {
                    core::completion_target(copy.user_data)
                        ->on_completion(copy, core::completion_tag(copy.user_data));
                }
            });
        }
        io_uring_cq_advance(&ring, seen);
    }
}

} // namespace gatio::net
