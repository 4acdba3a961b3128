// A member's bytes, inside the object up to 31 bytes and on the heap beyond. libstdc++'s
// std::string keeps only 15 bytes in place, so a typical member ("element:000000012345", a
// user id, a UUID without dashes) costs a heap block and, on every lookup that compares it, one
// more cache miss after the table slot and the item. Same size as std::string: 32 bytes.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

namespace gatio::resp {

class InlineString {
public:
    static constexpr std::size_t inline_max = 31;

    InlineString() { set_inline_size(0); }
    explicit InlineString(std::string_view v) { init(v); }
    InlineString(const InlineString& o) { init(o.view()); }
    InlineString(InlineString&& o) noexcept {
        std::memcpy(raw_, o.raw_, sizeof raw_);
        o.set_inline_size(0);
    }
    InlineString& operator=(const InlineString& o) {
        if (this != &o) {
            release();
            init(o.view());
        }
        return *this;
    }
    InlineString& operator=(InlineString&& o) noexcept {
        if (this != &o) {
            release();
            std::memcpy(raw_, o.raw_, sizeof raw_);
            o.set_inline_size(0);
        }
        return *this;
    }
    ~InlineString() { release(); }

    std::string_view view() const {
        if (on_heap()) {
            return {heap_data(), heap_size()};
        }
        return {raw_, static_cast<std::size_t>(raw_[inline_max])};
    }
    operator std::string_view() const { return view(); }
    std::size_t size() const { return view().size(); }
    // The heap bytes held besides the object itself: none while the bytes fit in it.
    std::size_t heap_bytes() const { return on_heap() ? heap_size() : 0; }

    friend bool operator==(const InlineString& a, std::string_view b) { return a.view() == b; }

private:
    // The last byte is the length while the bytes are inside (0..31), or `heap` while the
    // first 16 bytes are a pointer and a length.
    static constexpr char heap = static_cast<char>(0xff);

    bool on_heap() const { return raw_[inline_max] == heap; }
    void set_inline_size(std::size_t n) {
        assert(n <= inline_max);
        raw_[inline_max] = static_cast<char>(n);
    }
    const char* heap_data() const {
        const char* p;
        std::memcpy(&p, raw_, sizeof p);
        return p;
    }
    std::size_t heap_size() const {
        std::size_t n;
        std::memcpy(&n, raw_ + sizeof(char*), sizeof n);
        return n;
    }
    void init(std::string_view v) {
        if (v.size() <= inline_max) {
            std::memcpy(raw_, v.data(), v.size());
            set_inline_size(v.size());
            return;
        }
        char* p = new char[v.size()];
        std::memcpy(p, v.data(), v.size());
        const std::size_t n = v.size();
        std::memcpy(raw_, &p, sizeof p);
        std::memcpy(raw_ + sizeof p, &n, sizeof n);
        raw_[inline_max] = heap;
    }
    void release() {
        if (on_heap()) {
            delete[] heap_data();
        }
    }

    alignas(8) char raw_[inline_max + 1];
};
static_assert(sizeof(InlineString) == 32);

} // namespace gatio::resp
