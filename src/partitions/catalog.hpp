// ywctl's side of conversation_message's monthly partitions: create the months ahead, list what exists.
#pragma once

#include <string>
#include <vector>

#include "common/error.hpp"
#include "pg/sync_connection.hpp"

namespace yw::partitions {

struct PartitionInfo {
    std::string name;   // conversation_message_YYYY_MM
    std::string bound;  // FOR VALUES FROM (…) TO (…)
    long long bytes = 0;
};

// Creates the current month and the `ahead` next ones where missing; returns the names created.
Result<std::vector<std::string>> ensure(pg::SyncConnection& conn, int ahead);
Result<std::vector<PartitionInfo>> list(pg::SyncConnection& conn);

}  // namespace yw::partitions
