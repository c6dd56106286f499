// The audit log's queue, flusher coroutine and shutdown flush.
#include "messaging/audit_log.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include "common/logging.hpp"
#include "common/time.hpp"
#include "messaging/rows.hpp"
#include "pg/queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::messaging {
namespace asio = boost::asio;

pg::Params audit_batch_params(const std::vector<AuditEntry>& batch) {
    std::vector<std::string> prefix, tenant, ip, method, route, status, duration, request_id, at;
    for (const auto& e : batch) {
        prefix.push_back(e.key_prefix);
        tenant.push_back(e.tenant_id);
        ip.push_back(e.client_ip);
        method.push_back(e.method);
        route.push_back(e.route);
        status.push_back(std::to_string(e.status));
        duration.push_back(fmt::format("{:.3f}", e.duration_ms));
        request_id.push_back(e.request_id);
        at.push_back(rfc3339_from_us(e.at_us));
    }
    return {text_array(prefix, true), text_array(tenant, true), text_array(ip, true),
            text_array(method),       text_array(route),        text_array(status),
            text_array(duration),     text_array(request_id),   text_array(at)};
}

AuditLog::AuditLog(pg::Cluster& db, std::string database_url, AuditOptions options)
    : db_(db), database_url_(std::move(database_url)), options_(options) {}

AuditLog::~AuditLog() {
    // The timer belongs to the server's io_context, which is gone by now if stop() was never called:
    // releasing it (a few bytes, at exit) is safe where destroying it is not.
    if (timer_) (void)timer_.release();
}

void AuditLog::start(asio::any_io_executor executor) {
    auto strand = asio::make_strand(executor);
    timer_ = std::make_unique<asio::steady_timer>(strand);
    {
        std::lock_guard lock(mutex_);
        running_ = true;
    }
    asio::co_spawn(strand, run(), asio::detached);
}

void AuditLog::record(AuditEntry entry) noexcept {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.capacity) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    try {
        queue_.push_back(std::move(entry));
    } catch (...) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
    }
}

std::vector<AuditEntry> AuditLog::take(size_t max) {
    std::lock_guard lock(mutex_);
    size_t n = std::min(max, queue_.size());
    std::vector<AuditEntry> batch(std::make_move_iterator(queue_.begin()),
                                  std::make_move_iterator(queue_.begin() + n));
    queue_.erase(queue_.begin(), queue_.begin() + n);
    return batch;
}

asio::awaitable<bool> AuditLog::flush_once() {
    auto batch = take(options_.batch);
    if (batch.empty()) co_return false;
    auto r = co_await db_.exec(pg::Intent::kWrite, pg::queries::kAuditInsert, audit_batch_params(batch));
    if (r) {
        written_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
        failed_.fetch_add(batch.size(), std::memory_order_relaxed);
        log::warn("audit batch lost", {{"rows", batch.size()}, {"error", r.error().message}});
    }
    co_return batch.size() == options_.batch;  // a full batch: more may be waiting
}

asio::awaitable<void> AuditLog::run() {
    while (!stopping_.load()) {
        timer_->expires_after(options_.interval);
        boost::system::error_code ec;
        co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        while (!stopping_.load() && co_await flush_once()) {
        }
    }
    std::lock_guard lock(mutex_);
    running_ = false;
    finished_.notify_all();
}

void AuditLog::stop() {
    stopping_.store(true);
    if (timer_) {
        // Cancel on the flusher's strand, wait for the flusher to end (a flush in flight ends by its query
        // deadline), then destroy the timer while its io_context still runs.
        auto cancelled = std::make_shared<std::promise<void>>();
        auto* timer = timer_.get();
        asio::post(timer->get_executor(), [timer, cancelled] {
            timer->cancel();
            cancelled->set_value();
        });
        bool ran = cancelled->get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready;
        std::unique_lock lock(mutex_);
        bool ended = finished_.wait_for(lock, std::chrono::seconds(10), [this] { return !running_; });
        lock.unlock();
        if (ran && ended) {
            timer_.reset();
        } else {
            (void)timer_.release();  // the loop is not running: leave the timer rather than touch it
        }
    }
    auto rest = take(options_.capacity);
    if (rest.empty()) return;
    auto conn =
        pg::SyncConnection::open(database_url_, std::chrono::seconds(3), std::chrono::milliseconds(5000));
    if (!conn) {
        failed_.fetch_add(rest.size());
        log::warn("audit rows lost at shutdown", {{"rows", rest.size()}, {"error", conn.error().message}});
        return;
    }
    for (size_t i = 0; i < rest.size(); i += options_.batch) {
        std::vector<AuditEntry> batch(
            rest.begin() + static_cast<long>(i),
            rest.begin() + static_cast<long>(std::min(rest.size(), i + options_.batch)));
        auto r = conn->query(pg::queries::kAuditInsert, audit_batch_params(batch));
        (r ? written_ : failed_).fetch_add(batch.size());
    }
    log::info("audit log flushed at shutdown", {{"rows", rest.size()}});
}

AuditStats AuditLog::stats() const {
    std::lock_guard lock(mutex_);
    return {written_.load(), dropped_.load(), failed_.load(), queue_.size()};
}

}  // namespace yw::messaging
