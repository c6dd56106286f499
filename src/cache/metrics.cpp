// See metrics.hpp.
#include "cache/metrics.hpp"

namespace yw::cache {

void dump_metrics(prometheus::Writer& out, const std::vector<NamespaceStats>& stats) {
    struct Counter {
        std::string_view name;
        std::string_view help;
        std::uint64_t NamespaceStats::*field;
    };
    static constexpr Counter kCounters[] = {
        {"yw_cache_hits_total", "Reads answered from Redis (not-found entries included).",
         &NamespaceStats::hits},
        {"yw_cache_misses_total", "Reads not in Redis, answered from the database and stored.",
         &NamespaceStats::misses},
        {"yw_cache_stale_total", "Loads not stored because a write deleted the key while they ran.",
         &NamespaceStats::stale},
        {"yw_cache_errors_total", "Redis calls that failed (the read was answered from the database).",
         &NamespaceStats::errors},
        {"yw_cache_loads_total", "Database loads behind the cache (one per key per process at a time).",
         &NamespaceStats::loads},
    };
    for (const auto& counter : kCounters) {
        out.family(counter.name, "counter", counter.help);
        for (const auto& s : stats) {
            out.sample(counter.name, prometheus::label("namespace", name_of(s.ns)), s.*counter.field);
        }
    }
}

}  // namespace yw::cache
