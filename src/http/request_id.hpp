// Request ids: accept a caller's id when it is safe to log and echo, otherwise make one.
#pragma once

#include <string>
#include <string_view>

namespace yw::http {

// 1 to 64 characters of [A-Za-z0-9_-]: enough for UUIDs and tracing ids, nothing that could forge a log line
// or a header.
bool is_valid_request_id(std::string_view id);

// 32 hexadecimal characters (128 random bits).
std::string generate_request_id();

// `incoming` (an X-Request-Id header, maybe empty) when valid, else a new id.
std::string request_id_for(std::string_view incoming);

}  // namespace yw::http
