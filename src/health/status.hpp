// The status page (GET /status) and its data (GET /status/data): what an on-call engineer reads at 3 a.m.,
// graded by the same rules as /health/detailed. docs/api.md describes both.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "health/detailed.hpp"
#include "health/history.hpp"
#include "pg/cluster.hpp"

namespace yw::health {

// Every field of RB-23 (and ours) as one row: {"service", "field", "value" (text, as a human reads it),
// "grade" ("healthy" | "degraded" | "unhealthy" | "info": shown, not graded), "threshold" (the rule, in
// words)}. In the order of the document.
boost::json::array graded_fields(const Reading& reading);

// conversation_message's months (RB-17), read on a replica: {"months": [{"name", "bound", "bytes", "rows",
// "grade"}], "archived": ["2024_01", …]} or {"error"} — a size over 800 MB is degraded, over 1 GB unhealthy.
boost::asio::awaitable<boost::json::object> partitions_json(pg::Cluster& db);
boost::json::object partitions_json(const pg::ResultSet& months, const pg::ResultSet& archived);

// The page: one self-contained HTML document (no CDN, no build step), and its Content-Security-Policy, which
// allows only its own inline script and style (by their SHA-256) and requests to this server.
std::string_view status_page();
const std::string& status_page_csp();

}  // namespace yw::health
