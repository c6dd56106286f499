// Query monitoring: per-thread shards of per-name, per-time-slot histograms, merged when read.
#include "pg/monitor.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "common/logging.hpp"
#include "common/verdict.hpp"

namespace yw::pg {
namespace json = boost::json;
using TimePoint = std::chrono::steady_clock::time_point;

namespace {

// The window is cut into this many slots, and a slot is reset when its turn comes round again: a report
// covers between (kSlots - 1) / kSlots of the window and all of it, in memory that does not grow with
// traffic.
constexpr std::size_t kSlots = 10;
// Names come from the query registry, so they are few. Past this many, something passes dynamic text as a
// name; its samples are pooled under kOverflowName instead of growing memory without bound.
constexpr std::size_t kMaxNames = 512;
constexpr std::string_view kOverflowName = "(other)";
constexpr std::size_t kMaxSlowQueries = 20;

struct Slot {
    std::int64_t period = -1;  // the clock period (time / slot length) the counts belong to; -1: never used
    Histogram latency;
    std::uint64_t slow = 0;  // statements slower than the threshold
};

struct Series {
    std::array<Slot, kSlots> slots;
    LatencyBuckets lifetime;
    std::uint64_t errors = 0;
};

struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
        return std::hash<std::string_view>{}(name);
    }
};

// One thread's samples. Only that thread writes them; report() and totals() read them every few seconds, so
// the mutex is almost always uncontended.
struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::unique_ptr<Series>, NameHash, std::equal_to<>> series;
};

// A monitor's shards. Threads hold it weakly: one that exits after the monitor is gone has nothing to give
// back, and one that exits before hands its shard to the next new thread, so memory follows the number of
// threads alive at once, not the number that ever recorded.
struct ShardList {
    std::mutex mutex;
    std::vector<std::unique_ptr<Shard>> shards;
    std::vector<Shard*> released;  // capacity kept at shards.size(): giving back never allocates
};

std::atomic<std::uint64_t> next_monitor_id{1};

// This thread's shard in each monitor it has recorded into: usually one entry, found by a compare. Monitor
// ids are never reused, so an entry of a destroyed monitor can never be mistaken for a live one.
class ThreadShards {
  public:
    ThreadShards() = default;
    ThreadShards(const ThreadShards&) = delete;
    ThreadShards& operator=(const ThreadShards&) = delete;
    ~ThreadShards() {
        for (auto& entry : entries_) {
            if (auto list = entry.list.lock()) {
                std::lock_guard lock(list->mutex);
                list->released.push_back(entry.shard);
            }
        }
    }

    Shard* find(std::uint64_t monitor_id) const noexcept {
        for (const auto& entry : entries_) {
            if (entry.monitor_id == monitor_id) return entry.shard;
        }
        return nullptr;
    }

    // Adopts a released shard of `list` or adds a new one. Throws std::bad_alloc.
    Shard* attach(std::uint64_t monitor_id, const std::shared_ptr<ShardList>& list) {
        std::erase_if(entries_, [](const Entry& entry) { return entry.list.expired(); });
        entries_.reserve(entries_.size() + 1);
        std::lock_guard lock(list->mutex);
        Shard* shard = nullptr;
        if (!list->released.empty()) {
            shard = list->released.back();
            list->released.pop_back();
        } else {
            list->shards.reserve(list->shards.size() + 1);
            list->released.reserve(list->shards.size() + 1);
            list->shards.push_back(std::make_unique<Shard>());
            shard = list->shards.back().get();
        }
        entries_.push_back({monitor_id, shard, list});
        return shard;
    }

  private:
    struct Entry {
        std::uint64_t monitor_id;
        Shard* shard;
        std::weak_ptr<ShardList> list;
    };
    std::vector<Entry> entries_;
};

thread_local ThreadShards this_thread_shards;

double us_to_ms(double us) { return std::round(us / 10) / 100; }  // rounded to 0.01 ms

}  // namespace

struct QueryMonitor::Impl {
    explicit Impl(MonitorOptions opts)
        : options(std::move(opts)),
          slot_length(std::chrono::duration_cast<std::chrono::nanoseconds>(options.window) /
                      static_cast<std::int64_t>(kSlots)),
          threshold(std::chrono::milliseconds(options.slow_threshold_ms)) {
        if (options.window <= std::chrono::seconds(0)) {
            throw std::invalid_argument("the query monitor's window must be positive");
        }
        if (!options.clock) options.clock = std::chrono::steady_clock::now;
    }

    std::int64_t period_of(TimePoint t) const { return t.time_since_epoch() / slot_length; }
    bool in_window(std::int64_t slot_period, std::int64_t now_period) const {
        return slot_period > now_period - static_cast<std::int64_t>(kSlots);
    }

    Shard* shard_for_this_thread() noexcept {
        if (Shard* shard = this_thread_shards.find(id)) return shard;
        try {
            return this_thread_shards.attach(id, shards);
        } catch (const std::bad_alloc&) {
            return nullptr;
        }
    }

    // The series of `name` in `shard` (whose mutex the caller holds); null when out of memory.
    Series* series_for(Shard& shard, std::string_view name) noexcept {
        if (auto it = shard.series.find(name); it != shard.series.end()) return it->second.get();
        if (shard.series.size() >= kMaxNames) {
            if (!overflow_warned.exchange(true)) {
                try {
                    log::warn("too many query names; pooling the rest", {{"limit", kMaxNames},
                                                                         {"first_pooled", std::string(name)},
                                                                         {"as", std::string(kOverflowName)}});
                } catch (...) {  // a log line is not worth failing a query over
                }
            }
            name = kOverflowName;
            if (auto it = shard.series.find(name); it != shard.series.end()) return it->second.get();
        }
        try {
            return shard.series.emplace(std::string(name), std::make_unique<Series>()).first->second.get();
        } catch (const std::bad_alloc&) {
            return nullptr;
        }
    }

    std::vector<Shard*> snapshot_shards() const {
        std::lock_guard lock(shards->mutex);
        std::vector<Shard*> out;
        out.reserve(shards->shards.size());
        for (const auto& shard : shards->shards) out.push_back(shard.get());
        return out;
    }

    MonitorOptions options;
    const std::chrono::nanoseconds slot_length;
    const std::chrono::nanoseconds threshold;
    const std::uint64_t id = next_monitor_id.fetch_add(1);
    const std::shared_ptr<ShardList> shards = std::make_shared<ShardList>();
    std::atomic<bool> overflow_warned{false};
};

QueryMonitor::QueryMonitor(MonitorOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

QueryMonitor::~QueryMonitor() = default;

void QueryMonitor::record(std::string_view query_name, std::chrono::nanoseconds duration, bool ok) noexcept {
    // Losing a sample when memory runs out beats failing the query it measured.
    Shard* shard = impl_->shard_for_this_thread();
    if (!shard) return;
    std::int64_t period = impl_->period_of(impl_->options.clock());
    std::uint64_t us = to_micros(duration);
    std::lock_guard lock(shard->mutex);
    Series* series = impl_->series_for(*shard, query_name);
    if (!series) return;
    Slot& slot = series->slots[static_cast<std::size_t>(period) % kSlots];
    if (slot.period != period) {
        slot.latency.reset();
        slot.slow = 0;
        slot.period = period;
    }
    slot.latency.record(us);
    if (duration > impl_->threshold) ++slot.slow;
    series->lifetime.record(us);
    if (!ok) ++series->errors;
}

std::map<std::string, QueryMonitor::Window, std::less<>> QueryMonitor::windows() const {
    std::map<std::string, Window, std::less<>> by_name;
    std::int64_t now_period = impl_->period_of(impl_->options.clock());
    for (Shard* shard : impl_->snapshot_shards()) {
        std::lock_guard lock(shard->mutex);
        for (const auto& [name, series] : shard->series) {
            for (const Slot& slot : series->slots) {
                if (slot.latency.count() == 0 || !impl_->in_window(slot.period, now_period)) continue;
                Window& window = by_name[name];
                window.latency.merge(slot.latency);
                window.slow += slot.slow;
            }
        }
    }
    return by_name;
}

QuerySummary QueryMonitor::summary() const {
    Histogram all;
    std::uint64_t slow_total = 0;
    for (const auto& [name, window] : windows()) {
        all.merge(window.latency);
        slow_total += window.slow;
    }
    QuerySummary out;
    out.total = all.count();
    out.p95_ms = us_to_ms(all.percentile(95));
    out.slow_percent =
        all.count() ? 100.0 * static_cast<double>(slow_total) / static_cast<double>(all.count()) : 0;
    return out;
}

json::value QueryMonitor::report() const {
    const auto by_name = windows();
    Histogram all;
    std::uint64_t slow_total = 0;
    std::vector<std::pair<const std::string*, const Window*>> slowest;
    for (const auto& [name, window] : by_name) {
        all.merge(window.latency);
        slow_total += window.slow;
        if (window.slow > 0) slowest.emplace_back(&name, &window);
    }
    std::sort(slowest.begin(), slowest.end(), [](const auto& a, const auto& b) {
        if (a.second->latency.max() != b.second->latency.max()) {
            return a.second->latency.max() > b.second->latency.max();
        }
        return *a.first < *b.first;
    });
    if (slowest.size() > kMaxSlowQueries) slowest.resize(kMaxSlowQueries);

    json::array slow_queries;
    for (const auto& [name, window] : slowest) {
        slow_queries.push_back(
            json::object{{"query", *name},
                         {"duration", us_to_ms(static_cast<double>(window->latency.max()))},
                         {"count", window->slow},
                         {"threshold", impl_->options.slow_threshold_ms}});
    }
    double p95 = us_to_ms(all.percentile(95));
    double average = all.count() ? static_cast<double>(all.sum()) / static_cast<double>(all.count()) : 0;
    double slow_percent =
        all.count() ? 100.0 * static_cast<double>(slow_total) / static_cast<double>(all.count()) : 0;
    yw::Verdict verdict = yw::query_health(p95, slow_percent);
    return json::object{{"slowQueries", std::move(slow_queries)},
                        {"statistics", json::object{{"p50", us_to_ms(all.percentile(50))},
                                                    {"p90", us_to_ms(all.percentile(90))},
                                                    {"p95", p95},
                                                    {"p99", us_to_ms(all.percentile(99))},
                                                    {"average", us_to_ms(average)},
                                                    {"total_queries", all.count()}}},
                        {"health", json::string_view(yw::to_string(verdict))}};
}

std::vector<QueryTotals> QueryMonitor::totals() const {
    std::map<std::string, QueryTotals, std::less<>> by_name;
    for (Shard* shard : impl_->snapshot_shards()) {
        std::lock_guard lock(shard->mutex);
        for (const auto& [name, series] : shard->series) {
            QueryTotals& totals = by_name[name];
            totals.latency.merge(series->lifetime);
            totals.errors += series->errors;
        }
    }
    std::vector<QueryTotals> out;
    out.reserve(by_name.size());
    for (auto& [name, totals] : by_name) {
        totals.name = name;
        out.push_back(std::move(totals));
    }
    return out;
}

}  // namespace yw::pg
