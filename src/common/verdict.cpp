// RB-23 thresholds: see verdict.hpp.
#include "common/verdict.hpp"

namespace yw {

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::kHealthy:
            return "healthy";
        case Verdict::kDegraded:
            return "degraded";
        case Verdict::kUnhealthy:
            return "unhealthy";
    }
    return "unhealthy";
}

Verdict grade(double value, double degraded_at, double unhealthy_above) {
    if (value < degraded_at) return Verdict::kHealthy;
    if (value > unhealthy_above) return Verdict::kUnhealthy;
    return Verdict::kDegraded;
}

Verdict query_health(double p95_ms, double slow_query_percent) {
    return worse(grade(p95_ms, kP95DegradedMs, kP95UnhealthyMs),
                 grade(slow_query_percent, kSlowQueryDegradedPercent, kSlowQueryUnhealthyPercent));
}

}  // namespace yw
