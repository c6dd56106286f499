// RB-17: the health of conversation_message's monthly partitions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/verdict.hpp"
#include "ops/check.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

struct MonthPartition {
    std::string name;   // conversation_message_YYYY_MM
    int month = 0;      // months since year 0 (year * 12 + month - 1); -1: not a month's name
    std::string bound;  // FOR VALUES FROM (…) TO (…), or DEFAULT
    long long bytes = 0;
    long long rows = 0;  // the planner's estimate (reltuples, or the live tuples before the first ANALYZE)
};

struct PartitionSnapshot {
    int current_month = 0;                   // the database's now(), in UTC
    std::vector<MonthPartition> months;      // attached partitions, by name
    std::vector<int> archived;               // months in S3 (RB-18) and not restored: not missing
    std::optional<long long> success_s_ago;  // the maintainer's last success (any instance); nullopt: never
    std::optional<long long> run_s_ago;      // its last run, failed or not
    std::string run_instance;
    std::string run_error;  // of the last run; "" when it succeeded
    std::string error;      // why the facts could not be read
};

struct PartitionThresholds {
    int months_back = 24;  // the production window: 24 months back, the current one, `months_ahead` ahead
    int months_ahead = 2;
    long long warning_bytes = kPartitionDegradedBytes;
    long long critical_bytes = kPartitionUnhealthyBytes;
    double balance = 0.10;                // a full past month may differ from the median by this much
    std::chrono::seconds interval{3600};  // the maintainer's; critical when no success for two of them
};

// conversation_message_2024_12 → 2024 * 12 + 11; -1 for any other name.
int month_of(const std::string& partition_name);
std::string month_text(int month);  // 2024_12

// What is assessed: sizes, rows and bounds of every month, the months missing in the window, the months
// ahead, oversized months, the balance of full past months, and whether the partition maintainer still
// succeeds.
PartitionSnapshot collect_partitions(pg::SyncConnection& conn);
Report assess_partitions(const PartitionSnapshot& s, const PartitionThresholds& t = {});

}  // namespace yw::ops
