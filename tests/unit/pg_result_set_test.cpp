// ResultSet over hand-built PGresults (no server needed) and the SQLSTATE → ErrorCode mapping.
#include <gtest/gtest.h>

#include <utility>

#include "pg/result_set.hpp"

namespace yw::pg {
namespace {

// A two-column result: ("a", NULL), ("", "42").
PGresult* two_rows() {
    PGresult* r = PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK);
    char name[] = "name";
    char value[] = "value";
    PGresAttDesc attrs[2] = {{name, 0, 0, 0, 25, -1, -1}, {value, 0, 0, 0, 25, -1, -1}};
    EXPECT_TRUE(PQsetResultAttrs(r, 2, attrs));
    char a[] = "a";
    char empty[] = "";
    char n42[] = "42";
    EXPECT_TRUE(PQsetvalue(r, 0, 0, a, 1));
    EXPECT_TRUE(PQsetvalue(r, 0, 1, nullptr, -1));  // NULL
    EXPECT_TRUE(PQsetvalue(r, 1, 0, empty, 0));
    EXPECT_TRUE(PQsetvalue(r, 1, 1, n42, 2));
    return r;
}

TEST(PgResultSet, ReadsValuesAndNulls) {
    auto taken = take_result(two_rows(), nullptr);
    ASSERT_TRUE(taken.ok()) << taken.error().message;
    const ResultSet& rs = *taken;
    EXPECT_EQ(rs.rows(), 2);
    EXPECT_EQ(rs.cols(), 2);
    EXPECT_EQ(rs.get(0, 0), "a");
    EXPECT_TRUE(rs.is_null(0, 1));
    EXPECT_EQ(rs.get(0, 1), "");
    EXPECT_FALSE(rs.is_null(1, 0));  // '' is not NULL
    EXPECT_EQ(rs.get(1, 0), "");
    EXPECT_EQ(rs.get(1, 1), "42");
    EXPECT_EQ(rs.affected_rows(), 0);
}

TEST(PgResultSet, MovesOwnership) {
    ResultSet a(two_rows());
    ResultSet b(std::move(a));
    EXPECT_EQ(a.raw(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(a.rows(), 0);
    EXPECT_EQ(b.rows(), 2);
    ResultSet c;
    c = std::move(b);
    EXPECT_EQ(c.get(1, 1), "42");
}

TEST(PgResultSet, FailedStatusIsAnError) {
    auto taken = take_result(PQmakeEmptyPGresult(nullptr, PGRES_FATAL_ERROR), nullptr);
    ASSERT_FALSE(taken.ok());
    EXPECT_FALSE(taken.error().message.empty());
    EXPECT_TRUE(take_result(PQmakeEmptyPGresult(nullptr, PGRES_COMMAND_OK), nullptr).ok());
}

TEST(PgResultSet, SqlStateClassesMapToErrorCodes) {
    EXPECT_EQ(error_code_for_sqlstate("08006"), ErrorCode::kUnavailable);  // connection_failure
    EXPECT_EQ(error_code_for_sqlstate("08001"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for_sqlstate("57P01"), ErrorCode::kUnavailable);  // admin_shutdown
    EXPECT_EQ(error_code_for_sqlstate("53300"), ErrorCode::kUnavailable);  // too_many_connections
    EXPECT_EQ(error_code_for_sqlstate("57014"), ErrorCode::kTimeout);      // query_canceled
    EXPECT_EQ(error_code_for_sqlstate("23505"), ErrorCode::kConflict);     // unique_violation
    EXPECT_EQ(error_code_for_sqlstate("23503"), ErrorCode::kConflict);     // foreign_key_violation: row gone
    EXPECT_EQ(error_code_for_sqlstate("22P02"), ErrorCode::kInvalidArgument);  // invalid_text_representation
    EXPECT_EQ(error_code_for_sqlstate("42P01"), ErrorCode::kInternal);         // undefined_table: a bug
    // Where retrying helps, 503: a deadlock, a serialization failure, a lock timeout, a write that reached a
    // standby during a failover, a full disk.
    EXPECT_EQ(error_code_for_sqlstate("40001"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for_sqlstate("40P01"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for_sqlstate("55P03"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for_sqlstate("25006"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for_sqlstate("53100"), ErrorCode::kUnavailable);
    // A CHECK constraint refusing the client's value is the client's; the partition router finding no
    // partition for a row (23514 without a constraint name) is ours: 503, never 400.
    EXPECT_EQ(error_code_for_sqlstate("23514", true), ErrorCode::kInvalidArgument);
    EXPECT_EQ(error_code_for_sqlstate("23514", false), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for_sqlstate("XX000"), ErrorCode::kInternal);
}

}  // namespace
}  // namespace yw::pg
