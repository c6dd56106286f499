// The database probe behind /health and the report it produces.
#include "health/checker.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>
#include <cmath>

#include "pg/queries.hpp"

namespace yw::health {
namespace asio = boost::asio;

Checker::Checker(std::string database_url, std::chrono::milliseconds timeout)
    : database_url_(std::move(database_url)), timeout_(timeout) {}

asio::awaitable<Result<pg::ResultSet>> Checker::ping(std::unique_ptr<pg::Connection>& conn,
                                                     pg::Deadline deadline) {
    if (!conn) {
        auto opened =
            co_await pg::Connection::connect(co_await asio::this_coro::executor, database_url_, deadline);
        if (!opened) co_return opened.error();
        conn = std::move(opened.value());
    }
    co_return co_await conn->exec(pg::queries::kHealthPing, {}, deadline);
}

void Checker::close() {
    std::lock_guard lock(mutex_);
    idle_.reset();
}

asio::awaitable<DatabaseStatus> Checker::check_database() {
    auto started = std::chrono::steady_clock::now();
    auto deadline = started + timeout_;
    std::unique_ptr<pg::Connection> conn;
    {
        std::lock_guard lock(mutex_);
        // A probe is in flight (it holds the connection) and one finished a moment ago: share its answer
        // rather than open a connection per request when a load balancer or a storm of checks arrives.
        if (!idle_ && last_at_ && started - *last_at_ < kShareWindow) co_return last_;
        conn = std::move(idle_);
    }
    bool reused = conn != nullptr;
    auto result = co_await ping(conn, deadline);
    if (!result && reused && conn->broken() && result.error().code == ErrorCode::kUnavailable) {
        // The idle connection may have died with a server restart since the last probe; that says nothing
        // about the server now, so ask again on a fresh connection within the same deadline.
        conn.reset();
        result = co_await ping(conn, deadline);
    }
    DatabaseStatus status;
    if (result) {
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        status = DatabaseStatus{.up = true, .latency_ms = std::round(ms * 100) / 100};
    } else {
        status = DatabaseStatus{.error = result.error().message};
    }
    std::lock_guard lock(mutex_);
    if (result && !conn->broken() && !idle_) idle_ = std::move(conn);
    last_ = status;
    last_at_ = std::chrono::steady_clock::now();
    co_return status;
}

boost::json::object health_report(const DatabaseStatus& database, std::chrono::system_clock::time_point now) {
    boost::json::object db;
    db["status"] = database.up ? "up" : "down";
    if (database.up) {
        db["latency_ms"] = database.latency_ms;
    } else {
        db["error"] = database.error;
    }
    auto seconds = std::chrono::floor<std::chrono::seconds>(now);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
    // fmt 9 prints a system_clock time_point in local time; RFC 3339 with Z needs gmtime.
    auto utc = fmt::gmtime(std::chrono::system_clock::to_time_t(seconds));
    boost::json::object report;
    report["status"] = database.up ? "healthy" : "unhealthy";
    report["checks"] = boost::json::object{{"database", std::move(db)}};
    report["version"] = kVersion;
    report["timestamp"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", utc, millis);
    return report;
}

}  // namespace yw::health
