// The read cache's counters by namespace for GET /metrics: yw_cache_{hits,misses,stale,errors,loads}_total.
#pragma once

#include <vector>

#include "cache/cache.hpp"
#include "common/prometheus.hpp"

namespace yw::cache {

void dump_metrics(prometheus::Writer& out, const std::vector<NamespaceStats>& stats);

}  // namespace yw::cache
