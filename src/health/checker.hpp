// Liveness of what ywmsgd depends on, as GET /health reports it: for now the primary database.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "partitions/maintainer.hpp"
#include "pg/connection.hpp"
#include "pg/result_set.hpp"
#include "pg/topology.hpp"

namespace yw::health {

inline constexpr std::string_view kVersion = "0.1.0";

struct DatabaseStatus {
    bool up = false;
    double latency_ms = 0;  // when up: the probe's round trip, connecting included when it had to
    std::string error;      // when down
};

// Safe to use from concurrent requests. Keeps one idle connection between probes and reopens it when it
// breaks; a probe that finds it in use shares the answer of the last probe when it is under a second old,
// else opens its own.
class Checker {
  public:
    Checker(std::string database_url, std::chrono::milliseconds timeout);

    // Runs the ping on the primary; never takes longer than the timeout.
    boost::asio::awaitable<DatabaseStatus> check_database();

    // Drops the kept connection (shutdown, before the io_context is destroyed: its socket belongs to it).
    void close();

  private:
    boost::asio::awaitable<Result<pg::ResultSet>> ping(std::unique_ptr<pg::Connection>& conn,
                                                       pg::Deadline deadline);

    const std::string database_url_;
    const std::chrono::milliseconds timeout_;
    std::mutex mutex_;
    std::unique_ptr<pg::Connection> idle_;  // guarded by mutex_
    DatabaseStatus last_;                   // the latest probe's answer, guarded by mutex_
    std::optional<std::chrono::steady_clock::time_point> last_at_;
    static constexpr std::chrono::milliseconds kShareWindow{1000};
};

// What the partition maintainer of this instance says (null: not running here) and how often it runs.
struct MaintainerView {
    const partitions::MaintainerStatus* status = nullptr;
    std::chrono::seconds interval{3600};
};

// The /health document: {"status","checks":{"database":…[,"topology":…][,"partitions":…]},"version",
// "timestamp"}; status is healthy, degraded (serving, but an operator must look: fenced node, PgBouncer
// astray, partitions running out) or unhealthy. `topology` may be null. `partitions`: rows refused for want
// of a partition (writes failing now: degraded). `maintainer`: fewer than one month ahead, or no successful
// run for two intervals, is degraded. Pure, for tests.
boost::json::object health_report(const DatabaseStatus& database, const pg::Snapshot* topology,
                                  std::chrono::system_clock::time_point now,
                                  const pg::MissingPartitionStats& partitions = {},
                                  const MaintainerView& maintainer = {});
inline boost::json::object health_report(const DatabaseStatus& database,
                                         std::chrono::system_clock::time_point now) {
    return health_report(database, nullptr, now);
}

}  // namespace yw::health
