// Query strings: the request target after '?', as the API reads it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace yw::http {

// Pure; unit-tested and fuzzed (tests/fuzz/query_fuzz.cpp).

// Percent-decodes one query component; false for a malformed escape. '+' stays '+': none of our parameters
// carries spaces, and cursors are base64url.
bool percent_decode(std::string_view in, std::string& out);

// Query parameters: only `allowed` names, each once, percent-decoded; 400 (kInvalidArgument) naming the
// problem otherwise.
Result<std::map<std::string, std::string>> query_params(std::string_view query,
                                                        const std::vector<std::string_view>& allowed);

}  // namespace yw::http
