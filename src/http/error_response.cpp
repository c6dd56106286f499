// Error → HTTP status and body; the only place that decides either.
#include "http/error_response.hpp"

#include <boost/beast/http/field.hpp>

#include "common/json.hpp"

namespace yw::http {
namespace {

std::string_view public_message(ErrorCode code) {
    switch (code) {
        case ErrorCode::kUnavailable:
            return "a service this request needs is unavailable; retry later";
        case ErrorCode::kTimeout:
            return "the request took too long; retry later";
        default:
            return "internal error";
    }
}

}  // namespace

beast::http::status status_for(ErrorCode code) {
    using beast::http::status;
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return status::bad_request;
        case ErrorCode::kUnprocessable:
            return status::unprocessable_entity;
        case ErrorCode::kUnauthenticated:
            return status::unauthorized;
        case ErrorCode::kForbidden:
            return status::forbidden;
        case ErrorCode::kNotFound:
            return status::not_found;
        case ErrorCode::kConflict:
            return status::conflict;
        case ErrorCode::kRateLimited:
            return status::too_many_requests;
        case ErrorCode::kUnavailable:
            return status::service_unavailable;
        case ErrorCode::kTimeout:
            return status::gateway_timeout;
        case ErrorCode::kInternal:
            return status::internal_server_error;
    }
    return status::internal_server_error;
}

Response json_response(beast::http::status status, const boost::json::value& body) {
    Response res{status, 11};
    res.set(beast::http::field::content_type, "application/json");
    res.body() = to_json(body);
    return res;
}

Response error_response(RequestContext& ctx, const Error& error) {
    beast::http::status status = status_for(error.code);
    if (beast::http::to_status_class(status) != beast::http::status_class::server_error) {
        Response res = error_response(status, to_string(error.code), error.message);
        if (error.retry_after_s > 0)
            res.set(beast::http::field::retry_after, std::to_string(error.retry_after_s));
        return res;
    }
    ctx.error_detail = error.message;
    Response res = error_response(status, to_string(error.code), public_message(error.code));
    // A dependency is down (a failover takes seconds): tell clients when to try again instead of hammering.
    if (status == beast::http::status::service_unavailable) {
        res.set(beast::http::field::retry_after,
                error.retry_after_s > 0 ? std::to_string(error.retry_after_s) : std::string("1"));
    }
    return res;
}

Response error_response(beast::http::status status, std::string_view code, std::string_view message) {
    boost::json::object detail;
    detail["code"] = code;
    detail["message"] = message;
    return json_response(status, boost::json::object{{"error", std::move(detail)}});
}

}  // namespace yw::http
