// Partition maintenance of conversation_message (RB-17): create the months ahead, list what exists.
#pragma once

#include <string>
#include <vector>

#include "common/error.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

struct PartitionInfo {
    std::string name;   // conversation_message_YYYY_MM
    std::string bound;  // FOR VALUES FROM (…) TO (…)
    long long bytes = 0;
};

// Creates the current month and the `ahead` next ones where missing; returns the names created.
Result<std::vector<std::string>> ensure_partitions(pg::SyncConnection& conn, int ahead);
Result<std::vector<PartitionInfo>> list_partitions(pg::SyncConnection& conn);

}  // namespace yw::ops
