// pg::Cluster: the database as the request paths see it.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "pg/pool.hpp"
#include "pg/route.hpp"
#include "pg/topology.hpp"

namespace yw::pg {

class QueryMonitor;

enum class Intent {
    kWrite,           // must run on the primary
    kRead,            // may run on any healthy node that is recent enough (and has the tenant's last write)
    kReadAfterWrite,  // on the primary's own node: needs whatever was written anywhere, by anyone; with no
                      // primary answering, on the freshest replica (degraded) rather than failing
};

// A read that must see the WAL up to `lsn`, a position the caller holds (cache fills: the newest write that
// invalidated the entry). It covers all the read needs, so the tenant's shared position is not looked up.
struct AtLeast {
    std::uint64_t lsn = 0;
};

struct ClusterOptions {
    PoolOptions primary;             // DATABASE_URL: PgBouncer, or the primary itself
    std::vector<PoolOptions> nodes;  // direct pools, in the topology's node order; empty: no routing
    std::chrono::milliseconds query_timeout{5000};  // the default deadline of a statement
};

// The write position a tenant's reads must see, per tenant, in this process.
class WriteLsnTracker {
  public:
    void note(const std::string& tenant, std::uint64_t lsn);
    std::uint64_t required(const std::string& tenant) const;
    // Forgets tenants whose last write every replica has replayed (bounded memory).
    void forget_below(std::uint64_t lsn);
    size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::uint64_t> lsn_;
};

// Where read-your-writes positions are shared between instances (Redis: src/redis/write_positions.hpp), so
// a tenant's read on another instance also waits for its write. Best effort: a lookup that fails says 0.
class WritePositionStore {
  public:
    virtual ~WritePositionStore() = default;
    virtual boost::asio::awaitable<void> publish(const std::string& scope, std::uint64_t lsn) = 0;
    virtual boost::asio::awaitable<std::uint64_t> lookup(const std::string& scope) = 0;
};

struct RoutingStats {
    struct Node {
        std::string name;
        unsigned long long reads = 0;
        unsigned long long writes = 0;
    };
    std::vector<Node> nodes;  // "pgbouncer" (DATABASE_URL) first when it is a separate entry
    unsigned long long reads_on_primary_no_replica = 0;  // no replica fresh enough
    unsigned long long reads_on_primary_for_tenant = 0;  // replicas had not replayed the tenant's last write
    unsigned long long reads_degraded = 0;               // no primary: served by the freshest replica
    unsigned long long reads_retried = 0;                // a replica failed mid-read; asked another node
    unsigned long long writes_bypassing_pgbouncer = 0;
    unsigned long long entry_failovers =
        0;                                 // statements moved to the primary at once: PgBouncer refused them
    unsigned long long fast_failures = 0;  // refused at once: the node is known to be down
};

// Callers state intent (write, read, read-after-write) and the cluster picks the node from the topology's
// latest snapshot (src/pg/topology.hpp):
//   - writes go to the primary: through DATABASE_URL (PgBouncer) while it leads to the primary, else straight
//     to the node that is primary now (after a failover PgBouncer has not followed yet);
//   - reads go to a replica that is fresh (lag within YW_MAX_REPLICA_LAG_MS) and has replayed the tenant's
//     last write (read-your-writes, by LSN); otherwise to the primary, counted; with no primary, to the
//     freshest replica that answers;
//   - a node known to be down is not tried: the request fails at once with kUnavailable (503 + Retry-After).
// Without replicas configured everything goes to DATABASE_URL.
class Cluster {
  public:
    // `monitor` (may be null) receives every statement's duration under its registry name. `topology` (may be
    // null: everything to DATABASE_URL) is read on every statement.
    Cluster(ClusterOptions options, QueryMonitor* monitor, const TopologyMonitor* topology = nullptr);

    // Runs one registry statement with the default deadline (or `deadline` when sooner).
    boost::asio::awaitable<Result<ResultSet>> exec(Intent intent, const Query& query, Params params);
    boost::asio::awaitable<Result<ResultSet>> exec(Intent intent, const Query& query, Params params,
                                                   Deadline deadline);
    // A read on a node that has replayed `at.lsn` (the primary when no replica has).
    boost::asio::awaitable<Result<ResultSet>> exec(AtLeast at, const Query& query, Params params);

    struct NamedStats {
        std::string name;
        PoolStats stats;
    };
    std::vector<NamedStats> pool_stats() const;
    RoutingStats routing_stats() const;
    const WriteLsnTracker& write_lsns() const { return lsns_; }
    const TopologyMonitor* topology() const { return topology_; }
    // Shares read-your-writes positions with other instances (set before serving; may stay null).
    void share_write_positions(WritePositionStore* store) { shared_ = store; }

    // Closes every pool's idle connections (shutdown, before the io_context is destroyed).
    void close();

  private:
    struct Target {
        Pool* pool = nullptr;
        int counter = 0;  // index into counters_
        int node = -1;    // index into the snapshot's nodes; -1: DATABASE_URL
    };
    struct Counters {
        std::atomic<unsigned long long> reads{0};
        std::atomic<unsigned long long> writes{0};
    };

    // The pool of a route (pure: src/pg/route.hpp), counting its reason; a refusal becomes kUnavailable.
    Result<Target> target(const Snapshot& s, Route route);
    Result<Target> route_write(const Snapshot& s);
    // `skip`: a node index not to pick (it just failed).
    Result<Target> route_read(const Snapshot& s, std::uint64_t required_lsn, int skip);
    // `tenant`, when set, is the tenant whose write this is: its commit LSN is noted for read-your-writes.
    // `sent` is set once a connection was in hand: until then nothing reached a server, so any statement may
    // be tried elsewhere.
    boost::asio::awaitable<Result<ResultSet>> run(Target target, const Query& query, Params params,
                                                  Deadline deadline, const std::string* tenant, bool& sent);
    // Routes and runs one statement; `required`: the WAL position a read must see; `tenant`: the scope whose
    // write this may be.
    boost::asio::awaitable<Result<ResultSet>> dispatch(Intent intent, std::uint64_t required,
                                                       const std::string& tenant, const Query& query,
                                                       Params params, Deadline deadline);
    // DATABASE_URL (PgBouncer) failed a statement: writes go straight to the primary until the topology has
    // probed PgBouncer again.
    void distrust_entry(const Snapshot& s, const Error& error);

    const ClusterOptions options_;
    QueryMonitor* monitor_;
    const TopologyMonitor* topology_;
    std::unique_ptr<Pool> entry_;               // DATABASE_URL
    std::vector<std::unique_ptr<Pool>> nodes_;  // by node index; null where the node's DSN is DATABASE_URL's
    std::vector<Pool*> node_pool_;              // by node index: its pool (maybe entry_)
    std::vector<int> node_counter_;             // by node index: its counters_ slot
    std::vector<std::string> counter_names_;
    std::unique_ptr<Counters[]> counters_;
    std::atomic<unsigned> next_replica_{0};
    std::atomic<std::uint64_t> entry_trusted_from_{0};  // see route_write (src/pg/route.hpp)
    WriteLsnTracker lsns_;
    WritePositionStore* shared_ = nullptr;
    std::atomic<unsigned long long> reads_no_replica_{0}, reads_for_tenant_{0}, reads_degraded_{0},
        reads_retried_{0}, writes_bypassing_{0}, fast_failures_{0}, entry_failovers_{0};
};

}  // namespace yw::pg
