// Cross-driver messaging: messages per second and round-trip latency between two drivers on two
// CPUs, against two threads on the same CPUs sharing a bounded mutex + condition-variable queue,
// measured in the same run.
//
//   msg_bench [messages] [pings]      (defaults: 2000000 messages, 50000 pings)
//
// A gatio message is a task: it travels to the receiver, runs there, and its slot travels back
// to the sender (the acknowledgement is part of the measured cost).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numeric>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/capabilities.hpp"
#include "core/runtime.hpp"

using namespace gatio;
using namespace gatio::core;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
    double messages_per_s = 0;
    double rtt_mean_us = 0;
    double rtt_p50_us = 0;
    double rtt_p99_us = 0;
    double wakeups_per_message = -1; // gatio only: wake-ups sent by both drivers per message
};

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::vector<int> out;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) {
            out.push_back(c);
        }
    }
    return out;
}

void pin(std::thread& t, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu), &set);
    pthread_setaffinity_np(t.native_handle(), sizeof set, &set);
}

void summarise(std::vector<std::int64_t>& rtt_ns, Result& r) {
    std::sort(rtt_ns.begin(), rtt_ns.end());
    double sum = std::accumulate(rtt_ns.begin(), rtt_ns.end(), 0.0);
    r.rtt_mean_us = sum / static_cast<double>(rtt_ns.size()) / 1000.0;
    r.rtt_p50_us = static_cast<double>(rtt_ns[rtt_ns.size() / 2]) / 1000.0;
    r.rtt_p99_us = static_cast<double>(rtt_ns[rtt_ns.size() * 99 / 100]) / 1000.0;
}

// ---------------------------------------------------------------- gatio drivers

class Sender final : public DriverModule {
public:
    Sender(std::uint64_t messages, std::uint64_t* received, Clock::time_point* done_at,
           std::atomic<bool>* done)
        : messages_(messages), received_(received), done_at_(done_at), done_(done) {}

    void start(Driver&) override {}
    bool poll(Driver& d) override {
        if (!go.load(std::memory_order_relaxed) || sent_ == messages_) {
            return false;
        }
        if (sent_ == 0) {
            started_at = Clock::now();
        }
        while (sent_ < messages_) {
            SpawnStatus s = d.post(1, [this](Driver&) {
                if (++*received_ == messages_) {
                    *done_at_ = Clock::now();
                    done_->store(true, std::memory_order_release);
                }
            });
            if (s != SpawnStatus::ok) {
                return false; // every slot in flight: returning acknowledgements wake us
            }
            ++sent_;
        }
        return false;
    }

    std::atomic<bool> go{false};
    Clock::time_point started_at;

private:
    std::uint64_t messages_;
    std::uint64_t sent_ = 0;
    std::uint64_t* received_;    // driver 1's thread only
    Clock::time_point* done_at_; // written by driver 1 once
    std::atomic<bool>* done_;
};

struct Pinger {
    std::vector<std::int64_t> rtt_ns; // driver 0's thread only until done
    std::size_t pings = 0;
    Clock::time_point sent_at;
    std::atomic<bool> done{false};

    void ping(Driver& d) {
        sent_at = Clock::now();
        SpawnStatus s = d.spawn(
            Placement::driver(1), Priority::latency, [](Driver&) { return 0; },
            [this](Driver& back, int) {
                rtt_ns.push_back(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent_at).count());
                if (rtt_ns.size() == pings) {
                    done.store(true, std::memory_order_release);
                } else {
                    ping(back);
                }
            });
        if (s != SpawnStatus::ok) {
            std::fprintf(stderr, "ping: spawn failed\n");
            std::abort();
        }
    }
};

Result run_gatio(int cpu0, int cpu1, bool eventfd, std::uint64_t messages, std::size_t pings) {
    Topology topology;
    TpcPlan tpc;
    tpc.name = "node0";
    auto plan = [](std::string name, int index, int cpu) {
        DriverPlan d;
        d.name = std::move(name);
        d.index = index;
        d.cpu = cpu;
        d.ring.buffer_count = 16;
        d.ring.buffer_size = 4096;
        return d;
    };
    tpc.drivers.push_back(plan("d0", 0, cpu0));
    tpc.drivers.push_back(plan("d1", 1, cpu1));
    topology.tpcs.push_back(tpc);
    Machine machine;
    machine.nodes = {0};
    machine.distance = {{10}};
    static const KernelSupport kernel = probe_kernel().support;
    RuntimeOptions options;
    options.kernel = kernel;
    options.force_eventfd_wakeup = eventfd;
    options.allow_shared_cpus = cpu0 == cpu1;

    Runtime rt(topology, machine, {}, options);
    std::uint64_t received = 0;
    Clock::time_point done_at;
    std::atomic<bool> done{false};
    auto sender = std::make_unique<Sender>(messages, &received, &done_at, &done);
    Sender& s = *sender;
    rt.attach(0, std::move(sender));
    Pinger pinger;
    pinger.pings = pings;
    pinger.rtt_ns.reserve(pings);
    if (std::string error = rt.start(); !error.empty()) {
        std::fprintf(stderr, "start failed: %s\n", error.c_str());
        std::exit(1);
    }

    s.go = true;
    rt.post(0, [](Driver&) {}); // wakes driver 0 so its module polls
    while (!done.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    Result r;
    r.messages_per_s =
        static_cast<double>(messages) / std::chrono::duration<double>(done_at - s.started_at).count();
    // Published once per loop turn: read once both drivers have gone idle.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r.wakeups_per_message = static_cast<double>(rt.counters(0).wakeups_sent + rt.counters(1).wakeups_sent) /
                            static_cast<double>(messages);

    rt.post(0, [&pinger](Driver& d) { pinger.ping(d); });
    while (!pinger.done.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    rt.request_stop();
    rt.join();
    summarise(pinger.rtt_ns, r);
    return r;
}

// ---------------------------------------------------------------- mutex + condition variable

class LockedQueue {
public:
    explicit LockedQueue(std::size_t capacity) : slots_(capacity) {}

    void push(std::uint64_t v) {
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [this] { return size_ < slots_.size(); });
        slots_[(head_ + size_) % slots_.size()] = v;
        ++size_;
        lock.unlock();
        not_empty_.notify_one();
    }
    std::uint64_t pop() {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [this] { return size_ > 0; });
        std::uint64_t v = slots_[head_];
        head_ = (head_ + 1) % slots_.size();
        --size_;
        lock.unlock();
        not_full_.notify_one();
        return v;
    }

private:
    std::mutex mutex_;
    std::condition_variable not_empty_, not_full_;
    std::vector<std::uint64_t> slots_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

Result run_locked(int cpu0, int cpu1, std::uint64_t messages, std::size_t pings) {
    Result r;
    {
        LockedQueue q(1024);
        Clock::time_point start, end;
        std::thread consumer([&] {
            for (std::uint64_t i = 0; i < messages; ++i) {
                q.pop();
            }
            end = Clock::now();
        });
        pin(consumer, cpu1);
        std::thread producer([&] {
            start = Clock::now();
            for (std::uint64_t i = 0; i < messages; ++i) {
                q.push(i);
            }
        });
        pin(producer, cpu0);
        producer.join();
        consumer.join();
        r.messages_per_s = static_cast<double>(messages) / std::chrono::duration<double>(end - start).count();
    }
    {
        LockedQueue ping(1024), pong(1024);
        std::vector<std::int64_t> rtt_ns;
        rtt_ns.reserve(pings);
        std::thread echo([&] {
            for (std::size_t i = 0; i < pings; ++i) {
                pong.push(ping.pop());
            }
        });
        pin(echo, cpu1);
        std::thread client([&] {
            for (std::size_t i = 0; i < pings; ++i) {
                auto t0 = Clock::now();
                ping.push(i);
                pong.pop();
                rtt_ns.push_back(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
            }
        });
        pin(client, cpu0);
        client.join();
        echo.join();
        summarise(rtt_ns, r);
    }
    return r;
}

void print(const char* name, const Result& r) {
    char wakeups[32] = "-";
    if (r.wakeups_per_message >= 0) {
        std::snprintf(wakeups, sizeof wakeups, "%.4f", r.wakeups_per_message);
    }
    std::printf("| %-35s | %8.2f | %12s | %9.1f | %9.1f | %9.1f |\n", name, r.messages_per_s / 1e6, wakeups,
                r.rtt_mean_us, r.rtt_p50_us, r.rtt_p99_us);
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t messages = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
    std::size_t pings = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 50'000;
    if (messages == 0 || pings == 0) {
        std::fprintf(stderr, "usage: msg_bench [messages > 0] [pings > 0]\n");
        return 64;
    }
    std::vector<int> cpus = allowed_cpus();
    int cpu0 = cpus.front();
    int cpu1 = cpus.size() > 1 ? cpus[1] : cpus.front();
    std::printf("%llu messages, %zu pings, CPUs %d and %d\n\n", static_cast<unsigned long long>(messages),
                pings, cpu0, cpu1);
    std::printf("| %-35s | %8s | %12s | %9s | %9s | %9s |\n", "transport", "Mmsg/s", "wake-ups/msg",
                "rtt mean", "rtt p50", "rtt p99");
    std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(37, '-').c_str(), std::string(10, '-').c_str(),
                std::string(14, '-').c_str(), std::string(11, '-').c_str(), std::string(11, '-').c_str(),
                std::string(11, '-').c_str());
    print("gatio drivers, MSG_RING wake-up", run_gatio(cpu0, cpu1, false, messages, pings));
    print("gatio drivers, eventfd wake-up", run_gatio(cpu0, cpu1, true, messages, pings));
    print("threads, mutex + condition variable", run_locked(cpu0, cpu1, messages, pings));
    std::printf("\nrtt in microseconds\n");
    return 0;
}
