// ywctl health [--url URL] (RB-23): the /health/detailed reading as a ✓/✗ table or --json, Nagios exit codes.
//
// Without --url, ywctl runs the probe round itself with ywmsgd's code (health::DetailedProber) on the same
// configuration, so it answers when every ywmsgd is down; only queries.* is then "unknown": p95 and the slow
// share are measured by each ywmsgd's query monitor. With --url it reads that instance's GET /health/detailed
// (the admin token from YW_ADMIN_TOKEN), queries included.
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "commands.hpp"
#include "health/detailed.hpp"
#include "ops/http_client.hpp"
#include "output.hpp"
#include "redis/client.hpp"
#include "report.hpp"

namespace ywctl {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

struct HealthArgs {
    std::string url;
};

// healthy 0, degraded 1, unhealthy 2, anything else (unknown, unreachable) 3.
int exit_of(std::string_view status) {
    if (status == "healthy") return kOk;
    if (status == "degraded") return kWarning;
    if (status == "unhealthy") return kCritical;
    return kUnknown;
}

const char* mark_of(std::string_view status) {
    if (status == "healthy") return "✓";
    if (status == "unknown") return "?";
    return "✗";
}

std::string text_of(const json::value& v) {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_null()) return "–";
    if (v.is_double()) return fmt::format("{:g}", v.as_double());
    return json::serialize(v);
}

// The service's fields other than status and error, as "key value, …".
std::string fields_of(const json::object& o, std::initializer_list<std::string_view> skip = {}) {
    std::string out;
    for (const auto& [k, v] : o) {
        if (k == "status" || k == "error") continue;
        if (std::find(skip.begin(), skip.end(), std::string_view(k)) != skip.end()) continue;
        if (!out.empty()) out += ", ";
        out += fmt::format("{} {}", std::string_view(k), text_of(v));
    }
    return out;
}

std::string error_of(const json::object& o) {
    const auto* e = o.if_contains("error");
    return e && e->is_string() ? std::string(e->as_string()) : "";
}

// RB-23's table, one row per service (the database's nodes and each slot on rows of their own).
int print_document(const json::object& doc, bool as_json, const std::string& source) {
    const std::string status = doc.contains("status") ? text_of(doc.at("status")) : "unknown";
    if (as_json) {
        print_json(doc);
        return exit_of(status);
    }
    Table t{{"", "check", "status", "value", "threshold (degraded / unhealthy)", "detail"}, {}};
    auto row = [&](std::string_view st, std::string name, std::string value, std::string threshold,
                   std::string detail) {
        t.rows.push_back({mark_of(st), std::move(name), std::string(st), std::move(value),
                          std::move(threshold), std::move(detail)});
    };
    const auto* services = doc.if_contains("services");
    if (!services || !services->is_object()) {
        std::cout << "health (" << source << "): " << status
                  << "\n(no details: the admin token was missing or wrong; set YW_ADMIN_TOKEN)\n";
        return exit_of(status);
    }
    for (const auto& [name, value] : services->as_object()) {
        if (!value.is_object()) continue;
        const auto& o = value.as_object();
        std::string st = o.contains("status") ? text_of(o.at("status")) : "unknown";
        std::string key(name);
        if (key == "database") {
            const auto& p = o.at("primary").as_object();
            bool up = p.at("connected").as_bool();
            row(up ? "healthy" : "unhealthy", "database primary",
                up ? fmt::format("connected, latency {} ms", text_of(p.at("latency"))) : "not connected",
                "connected", error_of(p));
            for (const auto& r : o.at("replicas").as_array()) {
                const auto& ro = r.as_object();
                bool connected = ro.at("connected").as_bool();
                std::string lag = text_of(ro.at("lag"));
                auto grade = !connected ? yw::Verdict::kDegraded
                             : ro.at("lag").is_int64()
                                 ? yw::grade(static_cast<double>(ro.at("lag").as_int64()),
                                             yw::kReplicaLagDegradedMs, yw::kReplicaLagUnhealthyMs)
                                 : yw::Verdict::kDegraded;
                row(yw::to_string(grade), "database " + text_of(ro.at("name")),
                    connected ? fmt::format("lag {} ms", lag) : "not connected", "lag 1000 / > 5000 ms",
                    error_of(ro));
            }
            row(st, "database", "", "", "");
            continue;
        }
        std::string threshold;
        if (key == "redis") threshold = "memory 100 / > 500 MB; evictions > 0 / > 10000";
        if (key == "pgbouncer") threshold = "waiting_clients > 0 / > 10";
        if (key == "queries") threshold = "p95 300 / > 600 ms; slow 5 / > 10 %";
        if (key == "replication_slots") threshold = "inactive; retained 1 / > 10 GiB";
        if (key == "transaction_ids") threshold = "xid_age 200 M / > 1 G";
        if (key == "sessions") threshold = "transaction 300 / > 1800 s; idle in tx 60 / > 300 s";
        if (key == "partitions") threshold = "months_ahead < 1 / < 0; maintainer stale";
        std::string fields = key == "replication_slots" ? "" : fields_of(o);
        if (key == "replication_slots" && o.contains("slots")) {
            for (const auto& s : o.at("slots").as_array()) {
                const auto& so = s.as_object();
                if (!fields.empty()) fields += "; ";
                fields += fmt::format("{} {}{}", text_of(so.at("name")),
                                      so.at("active").as_bool() ? "active" : "INACTIVE",
                                      so.at("retained_bytes").is_null()
                                          ? ""
                                          : fmt::format(" {} B retained", text_of(so.at("retained_bytes"))));
            }
        }
        row(st, key, fields, threshold, error_of(o));
    }
    std::cout << "RB-23 health (" << source << "): " << status << "   " << text_of(doc.at("timestamp"))
              << "\n\n"
              << render(t);
    return exit_of(status);
}

// The probe round of ywmsgd, run here.
int direct(const Globals& g) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    asio::io_context io;
    std::shared_ptr<const yw::health::Reading> reading;
    {
        std::optional<yw::redis::Client> redis;
        if (!config->redis_url.empty()) {
            yw::redis::ClientOptions options;
            options.url = config->redis_url;
            options.connect_timeout = config->health_timeout;
            options.command_timeout = config->health_timeout;
            redis.emplace(io.get_executor(), options);
            redis->start();
        }
        yw::health::DetailedProber prober(yw::health::detailed_options(*config, true),
                                          redis ? &*redis : nullptr, nullptr, nullptr);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                // The Redis probe gives the new connection its deadline to come up.
                reading = co_await prober.reading();
                io.stop();
            },
            asio::detached);
        io.run();
        // As ywmsgd shuts down: the io_context stopped first, then sockets and timers closed, then the
        // objects, then the io_context (closing from inside the running round freed a strand a pending timer
        // still used: ASan, heap-use-after-free).
        prober.close();
        if (redis) redis->close();
    }
    if (!reading) {
        print_error(g.json, "the probe round gave no reading");
        return kUnknown;
    }
    return print_document(yw::health::detailed_report(*reading), g.json, "probed by ywctl");
}

// GET URL/health/detailed with the admin token.
int remote(const Globals& g, const HealthArgs& a) {
    auto target = yw::ops::parse_http_base(a.url);
    if (!target) {
        print_error(g.json, "--url: " + target.error().message);
        return kUsage;
    }
    std::string token;
    if (auto config = load_ctl_config(g)) token = config->admin_token;
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto reply =
        yw::ops::http_call(*target, "GET", "/health/detailed", "", headers, std::chrono::seconds(10));
    if (reply.status == 0) {
        print_error(g.json, fmt::format("{} is unreachable: {}", a.url, reply.error));
        return kUnknown;
    }
    boost::system::error_code ec;
    auto doc = json::parse(reply.body, ec);
    if (ec || !doc.is_object()) {
        print_error(g.json, fmt::format("{} answered {} without a JSON document", a.url, reply.status));
        return kUnknown;
    }
    return print_document(doc.as_object(), g.json, a.url);
}

}  // namespace

void add_health_commands(CLI::App& app, const Globals& g, Action& action) {
    auto args = std::make_shared<HealthArgs>();
    auto* health = app.add_subcommand(
        "health",
        "RB-23: every dependency graded as GET /health/detailed does (0 healthy, 1 degraded, 2 "
        "unhealthy, 3 unknown)");
    health->add_option("--url", args->url,
                       "Read a running ywmsgd's GET /health/detailed (http://host:port) instead of probing "
                       "from here; the admin token comes from YW_ADMIN_TOKEN");
    health->callback([&g, &action, args] {
        action = [&g, args] { return args->url.empty() ? direct(g) : remote(g, *args); };
    });
}

}  // namespace ywctl
