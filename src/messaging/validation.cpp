// Validation shared by the services.
#include <fmt/format.h>

#include "common/uuid7.hpp"
#include "messaging/rows.hpp"
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

Result<std::string> id_after(const CursorCodec& cursors, const std::string& cursor,
                             const std::vector<std::string>& scope) {
    if (cursor.empty()) return std::string("00000000-0000-0000-0000-000000000000");
    auto fields = cursors.decode(cursor, scope);
    if (!fields) return fields.error();
    if (fields->size() != scope.size() + 1 || !validate_uuid(fields->back(), "cursor")) {
        return make_error(ErrorCode::kInvalidArgument, "invalid cursor");
    }
    return fields->back();
}

std::string next_id_cursor(const CursorCodec& cursors, std::vector<std::string> scope,
                           const pg::ResultSet& rows, int limit) {
    if (rows.rows() != limit) return {};
    scope.push_back(Row(rows, rows.rows() - 1).text("id"));
    return cursors.encode(scope);
}

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
