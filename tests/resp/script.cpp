#include "script.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

#include "check.hpp"

namespace gatio::resp::test {

std::vector<std::string> elements(std::string_view reply) {
    std::vector<std::string> out;
    if (reply.empty() || reply[0] != '*' || reply.substr(0, 3) == "*-1") {
        out.emplace_back(reply);
        return out;
    }
    std::size_t at = reply.find("\r\n") + 2;
    while (at < reply.size()) {
        std::size_t n = gatio::resp::check::reply_length(reply.substr(at));
        REQUIRE(n > 0);
        out.emplace_back(reply.substr(at, n));
        at += n;
    }
    return out;
}

std::string normalized(std::string_view reply, Order order) {
    if (order == Order::exact || reply.empty() || reply[0] != '*') {
        return std::string(reply);
    }
    auto items = elements(reply);
    if (order == Order::scan) {
        REQUIRE(items.size() == 2);
        return std::string(reply.substr(0, reply.find("\r\n") + 2)) + items[0] +
               normalized(items[1], Order::sorted);
    }
    if (order == Order::pairs) {
        std::vector<std::string> pairs;
        for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
            pairs.push_back(items[i] + items[i + 1]);
        }
        items = std::move(pairs);
    }
    std::sort(items.begin(), items.end());
    std::string out = std::string(reply.substr(0, reply.find("\r\n") + 2));
    for (const auto& i : items) {
        out += i;
    }
    return out;
}

std::vector<std::string> split_replies(const std::string& all) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < all.size()) {
        std::size_t n = gatio::resp::check::reply_length(std::string_view(all).substr(at));
        REQUIRE(n > 0);
        out.push_back(all.substr(at, n));
        at += n;
    }
    return out;
}

void compare(Client& ours, Client& theirs, const std::vector<Step>& script) {
    std::string all;
    for (const auto& s : script) {
        all += request(s.args);
    }
    auto a = split_replies(ours.exchange(all, script.size(), 60s));
    auto b = split_replies(theirs.exchange(all, script.size(), 60s));
    REQUIRE(a.size() == script.size());
    REQUIRE(b.size() == script.size());
    for (std::size_t i = 0; i < script.size(); ++i) {
        std::string line;
        for (const auto& arg : script[i].args) {
            line += arg.substr(0, 40) + ' ';
        }
        INFO("step " << i << ": " << line);
        CHECK(normalized(a[i], script[i].order) == normalized(b[i], script[i].order));
    }
}

std::vector<Step> steps(std::initializer_list<std::vector<std::string>> list) {
    std::vector<Step> out;
    for (const auto& l : list) {
        out.push_back(Step{l});
    }
    return out;
}

} // namespace gatio::resp::test
