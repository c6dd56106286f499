// The health endpoints' routes.
#pragma once

#include "health/checker.hpp"
#include "health/detailed.hpp"
#include "health/history.hpp"
#include "http/router.hpp"
#include "pg/cluster.hpp"
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

// GET /health/detailed (RB-23): the prober's shared reading, 200 when healthy or degraded, 503 when
// unhealthy. With `Authorization: Bearer <YW_ADMIN_TOKEN>` the whole document (detailed_report); without it,
// or with a wrong one, only {"status","timestamp"} (load balancers poll it; the details name hosts, versions
// and load). Both must outlive the router.
void add_detailed_route(http::Router& router, DetailedProber& prober, std::string admin_token);

// GET /status: the status page (status.hpp), to anyone: it holds no data, and asks for the admin token
// itself. GET /status/data, with the admin token (401 without, 403 when none is configured): {"status",
// "timestamp", "fields" (graded_fields of the prober's shared reading), "history" (History::to_json),
// "guides" (the charts' threshold lines), "partitions" (partitions_json)}. Everything must outlive the
// router.
void add_status_routes(http::Router& router, DetailedProber& prober, const History& history, pg::Cluster& db,
                       std::string admin_token);

}  // namespace yw::health
