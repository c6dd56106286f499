// PgBouncer's admin console read as data: SHOW POOLS rows, for ywctl's RB-5/6/7 and ywmsgd's
// /health/detailed.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pg/result_set.hpp"
#include "pg/sync_connection.hpp"

namespace yw::pg {

// One row of SHOW POOLS (without the admin console's own pseudo-database "pgbouncer").
struct PoolRow {
    std::string database;
    std::string user;
    long long cl_active = 0;
    long long cl_waiting = 0;
    long long sv_active = 0;
    long long sv_idle = 0;
    long long sv_used = 0;
    long long sv_login = 0;
    double maxwait_s = 0;  // maxwait + maxwait_us
    std::string pool_mode;
    long long pool_size = 0;  // from SHOW DATABASES (the effective size for that database)
};

// A cell by column name; "" when the column is absent (PgBouncer versions add and rename columns) or NULL.
std::string cell(const Rows& rows, size_t i, std::string_view column);
// An integer cell's value; 0 for "" or text that is not a number.
long long number(const std::string& text);

// The rows of an async result, materialised like SyncConnection's.
Rows to_rows(const ResultSet& rs);

// SHOW POOLS' rows; pool_size from `databases` (SHOW DATABASES; may be empty), else `default_pool_size`.
std::vector<PoolRow> parse_pools(const Rows& pools, const Rows& databases, long long default_pool_size);

}  // namespace yw::pg
