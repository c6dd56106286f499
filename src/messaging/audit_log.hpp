// The audit log (api_audit_log): one row per authenticated request.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pg/cluster.hpp"

namespace yw::messaging {

struct AuditEntry {
    std::string key_prefix;
    std::string tenant_id;
    std::string client_ip;
    std::string method;
    std::string route;  // the route pattern, not the raw path
    int status = 0;
    double duration_ms = 0;
    std::string request_id;
    std::int64_t at_us = 0;
};

struct AuditOptions {
    size_t capacity = 10000;  // queued rows before new ones are dropped
    size_t batch = 500;       // rows per INSERT
    std::chrono::milliseconds interval{200};
};

struct AuditStats {
    unsigned long long written = 0;
    unsigned long long dropped = 0;  // queue full
    unsigned long long failed = 0;   // the INSERT failed
    size_t queued = 0;
};

// Rows are queued in memory and written in batches off the request path. A full queue drops and counts; a
// request never waits for the audit log.
class AuditLog {
  public:
    AuditLog(pg::Cluster& db, std::string database_url, AuditOptions options = {});
    ~AuditLog();

    // Starts the flusher on `executor`.
    void start(boost::asio::any_io_executor executor);
    // Never blocks on I/O: appends or drops.
    void record(AuditEntry entry) noexcept;
    // Stops the flusher (waiting for a flush in progress), then writes what is left over a blocking
    // connection to the database URL: the event loop may already be gone at shutdown.
    void stop();

    AuditStats stats() const;

  private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<bool> flush_once();
    std::vector<AuditEntry> take(size_t max);

    pg::Cluster& db_;
    const std::string database_url_;
    const AuditOptions options_;
    mutable std::mutex mutex_;
    std::vector<AuditEntry> queue_;
    std::atomic<unsigned long long> written_{0}, dropped_{0}, failed_{0};
    std::unique_ptr<boost::asio::steady_timer> timer_;
    std::atomic<bool> stopping_{false};
    bool running_ = false;  // under mutex_
    std::condition_variable finished_;
};

// The parameters of one batch INSERT (registry query audit.insert).
pg::Params audit_batch_params(const std::vector<AuditEntry>& batch);

}  // namespace yw::messaging
