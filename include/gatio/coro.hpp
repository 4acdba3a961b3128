// C++20 coroutines over the C handler ABI (plugin.h), header-only, on top of plugin.hpp.
//
// A coroutine handler serves each TCP connection with one coroutine:
//
//     struct Echo {
//         Echo(gatio::Host, const gatio::InstanceInfo&) {}
//         gatio::coro::Task<> serve(gatio::coro::Stream& s) {
//             for (;;) {
//                 gatio::coro::Received in = co_await s.next_data();
//                 if (!in) co_return;          // end of input, or the connection closed
//                 s.send(in.bytes());          // everything shown counts as consumed
//             }
//         }
//     };
//     GATIO_EXPORT_CORO_PLUGIN(Echo, "echo-coro", "1.0")
//
// The awaitables are members of Stream: next_data(), drained(), sleep(), spawn(), connect().
// Each co_await suspends the coroutine until a C callback of the host completes it, on the
// connection's driver; nothing blocks the driver.
//
// Outbound connections: co_await s.connect("127.0.0.1:6379") (or "[::1]:6379",
// "unix:/run/app.sock") yields an Upstream, a connection of the same instance that the
// coroutine sends on and awaits next_data() and drained() on like its own Stream:
//
//     gatio::coro::Upstream up = co_await s.connect("127.0.0.1:6379", std::chrono::seconds(1));
//     if (!up) { s.send("backend: " + up.describe() + "\n"); co_return; }
//     up.send("PING\r\n");
//     gatio::coro::Received r = co_await up.next_data();
//
// The Upstream belongs to the coroutine of the connection that opened it: destroying it closes
// the outbound connection after its output; when the client's connection closes, every one of
// its outbound connections is reset and an await on one of them is cancelled like an await on
// the Stream. The peer's FIN on an outbound connection is an end of input (eof()) that keeps it
// open for writing; once it has closed, next_data() yields closed() and drained()
// GATIO_ERR_CLOSED, without throwing.
//
// Memory: every coroutine frame, every Stream and every input staging buffer is one block of the
// instance's pool (one pool per listener and driver, reserved when the instance is created and
// never grown). The listener options `coroutine_blocks` (default 1024) and
// `coroutine_block_size` (default 4KiB) size it. A frame larger than a block, or an exhausted
// pool, is a clear failure: the coroutine is not created, the host logs why, and the connection
// is reset (a nested Task throws gatio::coro::PoolExhausted where it is awaited).
//
// Input: the bytes next_data() shows are lent until the coroutine next suspends. Unless
// Received::consume(n) says otherwise, all of them are consumed. Bytes left unconsumed are shown
// again by the next next_data(): at once when the previous one consumed something, else
// together with new bytes. Bytes that arrive while the coroutine awaits something else are
// copied into staging blocks and reading is paused until it asks for data again; what the kernel
// had received already still arrives and is staged behind, up to the listener option
// `coroutine_staging_limit` (default 1MiB) per connection. next_data() shows at most one block
// of staged bytes at a time: a coroutine that consumes nothing of a whole block, waiting for
// more, cannot be served and has its connection reset, as has one beyond the limit.
//
// End of input: see Stream::keep_after_eof().
//
// Cancellation: when the connection closes, the await in progress completes with a
// cancellation result (Received::closed(), GATIO_ERR_CLOSED) at once, or, for a spawned task
// already on its way, as soon as the task is back. Every later co_await on that Stream throws
// gatio::coro::Cancelled, which ends the coroutine quietly. A coroutine that returns closes its
// connection (flushing output); one whose exception escapes is logged and its connection reset.
//
// New awaitables over a C completion callback derive from Operation (below): a start() that
// hands `this` to the service as its user pointer, a C trampoline that calls
// Operation::complete(user, status), and an abandon() for cancellation.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <type_traits>
#include <utility>

#include <gatio/plugin.hpp>

namespace gatio::coro {

// Thrown by co_await on a Stream whose connection has closed; the coroutine layer ends the
// coroutine quietly when it escapes.
class Cancelled : public std::exception {
public:
    const char* what() const noexcept override { return "the connection closed"; }
};

// Awaiting a Task whose frame could not be allocated.
class PoolExhausted : public PluginError {
public:
    using PluginError::PluginError;
};

// A bounded pool of equal blocks, one per instance (listener x driver). Blocks are handed out
// in address order first, so memory is touched as it is used; freed blocks are reused first.
// Driver thread only.
class FramePool {
public:
    static constexpr std::size_t header = alignof(std::max_align_t);

    FramePool(std::size_t block_size, std::size_t blocks)
        : block_(round(block_size)), blocks_(blocks),
          memory_(static_cast<std::byte*>(::operator new (block_* blocks_, std::align_val_t{header}))) {}
    FramePool(const FramePool&) = delete;
    FramePool& operator=(const FramePool&) = delete;
    ~FramePool() { ::operator delete (memory_, std::align_val_t{header}); }

    // The most a block holds for its user.
    std::size_t capacity() const { return block_ - header; }
    std::size_t blocks() const { return blocks_; }
    std::size_t in_use() const { return in_use_; }
    std::uint64_t failures() const { return failures_; }
    // The size of the last request refused (too large or no block left); 0 if none.
    std::size_t last_refused() const { return last_refused_; }

    // nullptr when n exceeds capacity() or every block is in use.
    void* allocate(std::size_t n) noexcept {
        std::byte* b = nullptr;
        if (n <= capacity()) {
            if (free_ != nullptr) {
                b = free_;
                std::memcpy(&free_, b + sizeof(FramePool*), sizeof free_);
            } else if (fresh_ < blocks_) {
                b = memory_ + fresh_++ * block_;
            }
        }
        if (b == nullptr) {
            ++failures_;
            last_refused_ = n;
            return nullptr;
        }
        FramePool* self = this;
        std::memcpy(b, &self, sizeof self);
        ++in_use_;
        return b + header;
    }
    // Returns a block to the pool that handed it out.
    static void release(void* p) noexcept {
        auto* b = static_cast<std::byte*>(p) - header;
        FramePool* owner = nullptr;
        std::memcpy(&owner, b, sizeof owner);
        std::memcpy(b + sizeof(FramePool*), &owner->free_, sizeof owner->free_);
        owner->free_ = b;
        --owner->in_use_;
    }

private:
    static std::size_t round(std::size_t n) {
        return (std::max(n, 2 * header) + header - 1) / header * header;
    }

    std::size_t block_;
    std::size_t blocks_;
    std::byte* memory_;
    std::byte* free_ = nullptr;
    std::size_t fresh_ = 0;
    std::size_t in_use_ = 0;
    std::uint64_t failures_ = 0;
    std::size_t last_refused_ = 0;
};

namespace detail {

// The pool coroutine frames come from while the layer runs code of an instance: set on every
// entry from the host (callbacks, timers, task completions), cleared on the way out.
inline thread_local FramePool* current_pool = nullptr;

class PoolScope {
public:
    explicit PoolScope(FramePool* pool) : saved_(std::exchange(current_pool, pool)) {}
    PoolScope(const PoolScope&) = delete;
    PoolScope& operator=(const PoolScope&) = delete;
    ~PoolScope() { current_pool = saved_; }

private:
    FramePool* saved_;
};

inline void* allocate_frame(std::size_t n) noexcept {
    return current_pool != nullptr ? current_pool->allocate(n) : nullptr;
}

struct PromiseBase {
    std::coroutine_handle<> continuation;
    std::exception_ptr error;
    // Set while the awaiting coroutine starts this one from its await_suspend; the final
    // suspend then only records that it finished there (see Task::await_suspend).
    bool starting = false;
    bool finished_while_starting = false;

    static void* operator new(std::size_t n) noexcept { return allocate_frame(n); }
    static void operator delete(void* p) noexcept { FramePool::release(p); }

    std::suspend_always initial_suspend() noexcept { return {}; }
    struct Final {
        bool await_ready() noexcept { return false; }
        template <typename P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            if (p.starting) {
                p.finished_while_starting = true;
                return std::noop_coroutine(); // back into the starter's await_suspend
            }
            return p.continuation ? p.continuation : std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct Promise : PromiseBase {
    std::optional<T> value;
    template <typename U>
    void return_value(U&& v) {
        value.emplace(std::forward<U>(v));
    }
    T take() {
        if (error) {
            std::rethrow_exception(error);
        }
        return std::move(*value);
    }
};

template <>
struct Promise<void> : PromiseBase {
    void return_void() noexcept {}
    void take() {
        if (error) {
            std::rethrow_exception(error);
        }
    }
};

} // namespace detail

// A lazily started coroutine returning T; awaiting it runs it and yields its result (or
// rethrows its exception). It owns its frame. An empty Task (operator bool false) means no
// frame could be allocated.
template <typename T = void>
class [[nodiscard]] Task {
public:
    struct promise_type : detail::Promise<T> {
        Task get_return_object() noexcept {
            return Task{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        static Task get_return_object_on_allocation_failure() noexcept { return Task{}; }
    };

    Task() = default;
    Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    Task& operator=(Task&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { reset(); }

    explicit operator bool() const { return static_cast<bool>(h_); }
    std::coroutine_handle<promise_type> handle() const { return h_; }

    bool await_ready() const noexcept { return !h_; }
    // Runs the task until it first suspends. One that finishes without suspending resumes the
    // awaiting coroutine by returning false, on the same stack frame: a loop that awaits
    // tasks finishing at once (staged input, answered inline) then runs in constant stack,
    // which symmetric transfer guarantees only where the compiler makes its resume a tail
    // call (not GCC at -O0, nor under ASan). One that suspends resumes its awaiter when it
    // finishes.
    bool await_suspend(std::coroutine_handle<> parent) noexcept {
        auto& p = h_.promise();
        p.continuation = parent;
        p.starting = true;
        h_.resume();
        if (p.finished_while_starting) {
            return false;
        }
        p.starting = false;
        return true;
    }
    T await_resume() {
        if (!h_) {
            throw PoolExhausted(
                "no coroutine frame: the pool is exhausted or the frame is larger than a block");
        }
        return h_.promise().take();
    }

private:
    explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
    void reset() {
        if (h_) {
            h_.destroy();
            h_ = {};
        }
    }

    std::coroutine_handle<promise_type> h_;
};

class Stream;

namespace detail {

// An await in progress on a Stream, as the Stream sees it: how to cancel it.
struct Pending {
    void (*cancel)(Pending*) noexcept = nullptr;
};

// What every instance of a coroutine handler has, whatever the handler's type.
// A pool block holding staged input behind a Stream's first staging block, in arrival order.
struct Overflow {
    Overflow* next = nullptr;
    std::size_t begin = 0; // bytes before it were moved to the first block already
    std::size_t end = 0;
    std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(this + 1); }
};

struct CoroCore {
    Host host;
    FramePool pool;
    Stream* streams = nullptr; // every live Stream, linked through Stream::next_
    std::uint64_t exhausted_logged = 0;
    std::size_t staging_limit; // bytes of input one Stream may stage

    CoroCore(Host h, std::size_t block_size, std::size_t blocks, std::size_t staging)
        : host(h), pool(block_size, blocks), staging_limit(staging) {}
    // `outcome`: what follows for the code that asked.
    void refused(const char* what, const char* outcome = "the connection is reset");
    Stream* add_stream(gatio_conn conn);
    // An outbound connection's Stream, linked to the Stream whose coroutine opens it.
    Stream* add_outbound(Stream& owner);
    void free_stream(Stream* s);
    // Once a host callback for `s` is over: frees `s`, and `owner` (the Stream whose coroutine
    // the callback may have resumed, when s is outbound), if nothing needs them any more.
    void settle(Stream* s, Stream* owner);
};

} // namespace detail

// What next_data() yields: bytes lent until the coroutine next suspends, or why there are none.
class Received {
public:
    enum class Status { data, eof, closed };

    Received(Status status, std::span<const std::uint8_t> bytes, std::size_t* consumed)
        : status_(status), bytes_(bytes), consumed_(consumed) {}

    explicit operator bool() const { return status_ == Status::data; }
    Status status() const { return status_; }
    bool eof() const { return status_ == Status::eof; }
    bool closed() const { return status_ == Status::closed; }
    std::span<const std::uint8_t> bytes() const { return bytes_; }
    std::string_view text() const { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }
    std::size_t size() const { return bytes_.size(); }
    // Only the first n bytes are consumed; the rest are shown again (see the header comment).
    void consume(std::size_t n) const {
        if (consumed_ != nullptr) {
            *consumed_ = std::min(n, bytes_.size());
        }
    }

private:
    Status status_;
    std::span<const std::uint8_t> bytes_;
    std::size_t* consumed_;
};

// What spawn() yields: the task's result, or the service's error (GATIO_ERR_LIMIT when every task
// slot is in flight, GATIO_ERR_CLOSED when the connection closed meanwhile).
template <typename T>
class Result {
public:
    // Named, not overloaded constructors: T may itself be int.
    static Result failure(int status) { return Result{status, std::nullopt}; }
    static Result success(T value) { return Result{GATIO_OK, std::optional<T>{std::move(value)}}; }
    bool ok() const { return status_ == GATIO_OK; }
    explicit operator bool() const { return ok(); }
    int status() const { return status_; }
    T& value() {
        if (!ok()) {
            throw PluginError("no task result: error " + std::to_string(status_));
        }
        return *value_;
    }
    T& operator*() { return value(); }
    T* operator->() { return &value(); }

private:
    Result(int status, std::optional<T> value) : status_(status), value_(std::move(value)) {}

    int status_;
    std::optional<T> value_;
};

template <>
class Result<void> {
public:
    static Result failure(int status) { return Result{status}; }
    static Result success() { return Result{GATIO_OK}; }
    bool ok() const { return status_ == GATIO_OK; }
    explicit operator bool() const { return ok(); }
    int status() const { return status_; }

private:
    explicit Result(int status) : status_(status) {}

    int status_;
};

// Where spawn() runs its function.
struct Place {
    std::uint32_t placement = GATIO_PLACE_SAME_DRIVER;
    std::uint32_t driver = 0;
    std::uint32_t priority = GATIO_PRIORITY_LATENCY;

    static Place same_driver() { return {}; }
    static Place least_loaded() { return {GATIO_PLACE_LEAST_LOADED, 0, GATIO_PRIORITY_LATENCY}; }
    // The same key always runs on the same exec-capable driver.
    static Place by_key(std::uint32_t key) { return {GATIO_PLACE_KEY, key, GATIO_PRIORITY_LATENCY}; }
    static Place on_driver(std::uint32_t index) {
        return {GATIO_PLACE_DRIVER, index, GATIO_PRIORITY_LATENCY};
    }
    Place batch() const { return {placement, driver, GATIO_PRIORITY_BATCH}; }
};

// The base of an awaitable completed by one C callback. Derived provides
//     int start(void* user);    // asks the host; `user` is the callback's argument. GATIO_OK,
//                               // or an error that completes the await at once
//     bool abandon();           // the connection closed: withdraw. true when the callback will
//                               // not come (resumed now), false when it still will (resumed then)
//     R await_resume();         // the result, from status() and what the callback stored
// and a C trampoline that calls Operation::complete(user, status).
template <typename Derived>
class Operation : detail::Pending {
public:
    explicit Operation(Stream& s) : s_(s) { cancel = &cancel_op; }
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

    bool await_ready() const;
    bool await_suspend(std::coroutine_handle<> h);

    // From the C callback, on the stream's driver.
    static void complete(void* user, int status) noexcept;

protected:
    int status() const { return status_; }
    Stream& stream() const { return s_; }

private:
    static void cancel_op(detail::Pending* p) noexcept;

    Stream& s_;
    std::coroutine_handle<> waiter_;
    int status_ = GATIO_OK;
    bool cancelled_ = false;
};

class Upstream;

// One TCP connection as its coroutine sees it.
class Stream {
public:
    Stream(detail::CoroCore& core, gatio_conn id) : core_(core), conn_(core.host, id, this) {}
    // An outbound connection opened by the coroutine of `owner`, before the host names it.
    Stream(detail::CoroCore& core, Stream& owner)
        : core_(core), conn_(core.host, 0, this), owner_(&owner), outbound_(true) {}
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    const Connection& connection() const { return conn_; }
    const Host& host() const { return core_.host; }
    gatio_conn id() const { return conn_.id(); }
    bool open() const { return open_; }
    // The instance's pool, for handlers that report its use.
    const FramePool& pool() const { return core_.pool; }

    int send(std::span<const std::uint8_t> data) const { return conn_.send(data); }
    int send(std::string_view data) const { return conn_.send(data); }
    int close(gatio_close_mode mode = GATIO_CLOSE_FLUSH) const { return conn_.close(mode); }
    // By default the peer's FIN closes the connection once its output is flushed: a coroutine
    // awaiting next_data() sees the end of input first and may still answer; one awaiting
    // anything else is cancelled. After keep_after_eof() the connection stays open for writing
    // until the coroutine returns (protocols that answer after a half-close).
    void keep_after_eof() { keep_after_eof_ = true; }

    // Awaitables.
    class NextData;
    class Drained;
    class Sleep;
    template <typename F>
    class Spawn;
    class Connect;

    // The next bytes of input (Received), end of input, or the close.
    NextData next_data();
    // Until every byte queued so far is acknowledged by the kernel: GATIO_OK, or
    // GATIO_ERR_CLOSED when the connection closed first.
    Drained drained();
    // GATIO_OK after `delay` (timer-wheel resolution); GATIO_ERR_LIMIT when no timer slot is
    // free, GATIO_ERR_CLOSED when the connection closed meanwhile.
    Sleep sleep(std::chrono::milliseconds delay);
    // Runs fn() where `place` says and yields Result<its result>. fn runs on another driver's
    // thread (or later on this one): it may not use the host or this Stream, and what it
    // captures must stay valid until the await ends. An exception thrown by fn is rethrown here.
    template <typename F>
    Spawn<std::decay_t<F>> spawn(Place place, F&& fn);
    // An outbound stream connection to `address` through the driver's ring, yielding an
    // Upstream: connected, or why not (Upstream::status(), error()). `timeout` bounds the
    // connect; 0 means the listener's connect_timeout. An address that does not parse yields
    // GATIO_ERR_INVALID. Counts against the listener's max_outbound and takes one pool block
    // while it lives.
    Connect connect(std::string_view address, std::chrono::milliseconds timeout = {});
    Connect connect(const Address& address, std::chrono::milliseconds timeout = {});

    // ---- For the layer's adapter ----
    void start(Task<> root);
    std::int64_t deliver(const std::uint8_t* data, std::size_t len);
    void end_of_input();
    // on_close: closes its outbound connections and cancels what is awaited; the adapter frees
    // the Stream once nothing needs it (CoroCore::settle).
    void closed();
    void resume(std::coroutine_handle<> h);
    void destroy_root() { root_ = Task<>{}; }
    // Throws Cancelled once the connection whose coroutine awaits here has closed: this one, or
    // for an outbound connection the one that opened it.
    void check_open() const {
        if (outbound_ ? owner_ == nullptr || !owner_->open_ : !open_) {
            throw Cancelled{};
        }
    }
    detail::CoroCore& core() const { return core_; }

private:
    template <typename D>
    friend class Operation;
    friend struct detail::CoroCore;
    template <typename H>
    friend struct CoroAdapter;
    friend class Upstream;

    // Whether a coroutine still reads this Stream: its own, or for an outbound connection the
    // one holding its Upstream.
    bool serving() const { return outbound_ ? held_ : static_cast<bool>(root_); }
    // Nothing refers to it any more: the host is done with its connection and no coroutine with it.
    bool releasable() const { return outbound_ ? host_done_ && !held_ : !open_ && !root_; }
    // An outbound Stream leaves its owner's list of upstreams.
    void detach();
    void apply_consumed();
    // next_data() has something to show: new bytes, or a rest after progress.
    bool readable() const { return window_len_ > 0 && (fresh_ || progress_); }
    bool stage(const std::uint8_t* data, std::size_t len);
    void refill();
    void drop_overflow();
    // The coroutine left a whole block unconsumed waiting for more, which staging cannot show.
    bool overlong() const { return overflow_ != nullptr && refused_ >= core_.pool.capacity(); }
    void report_overlong() const;
    void settle_input();
    void finish_root();
    void wake_reader(Received::Status status);

    detail::CoroCore& core_;
    Connection conn_;
    Task<> root_;
    detail::Pending* pending_ = nullptr; // the await in progress, if it can be cancelled
    NextData* reader_ = nullptr;         // next_data() suspended
    bool open_ = true;
    bool eof_ = false;
    bool paused_ = false;
    bool keep_after_eof_ = false;
    bool in_deliver_ = false;
    // Unconsumed input: during deliver() maybe the host's buffer, otherwise the staging block,
    // which is kept full from the overflow blocks behind it.
    const std::uint8_t* window_ = nullptr;
    std::size_t window_len_ = 0;
    bool fresh_ = false;       // the window holds bytes never shown yet
    bool progress_ = false;    // the last Received consumed something
    std::size_t shown_ = 0;    // bytes the last Received showed, not applied yet
    std::size_t consumed_ = 0; // of those, consumed
    std::size_t refused_ = 0;  // bytes the last Received showed when it consumed none, else 0
    std::uint8_t* staging_ = nullptr;
    std::size_t staged_ = 0;
    detail::Overflow* overflow_ = nullptr; // oldest first
    detail::Overflow* overflow_tail_ = nullptr;
    std::size_t overflowed_ = 0; // bytes in the overflow blocks
    Stream* next_ = nullptr;     // CoroCore::streams, or for an outbound Stream its owner's upstreams_
    Stream* prev_ = nullptr;
    // Outbound connections.
    Stream* owner_ = nullptr; // outbound: the Stream whose coroutine opened it, until detached
    bool outbound_ = false;
    bool held_ = false;           // outbound: an Upstream refers to it
    bool host_done_ = false;      // outbound: on_close came, or the connect failed
    Connect* dialing_ = nullptr;  // outbound: the connect awaiting its outcome
    Stream* upstreams_ = nullptr; // accepted: its outbound Streams not yet let go of
};

class Stream::NextData : detail::Pending {
public:
    explicit NextData(Stream& s) : s_(s) { cancel = &cancel_read; }

    bool await_ready() {
        s_.check_open();
        if (!s_.open_) {
            status_ = Received::Status::closed; // an outbound connection that has closed
            return true;
        }
        s_.apply_consumed();
        return s_.readable() || s_.eof_;
    }
    void await_suspend(std::coroutine_handle<> h) {
        waiter_ = h;
        s_.reader_ = this;
        s_.pending_ = this;
        if (s_.overlong()) {
            s_.report_overlong();
            s_.conn_.close(GATIO_CLOSE_ABORT); // on_close cancels this await
            return;
        }
        s_.settle_input();
    }
    Received await_resume() {
        if (status_ == Received::Status::closed) {
            return {status_, {}, nullptr};
        }
        if (!s_.readable()) {
            return {Received::Status::eof, {}, nullptr}; // nothing new will come
        }
        s_.fresh_ = s_.progress_ = false;
        s_.shown_ = s_.consumed_ = s_.window_len_;
        return {Received::Status::data, {s_.window_, s_.window_len_}, &s_.consumed_};
    }

private:
    friend class Stream;
    static void cancel_read(detail::Pending* p) noexcept {
        static_cast<NextData*>(p)->s_.wake_reader(Received::Status::closed);
    }

    Stream& s_;
    std::coroutine_handle<> waiter_;
    Received::Status status_ = Received::Status::data;
};

class Stream::Drained : public Operation<Drained> {
public:
    using Operation::Operation;
    bool await_ready() const {
        Operation::await_ready();
        return !stream().open() || stream().connection().pending_output() == 0;
    }
    int start(void* user) {
        const gatio_services& s = stream().host().services();
        if (s.struct_size < offsetof(gatio_services, notify_drained) + sizeof s.notify_drained ||
            s.notify_drained == nullptr) {
            return GATIO_ERR_UNSUPPORTED;
        }
        return s.notify_drained(stream().host().handle(), stream().id(), &trampoline, user);
    }
    // The host calls the watch with GATIO_ERR_CLOSED before on_close.
    bool abandon() { return false; }
    int await_resume() const {
        if (status() == GATIO_OK && !stream().open()) {
            return GATIO_ERR_CLOSED; // an outbound connection that had closed before
        }
        // Nothing was pending, or everything was acknowledged between the check and the watch.
        return status() == GATIO_ERR_INVALID ? GATIO_OK : status();
    }

private:
    static void trampoline(gatio_host*, void* user, int status) { complete(user, status); }
};

class Stream::Sleep : public Operation<Sleep> {
public:
    Sleep(Stream& s, std::chrono::milliseconds delay) : Operation(s), delay_(delay) {}
    int start(void* user) {
        if (delay_.count() < 0) {
            return GATIO_ERR_INVALID;
        }
        timer_ = stream().host().start_timer(delay_, &trampoline, user);
        return timer_ != 0 ? GATIO_OK : GATIO_ERR_LIMIT;
    }
    bool abandon() { return stream().host().cancel_timer(timer_); }
    int await_resume() const { return status(); }

private:
    static void trampoline(gatio_host*, void* user) { complete(user, GATIO_OK); }

    std::chrono::milliseconds delay_;
    gatio_timer timer_ = 0;
};

template <typename F>
class Stream::Spawn : public Operation<Spawn<F>> {
    using Base = Operation<Spawn<F>>;
    using R = std::invoke_result_t<F&>;
    using Slot = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;

public:
    Spawn(Stream& s, Place place, F fn) : Base(s), place_(place), fn_(std::move(fn)) {}
    int start(void* user) {
        user_ = user;
        gatio_task t{};
        t.struct_size = sizeof t;
        t.placement = place_.placement;
        t.driver = place_.driver;
        t.priority = place_.priority;
        t.run = &run;
        t.done = &done;
        t.arg = this;
        return this->stream().host().spawn(t);
    }
    // A task on its way cannot be called back: the await ends when it returns.
    bool abandon() { return false; }
    Result<R> await_resume() {
        if (error_) {
            std::rethrow_exception(error_);
        }
        if (this->status() != GATIO_OK) {
            return Result<R>::failure(this->status());
        }
        if constexpr (std::is_void_v<R>) {
            return Result<R>::success();
        } else {
            return Result<R>::success(std::move(*slot_));
        }
    }

private:
    static void run(void* arg) {
        auto* self = static_cast<Spawn*>(arg);
        try {
            if constexpr (std::is_void_v<R>) {
                self->fn_();
            } else {
                self->slot_.emplace(self->fn_());
            }
        } catch (...) {
            self->error_ = std::current_exception();
        }
    }
    static void done(gatio_host*, void* arg) {
        auto* self = static_cast<Spawn*>(arg);
        Base::complete(self->user_, GATIO_OK);
    }

    Place place_;
    F fn_;
    Slot slot_{};
    std::exception_ptr error_;
    void* user_ = nullptr;
};

// What connect() yields: an outbound connection of the instance, owned by the coroutine that
// opened it, or why there is none. Move-only; destroying it (or reset()) closes the connection
// after its output.
class Upstream {
public:
    // Not connected (status GATIO_ERR_CLOSED), until a connect's result is moved in.
    Upstream() = default;
    Upstream(Upstream&& o) noexcept
        : owner_(o.owner_), s_(std::exchange(o.s_, nullptr)), status_(o.status_), error_(o.error_) {}
    Upstream& operator=(Upstream&& o) noexcept {
        if (this != &o) {
            reset();
            owner_ = o.owner_;
            s_ = std::exchange(o.s_, nullptr);
            status_ = o.status_;
            error_ = o.error_;
        }
        return *this;
    }
    Upstream(const Upstream&) = delete;
    Upstream& operator=(const Upstream&) = delete;
    ~Upstream() { reset(); }

    // Connected (it may have closed since: open()).
    explicit operator bool() const { return s_ != nullptr; }
    // Until the connection has closed: the peer's FIN alone does not close it.
    bool open() const { return s_ != nullptr && s_->open(); }
    // GATIO_OK when the connect was started; otherwise why it was not: GATIO_ERR_LIMIT (the
    // listener's max_outbound, or no connection slot or pool block), GATIO_ERR_INVALID (the
    // address or timeout), GATIO_ERR_UNSUPPORTED (a host without the connect service), or
    // GATIO_ERR_CLOSED (the client's connection closed meanwhile: the coroutine is cancelled).
    int status() const { return status_; }
    // The errno of a connect that was started and failed: ECONNREFUSED, ETIMEDOUT (the
    // timeout passed), ENETUNREACH, EHOSTUNREACH, ENOENT (no socket at a unix path), ...; 0
    // when connected or not started.
    int error() const { return error_; }
    // A short description of the outcome, for logs and answers.
    std::string describe() const {
        if (s_ != nullptr) {
            return "connected";
        }
        if (owner_ == nullptr) {
            return "not connected";
        }
        if (status_ == GATIO_OK && error_ != 0) {
            return std::strerror(error_);
        }
        switch (status_) {
        case GATIO_ERR_LIMIT:
            return "no outbound connection left (max_outbound, connection slots or coroutine blocks)";
        case GATIO_ERR_INVALID:
            return "invalid address or timeout";
        case GATIO_ERR_UNSUPPORTED:
            return "outbound connections are not supported here";
        case GATIO_ERR_CLOSED:
            return "cancelled: the connection closed";
        default:
            return "no connection";
        }
    }

    const Connection& connection() const { return stream().conn_; }
    gatio_conn id() const { return s_ != nullptr ? s_->id() : 0; }
    int send(std::span<const std::uint8_t> data) const {
        return s_ != nullptr ? s_->send(data) : GATIO_ERR_CLOSED;
    }
    int send(std::string_view data) const { return s_ != nullptr ? s_->send(data) : GATIO_ERR_CLOSED; }
    int close(gatio_close_mode mode = GATIO_CLOSE_FLUSH) const {
        return s_ != nullptr ? s_->close(mode) : GATIO_ERR_CLOSED;
    }

    // As on a Stream: the next bytes from the peer, its FIN (eof()) or the close (closed()).
    // Throws Cancelled once the client's connection has closed, PluginError on an Upstream that
    // never connected.
    Stream::NextData next_data() { return Stream::NextData{stream()}; }
    // As on a Stream; GATIO_ERR_CLOSED once the connection has closed.
    Stream::Drained drained() { return Stream::Drained{stream()}; }

    // Closes the connection after its output and lets go of it; the Upstream is empty after.
    void reset() {
        Stream* u = std::exchange(s_, nullptr);
        if (u == nullptr) {
            return;
        }
        u->held_ = false;
        u->reader_ = nullptr; // only set when the awaiting frame is being destroyed
        u->pending_ = nullptr;
        if (u->host_done_) {
            u->core_.free_stream(u); // on_close came already: nothing else refers to it
            return;
        }
        if (u->open_) {
            u->conn_.close(GATIO_CLOSE_FLUSH);
        }
        u->detach(); // on_close frees it
    }

private:
    friend class Stream::Connect;
    Upstream(Stream& owner, Stream* s, int status, int error)
        : owner_(&owner), s_(s), status_(status), error_(error) {}

    Stream& stream() const {
        if (owner_ != nullptr && !owner_->open()) {
            throw Cancelled{};
        }
        if (s_ == nullptr) {
            throw PluginError("no outbound connection: " + describe());
        }
        return *s_;
    }

    Stream* owner_ = nullptr;
    Stream* s_ = nullptr;
    int status_ = GATIO_ERR_CLOSED;
    int error_ = 0;
};

class Stream::Connect : detail::Pending {
public:
    Connect(Stream& s, std::optional<Address> to, std::chrono::milliseconds timeout)
        : s_(s), to_(to), timeout_(timeout) {
        cancel = &cancel_connect;
    }
    Connect(const Connect&) = delete;
    Connect& operator=(const Connect&) = delete;

    bool await_ready() {
        s_.check_open();
        const gatio_services& sv = s_.core_.host.services();
        if (sv.struct_size < offsetof(gatio_services, connect) + sizeof sv.connect || sv.connect == nullptr) {
            status_ = GATIO_ERR_UNSUPPORTED;
        } else if (!to_ || timeout_.count() < 0 || timeout_.count() > UINT32_MAX) {
            status_ = GATIO_ERR_INVALID;
        }
        return status_ != GATIO_OK;
    }
    bool await_suspend(std::coroutine_handle<> h) {
        Stream* u = s_.core_.add_outbound(s_);
        if (u == nullptr) {
            status_ = GATIO_ERR_LIMIT;
            return false;
        }
        gatio_connect_args args{};
        args.struct_size = sizeof args;
        args.timeout_ms = static_cast<std::uint32_t>(timeout_.count());
        args.address = to_->get();
        args.address_len = to_->size();
        args.done = &done;
        args.user = u;
        gatio_conn id = 0;
        const Host& host = s_.core_.host;
        const int rc = host.services().connect(host.handle(), &args, &id);
        if (rc != GATIO_OK) {
            s_.core_.free_stream(u);
            status_ = rc;
            return false;
        }
        u->conn_ = Connection{host, id, u};
        u->dialing_ = this;
        u_ = u;
        waiter_ = h;
        s_.pending_ = this;
        return true;
    }
    Upstream await_resume() {
        if (status_ != GATIO_OK || result_ != 0) {
            return Upstream{s_, nullptr, status_, -result_};
        }
        return Upstream{s_, u_, GATIO_OK, 0};
    }

private:
    // The outcome, on the driver: the coroutine resumes with the connection or the errno.
    static void done(gatio_host*, gatio_conn, void* user, int result) {
        auto* u = static_cast<Stream*>(user);
        detail::CoroCore& core = u->core_;
        detail::PoolScope scope(&core.pool);
        Stream* owner = u->owner_;
        Connect* c = std::exchange(u->dialing_, nullptr);
        if (result != 0) {
            u->host_done_ = true; // a failed connect has no on_close
        } else if (c == nullptr) {
            u->conn_.close(GATIO_CLOSE_ABORT); // nobody waits for it any more
        }
        if (c != nullptr) {
            c->result_ = result;
            u->held_ = result == 0; // by the Upstream await_resume makes
            if (c->s_.pending_ == c) {
                c->s_.pending_ = nullptr;
            }
            c->s_.resume(c->waiter_);
        }
        core.settle(u, owner);
    }
    // The client's connection closed, which closed this one already (cancelling the connect):
    // the coroutine resumes now, the outcome frees the Stream later.
    static void cancel_connect(detail::Pending* p) noexcept {
        auto* c = static_cast<Connect*>(p);
        c->u_->dialing_ = nullptr;
        c->u_->detach();
        c->status_ = GATIO_ERR_CLOSED;
        c->s_.pending_ = nullptr;
        c->s_.resume(c->waiter_);
    }

    Stream& s_;
    std::optional<Address> to_;
    std::chrono::milliseconds timeout_;
    Stream* u_ = nullptr;
    std::coroutine_handle<> waiter_;
    int status_ = GATIO_OK;
    int result_ = 0;
};

inline Stream::NextData Stream::next_data() {
    return NextData{*this};
}
inline Stream::Connect Stream::connect(std::string_view address, std::chrono::milliseconds timeout) {
    return Connect{*this, Address::parse(address), timeout};
}
inline Stream::Connect Stream::connect(const Address& address, std::chrono::milliseconds timeout) {
    return Connect{*this, address, timeout};
}
inline Stream::Drained Stream::drained() {
    return Drained{*this};
}
inline Stream::Sleep Stream::sleep(std::chrono::milliseconds delay) {
    return Sleep{*this, delay};
}
template <typename F>
Stream::Spawn<std::decay_t<F>> Stream::spawn(Place place, F&& fn) {
    return Spawn<std::decay_t<F>>{*this, place, std::forward<F>(fn)};
}

template <typename Derived>
bool Operation<Derived>::await_ready() const {
    s_.check_open();
    return false;
}

template <typename Derived>
bool Operation<Derived>::await_suspend(std::coroutine_handle<> h) {
    const int rc = static_cast<Derived*>(this)->start(this);
    if (rc != GATIO_OK) {
        status_ = rc;
        return false;
    }
    waiter_ = h;
    s_.pending_ = this;
    return true;
}

template <typename Derived>
void Operation<Derived>::complete(void* user, int status) noexcept {
    auto* op = static_cast<Operation*>(static_cast<Derived*>(user));
    op->status_ = op->cancelled_ ? GATIO_ERR_CLOSED : status;
    Stream& s = op->s_;
    if (s.pending_ == op) {
        s.pending_ = nullptr;
    }
    detail::PoolScope scope(&s.core_.pool);
    Stream* owner = s.owner_;
    s.resume(op->waiter_);
    s.core_.settle(&s, owner); // maybe the last await of a closed connection's coroutine
}

template <typename Derived>
void Operation<Derived>::cancel_op(detail::Pending* p) noexcept {
    auto* op = static_cast<Operation*>(p);
    op->cancelled_ = true;
    if (static_cast<Derived*>(op)->abandon()) {
        op->s_.pending_ = nullptr;
        op->status_ = GATIO_ERR_CLOSED;
        op->s_.resume(op->waiter_);
    }
}

// ---- Stream internals ----

inline void Stream::start(Task<> root) {
    root_ = std::move(root);
    resume(root_.handle());
}

inline void Stream::resume(std::coroutine_handle<> h) {
    if (owner_ != nullptr) {
        owner_->resume(h); // an outbound connection's await: the coroutine is its owner's
        return;
    }
    h.resume();
    if (root_ && root_.handle().done()) {
        finish_root();
    }
}

inline void Stream::finish_root() {
    std::exception_ptr error = root_.handle().promise().error;
    destroy_root();
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const Cancelled&) {
        } catch (const std::exception& e) {
            core_.host.error(std::string("coroutine: ") + e.what());
            if (open_) {
                conn_.close(GATIO_CLOSE_ABORT);
            }
            return;
        } catch (...) {
            core_.host.error("coroutine: unknown exception");
            if (open_) {
                conn_.close(GATIO_CLOSE_ABORT);
            }
            return;
        }
    }
    if (open_) {
        conn_.close(GATIO_CLOSE_FLUSH);
    }
}

inline void Stream::apply_consumed() {
    if (shown_ == 0) {
        return;
    }
    const std::size_t n = consumed_;
    refused_ = n == 0 ? shown_ : 0;
    shown_ = consumed_ = 0;
    progress_ = n > 0;
    window_ += n;
    window_len_ -= n;
    if (window_ == staging_ + n && staging_ != nullptr && n > 0) {
        std::memmove(staging_, window_, window_len_);
        window_ = staging_;
        staged_ = window_len_;
        refill();
    }
}

// Moves overflowed bytes forward into the staging block until it is full or they are all there.
inline void Stream::refill() {
    const std::size_t cap = core_.pool.capacity();
    while (overflow_ != nullptr && staged_ < cap) {
        detail::Overflow* o = overflow_;
        const std::size_t n = std::min(o->end - o->begin, cap - staged_);
        std::memcpy(staging_ + staged_, o->data() + o->begin, n);
        staged_ += n;
        o->begin += n;
        overflowed_ -= n;
        if (o->begin == o->end) {
            overflow_ = o->next;
            if (overflow_ == nullptr) {
                overflow_tail_ = nullptr;
            }
            FramePool::release(o);
        }
    }
    window_len_ = staged_;
}

inline void Stream::drop_overflow() {
    while (detail::Overflow* o = overflow_) {
        overflow_ = o->next;
        FramePool::release(o);
    }
    overflow_tail_ = nullptr;
    overflowed_ = 0;
}

inline void Stream::report_overlong() const {
    core_.host.error("coroutine: the coroutine consumed none of " + std::to_string(refused_) +
                     " bytes of input, waiting for more, but one staging block shows at most " +
                     std::to_string(core_.pool.capacity()) +
                     " (raise coroutine_block_size for longer messages); resetting the connection");
}

// Appends to the staged input: the staging block while nothing waits behind it, then overflow
// blocks. False (the connection is to be reset) beyond the staging limit or the pool.
inline bool Stream::stage(const std::uint8_t* data, std::size_t len) {
    const std::size_t cap = core_.pool.capacity();
    if (staged_ + overflowed_ + len > core_.staging_limit) {
        core_.host.error("coroutine: more input arrived while the coroutine was busy than "
                         "coroutine_staging_limit (" +
                         std::to_string(core_.staging_limit) +
                         " bytes) lets a connection stage; resetting the connection");
        return false;
    }
    if (staging_ == nullptr) {
        staging_ = static_cast<std::uint8_t*>(core_.pool.allocate(cap));
        if (staging_ == nullptr) {
            core_.refused("an input staging block");
            return false;
        }
    }
    if (overflow_ == nullptr) {
        const std::size_t n = std::min(len, cap - staged_);
        std::memcpy(staging_ + staged_, data, n);
        staged_ += n;
        data += n;
        len -= n;
    }
    constexpr std::size_t header = sizeof(detail::Overflow);
    while (len > 0) {
        detail::Overflow* t = overflow_tail_;
        if (t == nullptr || t->end == cap - header) {
            void* block = core_.pool.allocate(cap);
            if (block == nullptr) {
                core_.refused("an input staging block");
                return false;
            }
            t = ::new (block) detail::Overflow{};
            (overflow_tail_ != nullptr ? overflow_tail_->next : overflow_) = t;
            overflow_tail_ = t;
        }
        const std::size_t n = std::min(len, cap - header - t->end);
        std::memcpy(t->data() + t->end, data, n);
        t->end += n;
        overflowed_ += n;
        data += n;
        len -= n;
    }
    window_ = staging_;
    window_len_ = staged_;
    return true;
}

// Pauses reading while staged input waits for a busy coroutine, resumes it when the coroutine
// asks for data; gives the staging block back once it is empty.
inline void Stream::settle_input() {
    if (!open_) {
        return;
    }
    if (window_len_ == 0 && staging_ != nullptr && !in_deliver_) {
        FramePool::release(staging_);
        staging_ = nullptr;
        staged_ = 0;
        window_ = nullptr;
    }
    const bool want_pause = reader_ == nullptr && window_len_ > 0;
    if (want_pause != paused_) {
        paused_ = want_pause;
        if (want_pause) {
            conn_.pause_read();
        } else {
            conn_.resume_read();
        }
    }
}

inline void Stream::wake_reader(Received::Status status) {
    NextData* r = std::exchange(reader_, nullptr);
    if (r == nullptr) {
        return;
    }
    if (pending_ == r) {
        pending_ = nullptr;
    }
    r->status_ = status;
    resume(r->waiter_);
}

inline std::int64_t Stream::deliver(const std::uint8_t* data, std::size_t len) {
    in_deliver_ = true;
    bool ok = true;
    if (window_len_ > 0) {
        ok = stage(data, len); // behind what is still waiting, contiguous
    } else {
        window_ = data;
        window_len_ = len;
    }
    fresh_ = true;
    if (ok && reader_ != nullptr) {
        wake_reader(Received::Status::data);
    }
    in_deliver_ = false;
    if (!ok) {
        return GATIO_DATA_RESET;
    }
    if (!open_) {
        return static_cast<std::int64_t>(len);
    }
    if (serving()) {
        apply_consumed();
    } else {
        window_len_ = 0; // the coroutine is gone: nobody will read the rest
        drop_overflow();
    }
    // The host's buffer is lent for this call only: what is left moves to staging.
    if (window_len_ > 0 && window_ != staging_ && !stage(window_, window_len_)) {
        return GATIO_DATA_RESET;
    }
    if (overlong()) {
        report_overlong();
        return GATIO_DATA_RESET;
    }
    settle_input();
    return static_cast<std::int64_t>(len);
}

inline void Stream::end_of_input() {
    eof_ = true;
    if (reader_ != nullptr) {
        wake_reader(Received::Status::eof); // a rest it could not use stays unusable
    }
}

inline void Stream::closed() {
    open_ = false;
    // The coroutine's outbound connections go with it: a pending connect is cancelled, and an
    // await on one of them ends when the host reports its close.
    for (Stream* u = upstreams_; u != nullptr; u = u->next_) {
        u->conn_.close(GATIO_CLOSE_ABORT);
    }
    if (pending_ != nullptr) {
        pending_->cancel(pending_); // clears pending_ when it completes the await now
    }
    if (staging_ != nullptr) {
        FramePool::release(staging_);
        staging_ = nullptr;
        staged_ = window_len_ = 0;
    }
    drop_overflow();
    if (outbound_) {
        host_done_ = true;
    }
}

inline void Stream::detach() {
    if (owner_ == nullptr) {
        return;
    }
    (prev_ != nullptr ? prev_->next_ : owner_->upstreams_) = next_;
    if (next_ != nullptr) {
        next_->prev_ = prev_;
    }
    owner_ = nullptr;
    next_ = prev_ = nullptr;
}

inline Stream* detail::CoroCore::add_stream(gatio_conn conn) {
    void* block = pool.allocate(sizeof(Stream));
    if (block == nullptr) {
        refused("a connection's stream");
        return nullptr;
    }
    auto* s = ::new (block) Stream(*this, conn);
    s->next_ = streams;
    if (s->next_ != nullptr) {
        s->next_->prev_ = s;
    }
    streams = s;
    return s;
}

inline Stream* detail::CoroCore::add_outbound(Stream& owner) {
    void* block = pool.allocate(sizeof(Stream));
    if (block == nullptr) {
        refused("an outbound connection's stream", "the connect yields GATIO_ERR_LIMIT");
        return nullptr;
    }
    auto* u = ::new (block) Stream(*this, owner);
    u->next_ = owner.upstreams_;
    if (u->next_ != nullptr) {
        u->next_->prev_ = u;
    }
    owner.upstreams_ = u;
    return u;
}

inline void detail::CoroCore::free_stream(Stream* s) {
    if (s->outbound_) {
        s->detach();
    } else {
        (s->prev_ != nullptr ? s->prev_->next_ : streams) = s->next_;
        if (s->next_ != nullptr) {
            s->next_->prev_ = s->prev_;
        }
        while (s->upstreams_ != nullptr) {
            s->upstreams_->detach(); // only when the instance goes: their coroutine is gone
        }
    }
    if (s->staging_ != nullptr) {
        FramePool::release(s->staging_);
    }
    s->drop_overflow();
    s->~Stream();
    FramePool::release(s);
}

inline void detail::CoroCore::settle(Stream* s, Stream* owner) {
    if (owner != nullptr && owner->releasable()) {
        free_stream(owner);
    }
    if (s->releasable()) {
        free_stream(s);
    }
}

inline void detail::CoroCore::refused(const char* what, const char* outcome) {
    // One record for the first refusal and then one per 1024, so a storm does not flood the log.
    if (exhausted_logged++ % 1024 == 0) {
        host.error(std::string("coroutine layer: no block for ") + what + " (" +
                   std::to_string(pool.last_refused()) + " bytes asked, blocks of " +
                   std::to_string(pool.capacity()) + " bytes, " + std::to_string(pool.in_use()) + " of " +
                   std::to_string(pool.blocks()) +
                   " in use): raise coroutine_blocks or coroutine_block_size; " + outcome);
    }
}

// ---- Files (ABI 1.4) ----
//
// Awaitables over the file services (plugin.h, "files through the driver's ring"), for the
// coroutine of one Stream:
//
//     gatio::coro::FileResult f = co_await gatio::coro::open_file(s, "/srv/www/index.html");
//     if (!f) co_return;                               // f.error(): the errno, or a refusal
//     std::array<std::uint8_t, 4096> buf;
//     gatio::coro::FileResult n = co_await gatio::coro::read_file(s, f.file, 0, buf);
//     if (n) s.send(std::span(buf).first(n.bytes()));
//     co_await gatio::coro::close_file(s, f.file);
//
// Each yields a FileResult. Cancellation: the host's completion always comes (file_close, the
// instance's teardown and gatiod's stop cancel what is pending), so an await outlives its
// connection's close until then and ends with GATIO_ERR_CLOSED; the coroutine's memory (read
// buffers, the stat struct) stays valid until the completion, as the C services require.

// What a file await yields: status is GATIO_OK when the operation ran, and then value is its
// result (bytes, 0, or a negative errno); otherwise the service refused it (GATIO_ERR_LIMIT,
// GATIO_ERR_INVALID, ...) or the connection closed meanwhile (GATIO_ERR_CLOSED), and value is 0.
struct FileResult {
    int status = GATIO_OK;
    std::int64_t value = 0;
    gatio_file file = 0; // open_file: the new handle

    // The operation ran and succeeded.
    explicit operator bool() const { return status == GATIO_OK && value >= 0; }
    // Bytes read or written (0 when it failed).
    std::size_t bytes() const { return *this ? static_cast<std::size_t>(value) : 0; }
    // The negative errno when the operation failed, else 0; see status for a refusal.
    int error() const { return status == GATIO_OK && value < 0 ? static_cast<int>(value) : 0; }
};

// The part every file await shares: the services table, and the result the trampolines store.
template <typename Derived>
class FileOperation : public Operation<Derived> {
public:
    using Operation<Derived>::Operation;
    // The connection stays open while the kernel works; the completion always comes.
    bool abandon() { return false; }
    FileResult await_resume() const {
        if (this->status() != GATIO_OK) {
            return FileResult{this->status(), 0, 0};
        }
        return result_;
    }

protected:
    // The host's table reaches the 1.4 file services (an older gatiod: GATIO_ERR_UNSUPPORTED).
    const gatio_services* services() const {
        const gatio_services& s = this->stream().host().services();
        return s.struct_size >= offsetof(gatio_services, lent_buffer_size) + sizeof s.lent_buffer_size
                   ? &s
                   : nullptr;
    }
    gatio_host* handle() const { return this->stream().host().handle(); }
    static void done(gatio_host*, void* user, std::int64_t result) {
        static_cast<Derived*>(user)->result_.value = result;
        Operation<Derived>::complete(user, GATIO_OK);
    }

    FileResult result_;
};

class OpenFile : public FileOperation<OpenFile> {
public:
    OpenFile(Stream& s, std::string path, std::uint32_t flags, gatio_file dir, std::uint32_t mode)
        : FileOperation(s), path_(std::move(path)), flags_(flags), dir_(dir), mode_(mode) {}
    int start(void* user) {
        const gatio_services* s = services();
        if (s == nullptr) {
            return GATIO_ERR_UNSUPPORTED;
        }
        gatio_file_open_args a{};
        a.struct_size = sizeof a;
        a.flags = flags_;
        a.dir = dir_;
        a.path = path_.c_str();
        a.mode = mode_;
        a.done = &opened;
        a.arg = user;
        return s->file_open(handle(), &a);
    }

private:
    friend class FileOperation<OpenFile>;
    static void opened(gatio_host*, void* user, int result, gatio_file file) {
        auto* self = static_cast<OpenFile*>(user);
        self->result_.value = result;
        self->result_.file = file;
        complete(user, GATIO_OK);
    }

    std::string path_;
    std::uint32_t flags_;
    gatio_file dir_;
    std::uint32_t mode_;
};

class ReadFile : public FileOperation<ReadFile> {
public:
    ReadFile(Stream& s, gatio_file f, std::uint64_t offset, std::span<std::uint8_t> into)
        : FileOperation(s), file_(f), offset_(offset), into_(into) {}
    int start(void* user) {
        const gatio_services* s = services();
        return s == nullptr ? GATIO_ERR_UNSUPPORTED
                            : s->file_read(handle(), file_, offset_, into_.data(), into_.size(), &done, user);
    }

private:
    friend class FileOperation<ReadFile>;
    gatio_file file_;
    std::uint64_t offset_;
    std::span<std::uint8_t> into_;
};

class WriteFile : public FileOperation<WriteFile> {
public:
    WriteFile(Stream& s, gatio_file f, std::uint64_t offset, std::span<const std::uint8_t> data)
        : FileOperation(s), file_(f), offset_(offset), data_(data) {}
    int start(void* user) {
        const gatio_services* s = services();
        return s == nullptr
                   ? GATIO_ERR_UNSUPPORTED
                   : s->file_write(handle(), file_, offset_, data_.data(), data_.size(), &done, user);
    }

private:
    friend class FileOperation<WriteFile>;
    gatio_file file_;
    std::uint64_t offset_;
    std::span<const std::uint8_t> data_;
};

class StatFile : public FileOperation<StatFile> {
public:
    StatFile(Stream& s, gatio_file f, gatio_file_stat& out) : FileOperation(s), file_(f), out_(out) {}
    int start(void* user) {
        const gatio_services* s = services();
        out_.struct_size = sizeof out_;
        return s == nullptr ? GATIO_ERR_UNSUPPORTED : s->file_stat(handle(), file_, &out_, &done, user);
    }

private:
    friend class FileOperation<StatFile>;
    gatio_file file_;
    gatio_file_stat& out_;
};

class SyncFile : public FileOperation<SyncFile> {
public:
    SyncFile(Stream& s, gatio_file f, bool datasync) : FileOperation(s), file_(f), datasync_(datasync) {}
    int start(void* user) {
        const gatio_services* s = services();
        return s == nullptr ? GATIO_ERR_UNSUPPORTED
                            : s->file_fsync(handle(), file_, datasync_ ? 1 : 0, &done, user);
    }

private:
    friend class FileOperation<SyncFile>;
    gatio_file file_;
    bool datasync_;
};

class CloseFile : public FileOperation<CloseFile> {
public:
    CloseFile(Stream& s, gatio_file f) : FileOperation(s), file_(f) {}
    int start(void* user) {
        const gatio_services* s = services();
        return s == nullptr ? GATIO_ERR_UNSUPPORTED : s->file_close(handle(), file_, &done, user);
    }

private:
    friend class FileOperation<CloseFile>;
    gatio_file file_;
};

// Opens `path` (GATIO_FILE_* flags; relative to `dir` when it is a directory handle).
inline OpenFile open_file(Stream& s, std::string path, std::uint32_t flags = GATIO_FILE_READ,
                          gatio_file dir = 0, std::uint32_t mode = 0644) {
    return OpenFile{s, std::move(path), flags, dir, mode};
}
// Reads up to into.size() bytes at `offset`; `into` must stay valid until the await ends.
inline ReadFile read_file(Stream& s, gatio_file f, std::uint64_t offset, std::span<std::uint8_t> into) {
    return ReadFile{s, f, offset, into};
}
// Writes `data` at `offset` (not copied: it must stay valid until the await ends).
inline WriteFile write_file(Stream& s, gatio_file f, std::uint64_t offset,
                            std::span<const std::uint8_t> data) {
    return WriteFile{s, f, offset, data};
}
// Fills `out` with the file's status.
inline StatFile stat_file(Stream& s, gatio_file f, gatio_file_stat& out) {
    return StatFile{s, f, out};
}
inline SyncFile sync_file(Stream& s, gatio_file f, bool datasync = false) {
    return SyncFile{s, f, datasync};
}
// Cancels the file's pending operations (they end with -ECANCELED) and closes it.
inline CloseFile close_file(Stream& s, gatio_file f) {
    return CloseFile{s, f};
}

// ---- The descriptor of a coroutine handler ----

// Default pool sizes, overridden by the listener options coroutine_blocks and
// coroutine_block_size.
inline constexpr std::size_t default_blocks = 1024;
inline constexpr std::size_t default_block_size = 4096;
// The default of the listener option coroutine_staging_limit: input one connection may have
// staged while its coroutine is busy, which has to cover what the kernel had received already
// when reading paused.
inline constexpr std::size_t default_staging_limit = std::size_t{1} << 20;
// Bounds on those options: a block holds at least a small frame, the pool at most 1 GiB.
inline constexpr std::size_t min_block_size = 256;
inline constexpr std::size_t max_pool_bytes = std::size_t{1} << 30;

template <typename H>
struct CoroInstance {
    detail::CoroCore core;
    H handler;
};

// The C callbacks of a coroutine handler. H has a constructor taking (gatio::Host, const
// gatio::InstanceInfo&) and `gatio::coro::Task<> serve(gatio::coro::Stream&)`; optionally
// `bool on_open(gatio::Connection, const gatio_conn_info&)` (false rejects) and `static bool
// init(const gatio_services&, std::string&)`.
template <typename H>
struct CoroAdapter {
    using Inst = CoroInstance<H>;

    static std::size_t option_size(const Options& o, const char* key, std::size_t def) {
        auto v = o[key].as_size(key);
        if (!v) {
            return def;
        }
        return static_cast<std::size_t>(*v);
    }

    static int create(gatio_host* host, const gatio_instance_info* info, void** instance, char* error,
                      std::size_t error_size) {
        try {
            Host h{info->services, host};
            Options options{info->services, info->options};
            const std::size_t block = option_size(options, "coroutine_block_size", default_block_size);
            const std::size_t blocks = option_size(options, "coroutine_blocks", default_blocks);
            if (block < min_block_size || blocks == 0 || block > max_pool_bytes / blocks) {
                throw PluginError("coroutine_block_size must be at least " + std::to_string(min_block_size) +
                                  " bytes and coroutine_blocks at least 1, together at most 1GiB");
            }
            const std::size_t staging =
                option_size(options, "coroutine_staging_limit", default_staging_limit);
            if (staging < block || staging > max_pool_bytes) {
                throw PluginError("coroutine_staging_limit must be at least coroutine_block_size (" +
                                  std::to_string(block) + " bytes) and at most 1GiB");
            }
            InstanceInfo ii{static_cast<gatio_transport>(info->transport),
                            info->listener,
                            info->driver,
                            info->driver_index,
                            info->driver_count,
                            options,
                            {}};
            if (info->struct_size >=
                    offsetof(gatio_instance_info, exec_driver_count) + sizeof(std::uint32_t) &&
                info->exec_drivers != nullptr) {
                ii.exec_drivers = {info->exec_drivers, info->exec_driver_count};
            }
            *instance = new Inst{detail::CoroCore{h, block, blocks, staging}, H(h, ii)};
            return 0;
        } catch (const std::exception& e) {
            ::gatio::detail::copy_error(error, error_size, e.what());
        } catch (...) {
            ::gatio::detail::copy_error(error, error_size, "unknown exception while creating the instance");
        }
        return 1;
    }

    // Frames still alive here await tasks that will never come back (gatiod is stopping):
    // destroyed before the pool they live in.
    static void destroy(void* instance) {
        auto* in = static_cast<Inst*>(instance);
        {
            detail::PoolScope scope(&in->core.pool);
            while (Stream* s = in->core.streams) {
                s->destroy_root();
                in->core.free_stream(s);
            }
        }
        delete in;
    }

    static void report(Inst& in, const char* where) noexcept {
        try {
            throw;
        } catch (const std::exception& e) {
            in.core.host.error(std::string(where) + ": " + e.what());
        } catch (...) {
            in.core.host.error(std::string(where) + ": unknown exception");
        }
    }

    static int open(void* instance, gatio_conn conn, const gatio_conn_info* info, void** user) {
        auto& in = *static_cast<Inst*>(instance);
        detail::PoolScope scope(&in.core.pool);
        Stream* s = nullptr;
        try {
            if constexpr (requires(H & h, Connection c, const gatio_conn_info& i) { h.on_open(c, i); }) {
                if (!in.handler.on_open(Connection{in.core.host, conn, nullptr}, *info)) {
                    return 1;
                }
            }
            s = in.core.add_stream(conn);
            if (s == nullptr) {
                return 1;
            }
            Task<> root = in.handler.serve(*s);
            if (!root) {
                in.core.refused("the connection's coroutine frame");
                in.core.free_stream(s);
                return 1;
            }
            *user = s;
            s->start(std::move(root));
            return 0;
        } catch (...) {
            report(in, "on_open");
            if (s != nullptr && *user == nullptr) {
                in.core.free_stream(s);
            }
            return 1;
        }
    }

    static std::int64_t data(void* instance, gatio_conn, void* user, const std::uint8_t* bytes,
                             std::size_t len) {
        auto& in = *static_cast<Inst*>(instance);
        detail::PoolScope scope(&in.core.pool);
        auto* s = static_cast<Stream*>(user);
        Stream* owner = s->owner_;
        std::int64_t r = GATIO_DATA_RESET;
        try {
            r = s->deliver(bytes, len);
        } catch (...) {
            report(in, "on_data");
        }
        in.core.settle(s, owner);
        return r;
    }

    static int eof(void* instance, gatio_conn, void* user) {
        auto& in = *static_cast<Inst*>(instance);
        detail::PoolScope scope(&in.core.pool);
        auto* s = static_cast<Stream*>(user);
        Stream* owner = s->owner_;
        int action = GATIO_EOF_CLOSE;
        try {
            s->end_of_input();
            // Kept, the coroutine decides when the connection ends: it closes it by returning
            // (or by letting go of its Upstream). An outbound connection is always kept, so that
            // what its peer sent before the FIN is never lost.
            if (s->serving() && (s->outbound_ || s->keep_after_eof_)) {
                action = GATIO_EOF_KEEP;
            }
        } catch (...) {
            report(in, "on_eof");
        }
        in.core.settle(s, owner);
        return action;
    }

    // A Stream outlives its connection while its coroutine still awaits a task on its way, and
    // an outbound one while its Upstream exists.
    static void close(void* instance, gatio_conn, void* user, int) {
        if (user == nullptr) {
            return; // rejected by on_open
        }
        auto& in = *static_cast<Inst*>(instance);
        detail::PoolScope scope(&in.core.pool);
        auto* s = static_cast<Stream*>(user);
        Stream* owner = s->owner_;
        s->closed();
        in.core.settle(s, owner);
    }
};

template <typename H>
constexpr gatio_plugin make_coro_descriptor(const char* name, const char* version) {
    using A = CoroAdapter<H>;
    static_assert(
        requires(H & h, Stream & s) {
            { h.serve(s) } -> std::same_as<Task<>>;
        },
        "a coroutine handler has gatio::coro::Task<> serve(gatio::coro::Stream&)");
    gatio_plugin d{};
    d.abi_major = GATIO_ABI_MAJOR;
    d.abi_minor = GATIO_ABI_MINOR;
    d.struct_size = sizeof(gatio_plugin);
    d.transports = GATIO_TRANSPORT_TCP;
    d.name = name;
    d.version = version;
    d.init = &::gatio::detail::Adapter<H>::init;
    d.instance_create = &A::create;
    d.instance_destroy = &A::destroy;
    d.on_open = &A::open;
    d.on_data = &A::data;
    d.on_eof = &A::eof;
    d.on_close = &A::close;
    return d;
}

} // namespace gatio::coro

// Exports the coroutine handler Handler (TCP) as this object's entry point.
#define GATIO_EXPORT_CORO_PLUGIN(Handler, name, version)                                                     \
    extern "C" GATIO_PLUGIN_EXPORT const gatio_plugin* gatio_plugin_entry(void) {                            \
        static constexpr gatio_plugin descriptor =                                                           \
            ::gatio::coro::make_coro_descriptor<Handler>(name, version);                                     \
        return &descriptor;                                                                                  \
    }
