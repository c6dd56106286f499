// The manifest beside each archived month in S3: what the object holds and how to check and reload it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace yw::archive {

inline constexpr const char* kManifestFormat = "ywmessaging.partition-archive/1";

struct Column {
    std::string name;
    std::string type;  // format_type(): "uuid", "timestamp with time zone", …
    bool not_null = false;
};

struct Manifest {
    std::string format = kManifestFormat;
    std::string table;   // conversation_message_2023_12
    std::string parent;  // conversation_message
    std::string month;   // 2023_12
    std::string from;    // the partition's bounds, as PostgreSQL prints them: 2023-12-01 00:00:00+00
    std::string to;
    std::vector<Column> columns;  // in the CSV's order (its header line)
    std::string ddl;              // CREATE TABLE … of the month as it was archived, for humans
    std::int64_t rows = 0;
    std::uint64_t csv_bytes = 0;
    std::string csv_sha256;
    std::string object_key;  // partitions/conversation_message_2023_12.csv.gz
    std::uint64_t object_bytes = 0;
    std::string object_sha256;
    std::uint64_t table_bytes = 0;  // pg_total_relation_size when it was archived
    std::string server_version;
    std::string archived_at;  // ISO 8601 UTC
    std::string tool;         // "ywctl <version>"
};

std::string to_json(const Manifest& m);
// Validates as it reads: a manifest that is not ours, or whose names or checksums are malformed, is refused
// with a message naming the field (kUnprocessable).
Result<Manifest> parse_manifest(std::string_view text);

// Object names: the runbook's `partitions/conversation_message_YYYY_MM.csv.gz` and the manifest beside it.
std::string object_key(const std::string& table);
std::string manifest_key(const std::string& table);

}  // namespace yw::archive
