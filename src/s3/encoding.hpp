// The pure parts of talking to S3: percent-encoding of keys and queries, and which answers are which errors.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace yw::s3 {

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - _ . ~ kept, every other byte %XX (uppercase);
// with keep_slash, '/' is kept too (object keys keep their "folders").
std::string uri_encode(std::string_view text, bool keep_slash = false);

// The query string of a signed request: each name and value encoded, pairs sorted by name then value, every
// pair written as name=value (an empty value too: "uploads="), joined by '&'. Empty for no pairs.
std::string encode_query(const std::vector<std::pair<std::string, std::string>>& query);

// Path-style address of an object: "/" + bucket + "/" + key (key encoded per segment, '/' kept).
std::string object_path(std::string_view bucket, std::string_view key);

// The error an HTTP answer means: 404 kNotFound, 401/403 kUnauthenticated, 429 and 5xx kUnavailable, else
// kInternal. S3's own code refines it where the status alone is ambiguous (NoSuchKey on another status).
ErrorCode error_code_for(int http_status, std::string_view s3_code);

// Whether an answer is worth trying again: 5xx and 429 (SlowDown is a 503).
bool retryable_status(int http_status);

}  // namespace yw::s3
