// JSON text with plain numbers: Boost.JSON 1.81 prints doubles as 1.5E2; people and runbooks expect 150.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace yw {

// Like boost::json::serialize, except that doubles are written in their shortest plain form (150, 12.34).
std::string to_json(const boost::json::value& value);

// Appends `s` as a JSON string (quoted, escaped as Boost.JSON escapes) to `out`.
void append_json_string(std::string_view s, std::string& out);

}  // namespace yw
