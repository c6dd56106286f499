// RB-1: probing the nodes and judging replication against the runbook's thresholds.
#include "ops/replication.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "node/control.hpp"
#include "node/probe.hpp"
#include "pg/replication_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {
namespace {

std::string ms(std::optional<long long> v) { return v ? fmt::format("{} ms", *v) : "unknown"; }

std::string bytes_text(std::uint64_t b) {
    constexpr std::uint64_t kMiB = 1ull << 20;
    if (b >= kMiB && b % kMiB == 0) return fmt::format("{} MiB", b / kMiB);
    if (b >= kMiB) return fmt::format("{} bytes ({:.1f} MiB)", b, static_cast<double>(b) / kMiB);
    return fmt::format("{} bytes", b);
}

// The primary's position and the replica's replayed position that bytes_behind compares: pairs read at the
// same moment, so that a write landing between two reads is not taken for lag.
struct ReplayPair {
    std::optional<std::uint64_t> primary, replayed;
};

ReplayPair replay_pair(const ReplicationSnapshot& s, size_t node) {
    const NodeProbe& n = s.nodes[node];
    if (s.primary && n.reachable && n.replay_lsn) return {s.nodes[*s.primary].current_lsn, n.replay_lsn};
    if (const Walsender* w = walsender_of(s, n.name)) return {s.primary_lsn, w->replay_lsn};
    return {};
}

// RB-1's rows that do not trust pg_stat_replication's lag columns: WAL left to replay, a paused replay, and
// the age of the last replayed transaction while WAL is left.
void add_replay_rows(Report& r, const ReplicationSnapshot& s, size_t node, const ReplicationThresholds& t) {
    const NodeProbe& n = s.nodes[node];
    auto pair = replay_pair(s, node);
    auto behind = bytes_behind(s, node);
    if (behind || n.reachable) {
        std::string detail;
        if (pair.primary && pair.replayed) {
            detail = fmt::format("replayed {}, primary at {}", format_lsn(*pair.replayed),
                                 format_lsn(*pair.primary));
            if (n.receive_lsn && *n.receive_lsn > *pair.replayed)
                detail += fmt::format(", received {}", format_lsn(*n.receive_lsn));
        }
        r.add({n.name + " bytes behind", behind ? behind_level(*behind, t) : Level::kUnknown,
               behind ? bytes_text(*behind) : "unknown", "< " + bytes_text(t.behind_warning_bytes), detail});
    }
    if (!n.reachable) return;  // what follows only the replica itself can say
    r.add(
        {n.name + " replay paused", n.replay_paused ? Level::kCritical : Level::kOk,
         n.replay_paused ? "yes" : "no", "no",
         n.replay_paused
             ? fmt::format("WAL arrives but is not applied: on {} run SELECT pg_wal_replay_resume()", n.name)
             : ""});
    if (n.replay_paused)
        r.recommend(fmt::format("psql -c 'SELECT pg_wal_replay_resume()'   # on {}", n.name));
    // An idle primary is not lag, however old the last replayed transaction: its age counts only while WAL
    // is left to replay (effective_lag_ms's rule).
    auto age = effective_lag_ms(pair.primary, pair.replayed, n.replay_age_ms);
    std::string detail;
    Level level = age ? lag_level(*age) : Level::kUnknown;
    if (behind && *behind > 0 && *behind < kAgeJudgedFromBytes) {
        level = Level::kOk;
        detail =
            fmt::format("only {} in flight: the last transaction's age is not lag yet", bytes_text(*behind));
    } else if (!n.replay_age_ms && behind && *behind > 0) {
        // No transaction replayed since the replica started (just after a restart or rebuild): there is no
        // age to judge, and the bytes behind row judges the backlog.
        level = Level::kOk;
        detail = "no transaction replayed since it started: judged by bytes behind";
    } else if (n.replay_age_ms) {
        detail = behind && *behind == 0
                     ? fmt::format("caught up; last transaction replayed {} ms ago", *n.replay_age_ms)
                     : fmt::format("last transaction replayed {} ms ago", *n.replay_age_ms);
    }
    r.add({n.name + " last replay age", level, ms(age), fmt::format("< {} ms while behind", kLagWarningMs),
           detail});
}

}  // namespace

ReplicationSnapshot collect_replication(const std::vector<NodeEndpoint>& nodes,
                                        std::chrono::seconds connect_timeout) {
    ReplicationSnapshot s;
    s.nodes = node::probe_all(nodes, connect_timeout);
    for (size_t i = 0; i < s.nodes.size(); ++i) {
        const auto& n = s.nodes[i];
        if (!n.reachable || n.in_recovery) continue;
        if (!s.primary) {
            s.primary = i;
        } else {
            s.extra_primaries.push_back(i);
        }
    }
    if (!s.primary) return s;
    s.primary_lsn = s.nodes[*s.primary].current_lsn;
    auto conn = pg::SyncConnection::open(nodes[*s.primary].url, connect_timeout,
                                         std::chrono::milliseconds(connect_timeout));
    if (!conn) {
        s.primary_error = conn.error().message;
        return s;
    }
    if (auto rows = conn->query(pg::queries::kReplicationDetail)) {
        for (size_t i = 0; i < rows->size(); ++i) {
            Walsender w;
            w.application_name = rows->text(i, "application_name");
            w.state = rows->text(i, "state");
            w.sync_state = rows->text(i, "sync_state");
            w.slot_name = rows->text(i, "slot_name");
            w.sent_lsn = parse_lsn(rows->text(i, "sent_lsn"));
            w.write_lsn = parse_lsn(rows->text(i, "write_lsn"));
            w.flush_lsn = parse_lsn(rows->text(i, "flush_lsn"));
            w.replay_lsn = parse_lsn(rows->text(i, "replay_lsn"));
            w.write_lag_ms = rows->optional_int(i, "write_lag_ms");
            w.flush_lag_ms = rows->optional_int(i, "flush_lag_ms");
            w.replay_lag_ms = rows->optional_int(i, "replay_lag_ms");
            // The primary's position as of this query: fresher than the probe's for comparing LSNs.
            if (i == 0) s.primary_lsn = parse_lsn(rows->text(i, "current_lsn"));
            s.walsenders.push_back(std::move(w));
        }
    } else {
        s.primary_error = rows.error().message;
    }
    if (auto rows = conn->query(pg::queries::kReplicationSlots)) {
        for (size_t i = 0; i < rows->size(); ++i) {
            s.slots.push_back(
                {rows->text(i, "slot_name"), rows->text(i, "active") == "t", rows->text(i, "wal_status")});
        }
    }
    return s;
}

std::optional<long long> effective_lag_ms(std::optional<std::uint64_t> primary_lsn,
                                          std::optional<std::uint64_t> stage_lsn,
                                          std::optional<long long> measured_ms,
                                          std::optional<std::uint64_t> sent_lsn) {
    if (primary_lsn && stage_lsn && *stage_lsn >= *primary_lsn) return 0;
    if (measured_ms) return std::max(0LL, *measured_ms);
    if (sent_lsn && stage_lsn && *stage_lsn >= *sent_lsn) return 0;
    return std::nullopt;
}

Level lag_level(long long lag_ms) {
    return from_verdict(yw::grade(static_cast<double>(lag_ms), kLagWarningMs, kLagCriticalMs));
}

Level behind_level(std::uint64_t bytes, const ReplicationThresholds& t) {
    if (bytes >= t.behind_critical_bytes) return Level::kCritical;
    if (bytes >= t.behind_warning_bytes) return Level::kWarning;
    return Level::kOk;
}

std::optional<std::uint64_t> bytes_behind(const ReplicationSnapshot& s, size_t node) {
    auto pair = replay_pair(s, node);
    if (!pair.primary || !pair.replayed) return std::nullopt;
    // A replica "ahead" read its position after the primary wrote more: caught up.
    return *pair.primary > *pair.replayed ? *pair.primary - *pair.replayed : 0;
}

const Walsender* walsender_of(const ReplicationSnapshot& s, const std::string& node) {
    for (const auto& w : s.walsenders) {
        if (w.application_name == node::application_name(node) || w.slot_name == node::slot_name(node))
            return &w;
    }
    return nullptr;
}

const Slot* slot_of(const ReplicationSnapshot& s, const std::string& node) {
    for (const auto& slot : s.slots) {
        if (slot.name == node::slot_name(node)) return &slot;
    }
    return nullptr;
}

Report assess_replication(const ReplicationSnapshot& s, const ReplicationThresholds& t) {
    Report r;
    r.title = "Replication (RB-1)";
    r.data = to_json(s);
    for (const auto& n : s.nodes) {
        if (!n.reachable) {
            r.add({n.name + " reachable", Level::kCritical, "no", "answers", n.error});
        }
    }
    if (!s.primary) {
        r.add({"primary", Level::kCritical, "none", "one node not in recovery",
               "no reachable node is a primary"});
        r.recommend("ywctl emergency db-down");
        return r;
    }
    const NodeProbe& primary = s.nodes[*s.primary];
    for (const auto& n : s.nodes) {
        if (!n.reachable) r.recommend("ywctl emergency replica-failure");
    }
    r.add({"primary", Level::kOk, primary.name, "one node not in recovery",
           primary.current_lsn ? "at " + format_lsn(*primary.current_lsn) : ""});
    for (size_t i : s.extra_primaries) {
        r.add({s.nodes[i].name + " role", Level::kCritical, "primary", "replica",
               fmt::format("also out of recovery: split brain with {}", primary.name)});
        r.recommend(
            fmt::format("ywctl replicas rebuild {}   # on {}'s host, after deciding which primary wins",
                        s.nodes[i].name, s.nodes[i].name));
    }
    if (!s.primary_error.empty()) {
        r.add({"pg_stat_replication", Level::kUnknown, "unreadable", "readable", s.primary_error});
    }
    int expected = 0;
    int streaming = 0;
    for (size_t i = 0; i < s.nodes.size(); ++i) {
        if (i == *s.primary) continue;
        if (std::find(s.extra_primaries.begin(), s.extra_primaries.end(), i) != s.extra_primaries.end()) {
            ++expected;
            continue;
        }
        ++expected;
        const NodeProbe& n = s.nodes[i];
        const Walsender* w = walsender_of(s, n.name);
        if (!w) {
            std::string why =
                !n.reachable
                    ? "node does not answer"
                    : fmt::format("no walsender for {} on {} (receiver: {})", node::application_name(n.name),
                                  primary.name, n.receiver_status.empty() ? "none" : n.receiver_status);
            r.add({n.name + " state", Level::kCritical, "not streaming", "streaming", why});
            r.recommend("ywctl emergency replica-failure");
            add_replay_rows(r, s, i, t);
            continue;
        }
        bool is_streaming = w->state == "streaming";
        streaming += is_streaming;
        r.add({n.name + " state", is_streaming ? Level::kOk : Level::kCritical, w->state, "streaming",
               fmt::format("sync_state {}", w->sync_state)});
        if (!is_streaming) r.recommend("ywctl emergency replica-failure");
        struct Stage {
            const char* name;
            std::optional<std::uint64_t> lsn;
            std::optional<long long> measured;
        };
        for (const Stage& st :
             {Stage{"write", w->write_lsn, w->write_lag_ms}, Stage{"flush", w->flush_lsn, w->flush_lag_ms},
              Stage{"replay", w->replay_lsn, w->replay_lag_ms}}) {
            auto lag = effective_lag_ms(s.primary_lsn, st.lsn, st.measured, w->sent_lsn);
            std::string detail;
            if (s.primary_lsn && st.lsn) {
                long long behind = static_cast<long long>(*s.primary_lsn) - static_cast<long long>(*st.lsn);
                detail = behind <= 0 ? "caught up" : fmt::format("{} bytes behind", behind);
            }
            r.add({fmt::format("{} {} lag", n.name, st.name), lag ? lag_level(*lag) : Level::kUnknown,
                   ms(lag), fmt::format("< {} ms", kLagWarningMs), detail});
        }
        add_replay_rows(r, s, i, t);
    }
    r.add({"replicas streaming", streaming == expected ? Level::kOk : Level::kCritical,
           fmt::format("{} of {}", streaming, expected), fmt::format("{}", expected), ""});
    return r;
}

std::optional<size_t> best_failover_candidate(const ReplicationSnapshot& s) {
    std::optional<size_t> best;
    auto key = [&](size_t i) {
        const auto& n = s.nodes[i];
        return std::pair(n.replay_lsn.value_or(0), n.receive_lsn.value_or(0));
    };
    for (size_t i = 0; i < s.nodes.size(); ++i) {
        if (!s.nodes[i].reachable || !s.nodes[i].in_recovery) continue;
        if (!best || key(i) > key(*best)) best = i;
    }
    return best;
}

boost::json::object to_json(const ReplicationSnapshot& s) {
    auto lsn = [](std::optional<std::uint64_t> v) -> boost::json::value {
        return v ? boost::json::value(format_lsn(*v)) : boost::json::value(nullptr);
    };
    auto num = [](std::optional<long long> v) -> boost::json::value {
        return v ? boost::json::value(*v) : boost::json::value(nullptr);
    };
    auto unum = [](std::optional<std::uint64_t> v) -> boost::json::value {
        return v ? boost::json::value(*v) : boost::json::value(nullptr);
    };
    boost::json::array nodes;
    for (size_t i = 0; i < s.nodes.size(); ++i) {
        const auto& n = s.nodes[i];
        std::string role = !n.reachable ? "unknown" : n.in_recovery ? "replica" : "primary";
        nodes.push_back({{"name", n.name},
                         {"reachable", n.reachable},
                         {"role", role},
                         {"error", n.error},
                         {"version", n.version},
                         {"current_lsn", lsn(n.current_lsn)},
                         {"receive_lsn", lsn(n.receive_lsn)},
                         {"replay_lsn", lsn(n.replay_lsn)},
                         {"replay_age_ms", num(n.replay_age_ms)},
                         {"replay_paused", n.replay_paused},
                         {"bytes_behind", n.reachable && !n.in_recovery ? boost::json::value(nullptr)
                                                                        : unum(bytes_behind(s, i))},
                         {"receiver_status", n.receiver_status}});
    }
    boost::json::array senders;
    for (const auto& w : s.walsenders) {
        senders.push_back(
            {{"application_name", w.application_name},
             {"state", w.state},
             {"sync_state", w.sync_state},
             {"slot_name", w.slot_name},
             {"sent_lsn", lsn(w.sent_lsn)},
             {"write_lsn", lsn(w.write_lsn)},
             {"flush_lsn", lsn(w.flush_lsn)},
             {"replay_lsn", lsn(w.replay_lsn)},
             {"write_lag_ms", num(effective_lag_ms(s.primary_lsn, w.write_lsn, w.write_lag_ms, w.sent_lsn))},
             {"flush_lag_ms", num(effective_lag_ms(s.primary_lsn, w.flush_lsn, w.flush_lag_ms, w.sent_lsn))},
             {"replay_lag_ms",
              num(effective_lag_ms(s.primary_lsn, w.replay_lsn, w.replay_lag_ms, w.sent_lsn))}});
    }
    boost::json::array slots;
    for (const auto& slot : s.slots)
        slots.push_back({{"slot_name", slot.name}, {"active", slot.active}, {"wal_status", slot.wal_status}});
    return {
        {"primary", s.primary ? boost::json::value(s.nodes[*s.primary].name) : boost::json::value(nullptr)},
        {"primary_lsn", lsn(s.primary_lsn)},
        {"nodes", std::move(nodes)},
        {"pg_stat_replication", std::move(senders)},
        {"slots", std::move(slots)}};
}

}  // namespace yw::ops
