// The registry of every SQL text the programs run, each with a name that metrics, logs and timeouts use.
#pragma once

#include <string_view>

namespace yw::pg {

struct Query {
    std::string_view name;  // "area.action": the label in logs and query metrics
    std::string_view sql;   // parameters as $1, $2, …; sent as an unnamed statement
};

namespace queries {

// --- server ---

inline constexpr Query kHealthPing{"health.ping", "SELECT 1"};

}  // namespace queries
}  // namespace yw::pg
