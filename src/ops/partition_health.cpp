// RB-17's facts from the catalog and the maintainer's run table, judged against the runbook's thresholds.
#include "ops/partition_health.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <map>

#include "pg/ops_queries.hpp"

namespace yw::ops {
namespace {

constexpr std::string_view kPrefix = "conversation_message_";

std::string size_text(long long bytes) {
    if (bytes >= (1ll << 30)) return fmt::format("{:.2f} GB", static_cast<double>(bytes) / (1ll << 30));
    if (bytes >= (1ll << 20)) return fmt::format("{:.0f} MB", static_cast<double>(bytes) / (1ll << 20));
    return fmt::format("{} kB", bytes >> 10);
}

}  // namespace

int month_of(const std::string& name) {
    // conversation_message_YYYY_MM
    if (name.size() != kPrefix.size() + 7 || name.compare(0, kPrefix.size(), kPrefix) != 0) return -1;
    std::string_view rest(name.data() + kPrefix.size(), 7);
    if (rest[4] != '_') return -1;
    for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u})
        if (rest[i] < '0' || rest[i] > '9') return -1;
    int year = std::stoi(std::string(rest.substr(0, 4)));
    int month = std::stoi(std::string(rest.substr(5, 2)));
    if (month < 1 || month > 12) return -1;
    return year * 12 + month - 1;
}

std::string month_text(int month) { return fmt::format("{:04d}_{:02d}", month / 12, month % 12 + 1); }

PartitionSnapshot collect_partitions(pg::SyncConnection& conn) {
    PartitionSnapshot s;
    auto now = conn.query(pg::queries::kPartitionsMaintainerState);
    if (!now || now->empty()) {
        s.error = now ? "no answer" : now.error().message;
        return s;
    }
    s.current_month = month_of(std::string(kPrefix) + now->text(0, "month"));
    s.success_s_ago = now->optional_int(0, "success_s_ago");
    s.run_s_ago = now->optional_int(0, "run_s_ago");
    s.run_instance = now->text(0, "run_instance");
    s.run_error = now->text(0, "run_error");
    auto rows = conn.query(pg::queries::kPartitionsHealth);
    if (!rows) {
        s.error = rows.error().message;
        return s;
    }
    for (size_t i = 0; i < rows->size(); ++i) {
        MonthPartition m;
        m.name = rows->text(i, "name");
        m.month = month_of(m.name);
        m.bound = rows->text(i, "bound");
        m.bytes = std::stoll(rows->text(i, "bytes"));
        m.rows = std::stoll(rows->text(i, "rows"));
        s.months.push_back(std::move(m));
    }
    auto archived = conn.query(pg::queries::kPartitionsArchived);
    if (!archived) {
        s.error = archived.error().message;
        return s;
    }
    for (size_t i = 0; i < archived->size(); ++i)
        s.archived.push_back(month_of(std::string(kPrefix) + archived->text(i, "month")));
    return s;
}

Report assess_partitions(const PartitionSnapshot& s, const PartitionThresholds& t) {
    Report r;
    r.title = "Partitions (RB-17)";
    if (!s.error.empty()) {
        r.add({"partitions", Level::kUnknown, "unreadable", "readable", s.error});
        return r;
    }
    std::map<int, const MonthPartition*> by_month;
    boost::json::array months;
    for (const auto& m : s.months) {
        if (m.month >= 0) by_month[m.month] = &m;
        months.push_back({{"name", m.name}, {"bound", m.bound}, {"bytes", m.bytes}, {"rows", m.rows}});
    }

    // Every month, as RB-17's first step lists them: size against 800 MB / 1 GB.
    for (const auto& m : s.months) {
        if (m.month < 0) {
            r.add({m.name, Level::kWarning, size_text(m.bytes), "monthly partitions only",
                   fmt::format(
                       "{}: not a month's partition (a DEFAULT partition blocks DETACH CONCURRENTLY and "
                       "hides missing months; docs/partitions.md)",
                       m.bound)});
            continue;
        }
        Level level = m.bytes > t.critical_bytes  ? Level::kCritical
                      : m.bytes > t.warning_bytes ? Level::kWarning
                                                  : Level::kOk;
        std::string detail = m.bound;
        if (level != Level::kOk) detail += "; consider smaller partitions (weekly or daily) for new months";
        r.add({month_text(m.month), level, fmt::format("{}, ~{} rows", size_text(m.bytes), m.rows),
               "< " + size_text(t.warning_bytes), detail});
        if (level == Level::kCritical)
            r.recommend("docs/partitions.md: plan smaller partitions for new months");
    }

    // Months ahead: consecutive attached months after the current one (-1: not even the current one).
    int ahead = -1;
    while (ahead < 120 && by_month.count(s.current_month + ahead + 1)) ++ahead;
    Level ahead_level = ahead < 1 ? Level::kCritical : ahead < t.months_ahead ? Level::kWarning : Level::kOk;
    r.add({"months ahead", ahead_level, std::to_string(ahead), fmt::format(">= {}", t.months_ahead),
           ahead < 0   ? "this month has no partition: every write of a message fails"
           : ahead < 1 ? "next month has no partition: writes stop at the month's end"
                       : ""});
    if (ahead_level != Level::kOk)
        r.recommend(fmt::format("ywctl partitions ensure --ahead {}", t.months_ahead));

    // Missing months of the window (24 back + current + ahead).
    // Months archived to S3 are where they should be, not missing.
    std::vector<std::string> missing, archived;
    for (int m = s.current_month - t.months_back; m <= s.current_month + t.months_ahead; ++m) {
        if (by_month.count(m)) continue;
        if (std::find(s.archived.begin(), s.archived.end(), m) != s.archived.end()) {
            archived.push_back(month_text(m));
        } else {
            missing.push_back(month_text(m));
        }
    }
    r.add({"missing months", missing.empty() ? Level::kOk : Level::kWarning, std::to_string(missing.size()),
           fmt::format("0 of the {} months back, this one and {} ahead", t.months_back, t.months_ahead),
           fmt::format("{}{}{}", fmt::join(missing, ", "), missing.empty() || archived.empty() ? "" : "; ",
                       archived.empty() ? std::string()
                                        : fmt::format("archived to S3: {}", fmt::join(archived, ", ")))});

    // Balance of the full past months that hold rows, against their median.
    std::vector<const MonthPartition*> full;
    for (const auto& [month, m] : by_month)
        if (month < s.current_month && month >= s.current_month - t.months_back && m->rows > 0)
            full.push_back(m);
    if (full.size() < 3) {
        r.add({"size balance", Level::kOk, "n/a", fmt::format("± {:.0f} % of the median", t.balance * 100),
               fmt::format("{} full past month(s) with rows: too few to compare", full.size())});
    } else {
        std::vector<long long> sizes;
        for (const auto* m : full) sizes.push_back(m->bytes);
        std::sort(sizes.begin(), sizes.end());
        const double median = sizes.size() % 2
                                  ? static_cast<double>(sizes[sizes.size() / 2])
                                  : (sizes[sizes.size() / 2 - 1] + sizes[sizes.size() / 2]) / 2.0;
        double worst = 0;
        std::vector<std::string> outliers;
        for (const auto* m : full) {
            double deviation = median > 0 ? (static_cast<double>(m->bytes) - median) / median : 0;
            worst = std::max(worst, std::abs(deviation));
            if (std::abs(deviation) > t.balance)
                outliers.push_back(fmt::format("{} {:+.0f} %", month_text(m->month), deviation * 100));
        }
        r.add({"size balance", outliers.empty() ? Level::kOk : Level::kWarning,
               fmt::format("{:.0f} % max deviation", worst * 100),
               fmt::format("± {:.0f} % of the median ({})", t.balance * 100,
                           size_text(static_cast<long long>(median))),
               outliers.empty() ? "" : fmt::format("{} (growth shows here too)", fmt::join(outliers, ", "))});
    }

    // The maintainer: critical when nothing succeeded for two intervals (or ever).
    const long long stale = 2 * t.interval.count();
    Level maintainer = !s.success_s_ago || *s.success_s_ago > stale ? Level::kCritical : Level::kOk;
    std::string detail;
    if (s.run_s_ago) {
        detail = fmt::format("last run {} s ago by {}", *s.run_s_ago, s.run_instance);
        if (!s.run_error.empty()) detail += ": " + s.run_error;
    } else {
        detail = "no run recorded: is ywmsgd running with YW_PARTITION_MAINTENANCE_INTERVAL_S > 0?";
    }
    r.add({"maintainer last success", maintainer,
           s.success_s_ago ? fmt::format("{} s ago", *s.success_s_ago) : "never",
           fmt::format("<= {} s", stale), detail});
    if (maintainer != Level::kOk) {
        r.recommend("look for \"partition maintenance failed\" in ywmsgd's logs");
        r.recommend(fmt::format("ywctl partitions ensure --ahead {}", t.months_ahead));
    }

    r.data = {{"current_month", month_text(s.current_month)},
              {"months_ahead", ahead},
              {"missing", boost::json::value_from(missing)},
              {"archived", boost::json::value_from(archived)},
              {"partitions", std::move(months)},
              {"maintainer",
               {{"last_success_s_ago", s.success_s_ago ? boost::json::value(*s.success_s_ago) : nullptr},
                {"last_run_s_ago", s.run_s_ago ? boost::json::value(*s.run_s_ago) : nullptr},
                {"last_run_instance", s.run_instance},
                {"last_run_error", s.run_error}}}};
    return r;
}

}  // namespace yw::ops
