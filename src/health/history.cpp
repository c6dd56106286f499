// The status page's 15 minutes: the ring, the rates, and the timer that fills it.
#include "health/history.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>

#include "common/logging.hpp"
#include "health/detailed.hpp"

namespace yw::health {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::uint64_t grown(std::uint64_t before, std::uint64_t now) { return now > before ? now - before : 0; }

json::value optional_value(const std::optional<double>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

}  // namespace

void fill_rates(Sample& sample, const Counters& before, const Counters& now, double seconds) {
    if (seconds <= 0) return;
    sample.requests_per_s = static_cast<double>(grown(before.requests, now.requests)) / seconds;
    sample.limited_per_s = static_cast<double>(grown(before.limited, now.limited)) / seconds;
    auto lookups = grown(before.cache_lookups, now.cache_lookups);
    auto hits = std::min(grown(before.cache_hits, now.cache_hits), lookups);
    if (lookups > 0) sample.cache_hit_rate = static_cast<double>(hits) / static_cast<double>(lookups);
}

std::vector<std::optional<long long>> lags_of(const pg::Snapshot& snapshot,
                                              const std::vector<std::string>& names) {
    std::vector<std::optional<long long>> out(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
        for (const auto& node : snapshot.nodes) {
            if (node.name != names[i]) continue;
            if (node.healthy && node.role == pg::Role::kReplica) out[i] = node.lag_ms;
        }
    }
    return out;
}

History::History(std::vector<std::string> nodes, std::chrono::milliseconds interval)
    : nodes_(std::move(nodes)),
      interval_(interval),
      capacity_(static_cast<std::size_t>(std::max<long long>(
          1, std::chrono::milliseconds(kHistorySpan).count() / std::max<long long>(1, interval.count())))) {}

void History::add(Sample sample) {
    sample.lag_ms.resize(nodes_.size());
    std::lock_guard lock(mutex_);
    samples_.push_back(std::move(sample));
    while (samples_.size() > capacity_) samples_.pop_front();
}

std::size_t History::size() const {
    std::lock_guard lock(mutex_);
    return samples_.size();
}

json::object History::to_json() const {
    json::array t, p95, hit, limited, requests;
    std::vector<json::array> lags(nodes_.size());
    {
        std::lock_guard lock(mutex_);
        for (const auto& s : samples_) {
            t.push_back(
                std::chrono::duration_cast<std::chrono::milliseconds>(s.at.time_since_epoch()).count());
            p95.push_back(optional_value(s.p95_ms));
            hit.push_back(optional_value(s.cache_hit_rate));
            limited.push_back(s.limited_per_s);
            requests.push_back(s.requests_per_s);
            for (size_t i = 0; i < nodes_.size(); ++i)
                lags[i].push_back(s.lag_ms[i] ? json::value(*s.lag_ms[i]) : json::value(nullptr));
        }
    }
    json::object lag;
    for (size_t i = 0; i < nodes_.size(); ++i) lag[nodes_[i]] = std::move(lags[i]);
    return {{"interval_s", static_cast<double>(interval_.count()) / 1000.0},
            {"capacity", capacity_},
            {"t", std::move(t)},
            {"p95_ms", std::move(p95)},
            {"cache_hit_rate", std::move(hit)},
            {"limited_per_s", std::move(limited)},
            {"requests_per_s", std::move(requests)},
            {"lag_ms", std::move(lag)}};
}

Sampler::Sampler(History& history, SampleSources sources) : history_(history), sources_(std::move(sources)) {}

Sampler::~Sampler() { stop(); }

void Sampler::sample_once() {
    Counters now = sources_.counters ? sources_.counters() : Counters{};
    auto at = std::chrono::steady_clock::now();
    Sample sample;
    sample.at = std::chrono::system_clock::now();
    if (sources_.monitor) {
        auto summary = sources_.monitor->summary();
        if (summary.total >= kQueriesGradedFrom) sample.p95_ms = summary.p95_ms;
    }
    if (sources_.topology) sample.lag_ms = lags_of(*sources_.topology->snapshot(), history_.nodes());
    {
        std::lock_guard lock(mutex_);
        bool first = !last_counters_;
        if (!first)
            fill_rates(sample, *last_counters_, now, std::chrono::duration<double>(at - last_at_).count());
        last_counters_ = now;
        last_at_ = at;
        if (first) return;
    }
    history_.add(std::move(sample));
}

asio::awaitable<void> Sampler::loop() {
    while (!stopping_) {
        sample_once();
        // stop()'s cancel runs on this strand too, so it cannot slip in between this check and the wait.
        if (stopping_) break;
        timer_->expires_after(history_.interval());
        boost::system::error_code ec;
        co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    finished_.set_value();
}

void Sampler::start(asio::any_io_executor executor) {
    timer_ = std::make_unique<asio::steady_timer>(asio::make_strand(executor));
    asio::co_spawn(timer_->get_executor(), loop(), asio::detached);
}

void Sampler::stop() {
    if (!timer_ || stopping_.exchange(true)) return;
    asio::post(timer_->get_executor(), [this] { timer_->cancel(); });
    if (finished_.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
        timer_.reset();
    } else {
        log::warn("the status page's sampler did not stop in time");
        (void)timer_.release();
    }
}

}  // namespace yw::health
