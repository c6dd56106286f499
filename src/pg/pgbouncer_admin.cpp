// PgBouncer's admin console read as data: see pgbouncer_admin.hpp.
#include "pg/pgbouncer_admin.hpp"

namespace yw::pg {

std::string cell(const Rows& rows, size_t i, std::string_view column) {
    for (size_t c = 0; c < rows.columns.size(); ++c) {
        if (rows.columns[c] == column) return rows.rows.at(i).at(c).value_or("");
    }
    return "";
}

long long number(const std::string& text) {
    try {
        return text.empty() ? 0 : std::stoll(text);
    } catch (const std::exception&) {
        return 0;
    }
}

Rows to_rows(const ResultSet& rs) {
    Rows out;
    const PGresult* r = rs.raw();
    if (!r) return out;
    for (int c = 0; c < rs.cols(); ++c) out.columns.emplace_back(PQfname(r, c));
    for (int i = 0; i < rs.rows(); ++i) {
        std::vector<Param> row;
        for (int c = 0; c < rs.cols(); ++c) {
            if (rs.is_null(i, c)) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(std::string(rs.get(i, c)));
            }
        }
        out.rows.push_back(std::move(row));
    }
    return out;
}

std::vector<PoolRow> parse_pools(const Rows& pools, const Rows& databases, long long default_pool_size) {
    std::map<std::string, long long> sizes;
    for (size_t i = 0; i < databases.size(); ++i)
        sizes[cell(databases, i, "name")] = number(cell(databases, i, "pool_size"));
    std::vector<PoolRow> out;
    for (size_t i = 0; i < pools.size(); ++i) {
        PoolRow p;
        p.database = cell(pools, i, "database");
        if (p.database == "pgbouncer") continue;  // the admin console's pseudo-database has no servers
        p.user = cell(pools, i, "user");
        p.cl_active = number(cell(pools, i, "cl_active"));
        p.cl_waiting = number(cell(pools, i, "cl_waiting"));
        p.sv_active = number(cell(pools, i, "sv_active"));
        p.sv_idle = number(cell(pools, i, "sv_idle"));
        p.sv_used = number(cell(pools, i, "sv_used"));
        p.sv_login = number(cell(pools, i, "sv_login"));
        p.maxwait_s = static_cast<double>(number(cell(pools, i, "maxwait"))) +
                      static_cast<double>(number(cell(pools, i, "maxwait_us"))) / 1e6;
        p.pool_mode = cell(pools, i, "pool_mode");
        auto size = sizes.find(p.database);
        p.pool_size = size != sizes.end() && size->second > 0 ? size->second : default_pool_size;
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace yw::pg
