// A blocking PostgreSQL connection for ywctl, migrations and tests.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "pg/queries.hpp"

struct pg_conn;

namespace yw::pg {

using Param = std::optional<std::string>;  // nullopt is SQL NULL

// A fully materialised result: small result sets of operational queries.
struct Rows {
    std::vector<std::string> columns;
    std::vector<std::vector<Param>> rows;
    long affected = 0;  // rows affected by INSERT/UPDATE/DELETE

    size_t size() const { return rows.size(); }
    bool empty() const { return rows.empty(); }
    // The text of a cell by column name; "" for NULL; asserts that the column exists.
    std::string text(size_t row, std::string_view column) const;
    bool is_null(size_t row, std::string_view column) const;
    // An integer cell; nullopt for NULL or text that is not an integer.
    std::optional<long long> optional_int(size_t row, std::string_view column) const;
    size_t column_index(std::string_view column) const;
};

// For sequential tools, where a thread waiting on a query is fine. The server uses the asynchronous
// pg::Connection instead.
class SyncConnection {
  public:
    // connect_timeout bounds the connection attempt; statement_timeout (0 = none) bounds every query.
    static Result<SyncConnection> open(
        const std::string& conninfo, std::chrono::seconds connect_timeout = std::chrono::seconds(5),
        std::chrono::milliseconds statement_timeout = std::chrono::milliseconds(0));

    SyncConnection(SyncConnection&&) noexcept = default;
    SyncConnection& operator=(SyncConnection&&) noexcept = default;
    ~SyncConnection();

    // A registry query with parameters, as an unnamed statement.
    Result<Rows> query(const Query& q, const std::vector<Param>& params = {});

    // Runs SQL that may hold several statements (migration files), through the simple query protocol; the
    // rows are the last statement's. Also the only protocol PgBouncer's admin console speaks.
    Result<Rows> simple_query(std::string_view name, const std::string& sql);
    Status exec_script(std::string_view name, const std::string& sql);

    // COPY … TO STDOUT: every chunk libpq hands over (one row, for text and csv) goes to `sink`; returns the
    // number of rows COPY reported. A sink error cancels the COPY and is returned as is.
    Result<long long> copy_out(std::string_view name, const std::string& sql,
                               const std::function<Status(std::string_view)>& sink);
    // COPY … FROM STDIN: `source` appends the next bytes to its argument and returns false at the end; an
    // error ends the COPY with that error (nothing is loaded). Returns the number of rows loaded.
    Result<long long> copy_in(std::string_view name, const std::string& sql,
                              const std::function<Result<bool>(std::string&)>& source);

    // Quoting for the few statements that cannot take parameters (CREATE ROLE, CREATE DATABASE).
    std::string quote_identifier(std::string_view identifier) const;
    std::string quote_literal(std::string_view literal) const;

    bool healthy() const;
    pg_conn* raw() const { return conn_.get(); }

  private:
    struct Closer {
        void operator()(pg_conn* c) const;
    };
    explicit SyncConnection(pg_conn* c) : conn_(c) {}
    std::unique_ptr<pg_conn, Closer> conn_;
};

}  // namespace yw::pg
