// Schema migrations: sql/migrations/NNNN_name.sql applied in order.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace yw::pg {

struct Migration {
    int version = 0;
    std::string name;            // "initial_schema"
    std::filesystem::path path;  // the .sql file
};

// Lists and orders the migrations of a directory; rejects malformed names and duplicate versions.
Result<std::vector<Migration>> list_migrations(const std::filesystem::path& dir);

// Pure: orders by version and rejects duplicates. Exposed for unit tests.
Result<std::vector<Migration>> order_migrations(std::vector<Migration> found);

// Parses "0001_initial_schema.sql"; false for anything else.
bool parse_migration_filename(const std::string& filename, Migration& out);

struct MigrationReport {
    std::vector<Migration> applied;  // applied by this call, in order
    int current_version = 0;         // the highest version recorded after the call
};

// Applies every pending migration of `dir` to the database at `conninfo`, each in its own transaction,
// recorded in schema_migrations; runs are serialised across instances by a transaction-scoped advisory lock
// (works through PgBouncer in transaction pooling). A failing migration rolls back whole, leaves
// schema_migrations as it was, and its SQL error is returned.
Result<MigrationReport> migrate(const std::string& conninfo, const std::filesystem::path& dir);

}  // namespace yw::pg
