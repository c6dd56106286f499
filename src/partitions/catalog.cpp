// ywctl's side of conversation_message's monthly partitions (see catalog.hpp).
#include "partitions/catalog.hpp"

#include <fmt/format.h>

#include "pg/ops_queries.hpp"

namespace yw::partitions {

// A thin layer over ensure_conversation_message_partitions() (migration 0001), the one place partitions are
// made.
Result<std::vector<std::string>> ensure(pg::SyncConnection& conn, int ahead) {
    if (ahead < 0 || ahead > 120) {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("--ahead must be 0..120, got {}", ahead));
    }
    auto rows = conn.query(pg::queries::kPartitionsEnsure, {"0", std::to_string(ahead)});
    if (!rows) return rows.error();
    std::vector<std::string> created;
    for (size_t i = 0; i < rows->size(); ++i) created.push_back(rows->text(i, "partition_name"));
    return created;
}

Result<std::vector<PartitionInfo>> list(pg::SyncConnection& conn) {
    auto rows = conn.query(pg::queries::kPartitionsList);
    if (!rows) return rows.error();
    std::vector<PartitionInfo> out;
    for (size_t i = 0; i < rows->size(); ++i) {
        out.push_back({rows->text(i, "name"), rows->text(i, "bound"), std::stoll(rows->text(i, "bytes"))});
    }
    return out;
}

}  // namespace yw::partitions
