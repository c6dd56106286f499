// Names of the error codes, as they appear in JSON error bodies and logs.
#include "common/error.hpp"

namespace yw {

std::string_view to_string(ErrorCode code) {
    switch (code) {
        case ErrorCode::kUnprocessable:
            return "unprocessable";
        case ErrorCode::kInvalidArgument:
            return "invalid_argument";
        case ErrorCode::kUnauthenticated:
            return "unauthenticated";
        case ErrorCode::kForbidden:
            return "forbidden";
        case ErrorCode::kNotFound:
            return "not_found";
        case ErrorCode::kConflict:
            return "conflict";
        case ErrorCode::kRateLimited:
            return "rate_limited";
        case ErrorCode::kUnavailable:
            return "unavailable";
        case ErrorCode::kTimeout:
            return "timeout";
        case ErrorCode::kInternal:
            return "internal";
    }
    return "internal";
}

}  // namespace yw
