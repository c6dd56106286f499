// The health endpoints' routes.
#pragma once

#include "health/checker.hpp"
#include "http/router.hpp"

namespace yw::health {

// GET /health: 200 {"status":"healthy",…} when the primary answers within the health timeout, else 503
// {"status":"unhealthy",…}. `checker` must outlive the router.
void add_routes(http::Router& router, Checker& checker);

}  // namespace yw::health
