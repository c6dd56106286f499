// The health endpoints' routes.
#pragma once

#include "health/checker.hpp"
#include "http/router.hpp"
#include "pg/topology.hpp"

namespace yw::health {

// GET /health: 200 {"status":"healthy",…} when the primary answers within the health timeout, else 503
// {"status":"unhealthy",…}. With topology discovery (`topology` not null) the report lists every node; a
// fenced node or a PgBouncer that does not lead to the primary makes it 200 "degraded" with the reason, and
// a primary the probes see answering keeps it up even when DATABASE_URL does not. Both must outlive the
// router.
// `maintainer` (may be null) adds the partition maintainer's view (health_report).
// GET /livez: 200 {"status":"alive"} while the process serves HTTP; it asks no dependency.
// GET /readyz: 200 {"status":"ready"} when the primary answers within the health timeout, else 503 with the
// reason: take this instance out of rotation, do not restart it.
void add_routes(http::Router& router, Checker& checker, const pg::TopologyMonitor* topology = nullptr,
                const partitions::Maintainer* maintainer = nullptr);

}  // namespace yw::health
