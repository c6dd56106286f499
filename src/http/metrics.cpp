// Request counters in relaxed atomics behind a map that only grows, and the exposition text.
#include "http/metrics.hpp"

#include <atomic>
#include <iterator>
#include <map>
#include <shared_mutex>
#include <tuple>

namespace yw::http {
namespace {

struct AtomicBuckets {
    std::array<std::atomic<std::uint64_t>, LatencyBuckets::kBoundsUs.size() + 1> counts{};
    std::atomic<std::uint64_t> sum_us{0};
};

// (route, method, status): the order of snapshot().
using Key = std::tuple<std::string, std::string, unsigned>;

std::string_view method_label(boost::beast::http::verb method) {
    // Beast maps every method it does not know to verb::unknown: one label, however many a client invents.
    if (method == boost::beast::http::verb::unknown) return "other";
    return boost::beast::http::to_string(method);
}

// Orders stored keys and lookups alike as views, so a lookup allocates nothing (and compiles with clang,
// whose tuple comparison across string and string_view libstdc++ 12 does not offer).
struct KeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
        return view(a) < view(b);
    }
    template <typename T>
    static std::tuple<std::string_view, std::string_view, unsigned> view(const T& t) {
        return {std::get<0>(t), std::get<1>(t), std::get<2>(t)};
    }
};

}  // namespace

struct Metrics::Impl {
    mutable std::shared_mutex mutex;
    std::map<Key, std::unique_ptr<AtomicBuckets>, KeyLess> series;  // grows only
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}

Metrics::~Metrics() = default;

void Metrics::add_source(Source source) { sources_.push_back(std::move(source)); }

void Metrics::dump_sources(prometheus::Writer& out) const {
    for (const auto& source : sources_) source(out);
}

void Metrics::observe(const RequestRecord& request) noexcept {
    std::string_view method = method_label(request.method);
    std::string_view route = request.route.empty() ? kUnmatchedRoute : request.route;
    std::uint64_t us = to_micros(request.duration);
    AtomicBuckets* buckets = nullptr;
    {
        std::shared_lock lock(impl_->mutex);
        auto it = impl_->series.find(std::tuple{route, method, request.status});
        if (it != impl_->series.end()) buckets = it->second.get();
    }
    if (!buckets) {
        try {
            std::unique_lock lock(impl_->mutex);
            auto& slot = impl_->series[Key{std::string(route), std::string(method), request.status}];
            if (!slot) slot = std::make_unique<AtomicBuckets>();
            buckets = slot.get();
        } catch (const std::exception&) {
            return;  // out of memory: the request was served, only its count is lost
        }
    }
    buckets->counts[LatencyBuckets::index_of(us)].fetch_add(1, std::memory_order_relaxed);
    buckets->sum_us.fetch_add(us, std::memory_order_relaxed);
}

std::vector<Metrics::Series> Metrics::snapshot() const {
    std::vector<Series> out;
    std::shared_lock lock(impl_->mutex);
    out.reserve(impl_->series.size());
    for (const auto& [key, buckets] : impl_->series) {
        Series& series = out.emplace_back();
        std::tie(series.route, series.method, series.status) = key;
        for (std::size_t i = 0; i < buckets->counts.size(); ++i) {
            series.latency.counts[i] = buckets->counts[i].load(std::memory_order_relaxed);
        }
        series.latency.sum_us = buckets->sum_us.load(std::memory_order_relaxed);
    }
    return out;
}

void dump_metrics(prometheus::Writer& out, const std::vector<Metrics::Series>& requests) {
    std::vector<std::string> labels;
    labels.reserve(requests.size());
    for (const auto& series : requests) {
        std::string& l = labels.emplace_back();
        prometheus::append_label(l, "method", series.method);
        prometheus::append_label(l, "route", series.route);
        prometheus::append_label(l, "status", std::to_string(series.status));
    }
    out.family("yw_http_requests_total", "counter",
               "HTTP requests answered, by method, route pattern and status.");
    for (std::size_t i = 0; i < requests.size(); ++i)
        out.sample("yw_http_requests_total", labels[i], requests[i].latency.count());
    out.family("yw_http_request_duration_seconds", "histogram",
               "From the end of reading a request to the end of writing its response.");
    for (std::size_t i = 0; i < requests.size(); ++i)
        out.histogram("yw_http_request_duration_seconds", labels[i], requests[i].latency);
}

void dump_metrics(prometheus::Writer& out, const ConnectionStats& c) {
    out.family("yw_http_connections_open", "gauge", "Client connections open now.");
    out.sample("yw_http_connections_open", {}, c.open);
    out.family("yw_http_connections_limit", "gauge",
               "Open connections at most (YW_MAX_CONNECTIONS, lowered by the open-file limit).");
    out.sample("yw_http_connections_limit", {}, c.limit);
    out.family("yw_http_connections_accepted_total", "counter", "Client connections accepted.");
    out.sample("yw_http_connections_accepted_total", {}, c.accepted);
    out.family("yw_http_connections_shed_total", "counter",
               "Connections closed at the limit to make room for a new one (oldest idle first).");
    out.sample("yw_http_connections_shed_total", {}, c.shed);
    out.family("yw_http_connections_refused_total", "counter",
               "Connections answered 503 at the limit because every connection was busy.");
    out.sample("yw_http_connections_refused_total", {}, c.refused);
    out.family("yw_http_accept_errors_total", "counter", "Failed accepts (out of file descriptors, …).");
    out.sample("yw_http_accept_errors_total", {}, c.accept_errors);
}

}  // namespace yw::http
