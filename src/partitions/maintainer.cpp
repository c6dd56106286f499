// The partition maintainer's loop (see maintainer.hpp).
#include "partitions/maintainer.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.hpp"
#include "pg/ops_queries.hpp"
#include "pg/row.hpp"

namespace yw::partitions {

// One database function call per run (migration 0002), a second statement to record a failure, and the
// status for /metrics and /health.

namespace asio = boost::asio;

namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string default_instance_name() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return fmt::format("{}:{}", host[0] ? host : "unknown", getpid());
}

Maintainer::Maintainer(pg::Cluster& db, MaintainerOptions options) : db_(db), options_(std::move(options)) {}

asio::awaitable<Status> Maintainer::run_once() {
    const auto started = unix_now();
    const auto deadline = std::chrono::steady_clock::now() + options_.statement_timeout;
    pg::Params params{options_.instance, std::to_string(options_.months_ahead)};
    auto rows =
        co_await db_.exec(pg::Intent::kWrite, pg::queries::kPartitionsMaintain, std::move(params), deadline);
    std::unique_lock lock(mutex_);
    status_.last_run_unix = started;
    if (rows && rows->rows() == 1) {
        pg::Row r(*rows, 0);
        const bool ran = r.boolean("ran");
        ++(ran ? status_.runs : status_.skipped);
        status_.months_ahead = static_cast<int>(r.int64("months_ahead_now"));
        if (!r.is_null("last_success"))
            status_.last_success_unix = static_cast<std::int64_t>(std::stod(r.text("last_success")));
        status_.last_error.clear();
        status_.failing_since_unix.reset();
        if (ran) status_.last_created = pg::parse_text_array(r.view("created"));
        auto created = status_.last_created;
        auto ahead = *status_.months_ahead;
        lock.unlock();
        if (ran && !created.empty()) {
            log::info("partitions created",
                      {{"created", fmt::format("{}", fmt::join(created, ","))}, {"months_ahead", ahead}});
        }
        if (ahead < 1) {
            log::error("partitions missing ahead: writes will fail at the month's end",
                       {{"months_ahead", ahead}});
        }
        co_return Status{};
    }
    Error error =
        rows ? make_error(ErrorCode::kInternal, "the maintainer function returned no row") : rows.error();
    ++status_.failures;
    status_.last_error = error.message;
    if (!status_.failing_since_unix) status_.failing_since_unix = started;
    lock.unlock();
    log::error("partition maintenance failed", {{"error", error.message}});
    // Best effort: the failed statement rolled back, so the record is a statement of its own.
    pg::Params record{std::to_string(started), options_.instance, error.message};
    auto recorded =
        co_await db_.exec(pg::Intent::kWrite, pg::queries::kPartitionsMaintainFailed, std::move(record),
                          std::chrono::steady_clock::now() + std::chrono::seconds(5));
    if (!recorded) {
        log::warn("cannot record the failed partition maintenance", {{"error", recorded.error().message}});
    } else if (recorded->rows() == 1 && !recorded->is_null(0, 0)) {
        pg::Row r(*recorded, 0);
        std::lock_guard relock(mutex_);
        status_.months_ahead = static_cast<int>(r.int64("months_ahead"));
    }
    co_return error;
}

asio::awaitable<void> Maintainer::loop() {
    while (!stopping_) {
        auto ran = co_await run_once();
        if (stopping_) break;
        auto wait = ran ? options_.interval : std::min(options_.interval, options_.retry_after);
        timer_->expires_after(wait);
        boost::system::error_code ec;
        co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    finished_.set_value();
}

void Maintainer::start(asio::any_io_executor executor) {
    timer_ = std::make_unique<asio::steady_timer>(asio::make_strand(executor));
    asio::co_spawn(timer_->get_executor(), loop(), asio::detached);
}

void Maintainer::stop() {
    if (!timer_ || stopping_.exchange(true)) return;
    // The timer lives on its strand: cancel it there. A run in flight finishes (its statements are bounded)
    // and gives its connection back to the pool while the server's threads still run.
    asio::post(timer_->get_executor(), [this] { timer_->cancel(); });
    auto limit = 2 * options_.statement_timeout + std::chrono::seconds(5);
    if (finished_.get_future().wait_for(limit) == std::future_status::ready) {
        timer_.reset();
    } else {
        // Still running: its timer must outlive this object rather than be destroyed under it.
        log::warn("the partition maintainer did not stop in time");
        (void)timer_.release();
    }
}

MaintainerStatus Maintainer::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

void Maintainer::dump_metrics(prometheus::Writer& out) const {
    auto s = status();
    out.family("yw_partition_months_ahead", "gauge",
               "Months after the current one (UTC) with a partition; -1: not even the current month.");
    if (s.months_ahead) out.sample("yw_partition_months_ahead", {}, *s.months_ahead);
    out.family("yw_partition_maintenance_last_success_timestamp_seconds", "gauge",
               "When any instance's partition maintainer last succeeded (Unix seconds).");
    if (s.last_success_unix)
        out.sample("yw_partition_maintenance_last_success_timestamp_seconds", {}, *s.last_success_unix);
    out.family("yw_partition_maintenance_runs_total", "counter",
               "This instance's maintainer runs: ok (did the work), skipped (another instance did), error.");
    out.sample("yw_partition_maintenance_runs_total", prometheus::label("result", "ok"), s.runs);
    out.sample("yw_partition_maintenance_runs_total", prometheus::label("result", "skipped"), s.skipped);
    out.sample("yw_partition_maintenance_runs_total", prometheus::label("result", "error"), s.failures);
}

}  // namespace yw::partitions
