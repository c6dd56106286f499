// The partition maintainer that every ywmsgd instance runs.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/prometheus.hpp"
#include "pg/cluster.hpp"

namespace yw::partitions {

struct MaintainerOptions {
    std::string instance;                  // who runs, as the run table records it (host:pid)
    std::chrono::seconds interval{3600};   // YW_PARTITION_MAINTENANCE_INTERVAL_S
    int months_ahead = 2;                  // YW_PARTITIONS_AHEAD
    std::chrono::seconds retry_after{60};  // a failed run is retried this soon (at most the interval)
    std::chrono::seconds statement_timeout{30};
};

// What this instance knows after its last run. `last_success` is the cluster's: the newest successful run of
// any instance, as the run table says.
struct MaintainerStatus {
    std::uint64_t runs = 0;           // runs that did the work here
    std::uint64_t skipped = 0;        // runs that found another instance at work
    std::uint64_t failures = 0;       // runs that failed (recorded in the table when the database allowed it)
    std::optional<int> months_ahead;  // attached months after the current one; -1: not even it
    std::optional<std::int64_t> last_success_unix;   // seconds
    std::optional<std::int64_t> last_run_unix;       // this instance's last attempt, seconds
    std::optional<std::int64_t> failing_since_unix;  // the first of the failed runs since the last success
    std::string last_error;                          // of the last run; "" when it succeeded
    std::vector<std::string> last_created;           // partitions this instance created on its last run
};

// Every ywmsgd instance makes sure conversation_message has a partition for this month and the next
// `months_ahead` (UTC), at start and then every interval, so that writes never stop on a calendar date.
// Instances race harmlessly: the database function lets one at a time work (docs/partitions.md).
//
// Thread-safe. start() after the server's io_context exists; stop() while its threads still run (before
// the server stops): it waits for a run in flight, so that the run gives its pooled connection back first.
class Maintainer {
  public:
    Maintainer(pg::Cluster& db, MaintainerOptions options);

    void start(boost::asio::any_io_executor executor);
    void stop();

    // One run now: the work, or the answer that another instance is doing it; errors are recorded.
    boost::asio::awaitable<Status> run_once();

    MaintainerStatus status() const;
    const MaintainerOptions& options() const { return options_; }
    // yw_partition_months_ahead, yw_partition_maintenance_last_success_timestamp_seconds,
    // yw_partition_maintenance_runs_total{result}.
    void dump_metrics(prometheus::Writer& out) const;

  private:
    boost::asio::awaitable<void> loop();

    pg::Cluster& db_;
    const MaintainerOptions options_;
    mutable std::mutex mutex_;
    MaintainerStatus status_;  // guarded by mutex_
    std::unique_ptr<boost::asio::steady_timer> timer_;
    std::atomic<bool> stopping_{false};
    std::promise<void> finished_;  // set when the loop has returned
};

// host:pid, the default instance name.
std::string default_instance_name();

}  // namespace yw::partitions
