// ResultSet ownership and the SQLSTATE → ErrorCode mapping.
#include "pg/result_set.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <string>
#include <utility>

#include "common/logging.hpp"

namespace yw::pg {
namespace {

// libpq messages end with a newline and wrap hints onto tab-indented lines; logs and JSON want one line.
std::string one_line(std::string_view text) {
    std::string out;
    bool pending_space = false;
    for (char c : text) {
        if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        out += c;
    }
    return out;
}

}  // namespace

ResultSet::ResultSet(ResultSet&& other) noexcept
    : result_(std::exchange(other.result_, nullptr)), write_lsn_(other.write_lsn_) {}

ResultSet& ResultSet::operator=(ResultSet&& other) noexcept {
    if (this != &other) {
        PQclear(result_);
        result_ = std::exchange(other.result_, nullptr);
        write_lsn_ = other.write_lsn_;
    }
    return *this;
}

ResultSet::~ResultSet() { PQclear(result_); }

int ResultSet::rows() const { return result_ ? PQntuples(result_) : 0; }

int ResultSet::cols() const { return result_ ? PQnfields(result_) : 0; }

std::string_view ResultSet::get(int row, int col) const {
    assert(row >= 0 && row < rows() && col >= 0 && col < cols());
    return {PQgetvalue(result_, row, col), static_cast<std::size_t>(PQgetlength(result_, row, col))};
}

bool ResultSet::is_null(int row, int col) const {
    assert(row >= 0 && row < rows() && col >= 0 && col < cols());
    return PQgetisnull(result_, row, col) != 0;
}

long ResultSet::affected_rows() const {
    if (!result_) return 0;
    std::string_view text = PQcmdTuples(result_);
    long n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    return n;
}

ErrorCode error_code_for_sqlstate(std::string_view sqlstate, bool names_constraint) {
    // Where a retry can help (the server is back, the lock is free, the conflicting transaction is gone),
    // the answer is kUnavailable (503 + Retry-After); a server-side gap is never the client's fault (4xx).
    if (sqlstate == "57014") return ErrorCode::kTimeout;   // query_canceled: statement_timeout or our cancel
    if (sqlstate == "23505") return ErrorCode::kConflict;  // unique_violation
    if (sqlstate == "23503")
        return ErrorCode::kConflict;  // foreign_key_violation: a referenced row went away
    // check_violation without a constraint is the partition router: "no partition of relation … found for
    // row". The client's row is fine; the month's partition is missing.
    if (sqlstate == "23514" && !names_constraint) return ErrorCode::kUnavailable;
    std::string_view cls = sqlstate.substr(0, 2);
    // 08: connection exception; 57P0x: the server is shutting down, crashed or still starting; 53: out of
    // connections, memory or disk; 40: serialization failure or deadlock (the transaction may be retried);
    // 55P03: lock_timeout; 25006: a write reached a standby (a failover in progress).
    if (cls == "08" || cls == "53" || cls == "40" || sqlstate.starts_with("57P0") || sqlstate == "55P03" ||
        sqlstate == "25006")
        return ErrorCode::kUnavailable;
    // Data exceptions and the table's own rules (NOT NULL, CHECK): the value the client sent was refused.
    if (cls == "22" || cls == "23") return ErrorCode::kInvalidArgument;
    // Everything else (42: a statement or schema that does not match, XX, 58, …) is ours to fix.
    return ErrorCode::kInternal;
}

namespace {

std::atomic<std::uint64_t> missing_partition_rows{0};
std::atomic<std::int64_t> missing_partition_last_ms{0};

std::string_view field_of(const PGresult* result, int field) {
    const char* value = result ? PQresultErrorField(result, field) : nullptr;
    return value ? std::string_view(value) : std::string_view();
}

}  // namespace

MissingPartitionStats missing_partition_stats() {
    return {missing_partition_rows.load(std::memory_order_relaxed),
            missing_partition_last_ms.load(std::memory_order_relaxed)};
}

Error error_from_result(const PGresult* result, const PGconn* conn) {
    std::string_view sqlstate = field_of(result, PG_DIAG_SQLSTATE);
    std::string_view primary = field_of(result, PG_DIAG_MESSAGE_PRIMARY);
    std::string message = one_line(!primary.empty()                          ? primary
                                   : result && *PQresultErrorMessage(result) ? PQresultErrorMessage(result)
                                   : conn                                    ? PQerrorMessage(conn)
                                                                             : "");
    if (message.empty()) message = "unknown PostgreSQL error";
    if (!sqlstate.empty()) {
        bool names_constraint = !field_of(result, PG_DIAG_CONSTRAINT_NAME).empty();
        ErrorCode code = error_code_for_sqlstate(sqlstate, names_constraint);
        if (sqlstate == "23514" && !names_constraint) {
            // Writes of a whole month fail until someone creates its partition: an operator must hear of it
            // now, not from clients.
            missing_partition_rows.fetch_add(1, std::memory_order_relaxed);
            missing_partition_last_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count(),
                                            std::memory_order_relaxed);
            log::error("a row has no partition to go to: create it (ywctl partitions ensure)",
                       {{"table", std::string(field_of(result, PG_DIAG_TABLE_NAME))}, {"error", message}});
        }
        return make_error(code, fmt::format("{} (SQLSTATE {})", message, sqlstate));
    }
    bool lost = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
    return make_error(lost ? ErrorCode::kUnavailable : ErrorCode::kInternal, std::move(message));
}

void log_notices(PGconn* conn) {
    // Without a receiver libpq prints notices to stderr, raw, which breaks one-JSON-object-per-line logs
    // ("WARNING: terminating connection due to immediate shutdown command").
    PQsetNoticeReceiver(
        conn,
        [](void*, const PGresult* notice) {
            std::string_view severity = field_of(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
            // WARNINGs are worth an operator's eye; NOTICE, INFO, DEBUG and LOG are chatter
            // ("relation … already exists, skipping").
            log::write(severity == "WARNING" ? log::Level::kWarn : log::Level::kDebug, "postgres notice",
                       {{"severity", std::string(severity)},
                        {"sqlstate", std::string(field_of(notice, PG_DIAG_SQLSTATE))},
                        {"notice", one_line(field_of(notice, PG_DIAG_MESSAGE_PRIMARY))}});
        },
        nullptr);
}

Result<ResultSet> take_result(PGresult* result, const PGconn* conn) {
    ResultSet owned(result);
    switch (PQresultStatus(result)) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            return owned;
        default:
            return error_from_result(result, conn);
    }
}

}  // namespace yw::pg
