// The last 15 minutes the status page charts (GET /status/data): each replica's lag, the queries' p95, the
// cache hit rate and the 429 answers per second, one point per interval in a ring of fixed size.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pg/monitor.hpp"
#include "pg/topology.hpp"

namespace yw::health {

// How far back the charts look.
inline constexpr std::chrono::minutes kHistorySpan{15};

// Counters that only grow while the process runs; a point's rates are the differences of two readings.
struct Counters {
    std::uint64_t requests = 0;       // HTTP answers, any status
    std::uint64_t limited = 0;        // of which 429
    std::uint64_t cache_hits = 0;     // reads answered from Redis
    std::uint64_t cache_lookups = 0;  // hits and misses
};

// One point of every chart.
struct Sample {
    std::chrono::system_clock::time_point at{};
    std::optional<double> p95_ms;          // nullopt: too few statements in the query window to mean anything
    std::optional<double> cache_hit_rate;  // 0 … 1 over the interval; nullopt: no cached read in it
    double limited_per_s = 0;              // 429 answers per second over the interval
    double requests_per_s = 0;
    // Each node's replay lag in configuration order; nullopt: not a replica answering its probes right now
    // (the primary, or a node that is down).
    std::vector<std::optional<long long>> lag_ms;
};

// The interval's rates from two readings of the counters `seconds` apart (pure). A counter that went back
// (it cannot, but a reset must not chart nonsense) counts as no activity.
void fill_rates(Sample& sample, const Counters& before, const Counters& now, double seconds);

// The lag of each node from a topology snapshot, in the order of `names`.
std::vector<std::optional<long long>> lags_of(const pg::Snapshot& snapshot,
                                              const std::vector<std::string>& names);

// A ring of the last `capacity` samples. Thread-safe.
class History {
  public:
    History(std::vector<std::string> nodes, std::chrono::milliseconds interval);

    void add(Sample sample);
    std::size_t capacity() const { return capacity_; }
    std::chrono::milliseconds interval() const { return interval_; }
    std::size_t size() const;
    const std::vector<std::string>& nodes() const { return nodes_; }

    // Columns, oldest first: {"interval_s", "capacity", "t" (Unix ms), "p95_ms", "cache_hit_rate",
    // "limited_per_s", "requests_per_s", "lag_ms": {node: [...]}}; null where a point has no value.
    boost::json::object to_json() const;

  private:
    const std::vector<std::string> nodes_;
    const std::chrono::milliseconds interval_;
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::deque<Sample> samples_;  // guarded by mutex_; never longer than capacity_
};

// What a sample reads. The topology may be null (no replicas configured), the monitor too.
struct SampleSources {
    std::function<Counters()> counters;
    const pg::QueryMonitor* monitor = nullptr;
    const pg::TopologyMonitor* topology = nullptr;
};

// Adds a sample to the history every interval, on the given executor, from start() to stop().
class Sampler {
  public:
    Sampler(History& history, SampleSources sources);
    ~Sampler();

    void start(boost::asio::any_io_executor executor);
    void stop();

    // One sample now (the first one only records the counters: a rate needs two readings).
    void sample_once();

  private:
    boost::asio::awaitable<void> loop();

    History& history_;
    SampleSources sources_;
    std::mutex mutex_;  // guards the last reading
    std::optional<Counters> last_counters_;
    std::chrono::steady_clock::time_point last_at_{};
    std::unique_ptr<boost::asio::steady_timer> timer_;
    std::atomic<bool> stopping_{false};
    std::promise<void> finished_;  // set when the loop has returned
};

}  // namespace yw::health
