// Handlers' files through the driver's ring (the ABI 1.4 file services, include/gatio/plugin.h):
// open (IORING_OP_OPENAT, or OPENAT2 for the resolve flags), read, write, fsync, statx and close,
// and the pool of buffers the driver lends to reads (LentPool), whose bytes a connection sends
// without a copy (OutputQueue::append_lent).
//
// Everything is sized at start-up from the module's memory: a table of file slots ([network]
// open_files), a table of operations in flight (file_operations), the lent pool (lent_buffers x
// lent_buffer_size). Handles pack a slot and its generation (core/handle.hpp) and name their
// owner, so a stale or foreign one is refused. Each instance's use is counted in its
// Endpoint::FileUse: its retirement cancels what is pending, waits for it, and closes what is
// left; gatiod's stop does the same synchronously (stop_all). A cancelled operation reports
// -ECANCELED once its completion came back from the kernel, whatever the kernel's result.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <linux/openat2.h>
#include <sys/stat.h>

#include <gatio/plugin.h>

#include "core/arena.hpp"
#include "core/completion.hpp"

namespace gatio::core {
class Driver;
}

namespace gatio::net {

class Endpoint;
class FileService;

// The driver's lent buffers: fixed-size, taken by a lent read, owned by one instance until it
// sends or releases them; a sent one comes back once the kernel has sent its bytes.
//
// Past the `count` buffers, `external` records name memory the pool does not own (received
// bytes an output queue sends from their receive buffer, net/receive_holds.hpp): queued like a
// lent buffer, and handed to the release hook with their tag when they come back.
class LentPool {
public:
    static constexpr std::uint32_t none = UINT32_MAX;

    LentPool(core::Arena& arena, std::uint32_t count, std::uint32_t size, std::uint32_t external = 0);
    ~LentPool();
    LentPool(const LentPool&) = delete;
    LentPool& operator=(const LentPool&) = delete;

    static std::size_t memory_for(std::uint32_t count, std::uint32_t size, std::uint32_t external = 0);

    // An external record for `data`, owned by the host (queued at once); none when all are out.
    std::uint32_t take_external(std::byte* data, std::uint32_t tag);
    bool external(std::uint32_t b) const { return b >= count_; }
    using Release = void (*)(void* context, std::uint32_t tag);
    void on_release(Release fn, void* context) {
        release_ = fn;
        release_context_ = context;
    }

    // Owners are the instances' endpoints, compared by address only.
    std::uint32_t take(const void* owner); // none when every buffer is out
    void give(std::uint32_t buffer);
    // The buffer a handle names when `owner` holds it, else none.
    std::uint32_t find(const void* owner, gatio_lent handle) const;
    gatio_lent handle(std::uint32_t buffer) const;
    // Every buffer `owner` still holds goes back (its instance is gone).
    void reclaim(const void* owner);

    std::byte* data(std::uint32_t b) {
        return b < count_ ? memory_ + static_cast<std::size_t>(b) * size_ : state_[b].external;
    }
    std::uint32_t& filled(std::uint32_t b) { return state_[b].filled; }
    // The output queue's links and the range it sends, while a connection holds the buffer.
    struct Queued {
        std::uint32_t next = none;
        std::uint32_t offset = 0;
        std::uint32_t len = 0;
        std::uint64_t at = 0; // the queue's chunk bytes appended before it
    };
    Queued& queued(std::uint32_t b) { return state_[b].queued; }
    void to_queue(std::uint32_t b) { state_[b].owner = nullptr; } // the host holds it now

    std::uint32_t size() const { return size_; }
    std::uint32_t count() const { return count_; }
    std::uint32_t available() const { return available_; }

    // ---- Fixed buffers (zerocopy_send): buffer b is index b of the ring's registered table.
    void set_registered(std::uint32_t b) {
        assert(b < count_ && !state_[b].registered);
        state_[b].registered = true;
        ++registered_;
    }
    bool registered(std::uint32_t b) const { return b < count_ && state_[b].registered; }
    std::uint32_t registered() const { return registered_; }
    // A queued buffer whose slice is worth a zero-copy send.
    bool zerocopy(std::uint32_t b, std::uint32_t min) const {
        return min > 0 && registered(b) && state_[b].queued.len >= min;
    }
    // The request a zero-copy send of `b` completes into: its first completion goes on to
    // `sender` with `tag`, its notification (the kernel let go of the pages) comes back here,
    // and a buffer given back meanwhile goes to the free list only once every one came.
    core::Completion* zerocopy_submit(std::uint32_t b, core::Completion* sender, unsigned tag);
    std::uint64_t zerocopy_user_data(std::uint32_t b) { return core::encode_completion(&zerocopy_[b], 0); }
    // Zero-copy sends whose first completion or notification is still to come.
    std::uint32_t in_kernel() const { return in_kernel_; }

private:
    struct ZeroCopy final : core::Completion {
        void on_completion(const io_uring_cqe& cqe, unsigned tag) override;
        LentPool* pool = nullptr;
        std::uint32_t buffer = 0;
        core::Completion* sender = nullptr; // until the first completion
        unsigned tag = 0;
    };
    void notified(std::uint32_t b);

    struct State {
        const void* owner = nullptr; // null while free or queued on a connection
        std::uint32_t generation = 0;
        std::uint32_t filled = 0;
        bool out = false; // taken from the free list
        std::uint32_t next_free = none;
        Queued queued;
        std::byte* external = nullptr; // an external record's memory, and its tag
        std::uint32_t tag = 0;
        bool registered = false;   // in the ring's fixed-buffer table
        bool give_pending = false; // given back while notifications were outstanding
        std::uint32_t notifs = 0;  // zero-copy notifications still to come
    };
    std::byte* memory_;
    State* state_;
    std::uint32_t count_;
    std::uint32_t size_;
    std::uint32_t available_;
    std::uint32_t free_head_ = none;
    std::uint32_t fresh_ = 0; // buffers from here on were never taken
    std::uint32_t external_;
    std::uint32_t external_free_ = none;
    std::uint32_t external_fresh_ = 0; // external records from count_ + this on were never taken
    Release release_ = nullptr;
    void* release_context_ = nullptr;
    ZeroCopy* zerocopy_; // one per buffer
    std::uint32_t registered_ = 0;
    std::uint32_t in_kernel_ = 0;
};

// The ring's fixed-buffer table, which the file services of one driver's modules share: one
// of them holds it at a time (a reload's new module takes it once the old one has left).
struct FixedTable {
    const void* owner = nullptr;
};

class FileService {
public:
    struct Limits {
        std::uint32_t open_files = 1024;
        std::uint32_t operations = 1024;
        std::uint32_t lent_buffers = 64;
        std::uint32_t lent_buffer_size = 256u << 10;
        std::uint32_t external_records = 0; // LentPool's, for the received bytes output holds
    };

    FileService(core::Arena& arena, const Limits& limits);
    ~FileService();
    FileService(const FileService&) = delete;
    FileService& operator=(const FileService&) = delete;

    static std::size_t memory_for(const Limits& limits);

    // On the driver thread before any service call: the ring and what its kernel supports.
    // With `zerocopy` (and the probe's zerocopy_send), the lent buffers are registered in
    // `table` lazily: the table on the first lent read, each buffer when first lent.
    void start(core::Driver& driver, FixedTable& table, bool zerocopy);
    // Lets go of the fixed-buffer table (the module leaves; nothing may use it any more).
    void release_fixed();

    // The services, for `owner`'s instance (plugin.h documents them).
    int open(Endpoint& owner, const gatio_file_open_args& args);
    int read(Endpoint& owner, gatio_file file, std::uint64_t offset, void* buf, std::size_t len,
             gatio_file_done_fn done, void* arg);
    int read_lent(Endpoint& owner, gatio_file file, std::uint64_t offset, std::size_t len,
                  gatio_lent_done_fn done, void* arg);
    int write(Endpoint& owner, gatio_file file, std::uint64_t offset, const void* data, std::size_t len,
              gatio_file_done_fn done, void* arg);
    int fsync(Endpoint& owner, gatio_file file, bool datasync, gatio_file_done_fn done, void* arg);
    int stat(Endpoint& owner, gatio_file file, gatio_file_stat* out, gatio_file_done_fn done, void* arg);
    int close(Endpoint& owner, gatio_file file, gatio_file_done_fn done, void* arg);
    int lent_release(Endpoint& owner, gatio_lent buf);

    LentPool& lent() { return lent_; }

    // The instance's teardown: refuses new calls, cancels what is pending. Returns true once
    // nothing of it is in flight any more, after closing its files (no completion for those)
    // and taking back its lent buffers; call again every turn until then.
    bool teardown(Endpoint& owner);
    // gatiod stops: every operation of every instance is cancelled and reaped here, on the
    // driver thread, before any instance is destroyed; the services of `others` (the driver's
    // other modules) are reaped in the same wait, since their completions share the ring.
    void stop_all(FileService* const* others, std::size_t count);

    // Completions (FileSlot and FileOp forward here).
    struct Slot;
    struct Op;
    void slot_done(Slot& s, unsigned tag, int res);
    void op_done(Op& op, int res);

private:
    Slot* find_slot(const Endpoint& owner, gatio_file file);
    int admit(Endpoint& owner) const;
    Op* take_op(Endpoint& owner, Slot& s);
    void free_op(Op& op);
    void free_slot(Slot& s);
    void submit_close(Slot& s);
    void cancel_ops_of(const Endpoint* owner, const Slot* slot);
    void cancel_request(std::uint64_t user_data);
    bool owns(std::uint64_t user_data) const;
    bool claim_fixed();
    void register_lent(std::uint32_t b);
    void fixed_off(const char* what, int error);
    void dispatch(const io_uring_cqe& cqe);

    core::Driver* driver_ = nullptr;
    bool supported_ = false;
    bool openat2_ = false;
    bool stopping_ = false; // stop_all began: every call is refused
    bool zerocopy_ = false; // wanted and supported; false again once registering failed
    FixedTable* table_ = nullptr;
    Limits limits_;
    Slot* slots_;
    Op* ops_;
    std::uint32_t free_slots_ = UINT32_MAX; // free-list heads; fresh_* never taken
    std::uint32_t fresh_slots_ = 0;
    std::uint32_t free_ops_ = UINT32_MAX;
    std::uint32_t fresh_ops_ = 0;
    std::uint32_t busy_ = 0; // slots opening or closing plus operations in flight
    LentPool lent_;
};

} // namespace gatio::net
