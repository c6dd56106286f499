// Validation shared by the services.
#include <fmt/format.h>

#include "common/uuid7.hpp"
#include "messaging/services.hpp"

namespace yw::messaging {

Status validate_uuid(std::string_view text, std::string_view what) {
    Uuid id{};
    if (!parse_uuid(text, id))
        return make_error(ErrorCode::kInvalidArgument, fmt::format("{} is not a valid UUID", what));
    return {};
}

}  // namespace yw::messaging

namespace yw::messaging {

Error client_error(const Error& db_error, std::string_view conflict_message) {
    switch (db_error.code) {
        case ErrorCode::kConflict:
            return make_error(ErrorCode::kConflict, std::string(conflict_message));
        case ErrorCode::kInvalidArgument:
            return make_error(ErrorCode::kInvalidArgument, "a value is invalid or out of range");
        default:
            return db_error;  // 5xx: the HTTP layer shows the client a generic text
    }
}

}  // namespace yw::messaging
