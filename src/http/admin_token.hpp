// The admin bearer token: reading it from a request and comparing it in constant time (messaging's /admin/*
// and health's /health/detailed alike).
#pragma once

#include <string_view>

#include "http/request_context.hpp"

namespace yw::http {

// "Authorization: Bearer xyz" → "xyz"; anything else → "".
std::string_view bearer_token(const Request& request);

// Whether `presented` is the configured admin token; false when none is configured. Both are hashed first,
// so the comparison takes the same time whatever the lengths and contents.
bool admin_token_matches(std::string_view configured, std::string_view presented);

}  // namespace yw::http
