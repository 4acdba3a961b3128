// Scripts of commands run on gatiod and on redis-server, their replies compared step by step:
// byte for byte, or where redis-server's order is its hash table's, as sorted collections.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace gatio::resp::test {

// sorted: an array's elements; pairs: its pairs (HGETALL, CONFIG GET); scan: a SCAN reply's items.
enum class Order { exact, sorted, pairs, scan };

struct Step {
    std::vector<std::string> args;
    Order order = Order::exact;
};

// The elements of an array reply (each a whole reply), or the reply itself when not an array.
std::vector<std::string> elements(std::string_view reply);
// An array reply with its elements (or pairs of them) sorted.
std::string normalized(std::string_view reply, Order order);
// Whole replies, one after the other.
std::vector<std::string> split_replies(const std::string& all);
// Runs the script on both servers (pipelined) and checks each step's replies are the same.
void compare(Client& ours, Client& theirs, const std::vector<Step>& script);
// Steps compared exactly.
std::vector<Step> steps(std::initializer_list<std::vector<std::string>> list);

} // namespace gatio::resp::test
