// A small blocking HTTP/1.1 client for ywctl talking to ywmsgd.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/error.hpp"

namespace yw::ops {

struct HttpTarget {
    std::string host;
    int port = 80;
};

// "http://127.0.0.1:8080" → host and port; anything else (https, a path, no host) → kInvalidArgument.
Result<HttpTarget> parse_http_base(const std::string& url);

struct HttpReply {
    int status = 0;  // 0: no answer (connection refused, timeout)
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string error;                           // why there was no answer
};

// For the failover drill's write load and the integration tests' requests: one connection per request, a
// deadline on each, plain http only.
HttpReply http_call(const HttpTarget& target, const std::string& method, const std::string& path,
                    const std::string& body, const std::map<std::string, std::string>& headers,
                    std::chrono::milliseconds timeout);

}  // namespace yw::ops
