// The HTTP server's limits and timeouts, and how they follow from the configuration.
#pragma once

#include <algorithm>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/config.hpp"

namespace yw::http {

// One request as the server saw it, once its response was written: what request metrics count.
struct RequestRecord {
    boost::beast::http::verb method;  // verb::unknown for methods Beast does not know and unparsable requests
    std::string_view route;  // the matched route's pattern ("/v1/users/{id}"); empty when none matched
    unsigned status;
    // From the end of the request's read to the end of the response's write.
    std::chrono::nanoseconds duration;
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0: any free port; Server::port() tells which
    int threads = 0;            // 0: one per core
    std::uint32_t header_limit = 8 * 1024;
    std::uint64_t body_limit = 64 * 1024;
    // From the first byte of a request to its last: a client trickling headers is cut off here.
    std::chrono::milliseconds read_timeout{10'000};
    // A keep-alive connection waiting for its next request. Longer than the usual load balancer idle
    // timeout (60 s), so the balancer closes first and never sends on a connection we are closing.
    std::chrono::milliseconds idle_timeout{75'000};
    std::chrono::milliseconds write_timeout{10'000};
    // Open connections at most. At the limit a new connection closes the oldest one that is not being served
    // (idle first, then one still sending its request); when every one is being served, the new one gets a
    // 503. Clamped at start() to what the process's open-file limit leaves after `reserved_files`.
    std::size_t max_connections = 4096;
    std::size_t reserved_files = 256;  // database pools, Redis, logs: files the server must never starve
    // How long stop() lets requests in flight finish before closing their connections.
    std::chrono::milliseconds shutdown_timeout{10'000};
    // Optional; called on a server thread after every response: must be thread-safe, quick and not throw.
    std::function<void(const RequestRecord&)> on_response;
    // Optional; called by stop() from the stopping thread once requests have drained and before the server's
    // threads end, so background tasks on executor() can finish (the audit log's last flush).
    std::function<void()> on_drained;
};

// The connection limit the process can keep: `configured`, but never more than the open-file limit leaves
// after `reserved` files (at least 1). Pure, for tests.
inline std::size_t effective_max_connections(std::size_t configured, std::uint64_t file_limit,
                                             std::size_t reserved) {
    std::uint64_t room = file_limit > reserved ? file_limit - reserved : 1;
    return static_cast<std::size_t>(std::min<std::uint64_t>(configured, room));
}

inline ServerOptions server_options(const Config& config) {
    ServerOptions options;
    options.host = config.http_host;
    options.port = config.http_port;
    options.threads = config.threads;
    options.shutdown_timeout = config.shutdown_timeout;
    options.idle_timeout = config.http_idle_timeout;
    options.max_connections = config.http_max_connections;
    return options;
}

}  // namespace yw::http
