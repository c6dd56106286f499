// Where one statement goes, decided from one topology snapshot (src/pg/topology.hpp).
#pragma once

#include <cstdint>

#include "pg/topology.hpp"

namespace yw::pg {

// Pure: the Cluster (src/pg/cluster.hpp) turns the answer into a pool, counts the reasons and logs.
// Unit-tested, and measured by bench/micro (the routing decision must cost < 2 % of a request).
struct Route {
    enum class Why {
        kEntry,             // DATABASE_URL: writes while PgBouncer leads to the primary
        kPrimaryDirect,     // a write straight to the primary: PgBouncer does not lead to it (yet)
        kReplica,           // a read on a fresh replica that has the scope's last write
        kPrimaryForTenant,  // a read on the primary: replicas are readable but behind the scope's last write
        kPrimaryNoReplica,  // a read on the primary: no replica is fresh enough
        kPrimaryAsked,      // a read that asked for the primary (read-after-write), straight to its node
        kDegraded,          // a read on the freshest replica that answers: there is no primary
        kNoPrimary,         // refused: no writable primary (failover in progress or needed)
        kPrimaryDown,       // refused: the primary is not answering
        kNoNode,            // refused: no node answers
    };
    Why why = Why::kEntry;
    int node = -1;  // index into the snapshot's nodes; -1: DATABASE_URL, or refused

    bool refused() const { return why == Why::kNoPrimary || why == Why::kPrimaryDown || why == Why::kNoNode; }
};

// `entry_trusted_from`: the first probe round whose word on PgBouncer counts again after a statement saw it
// fail (0: it never failed). Before that round writes go straight to the primary, without waiting for the
// topology to notice.
Route route_write(const Snapshot& s, std::uint64_t entry_trusted_from = 0);

// A read's required position meaning "whatever was written anywhere": the primary, or with no primary the
// freshest replica that answers.
inline constexpr std::uint64_t kNewestLsn = UINT64_MAX;

// `required_lsn`: the scope's last write (0: none; kNewestLsn: the primary's newest); `skip`: a node not to
// pick (it just failed; -1: none);
// `turn`: a counter that spreads reads round-robin over the fresh replicas.
Route route_read(const Snapshot& s, std::uint64_t required_lsn, int skip, unsigned turn);

}  // namespace yw::pg
