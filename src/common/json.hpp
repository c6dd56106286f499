// JSON text with plain numbers: Boost.JSON 1.81 prints doubles as 1.5E2; people and runbooks expect 150.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace yw {

// Like boost::json::serialize, except that doubles are written in their shortest plain form (150, 12.34).
std::string to_json(const boost::json::value& value);

}  // namespace yw
