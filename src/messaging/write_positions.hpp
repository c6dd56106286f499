// Read-your-writes across instances: each tenant's (or scope's) last write position, in Redis.
#pragma once

#include <chrono>

#include "common/batched_lookups.hpp"
#include "common/prometheus.hpp"
#include "pg/cluster.hpp"
#include "redis/client.hpp"

namespace yw::messaging {

// Kept under `ryw:{scope}` as 16 hex digits (so strings compare like LSNs), raised only, expiring after a
// minute (by then every readable replica — at most YW_MAX_REPLICA_LAG_MS behind — has replayed it). Lookups
// go in batched rounds (common/batched_lookups.hpp): the reads that arrive while one MGET is out share the
// next, and none is answered by an MGET sent before it asked, so a write another instance acknowledged is
// always seen.
class WritePositions : public pg::WritePositionStore {
  public:
    explicit WritePositions(redis::Client& client,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(50),
                            std::chrono::milliseconds ttl = std::chrono::seconds(60));

    boost::asio::awaitable<void> publish(const std::string& scope, std::uint64_t lsn) override;
    boost::asio::awaitable<std::uint64_t> lookup(const std::string& scope) override;

    BatchedLookups<std::uint64_t>::Stats lookup_stats() const { return lookups_.stats(); }
    // yw_ryw_lookups_total and yw_ryw_lookup_rounds_total (the MGETs those lookups took).
    void dump_metrics(prometheus::Writer& out) const;

  private:
    boost::asio::awaitable<std::vector<std::uint64_t>> read_positions(const std::vector<std::string>& keys);

    redis::Client& client_;
    const std::chrono::milliseconds timeout_;
    const std::chrono::milliseconds ttl_;
    const redis::Script raise_;
    BatchedLookups<std::uint64_t> lookups_;  // 0: no position known (missing, expired, Redis unreachable)
};

}  // namespace yw::messaging
