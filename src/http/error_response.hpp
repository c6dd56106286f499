// The one mapping from yw::Error to an HTTP status and a JSON error body, and the JSON response helpers.
#pragma once

#include <boost/beast/http/status.hpp>
#include <boost/json/value.hpp>
#include <string_view>

#include "common/error.hpp"
#include "http/request_context.hpp"

namespace yw::http {

beast::http::status status_for(ErrorCode code);

// A response with a JSON body and its Content-Type.
Response json_response(beast::http::status status, const boost::json::value& body);

// {"error":{"code":…,"message":…}} with the status of the code. The messages of 5xx errors can carry
// internals (SQL, host names), so the client gets a generic text and ctx.error_detail the real one.
Response error_response(RequestContext& ctx, const Error& error);

// The same body for what the HTTP layer itself refuses (405, 413, 431, malformed requests), which has no
// request context yet or no ErrorCode of its own.
Response error_response(beast::http::status status, std::string_view code, std::string_view message);

}  // namespace yw::http
