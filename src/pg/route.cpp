// The routing decision for one statement (see route.hpp).
#include "pg/route.hpp"

namespace yw::pg {

Route route_write(const Snapshot& s, std::uint64_t entry_trusted_from) {
    if (s.primary < 0) return {Route::Why::kNoPrimary};
    // Before the first probe round the configuration's guess stands: try it.
    if (s.round > 0 && !s.nodes[s.primary].healthy) return {Route::Why::kPrimaryDown};
    if (s.pgbouncer_configured && s.pgbouncer_ok && s.round >= entry_trusted_from)
        return {Route::Why::kEntry};
    // Without PgBouncer the primary's node is DATABASE_URL itself (the Cluster shares the pool).
    return {s.pgbouncer_configured ? Route::Why::kPrimaryDirect : Route::Why::kEntry, s.primary};
}

Route route_read(const Snapshot& s, std::uint64_t required_lsn, int skip, unsigned turn) {
    constexpr int kMaxFresh = 16;
    int fresh[kMaxFresh];
    int count = 0;
    bool any_readable = false;
    const int n = static_cast<int>(s.nodes.size());
    for (int i = 0; i < n && count < kMaxFresh; ++i) {
        const NodeState& node = s.nodes[i];
        if (i == skip || node.role != Role::kReplica || !node.readable) continue;
        any_readable = true;
        if (node.lsn >= required_lsn) fresh[count++] = i;
    }
    if (count > 0) return {Route::Why::kReplica, fresh[turn % static_cast<unsigned>(count)]};
    if (s.primary >= 0 && s.primary != skip && (s.round == 0 || s.nodes[s.primary].healthy)) {
        // Straight to the node, not through PgBouncer: should it have just died, the read fails at once and
        // is retried on a replica instead of waiting in PgBouncer's queue.
        if (required_lsn == kNewestLsn) return {Route::Why::kPrimaryAsked, s.primary};
        return {any_readable ? Route::Why::kPrimaryForTenant : Route::Why::kPrimaryNoReplica, s.primary};
    }
    // No primary to fall back to: the freshest replica that answers, even if behind (reads must not fail
    // while a replica is up; its answer may miss the newest writes, which may be lost anyway).
    int best = -1;
    for (int i = 0; i < n; ++i) {
        const NodeState& node = s.nodes[i];
        if (i == skip || node.role != Role::kReplica || !node.healthy) continue;
        if (best < 0 || node.lsn > s.nodes[best].lsn) best = i;
    }
    if (best >= 0) return {Route::Why::kDegraded, best};
    return {Route::Why::kNoNode};
}

}  // namespace yw::pg
