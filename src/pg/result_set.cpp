// ResultSet ownership and the SQLSTATE → ErrorCode mapping.
#include "pg/result_set.hpp"

#include <fmt/format.h>

#include <cassert>
#include <charconv>
#include <string>
#include <utility>

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

ResultSet::ResultSet(ResultSet&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

ResultSet& ResultSet::operator=(ResultSet&& other) noexcept {
    if (this != &other) {
        PQclear(result_);
        result_ = std::exchange(other.result_, nullptr);
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

ErrorCode error_code_for_sqlstate(std::string_view sqlstate) {
    if (sqlstate == "57014") return ErrorCode::kTimeout;   // query_canceled: statement_timeout or our cancel
    if (sqlstate == "23505") return ErrorCode::kConflict;  // unique_violation
    std::string_view cls = sqlstate.substr(0, 2);
    // 08: connection exception; 57P0x: the server is shutting down, crashed or still starting;
    // 53300: too_many_connections. All of them pass once the server is back, so they are not bugs.
    if (cls == "08" || sqlstate.starts_with("57P0") || sqlstate == "53300") return ErrorCode::kUnavailable;
    if (cls == "22" || cls == "23")
        return ErrorCode::kInvalidArgument;  // data exception, integrity violation
    return ErrorCode::kInternal;
}

Error error_from_result(const PGresult* result, const PGconn* conn) {
    const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string message = one_line(primary                                   ? primary
                                   : result && *PQresultErrorMessage(result) ? PQresultErrorMessage(result)
                                   : conn                                    ? PQerrorMessage(conn)
                                                                             : "");
    if (message.empty()) message = "unknown PostgreSQL error";
    if (sqlstate)
        return make_error(error_code_for_sqlstate(sqlstate),
                          fmt::format("{} (SQLSTATE {})", message, sqlstate));
    bool lost = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
    return make_error(lost ? ErrorCode::kUnavailable : ErrorCode::kInternal, std::move(message));
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
