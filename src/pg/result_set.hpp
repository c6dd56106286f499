// Owned PostgreSQL results and the one mapping from a libpq failure to yw::Error.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string_view>

#include "common/error.hpp"

namespace yw::pg {

// Shared by the async connection and the blocking tools layer, so nothing here depends on Asio.

// A PGresult with one owner; values are text (the connections ask for text results).
class ResultSet {
  public:
    ResultSet() = default;
    explicit ResultSet(PGresult* result) : result_(result) {}  // takes ownership
    ResultSet(ResultSet&& other) noexcept;
    ResultSet& operator=(ResultSet&& other) noexcept;
    ResultSet(const ResultSet&) = delete;
    ResultSet& operator=(const ResultSet&) = delete;
    ~ResultSet();

    int rows() const;
    int cols() const;
    // The text of a value; empty for NULL, so ask is_null() where NULL and '' differ.
    std::string_view get(int row, int col) const;
    bool is_null(int row, int col) const;
    // Rows touched by INSERT, UPDATE, DELETE, …; 0 for statements that report none.
    long affected_rows() const;

    const PGresult* raw() const { return result_; }

    // A write's: the primary's WAL position read just after it committed, which a replica must have replayed
    // to show it (pg::Cluster sets it when it routes over replicas; 0: not read, nothing to wait for;
    // UINT64_MAX: it could not be read, only the primary is sure to show it).
    std::uint64_t write_lsn() const { return write_lsn_; }
    void set_write_lsn(std::uint64_t lsn) { write_lsn_ = lsn; }

  private:
    PGresult* result_ = nullptr;
    std::uint64_t write_lsn_ = 0;
};

// The error class of a SQLSTATE ("23505" → kConflict, …). `names_constraint`: the error carries a constraint
// name (a 23514 without one is the partition router finding no partition for a row). Pure; for tests.
ErrorCode error_code_for_sqlstate(std::string_view sqlstate, bool names_constraint = true);

// Rows refused since the process started because no partition covers them, and when the last one was (Unix
// ms; 0: never). Every such error is also logged at error level.
struct MissingPartitionStats {
    std::uint64_t rows = 0;
    std::int64_t last_unix_ms = 0;
};
MissingPartitionStats missing_partition_stats();

// Sends the server's notices on `conn` to the log (WARNING at warn, the rest at debug) instead of stderr.
void log_notices(PGconn* conn);

// The Error of a failed statement, or of the connection when `result` is null (lost connection, failed
// send). The message keeps libpq's primary text and the SQLSTATE, on one line.
Error error_from_result(const PGresult* result, const PGconn* conn);

// Takes ownership of `result`: a ResultSet when the statement succeeded, its Error otherwise.
Result<ResultSet> take_result(PGresult* result, const PGconn* conn);

}  // namespace yw::pg
