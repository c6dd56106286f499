// Read-your-writes across instances: each tenant's (or scope's) last write position, in Redis.
#pragma once

#include <chrono>

#include "pg/cluster.hpp"
#include "redis/client.hpp"

namespace yw::messaging {

// Kept under `ryw:{scope}` as 16 hex digits (so strings compare like LSNs), raised only, expiring after a
// minute (by then every readable replica — at most YW_MAX_REPLICA_LAG_MS behind — has replayed it).
class WritePositions : public pg::WritePositionStore {
  public:
    explicit WritePositions(redis::Client& client,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(50),
                            std::chrono::milliseconds ttl = std::chrono::seconds(60));

    boost::asio::awaitable<void> publish(const std::string& scope, std::uint64_t lsn) override;
    boost::asio::awaitable<std::uint64_t> lookup(const std::string& scope) override;

  private:
    redis::Client& client_;
    const std::chrono::milliseconds timeout_;
    const std::chrono::milliseconds ttl_;
    const redis::Script raise_;
};

}  // namespace yw::messaging
