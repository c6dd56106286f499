// The database as the request paths see it: callers state intent (write, read, read-after-write) and the
// cluster picks the pool. Until replica routing (issue 4) every intent goes to the primary's pool; call sites
// already say what they need so routing can change without touching them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "pg/pool.hpp"

namespace yw::pg {

class QueryMonitor;

enum class Intent {
    kWrite,           // must run on the primary
    kRead,            // may run on any healthy node that is recent enough
    kReadAfterWrite,  // must see this tenant's latest write
};

struct ClusterOptions {
    PoolOptions primary;                            // DATABASE_URL
    std::chrono::milliseconds query_timeout{5000};  // the default deadline of a statement
};

class Cluster {
  public:
    // `monitor` (may be null) receives every statement's duration under its registry name.
    Cluster(ClusterOptions options, QueryMonitor* monitor);

    // Runs one registry statement with the default deadline (or `deadline` when sooner).
    boost::asio::awaitable<Result<ResultSet>> exec(Intent intent, const Query& query, Params params);
    boost::asio::awaitable<Result<ResultSet>> exec(Intent intent, const Query& query, Params params,
                                                   Deadline deadline);

    struct NamedStats {
        std::string name;
        PoolStats stats;
    };
    std::vector<NamedStats> pool_stats() const;

    // Closes every pool's idle connections (shutdown, before the io_context is destroyed).
    void close();

  private:
    Pool& pool_for(Intent intent);

    const ClusterOptions options_;
    QueryMonitor* monitor_;
    std::unique_ptr<Pool> primary_;
};

}  // namespace yw::pg
