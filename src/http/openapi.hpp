// GET /openapi.json: the OpenAPI 3 description of the API (docs/openapi.json), embedded at build time.
#pragma once

#include <string_view>

#include "http/router.hpp"

namespace yw::http {

// The document, byte for byte as docs/openapi.json was when scripts/gen_openapi_inc.sh last ran.
std::string_view openapi_document();

// Registers GET /openapi.json, answering the document as application/json. No authentication.
void add_openapi_route(Router& router);

}  // namespace yw::http
