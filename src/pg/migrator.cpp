// Applies sql/migrations/NNNN_name.sql in order; see migrator.hpp for the guarantees.
#include "pg/migrator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/logging.hpp"
#include "pg/ops_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::pg {

bool parse_migration_filename(const std::string& filename, Migration& out) {
    static const std::regex pattern(R"(^(\d{4})_([a-z0-9_]+)\.sql$)");
    std::smatch m;
    if (!std::regex_match(filename, m, pattern)) return false;
    out.version = std::stoi(m[1].str());
    out.name = m[2].str();
    return out.version > 0;
}

Result<std::vector<Migration>> order_migrations(std::vector<Migration> found) {
    std::sort(found.begin(), found.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (size_t i = 1; i < found.size(); ++i) {
        if (found[i].version == found[i - 1].version) {
            return make_error(
                ErrorCode::kInvalidArgument,
                fmt::format("two migrations share version {:04d}: {} and {}", found[i].version,
                            found[i - 1].path.filename().string(), found[i].path.filename().string()));
        }
    }
    return found;
}

Result<std::vector<Migration>> list_migrations(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("migrations directory {} does not exist", dir.string()));
    }
    std::vector<Migration> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::string filename = entry.path().filename().string();
        if (entry.path().extension() != ".sql") continue;
        Migration m;
        if (!parse_migration_filename(filename, m)) {
            return make_error(
                ErrorCode::kInvalidArgument,
                fmt::format("migration file {} is not named NNNN_lowercase_name.sql", filename));
        }
        m.path = entry.path();
        found.push_back(std::move(m));
    }
    return order_migrations(std::move(found));
}

namespace {

Result<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::kInternal, fmt::format("cannot read {}", path.string()));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Runs `body` inside BEGIN … COMMIT holding the migration lock; anything failing rolls the transaction back.
template <typename Body>
Status in_locked_transaction(SyncConnection& conn, Body&& body) {
    if (auto r = conn.query(queries::kBegin); !r) return r.error();
    Status status = [&]() -> Status {
        if (auto r = conn.query(queries::kMigrationLock); !r) return r.error();
        if (auto r = conn.query(queries::kMigrationsCreateTable); !r) return r.error();
        return body();
    }();
    if (!status) {
        (void)conn.query(queries::kRollback);
        return status;
    }
    if (auto r = conn.query(queries::kCommit); !r) return r.error();
    return {};
}

}  // namespace

Result<MigrationReport> migrate(const std::string& conninfo, const std::filesystem::path& dir) {
    auto migrations = list_migrations(dir);
    if (!migrations) return migrations.error();
    auto conn = SyncConnection::open(conninfo);
    if (!conn) return conn.error();

    MigrationReport report;
    for (const Migration& m : *migrations) {
        auto sql = read_file(m.path);
        if (!sql) return sql.error();
        bool applied = false;
        // One transaction per migration; the lock is re-taken each time so that a concurrent instance waits,
        // then sees the version as already applied and skips it.
        Status status = in_locked_transaction(*conn, [&]() -> Status {
            auto seen = conn->query(queries::kMigrationApplied, {std::to_string(m.version)});
            if (!seen) return seen.error();
            if (!seen->empty()) return {};
            if (auto s = conn->exec_script(fmt::format("migration {:04d}_{}", m.version, m.name), *sql); !s)
                return s;
            if (auto r = conn->query(queries::kMigrationRecord, {std::to_string(m.version), m.name}); !r) {
                return r.error();
            }
            applied = true;
            return {};
        });
        if (!status) return status.error();
        if (applied) {
            log::info("migration applied", {{"version", m.version}, {"name", m.name}});
            report.applied.push_back(m);
        }
    }
    auto current = conn->query(queries::kMigrationCurrentVersion);
    if (!current) return current.error();
    report.current_version = std::stoi(current->text(0, "version"));
    return report;
}

}  // namespace yw::pg
