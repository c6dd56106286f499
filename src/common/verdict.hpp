// RB-23 thresholds as pure functions: a measured value -> healthy, degraded or unhealthy.
#pragma once

#include <string_view>

namespace yw {

// They live in common/, below every layer that grades.
enum class Verdict {
    kHealthy,    // no action needed
    kDegraded,   // RB-23 "warning": monitor closely, investigate the trend
    kUnhealthy,  // RB-23 "critical": page on-call
};

// "healthy" | "degraded" | "unhealthy": the words of /health/detailed and /metrics/queries.
std::string_view to_string(Verdict verdict);

// The more severe of the two.
constexpr Verdict worse(Verdict a, Verdict b) { return a > b ? a : b; }

// RB-23's table reads "< degraded_at: healthy, degraded_at … unhealthy_above: degraded, > unhealthy_above:
// unhealthy"; both bounds themselves are degraded.
Verdict grade(double value, double degraded_at, double unhealthy_above);

inline constexpr double kP95DegradedMs = 300;
inline constexpr double kP95UnhealthyMs = 600;
inline constexpr double kSlowQueryDegradedPercent = 5;
inline constexpr double kSlowQueryUnhealthyPercent = 10;

// queries.p95_latency and queries.slow_query_percentage (0 … 100) together: the worse of the two.
Verdict query_health(double p95_ms, double slow_query_percent);

}  // namespace yw
