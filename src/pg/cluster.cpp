// pg::Cluster: intent → node, from the topology's latest snapshot (see cluster.hpp).
#include "pg/cluster.hpp"

#include <fmt/format.h>

#include "common/logging.hpp"
#include "pg/monitor.hpp"
#include "pg/queries.hpp"

namespace yw::pg {
namespace asio = boost::asio;

namespace {

constexpr size_t kTrackedTenantsBeforePruning = 4096;

// The connection failed, not the statement: error_from_result names a SQLSTATE for every error a server
// answered, and class 08 is what PgBouncer answers when it cannot reach its server.
bool connection_lost(const Error& error) {
    return error.message.find("(SQLSTATE ") == std::string::npos ||
           error.message.find("(SQLSTATE 08") != std::string::npos;
}

// At most one "reads on the primary" warning per interval: the counter tells how many.
bool warn_now(std::atomic<long long>& last_ms) {
    long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
    long long last = last_ms.load();
    return now - last >= 10000 && last_ms.compare_exchange_strong(last, now);
}
std::atomic<long long> last_fallback_warning_ms{-10000};

}  // namespace

// --- read-your-writes bookkeeping ---

void WriteLsnTracker::note(const std::string& tenant, std::uint64_t lsn) {
    std::lock_guard lock(mutex_);
    auto& current = lsn_[tenant];
    current = std::max(current, lsn);
}

std::uint64_t WriteLsnTracker::required(const std::string& tenant) const {
    if (tenant.empty()) return 0;
    std::lock_guard lock(mutex_);
    auto it = lsn_.find(tenant);
    return it == lsn_.end() ? 0 : it->second;
}

void WriteLsnTracker::forget_below(std::uint64_t lsn) {
    std::lock_guard lock(mutex_);
    std::erase_if(lsn_, [lsn](const auto& entry) { return entry.second <= lsn; });
}

size_t WriteLsnTracker::size() const {
    std::lock_guard lock(mutex_);
    return lsn_.size();
}

// --- routing ---

Cluster::Cluster(ClusterOptions options, QueryMonitor* monitor, const TopologyMonitor* topology)
    : options_(std::move(options)),
      monitor_(monitor),
      topology_(options_.nodes.empty() ? nullptr : topology),
      entry_(std::make_unique<Pool>(options_.primary)) {
    counter_names_.push_back(options_.primary.name);
    for (const auto& node : options_.nodes) {
        if (node.conninfo == options_.primary.conninfo) {
            nodes_.push_back(nullptr);
            node_pool_.push_back(entry_.get());
            node_counter_.push_back(0);
        } else {
            nodes_.push_back(std::make_unique<Pool>(node));
            node_pool_.push_back(nodes_.back().get());
            node_counter_.push_back(static_cast<int>(counter_names_.size()));
            counter_names_.push_back(node.name);
        }
    }
    counters_ = std::make_unique<Counters[]>(counter_names_.size());
}

Result<Cluster::Target> Cluster::target(const Snapshot& s, Route route) {
    using Why = Route::Why;
    switch (route.why) {
        case Why::kNoPrimary:
            ++fast_failures_;
            return make_error(
                ErrorCode::kUnavailable,
                "no writable primary: a failover is in progress or needed (ywctl emergency db-down)");
        case Why::kPrimaryDown:
            ++fast_failures_;
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("the primary ({}) is not answering: {}", s.nodes[s.primary].name,
                                          s.nodes[s.primary].error));
        case Why::kNoNode:
            ++fast_failures_;
            return make_error(ErrorCode::kUnavailable, "no database node is answering");
        case Why::kPrimaryDirect:
            ++writes_bypassing_;
            break;
        case Why::kPrimaryForTenant:
            ++reads_for_tenant_;
            break;
        case Why::kPrimaryNoReplica:
            ++reads_no_replica_;
            if (warn_now(last_fallback_warning_ms)) {
                log::warn("no replica is fresh enough: reads go to the primary",
                          {{"reads_on_primary", reads_no_replica_.load()}});
            }
            break;
        case Why::kDegraded:
            ++reads_degraded_;
            break;
        case Why::kEntry:
        case Why::kReplica:
        case Why::kPrimaryAsked:
            break;
    }
    if (route.node < 0) return Target{entry_.get(), 0, -1};
    return Target{node_pool_[route.node], node_counter_[route.node], route.node};
}

Result<Cluster::Target> Cluster::route_write(const Snapshot& s) {
    if (!topology_) return Target{entry_.get(), 0, -1};
    return target(s, pg::route_write(s, entry_trusted_from_.load(std::memory_order_relaxed)));
}

Result<Cluster::Target> Cluster::route_read(const Snapshot& s, std::uint64_t required_lsn, int skip) {
    if (!topology_) return Target{entry_.get(), 0, -1};
    return target(
        s, pg::route_read(s, required_lsn, skip, next_replica_.fetch_add(1, std::memory_order_relaxed)));
}

void Cluster::distrust_entry(const Snapshot& s, const Error& error) {
    // Two rounds: the one under way may have probed PgBouncer before it failed.
    std::uint64_t until = s.round + 2;
    std::uint64_t current = entry_trusted_from_.load();
    while (current < until && !entry_trusted_from_.compare_exchange_weak(current, until)) {
    }
    if (current < until) {
        log::warn(
            "DATABASE_URL failed a statement: writes go straight to the primary until PgBouncer is probed",
            {{"error", error.message}});
    }
}

asio::awaitable<Result<ResultSet>> Cluster::run(Target target, const Query& query, Params params,
                                                Deadline deadline, const std::string* tenant, bool& sent) {
    sent = false;
    auto lease = co_await target.pool->acquire(deadline);
    if (!lease) co_return lease.error();
    sent = true;
    auto result = co_await (*lease)->exec(query, std::move(params), deadline);
    if (result && tenant) {
        // The write committed; its reads must not go to a replica that has not replayed this far.
        Params none;
        auto lsn = co_await (*lease)->exec(queries::kCurrentWalLsn, std::move(none), deadline);
        std::optional<std::uint64_t> parsed;
        if (lsn && lsn->rows() == 1) parsed = parse_lsn(lsn->get(0, 0));
        result->set_write_lsn(parsed.value_or(kNewestLsn));
        if (parsed) {
            lsns_.note(*tenant, *parsed);
            if (shared_) co_await shared_->publish(*tenant, *parsed);
        } else {
            log::warn("cannot read the primary's WAL position after a write; read-your-writes may lag",
                      {{"query", std::string(query.name)}});
        }
        if (lsns_.size() > kTrackedTenantsBeforePruning && topology_) {
            auto s = topology_->snapshot();
            std::uint64_t floor = UINT64_MAX;
            for (const auto& n : s->nodes) {
                if (n.role == Role::kReplica && n.readable) floor = std::min(floor, n.lsn);
            }
            if (floor != UINT64_MAX) lsns_.forget_below(floor);
        }
    }
    co_return result;
}

asio::awaitable<Result<ResultSet>> Cluster::exec(Intent intent, const Query& query, Params params) {
    co_return co_await exec(intent, query, std::move(params),
                            std::chrono::steady_clock::now() + options_.query_timeout);
}

asio::awaitable<Result<ResultSet>> Cluster::exec(Intent intent, const Query& query, Params params,
                                                 Deadline deadline) {
    std::string tenant;  // the read-your-writes scope (see Query)
    if (query.tenant_param >= 0 && static_cast<size_t>(query.tenant_param) < params.size() &&
        params[query.tenant_param]) {
        tenant = *params[query.tenant_param];
    } else if (!query.scope.empty()) {
        tenant = "scope:" + std::string(query.scope);
    }
    const bool read = intent != Intent::kWrite;
    std::uint64_t required = intent == Intent::kReadAfterWrite ? kNewestLsn
                             : read                            ? lsns_.required(tenant)
                                                               : 0;
    if (intent == Intent::kRead && topology_ && shared_ && !tenant.empty()) {
        std::uint64_t elsewhere = co_await shared_->lookup(tenant);  // written through another instance
        required = std::max(required, elsewhere);
    }
    co_return co_await dispatch(intent, required, tenant, query, std::move(params), deadline);
}

asio::awaitable<Result<ResultSet>> Cluster::exec(AtLeast at, const Query& query, Params params) {
    static const std::string kNoTenant;
    co_return co_await dispatch(Intent::kRead, at.lsn, kNoTenant, query, std::move(params),
                                std::chrono::steady_clock::now() + options_.query_timeout);
}

// The one place where every statement's duration is measured.
asio::awaitable<Result<ResultSet>> Cluster::dispatch(Intent intent, std::uint64_t required,
                                                     const std::string& tenant, const Query& query,
                                                     Params params, Deadline deadline) {
    deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.query_timeout);
    auto started = std::chrono::steady_clock::now();
    std::shared_ptr<const Snapshot> snapshot = topology_ ? topology_->snapshot() : nullptr;
    static const Snapshot kNone;
    const Snapshot& s = snapshot ? *snapshot : kNone;
    // A read after writes goes straight to the primary's node, never through PgBouncer: should the primary
    // die, it fails at once (not in PgBouncer's queue) and is asked again on the freshest replica that
    // answers, which holds the newest that exists now. A read must not fail while a replica lives.
    const bool read = intent != Intent::kWrite;
    auto target = read ? route_read(s, required, -1) : route_write(s);

    Result<ResultSet> result = target ? Result<ResultSet>(ResultSet()) : Result<ResultSet>(target.error());
    if (target) {
        counters_[target->counter].*(read ? &Counters::reads : &Counters::writes) += 1;
        const bool track = topology_ && intent == Intent::kWrite && !tenant.empty();
        // Reads are safe to repeat; a write is only when it never reached a server.
        Params retry_params;
        if (target->node >= 0 ? read : (topology_ && s.pgbouncer_configured)) retry_params = params;
        bool sent = false;
        result = co_await run(*target, query, std::move(params), deadline, track ? &tenant : nullptr, sent);
        const bool unavailable = !result && result.error().code == ErrorCode::kUnavailable;
        if (unavailable && target->node < 0 && topology_ && s.pgbouncer_configured &&
            (!sent || connection_lost(result.error()))) {
            // PgBouncer refused or dropped us while the primary may be fine: do not wait for the next probe
            // round to notice. Statements that never reached it (and reads) go straight to the primary now.
            distrust_entry(s, result.error());
            if ((!sent || intent != Intent::kWrite) && std::chrono::steady_clock::now() < deadline) {
                auto direct = route_write(*topology_->snapshot());
                if (direct && direct->node >= 0) {
                    ++entry_failovers_;
                    counters_[direct->counter].*(read ? &Counters::reads : &Counters::writes) += 1;
                    result = co_await run(*direct, query, std::move(retry_params), deadline,
                                          track ? &tenant : nullptr, sent);
                }
            }
        } else if (unavailable && read && target->node >= 0 && std::chrono::steady_clock::now() < deadline) {
            // A read that fails because its replica just went away is asked again elsewhere.
            auto again = route_read(*topology_->snapshot(), required, target->node);
            if (again) {
                ++reads_retried_;
                counters_[again->counter].reads += 1;
                result = co_await run(*again, query, std::move(retry_params), deadline, nullptr, sent);
            }
        }
    }
    if (monitor_) monitor_->record(query.name, std::chrono::steady_clock::now() - started, result.ok());
    co_return result;
}

void Cluster::close() {
    entry_->close();
    for (auto& pool : nodes_) {
        if (pool) pool->close();
    }
}

std::vector<Cluster::NamedStats> Cluster::pool_stats() const {
    std::vector<NamedStats> out{{entry_->options().name, entry_->stats()}};
    for (const auto& pool : nodes_) {
        if (pool) out.push_back({pool->options().name, pool->stats()});
    }
    return out;
}

RoutingStats Cluster::routing_stats() const {
    RoutingStats r;
    for (size_t i = 0; i < counter_names_.size(); ++i) {
        r.nodes.push_back({counter_names_[i], counters_[i].reads.load(), counters_[i].writes.load()});
    }
    r.reads_on_primary_no_replica = reads_no_replica_;
    r.reads_on_primary_for_tenant = reads_for_tenant_;
    r.reads_degraded = reads_degraded_;
    r.reads_retried = reads_retried_;
    r.writes_bypassing_pgbouncer = writes_bypassing_;
    r.entry_failovers = entry_failovers_;
    r.fast_failures = fast_failures_;
    return r;
}

}  // namespace yw::pg
