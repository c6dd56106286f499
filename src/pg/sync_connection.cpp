// The blocking libpq wrapper pg::SyncConnection (see sync_connection.hpp).
#include "pg/sync_connection.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <cassert>
#include <charconv>

#include "common/logging.hpp"
#include "pg/result_set.hpp"

namespace yw::pg {

// Parameterized unnamed statements only, errors as yw::Error with the SQLSTATE mapped.

size_t Rows::column_index(std::string_view column) const {
    for (size_t i = 0; i < columns.size(); ++i) {
        if (columns[i] == column) return i;
    }
    assert(false && "unknown column");
    return 0;
}

std::string Rows::text(size_t row, std::string_view column) const {
    const Param& v = rows.at(row).at(column_index(column));
    return v ? *v : std::string();
}

bool Rows::is_null(size_t row, std::string_view column) const {
    return !rows.at(row).at(column_index(column));
}

std::optional<long long> Rows::optional_int(size_t row, std::string_view column) const {
    const Param& cell = rows.at(row).at(column_index(column));
    if (!cell) return std::nullopt;
    long long value = 0;
    auto [end, ec] = std::from_chars(cell->data(), cell->data() + cell->size(), value);
    if (ec != std::errc() || end != cell->data() + cell->size()) return std::nullopt;
    return value;
}

void SyncConnection::Closer::operator()(pg_conn* c) const { PQfinish(c); }

SyncConnection::~SyncConnection() = default;

Result<SyncConnection> SyncConnection::open(const std::string& conninfo, std::chrono::seconds connect_timeout,
                                            std::chrono::milliseconds statement_timeout) {
    const char* keys[] = {"dbname", "connect_timeout", "options", nullptr};
    std::string timeout = std::to_string(std::max<long long>(1, connect_timeout.count()));
    std::string options = statement_timeout.count() > 0
                              ? fmt::format("-c statement_timeout={}", statement_timeout.count())
                              : std::string();
    // expand_dbname=1: `conninfo` may be a URI or key=value string; later keys fill what it leaves unset.
    const char* values[] = {conninfo.c_str(), timeout.c_str(), options.empty() ? nullptr : options.c_str(),
                            nullptr};
    PGconn* c = PQconnectdbParams(keys, values, 1);
    if (!c) return make_error(ErrorCode::kUnavailable, "out of memory creating a PostgreSQL connection");
    if (PQstatus(c) != CONNECTION_OK) {
        std::string message = PQerrorMessage(c);
        PQfinish(c);
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        return make_error(ErrorCode::kUnavailable, message);
    }
    log_notices(c);  // NOTICEs ("relation … already exists, skipping") at debug, never on a user's terminal
    return SyncConnection(c);
}

bool SyncConnection::healthy() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

namespace {

Result<Rows> materialise(PGresult* raw, pg_conn* conn, std::string_view name) {
    auto taken = take_result(raw, conn);
    if (!taken) {
        Error err = taken.error();
        err.message = fmt::format("{}: {}", name, err.message);
        return err;
    }
    const ResultSet& res = *taken;
    Rows out;
    for (int c = 0; c < res.cols(); ++c) out.columns.emplace_back(PQfname(res.raw(), c));
    out.rows.reserve(static_cast<size_t>(res.rows()));
    for (int r = 0; r < res.rows(); ++r) {
        auto& row = out.rows.emplace_back();
        for (int c = 0; c < res.cols(); ++c) {
            if (res.is_null(r, c)) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(std::string(res.get(r, c)));
            }
        }
    }
    out.affected = res.affected_rows();
    return out;
}

}  // namespace

Result<Rows> SyncConnection::query(const Query& q, const std::vector<Param>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    std::string text(q.sql);
    return materialise(PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0),
                       conn_.get(), q.name);
}

Result<Rows> SyncConnection::simple_query(std::string_view name, const std::string& sql) {
    // PQexec returns the last statement's result; an error stops the script there.
    return materialise(PQexec(conn_.get(), sql.c_str()), conn_.get(), name);
}

Status SyncConnection::exec_script(std::string_view name, const std::string& sql) {
    auto rows = simple_query(name, sql);
    if (!rows) return rows.error();
    return {};
}

namespace {

// The row count of a finished COPY's command tag ("COPY 42").
Result<long long> finish_copy(pg_conn* conn, std::string_view name) {
    Result<long long> out = 0LL;
    while (PGresult* raw = PQgetResult(conn)) {
        auto taken = take_result(raw, conn);
        if (!taken) {
            if (out) {
                Error err = taken.error();
                err.message = fmt::format("{}: {}", name, err.message);
                out = err;
            }
            continue;
        }
        if (out) {
            long long rows = 0;
            std::string_view tuples =
                PQcmdTuples(const_cast<PGresult*>(taken->raw()));  // libpq: not const, never writes
            std::from_chars(tuples.data(), tuples.data() + tuples.size(), rows);
            out = rows;
        }
    }
    return out;
}

Status start_copy(pg_conn* conn, std::string_view name, const std::string& sql, ExecStatusType expected) {
    PGresult* raw = PQexec(conn, sql.c_str());
    if (raw && PQresultStatus(raw) == expected) {
        PQclear(raw);
        return {};
    }
    auto taken = take_result(raw, conn);
    Error err = taken ? make_error(ErrorCode::kInternal, "the statement is not a COPY") : taken.error();
    err.message = fmt::format("{}: {}", name, err.message);
    return err;
}

}  // namespace

Result<long long> SyncConnection::copy_out(std::string_view name, const std::string& sql,
                                           const std::function<Status(std::string_view)>& sink) {
    pg_conn* conn = conn_.get();
    if (auto s = start_copy(conn, name, sql, PGRES_COPY_OUT); !s) return s.error();
    Status status;  // the sink's
    bool cancelled = false;
    for (;;) {
        char* buffer = nullptr;
        int n = PQgetCopyData(conn, &buffer, 0);
        if (n <= 0) break;  // -1: done (the result follows); -2: error (reported by the result)
        if (status) status = sink(std::string_view(buffer, static_cast<size_t>(n)));
        PQfreemem(buffer);
        if (!status && !cancelled) {
            // Stop the server's side; the rows still in flight are read and dropped.
            cancelled = true;
            if (PGcancel* cancel = PQgetCancel(conn)) {
                char why[256];
                PQcancel(cancel, why, sizeof why);
                PQfreeCancel(cancel);
            }
        }
    }
    auto rows = finish_copy(conn, name);
    if (!status) return status.error();
    return rows;
}

Result<long long> SyncConnection::copy_in(std::string_view name, const std::string& sql,
                                          const std::function<Result<bool>(std::string&)>& source) {
    pg_conn* conn = conn_.get();
    if (auto s = start_copy(conn, name, sql, PGRES_COPY_IN); !s) return s.error();
    std::string chunk;
    std::optional<Error> failed;
    for (;;) {
        chunk.clear();
        auto more = source(chunk);
        if (!more) {
            failed = more.error();
            break;
        }
        if (!chunk.empty() && PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) break;
        if (!*more) break;
    }
    PQputCopyEnd(conn, failed ? failed->message.c_str() : nullptr);
    auto rows = finish_copy(conn, name);
    if (failed) return *failed;
    return rows;
}

std::string SyncConnection::quote_identifier(std::string_view identifier) const {
    char* q = PQescapeIdentifier(conn_.get(), identifier.data(), identifier.size());
    assert(q && "PQescapeIdentifier failed");
    std::string out(q);
    PQfreemem(q);
    return out;
}

std::string SyncConnection::quote_literal(std::string_view literal) const {
    char* q = PQescapeLiteral(conn_.get(), literal.data(), literal.size());
    assert(q && "PQescapeLiteral failed");
    std::string out(q);
    PQfreemem(q);
    return out;
}

}  // namespace yw::pg
