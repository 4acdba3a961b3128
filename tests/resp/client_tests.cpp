// CLIENT LIST, CLIENT INFO, CLIENT KILL and INFO commandstats served by a real gatiod with two
// drivers: what is comparable compared with a real redis-server (errors byte for byte, the
// fields of a client line in order, the values gatiod knows the same way, the commandstats
// lines but their times), and the connections and counts of both drivers reached from either.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "script.hpp"

using namespace gatio::resp::test;

namespace {

std::string one(Client& c, const std::vector<std::string>& args) {
    return c.exchange(request(args), 1);
}

// A bulk reply's payload.
std::string payload(const std::string& reply) {
    REQUIRE(reply.size() >= 4);
    REQUIRE(reply[0] == '$');
    const std::size_t at = reply.find("\r\n") + 2;
    REQUIRE(reply.size() >= at + 2);
    return reply.substr(at, reply.size() - at - 2);
}

// The lines of a CLIENT LIST (or INFO) payload, each of which must end in '\n'.
std::vector<std::string> client_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t end = text.find('\n', at);
        REQUIRE(end != std::string::npos);
        lines.push_back(text.substr(at, end - at));
        at = end + 1;
    }
    return lines;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields fields(const std::string& line) {
    Fields out;
    std::size_t at = 0;
    while (at < line.size()) {
        std::size_t end = line.find(' ', at);
        end = end == std::string::npos ? line.size() : end;
        const std::string f = line.substr(at, end - at);
        const std::size_t eq = f.find('=');
        REQUIRE(eq != std::string::npos);
        out.emplace_back(f.substr(0, eq), f.substr(eq + 1));
        at = end + 1;
    }
    return out;
}

std::string field(const Fields& f, const std::string& name) {
    for (const auto& [k, v] : f) {
        if (k == name) {
            return v;
        }
    }
    FAIL("no field " << name);
    return {};
}

std::vector<std::string> names(const Fields& f) {
    std::vector<std::string> out;
    for (const auto& kv : f) {
        out.push_back(kv.first);
    }
    return out;
}

std::string client_id(Client& c) {
    const std::string r = one(c, {"client", "id"});
    REQUIRE(r[0] == ':');
    return r.substr(1, r.size() - 3);
}

// The values both servers know the same way.
const std::vector<std::string> comparable{"name",  "db",  "flags", "sub",   "psub", "ssub",
                                          "multi", "cmd", "user",  "redir", "resp"};

void same_clients(const std::string& ours, const std::string& theirs) {
    const auto a = client_lines(payload(ours));
    const auto b = client_lines(payload(theirs));
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        const Fields fa = fields(a[i]);
        const Fields fb = fields(b[i]);
        CHECK(names(fa) == names(fb));
        for (const auto& n : comparable) {
            INFO("field " << n);
            CHECK(field(fa, n) == field(fb, n));
        }
    }
}

// The client whose line has `id`, from a CLIENT LIST payload (empty when absent).
std::string line_of(const std::string& list, const std::string& id) {
    for (const auto& l : client_lines(list)) {
        if (field(fields(l), "id") == id) {
            return l;
        }
    }
    return {};
}

// The digits at `at` of `s`, at least one; npos when there are none.
std::size_t after_digits(std::string_view s, std::size_t at) {
    const std::size_t start = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
        ++at;
    }
    return at > start ? at : std::string_view::npos;
}

// Where "usec=N,usec_per_call=N.NN," starting at `p` of `s` ends; npos when it is not that.
std::size_t times_end(std::string_view s, std::size_t p) {
    std::size_t q = after_digits(s, p + 5);
    const std::string_view per = ",usec_per_call=";
    if (q == std::string_view::npos || s.substr(q, per.size()) != per) {
        return std::string_view::npos;
    }
    q = after_digits(s, q + per.size());
    if (q == std::string_view::npos || s.substr(q, 1) != ".") {
        return std::string_view::npos;
    }
    const std::size_t fraction = after_digits(s, q + 1);
    return fraction == q + 3 && s.substr(fraction, 1) == "," ? fraction + 1 : std::string_view::npos;
}

// `text` with each "usec=N,usec_per_call=N.NN," written "usec=T,"; anything else left as it is,
// so that a malformed field fails the comparison that follows.
std::string without_times(std::string_view text) {
    std::string out;
    std::size_t at = 0;
    for (std::size_t p; (p = text.find("usec=", at)) != std::string_view::npos;) {
        const std::size_t end = times_end(text, p);
        out.append(text.substr(at, p - at)).append(end == std::string_view::npos ? "usec=" : "usec=T,");
        at = end == std::string_view::npos ? p + 5 : end;
    }
    return out.append(text.substr(at));
}

// An INFO commandstats reply's cmdstat lines, sorted, with the times taken out.
std::vector<std::string> cmdstats(const std::string& info) {
    const std::string text = payload(info);
    std::vector<std::string> out;
    std::size_t at = 0;
    while ((at = text.find("cmdstat_", at)) != std::string::npos) {
        const std::size_t end = text.find("\r\n", at);
        out.push_back(without_times(std::string_view(text).substr(at, end - at)));
        at = end;
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Waits (bounded) until the listener has `n` connections: clients that client_on tried and let go
// are closed by gatiod once it reads their end.
void await_connected(Client& c, int n) {
    std::string want = numbered("connected_clients:", static_cast<std::size_t>(n));
    want.append("\r\n");
    for (int i = 0; i < 2000; ++i) {
        if (one(c, {"info", "clients"}).find(want) != std::string::npos) {
            return;
        }
        std::this_thread::sleep_for(5ms);
    }
    FAIL("the listener never had " << n << " connections");
}

} // namespace

TEST_CASE("CLIENT LIST, INFO and KILL answer as redis-server does", "[resp][client]") {
    Gatiod gatiod;
    RedisServer redis;
    Client ours(gatiod.port());
    Client theirs(redis.port());
    compare(ours, theirs,
            steps({
                {"client", "kill"},
                {"client", "info", "x"},
                {"client", "list", "type"},
                {"client", "list", "type", "nosuch"},
                {"client", "list", "id"},
                {"client", "list", "id", "1", "x"},
                {"client", "list", "extra"},
                {"client", "list", "type", "replica"},
                {"client", "list", "type", "master"},
                {"client", "list", "id", "987654"},
                {"client", "kill", "127.0.0.1:1"},
                {"client", "kill", "id", "0"},
                {"client", "kill", "id", "x"},
                {"client", "kill", "id", "987654"},
                {"client", "kill", "type", "nosuch"},
                {"client", "kill", "type", "pubsub"},
                {"client", "kill", "skipme", "maybe"},
                {"client", "kill", "laddr", "1.2.3.4:5", "skipme"},
                {"client", "kill", "nosuch", "x"},
                {"client", "kill", "user", "nobody"},
                {"client", "kill", "addr", "127.0.0.1:1", "user", "default"},
                {"client", "nosuch"},
            }));

    // One client on each server, then a subscriber and a client in MULTI, each answered once
    // before the next connects: gatiod numbers a connection as its driver opens it, and the two
    // drivers may take connections made one after the other in either order.
    Client sub_ours(gatiod.port());
    Client sub_theirs(redis.port());
    CHECK(one(sub_ours, {"ping"}) == "+PONG\r\n");
    Client tx_ours(gatiod.port());
    Client tx_theirs(redis.port());
    for (Client* c : {&ours, &theirs}) {
        CHECK(one(*c, {"client", "setname", "tester"}) == "+OK\r\n");
        CHECK(one(*c, {"select", "3"}) == "+OK\r\n");
    }
    for (Client* c : {&sub_ours, &sub_theirs}) {
        CHECK(one(*c, {"client", "setname", "listener"}) == "+OK\r\n");
        c->exchange(request({"subscribe", "a", "b"}), 2);
        c->exchange(request({"psubscribe", "p*"}), 1);
    }
    for (Client* c : {&tx_ours, &tx_theirs}) {
        CHECK(one(*c, {"multi"}) == "+OK\r\n");
        CHECK(one(*c, {"set", "k", "v"}) == "+QUEUED\r\n");
        CHECK(one(*c, {"get", "k"}) == "+QUEUED\r\n");
    }
    const std::string info_ours = one(ours, {"client", "info"});
    same_clients(info_ours, one(theirs, {"client", "info"}));
    // CLIENT INFO is one line, of this client.
    CHECK(field(fields(client_lines(payload(info_ours)).at(0)), "id") == client_id(ours));
    CHECK(field(fields(client_lines(payload(info_ours)).at(0)), "cmd") == "client|info");
    CHECK(field(fields(client_lines(payload(info_ours)).at(0)), "fd") == "-1");
    // Clients in the order they connected, on both.
    same_clients(one(ours, {"client", "list"}), one(theirs, {"client", "list"}));
    same_clients(one(ours, {"client", "list", "type", "pubsub"}),
                 one(theirs, {"client", "list", "type", "pubsub"}));
    same_clients(one(ours, {"client", "list", "type", "normal"}),
                 one(theirs, {"client", "list", "type", "normal"}));
    const std::string pubsub = payload(one(ours, {"client", "list", "type", "pubsub"}));
    REQUIRE(client_lines(pubsub).size() == 1);
    CHECK(field(fields(client_lines(pubsub)[0]), "flags") == "P");
    CHECK(field(fields(client_lines(pubsub)[0]), "sub") == "2");
    CHECK(field(fields(client_lines(pubsub)[0]), "psub") == "1");
    const std::string listed = payload(one(ours, {"client", "list", "type", "normal"}));
    REQUIRE(client_lines(listed).size() == 2);
    CHECK(field(fields(client_lines(listed)[1]), "flags") == "x");
    CHECK(field(fields(client_lines(listed)[1]), "multi") == "2");
    CHECK(field(fields(client_lines(listed)[1]), "cmd") == "get");
    // ID lists in the order asked, each as often as asked; unknown ids list nothing.
    const std::string me = client_id(ours);
    const std::string tx = field(fields(client_lines(listed)[1]), "id");
    const auto by_id = client_lines(payload(one(ours, {"client", "list", "id", tx, "987654", me, tx})));
    REQUIRE(by_id.size() == 3);
    CHECK(field(fields(by_id[0]), "id") == tx);
    CHECK(field(fields(by_id[1]), "id") == me);
    CHECK(field(fields(by_id[2]), "id") == tx);
    // The same ids on redis-server list the same shapes.
    const std::string tx_theirs_id =
        field(fields(client_lines(payload(one(theirs, {"client", "list", "type", "normal"}))).at(1)), "id");
    same_clients(one(ours, {"client", "list", "id", tx, me}),
                 one(theirs, {"client", "list", "id", tx_theirs_id, client_id(theirs)}));
    // Inside MULTI, CLIENT INFO, CLIENT LIST, CLIENT KILL, PUBLISH and PUBSUB are queued, and
    // EXEC answers each at its place, the client still in MULTI while EXEC runs; the subscriber
    // gets the message.
    for (Client* c : {&tx_ours, &tx_theirs}) {
        for (const std::vector<std::string>& cmd : {std::vector<std::string>{"client", "info"},
                                                    {"client", "list"},
                                                    {"publish", "a", "m"},
                                                    {"client", "kill", "id", "987654"},
                                                    {"pubsub", "numsub", "a", "b"},
                                                    {"get", "k"}}) {
            CHECK(one(*c, cmd) == "+QUEUED\r\n");
        }
    }
    const auto exec_ours = elements(one(tx_ours, {"exec"}));
    const auto exec_theirs = elements(one(tx_theirs, {"exec"}));
    REQUIRE(exec_ours.size() == 8);
    REQUIRE(exec_theirs.size() == 8);
    for (std::size_t i : {0, 1, 4, 5, 6, 7}) {
        INFO("element " << i);
        CHECK(exec_ours[i] == exec_theirs[i]);
    }
    CHECK(exec_ours[4] == ":1\r\n");
    same_clients(exec_ours[2], exec_theirs[2]);
    same_clients(exec_ours[3], exec_theirs[3]);
    CHECK(field(fields(line_of(payload(exec_ours[3]), tx)), "flags") == "x");
    CHECK(field(fields(line_of(payload(exec_ours[3]), tx)), "cmd") == "exec");
    const std::string message = "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n";
    CHECK(sub_ours.exchange("", 1) == message);
    CHECK(sub_theirs.exchange("", 1) == message);
    // A queued command's refusal, PUBSUB's and CLIENT KILL's included, dooms the transaction,
    // as redis-server checks a subcommand's arity before queuing it.
    compare(tx_ours, tx_theirs,
            steps({{"multi"},
                   {"client", "kill"},
                   {"exec"},
                   {"multi"},
                   {"pubsub", "numpat", "x"},
                   {"exec"},
                   {"multi"},
                   {"pubsub", "nosuch"},
                   {"exec"},
                   {"multi"},
                   {"pubsub", "numpat"},
                   {"client", "kill", "nosuch", "x"},
                   {"publish", "nobody", "m"},
                   {"exec"},
                   // RESET runs at once inside MULTI, ending it, and forgets the watched keys and the name.
                   {"client", "setname", "x"},
                   {"watch", "k"},
                   {"multi"},
                   {"set", "k", "2"},
                   {"reset"},
                   {"client", "getname"},
                   {"exec"},
                   {"set", "k", "3"},
                   {"multi"},
                   {"exec"}}));
    // d: a key the client watches changed since WATCH (here by itself), until EXEC or UNWATCH.
    for (Client* c : {&tx_ours, &tx_theirs}) {
        CHECK(one(*c, {"watch", "wk"}) == "+OK\r\n");
        CHECK(field(fields(client_lines(payload(one(*c, {"client", "info"}))).at(0)), "flags") == "N");
        CHECK(one(*c, {"set", "wk", "1"}) == "+OK\r\n");
    }
    same_clients(one(tx_ours, {"client", "info"}), one(tx_theirs, {"client", "info"}));
    CHECK(field(fields(client_lines(payload(one(tx_ours, {"client", "info"}))).at(0)), "flags") == "d");
    CHECK(one(tx_ours, {"multi"}) == "+OK\r\n");
    CHECK(one(tx_theirs, {"multi"}) == "+OK\r\n");
    same_clients(one(ours, {"client", "list"}), one(theirs, {"client", "list"}));
    CHECK(field(fields(line_of(payload(one(ours, {"client", "list"})), tx)), "flags") == "xd");
    CHECK(one(tx_ours, {"exec"}) == "*-1\r\n");
    CHECK(one(tx_theirs, {"exec"}) == "*-1\r\n");
    same_clients(one(tx_ours, {"client", "info"}), one(tx_theirs, {"client", "info"}));
    // KILL's filters: TYPE pubsub kills the subscriber, and the killed client's connection ends.
    CHECK(one(ours, {"client", "kill", "type", "pubsub"}) == ":1\r\n");
    CHECK(one(theirs, {"client", "kill", "type", "pubsub"}) == ":1\r\n");
    sub_ours.read_to_close();
    CHECK(payload(one(ours, {"client", "list", "type", "pubsub"})).empty());
    // Accepted into direct descriptors (the default), a connection's addresses are unknown, and
    // match no ADDR.
    const Fields tx_line = fields(line_of(payload(one(ours, {"client", "list"})), tx));
    CHECK(field(tx_line, "addr").empty());
    CHECK(field(tx_line, "laddr").empty());
    CHECK(one(ours, {"client", "kill", "addr", "", "skipme", "no"}) == ":0\r\n");
    // SKIPME yes (the default) spares the asking client.
    CHECK(one(ours, {"client", "kill", "id", tx, "skipme", "yes"}) == ":1\r\n");
    tx_ours.read_to_close();
    CHECK(one(ours, {"client", "kill", "id", me}) == ":0\r\n");
    // With SKIPME no it is killed too: its reply, then the connection closes.
    CHECK(ours.exchange(request({"client", "kill", "id", me, "skipme", "no"}), 1) == ":1\r\n");
    ours.read_to_close();
}

TEST_CASE("CLIENT LIST and CLIENT KILL reach the clients of every driver", "[resp][client]") {
    const std::uint16_t admin = free_port();
    // Accepted into plain descriptors, whose addresses gatiod can ask.
    Gatiod gatiod(with_admin(admin, "[io_uring]\ndirect_descriptors = false\n"));
    auto c0 = client_on(gatiod.port(), admin, "d0");
    auto c1 = client_on(gatiod.port(), admin, "d1");
    auto victim = client_on(gatiod.port(), admin, "d1");
    CHECK(one(*victim, {"client", "setname", "victim"}) == "+OK\r\n");
    const std::string id0 = client_id(*c0);
    const std::string id1 = client_id(*c1);
    const std::string victim_id = client_id(*victim);
    await_connected(*c0, 3);
    // Listed from either driver: every client, in id order.
    for (Client* asking : {c0.get(), c1.get()}) {
        const std::string list = payload(one(*asking, {"client", "list"}));
        const auto lines = client_lines(list);
        REQUIRE(lines.size() == 3);
        CHECK(std::is_sorted(lines.begin(), lines.end(), [](const auto& a, const auto& b) {
            return std::stoull(field(fields(a), "id")) < std::stoull(field(fields(b), "id"));
        }));
        CHECK(field(fields(line_of(list, victim_id)), "name") == "victim");
        CHECK(!line_of(list, id0).empty());
        CHECK(!line_of(list, id1).empty());
    }
    // redis-cli, a client of its own, lists them too, and itself.
    const Ran cli = run({"/usr/bin/redis-cli", "-p", std::to_string(gatiod.port()), "client", "list"});
    CHECK(cli.status == 0);
    CHECK(cli.out.find("name=victim ") != std::string::npos);
    CHECK(client_lines(cli.out).size() == 4);
    CHECK(field(fields(line_of(payload(one(*c0, {"client", "list"})), id0)), "cmd") == "client|list");
    CHECK(field(fields(line_of(payload(one(*c0, {"client", "list"})), id1)), "cmd") == "client|list");
    const auto by_id = client_lines(payload(one(*c0, {"client", "list", "id", victim_id, id0})));
    REQUIRE(by_id.size() == 2);
    CHECK(field(fields(by_id[0]), "id") == victim_id);
    // KILL ID of a client on the other driver closes it there.
    CHECK(one(*c0, {"client", "kill", "id", victim_id}) == ":1\r\n");
    victim->read_to_close();
    CHECK(line_of(payload(one(*c0, {"client", "list"})), victim_id).empty());
    CHECK(one(*c0, {"client", "kill", "id", victim_id}) == ":0\r\n");
    // Queued in MULTI, CLIENT LIST and KILL reach the other driver too, after the keyspace part.
    auto victim3 = client_on(gatiod.port(), admin, "d1");
    const std::string victim3_id = client_id(*victim3);
    await_connected(*c0, 3);
    const auto replies = split_replies(c0->exchange(requests({{"multi"},
                                                              {"set", "x", "1"},
                                                              {"client", "list"},
                                                              {"client", "kill", "id", victim3_id},
                                                              {"client", "list", "id", victim3_id},
                                                              {"get", "x"},
                                                              {"exec"}}),
                                                    7));
    REQUIRE(replies.size() == 7);
    const auto exec = elements(replies[6]);
    REQUIRE(exec.size() == 5);
    CHECK(exec[0] == "+OK\r\n");
    CHECK(client_lines(payload(exec[1])).size() == 3);
    CHECK(!line_of(payload(exec[1]), victim3_id).empty());
    CHECK(exec[2] == ":1\r\n");
    CHECK(exec[3] == "$0\r\n\r\n");
    CHECK(exec[4] == "$1\r\n1\r\n");
    victim3->read_to_close();
    // A subscriber on the other driver gets a PUBLISH of EXEC once EXEC's writes are in: what
    // it reads on receipt is what EXEC wrote. A watcher there of the key EXEC wrote is dirty.
    CHECK(one(*c1, {"watch", "x2"}) == "+OK\r\n");
    auto sub = client_on(gatiod.port(), admin, "d1");
    const std::string sub_id = client_id(*sub);
    CHECK(sub->exchange(request({"subscribe", "news"}), 1) ==
          "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    CHECK(c0->exchange(requests({{"multi"}, {"set", "x2", "2"}, {"publish", "news", "in"}, {"exec"}}), 4) ==
          "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:1\r\n");
    CHECK(sub->exchange("", 1) == "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nin\r\n");
    CHECK(field(fields(line_of(payload(one(*c0, {"client", "list"})), id1)), "flags") == "d");
    CHECK(one(*c1, {"unwatch"}) == "+OK\r\n");
    CHECK(field(fields(line_of(payload(one(*c0, {"client", "list"})), id1)), "flags") == "N");
    CHECK(one(*c0, {"client", "kill", "id", sub_id}) == ":1\r\n");
    sub->read_to_close();
    // The old form by address, across drivers.
    auto victim2 = client_on(gatiod.port(), admin, "d0");
    const std::string addr2 =
        field(fields(client_lines(payload(one(*victim2, {"client", "info"}))).at(0)), "addr");
    const std::string_view loopback = "127.0.0.1:";
    CHECK(addr2.starts_with(loopback));
    CHECK(after_digits(addr2, loopback.size()) == addr2.size());
    CHECK(one(*c1, {"client", "kill", addr2}) == "+OK\r\n");
    victim2->read_to_close();
    CHECK(one(*c1, {"client", "kill", addr2}) == "-ERR No such client\r\n");
    await_connected(*c0, 2);
    // LADDR with SKIPME no: every client of the listener, the asking one after its reply.
    const std::string laddr =
        field(fields(client_lines(payload(one(*c1, {"client", "info"}))).at(0)), "laddr");
    CHECK(laddr == numbered("127.0.0.1:", gatiod.port()));
    CHECK(c1->exchange(request({"client", "kill", "laddr", laddr, "skipme", "no"}), 1) == ":2\r\n");
    c1->read_to_close();
    c0->read_to_close();
}

TEST_CASE("INFO commandstats counts every driver's commands as redis-server does", "[resp][client]") {
    const std::uint16_t admin = free_port();
    Gatiod gatiod(with_admin(admin));
    auto c0 = client_on(gatiod.port(), admin, "d0");
    auto c1 = client_on(gatiod.port(), admin, "d1");
    CHECK(one(*c0, {"config", "resetstat"}) == "+OK\r\n");
    const std::vector<std::vector<std::string>> first{{"set", "s", "1"}, {"get", "s"}, {"get", "s"}};
    const std::vector<std::vector<std::string>> second{{"get", "s"}, {"set", "s", "2"}, {"lpush", "s", "x"},
                                                       {"get"},      {"client", "id"},  {"client", "nosuch"}};
    c0->exchange(requests(first), first.size());
    c1->exchange(requests(second), second.size());
    const std::vector<std::string> want{
        "cmdstat_client|id:calls=1,usec=T,rejected_calls=0,failed_calls=0",
        "cmdstat_config|resetstat:calls=1,usec=T,rejected_calls=0,failed_calls=0",
        "cmdstat_get:calls=3,usec=T,rejected_calls=1,failed_calls=0",
        "cmdstat_lpush:calls=1,usec=T,rejected_calls=0,failed_calls=1",
        "cmdstat_set:calls=2,usec=T,rejected_calls=0,failed_calls=0",
    };
    CHECK(cmdstats(one(*c1, {"info", "commandstats"})) == want);
    // Not in the default sections; in "all", after CPU and before Keyspace, as redis-server has it.
    CHECK(payload(one(*c0, {"info"})).find("# Commandstats") == std::string::npos);
    const std::string all = payload(one(*c0, {"info", "all"}));
    CHECK(all.find("# CPU") < all.find("# Commandstats"));
    CHECK(all.find("# Commandstats") < all.find("# Keyspace"));
    // The same commands on one redis-server connection give the same lines.
    RedisServer redis;
    Client theirs(redis.port());
    CHECK(one(theirs, {"config", "resetstat"}) == "+OK\r\n");
    theirs.exchange(requests(first), first.size());
    theirs.exchange(requests(second), second.size());
    CHECK(cmdstats(one(theirs, {"info", "commandstats"})) == want);
    // CONFIG RESETSTAT starts every driver's counts again; it counts itself after the reset.
    CHECK(one(*c1, {"config", "resetstat"}) == "+OK\r\n");
    const std::string reset = payload(one(*c0, {"info", "commandstats"}));
    CHECK(without_times(reset) ==
          "# Commandstats\r\ncmdstat_config|resetstat:calls=1,usec=T,rejected_calls=0,failed_calls=0\r\n");
}

// usec_per_call of `name` in an INFO commandstats reply (-1 when absent).
double usec_per_call(const std::string& info, const std::string& name) {
    const std::string label = std::string("cmdstat_").append(name).append(":");
    const std::size_t at = info.find(label);
    const std::string per = "usec_per_call=";
    const std::size_t p = at == std::string::npos ? at : info.find(per, at);
    return p == std::string::npos ? -1 : std::stod(info.substr(p + per.size()));
}

TEST_CASE("INFO commandstats counts a command handed to another driver's shard with its run there",
          "[resp][client]") {
    const std::uint16_t admin = free_port();
    Gatiod gatiod(with_admin(admin));
    auto c0 = client_on(gatiod.port(), admin, "d0");
    // A long list on the other driver's shard: LRANGE over it runs long there, LLEN does not,
    // and both take the same hand-over.
    const std::string big = key_on(1, "big");
    std::vector<std::string> push{"rpush", big};
    for (std::size_t i = 0; i < 100000; ++i) {
        push.push_back(numbered("element-", i));
    }
    CHECK(c0->exchange(request(push), 1) == ":100000\r\n");
    CHECK(one(*c0, {"config", "resetstat"}) == "+OK\r\n");
    for (int i = 0; i < 20; ++i) {
        CHECK(one(*c0, {"llen", big}) == ":100000\r\n");
    }
    for (int i = 0; i < 3; ++i) {
        CHECK(c0->exchange(request({"lrange", big, "0", "-1"}), 1).rfind("*100000\r\n", 0) == 0);
    }
    const std::string info = payload(one(*c0, {"info", "commandstats"}));
    const double llen = usec_per_call(info, "llen");
    const double lrange = usec_per_call(info, "lrange");
    INFO(info);
    REQUIRE(llen >= 0);
    CHECK(lrange > 10 * std::max(llen, 1.0));
}
