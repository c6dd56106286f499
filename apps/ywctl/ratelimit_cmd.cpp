// ywctl ratelimit status|reset|set-tier|analytics|block|unblock|whitelist|burst: RB-14, RB-15, RB-16.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "messaging/ratelimit_admin.hpp"
#include "output.hpp"
#include "pg/cluster.hpp"
#include "redis/client.hpp"

namespace ywctl {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using Admin = yw::messaging::RateLimitAdmin;
using Call = std::function<asio::awaitable<yw::Result<json::object>>(Admin&)>;

// Runs one admin call on a private io_context with the configured database and Redis. Returns the answer, or
// prints the problem and sets `exit`.
std::optional<json::object> run_admin(const Globals& g, const Call& call, int& exit) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        exit = kConfig;
        return std::nullopt;
    }
    if (config->redis_url.empty()) {
        print_error(g.json, "REDIS_URL is not set: rate limits live in Redis");
        exit = kConfig;
        return std::nullopt;
    }
    asio::io_context io;
    std::optional<yw::Result<json::object>> result;
    {
        yw::pg::ClusterOptions options;
        options.primary = {
            "primary", config->database_url, 2, config->db_acquire_timeout, config->db_connect_timeout,
            false};
        options.query_timeout = config->query_timeout;
        yw::pg::Cluster db(options, nullptr);
        yw::redis::ClientOptions redis_options;
        redis_options.url = config->redis_url;
        redis_options.connect_timeout = config->redis_connect_timeout;
        redis_options.command_timeout =
            std::max(config->redis_command_timeout, std::chrono::milliseconds(1000));
        yw::redis::Client redis(io.get_executor(), redis_options);
        redis.start();
        Admin admin(db, redis);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                // Give the connection its connect timeout to come up before the first command.
                asio::steady_timer wait(io);
                auto until = std::chrono::steady_clock::now() + redis_options.connect_timeout;
                while (!redis.connected() && std::chrono::steady_clock::now() < until) {
                    wait.expires_after(std::chrono::milliseconds(10));
                    co_await wait.async_wait(asio::use_awaitable);
                }
                result = co_await call(admin);
                redis.close();
                db.close();
            },
            asio::detached);
        io.run();
    }
    if (!result || !*result) {
        const auto& error = result ? result->error() : yw::make_error(yw::ErrorCode::kInternal, "no answer");
        print_error(g.json, error.message);
        exit = error.code == yw::ErrorCode::kInvalidArgument ? kUsage
               : error.code == yw::ErrorCode::kNotFound      ? kUsage
                                                             : kCritical;
        return std::nullopt;
    }
    return std::move(result->value());
}

std::string str(const json::object& o, const char* name) {
    const auto* v = o.if_contains(name);
    if (!v) return "";
    if (v->is_string()) return std::string(v->as_string());
    return json::serialize(*v);
}
std::int64_t num(const json::object& o, const char* name) {
    const auto* v = o.if_contains(name);
    return v && v->is_int64() ? v->as_int64() : 0;
}

// RB-14: usage against the limit (warning from 80 %, critical at 100 %), blocks this window, the block flag.
CheckReport status_report(const json::object& s) {
    CheckReport report;
    report.title = fmt::format("Rate limit of {} (RB-14)", str(s, "apiKey"));
    std::int64_t percent = num(s, "percentUsed");
    Level usage = percent >= 100 ? Level::kCritical : percent >= 80 ? Level::kWarning : Level::kOk;
    report.add({"requests in the last minute", usage,
                fmt::format("{} of {} ({} %)", num(s, "requestsUsed"), num(s, "requestLimit"), percent),
                "< 80 %",
                fmt::format("tier {}, burst {}, {} more admissible now, full again at {}", str(s, "tier"),
                            num(s, "burst"), num(s, "remaining"), str(s, "windowResetAt"))});
    std::int64_t blocks = num(s, "blocksSinceReset");
    report.add({"requests refused since the last reset", blocks > 0 ? Level::kWarning : Level::kOk,
                std::to_string(blocks), "0", ""});
    report.add({"hourly average", Level::kOk, std::to_string(num(s, "hourlyAverage")), "",
                "requests in the last hour"});
    bool blocked = s.contains("blocked") && s.at("blocked").is_bool() && s.at("blocked").as_bool();
    report.add({"key blocked", blocked ? Level::kCritical : Level::kOk, blocked ? "yes" : "no", "no",
                blocked ? str(s, "blockReason") : ""});
    report.data = s;
    if (percent >= 80 || blocks > 0) {
        report.next_steps.push_back(
            "wait for the window (windowResetAt), or upgrade: ywctl ratelimit set-tier " + str(s, "apiKey") +
            " professional");
    }
    return report;
}

int status(const Globals& g, const std::string& key) {
    int exit = kOk;
    auto s = run_admin(
        g, [key](Admin& a) { return a.status(key); }, exit);
    if (!s) return exit;
    auto report = status_report(*s);
    report.print(g.json);
    return report.exit_code();
}

// An action: the plan, confirmation, then the call; prints the answer.
int act(const Globals& g, const std::vector<std::string>& plan, bool yes, const Call& call,
        const std::function<void(const json::object&)>& show) {
    if (!confirm(plan, yes, g.json)) return kUsage;
    int exit = kOk;
    auto answer = run_admin(g, call, exit);
    if (!answer) return exit;
    if (g.json) {
        print_json(*answer);
    } else {
        show(*answer);
    }
    return kOk;
}

void show_key(const json::object& k) {
    std::cout << fmt::format("{}: tier {}, burst_size {}, whitelist {}, blocked {}{}\n", str(k, "prefix"),
                             str(k, "tier"), str(k, "burst_size"), str(k, "whitelist_ips"), str(k, "blocked"),
                             str(k, "block_reason").empty() || str(k, "block_reason") == "null"
                                 ? ""
                                 : " (" + str(k, "block_reason") + ")");
    if (k.contains("warning")) std::cout << "warning: " << str(k, "warning") << "\n";
    std::cout << "Every ywmsgd instance applies the change within a second.\n";
}

void show_status_after(const json::object& s) {
    std::cout << fmt::format("{}: new limit {} requests per minute ({} tier, burst {}); window reset.\n",
                             str(s, "apiKey"), num(s, "requestLimit"), str(s, "tier"), num(s, "burst"));
}

// RB-16: each list of the analytics is a row; anything in it is worth a look (warning).
int analytics(const Globals& g) {
    int exit = kOk;
    auto a = run_admin(
        g, [](Admin& admin) { return admin.analytics(); }, exit);
    if (!a) return exit;
    CheckReport report;
    report.title = "Rate-limit abuse patterns (RB-16)";
    auto list = [&](const char* name, const char* label, const char* what,
                    const std::function<std::string(const json::object&)>& line) {
        const auto& items = a->at(name).as_array();
        std::string detail;
        for (const auto& item : items) detail += (detail.empty() ? "" : "; ") + line(item.as_object());
        report.add({label, items.empty() ? Level::kOk : Level::kWarning, std::to_string(items.size()), "0",
                    items.empty() ? what : detail});
    };
    list("mostBlocked", "keys refused this hour", "none", [](const json::object& o) {
        return fmt::format("{} ({}) {} refused", str(o, "apiKey"), str(o, "tier"), num(o, "blocks"));
    });
    list("nearLimit", "keys at 80 % of their limit", "none", [](const json::object& o) {
        return fmt::format("{} {}/{} per minute", str(o, "apiKey"), num(o, "requestsLastMinute"),
                           num(o, "requestLimit"));
    });
    list("sharedIps", "addresses using several keys", "none", [](const json::object& o) {
        return fmt::format("{} used {} ({} requests)", str(o, "ip"), str(o, "keys"), num(o, "requests"));
    });
    list("bursts", "bursts above the allowance", "none", [](const json::object& o) {
        return fmt::format("{} {} in one second (allowed {})", str(o, "apiKey"), num(o, "peakPerSecond"),
                           num(o, "allowedPerSecond"));
    });
    if (!a->at("redisAvailable").as_bool()) {
        report.add(
            {"Redis", Level::kUnknown, "unavailable", "reachable", "refused-request counts are missing"});
    }
    report.data = *a;
    if (report.level() != Level::kOk) {
        report.next_steps.push_back(
            "inspect a key's requests: SELECT * FROM api_audit_log WHERE api_key_prefix = "
            "'<prefix>' AND created_at > now() - interval '1 hour' ORDER BY created_at DESC");
        report.next_steps.push_back(
            "abuse: ywctl ratelimit block <prefix> --reason '…'; legitimate: ywctl "
            "ratelimit whitelist <prefix> <ip> or ywctl ratelimit burst <prefix> <n>");
    }
    report.print(g.json);
    return report.exit_code();
}

}  // namespace

// Every command goes through the same rate-limit admin service as ywmsgd's /admin/rate-limit/* (application
// database + Redis).
void add_ratelimit_commands(CLI::App& app, const Globals& g, Action& action) {
    auto* rl = app.add_subcommand("ratelimit", "Per-key rate limits (RB-14, RB-15, RB-16)");
    rl->require_subcommand(1);

    auto key = std::make_shared<std::string>();
    auto value = std::make_shared<std::string>();
    auto yes = std::make_shared<bool>(false);
    auto number = std::make_shared<int>(0);
    const char* key_help = "The API key or its display prefix (key_<env>_XXXXXXXX)";

    auto* st = rl->add_subcommand("status", "RB-14: a key's usage against its limit (check)");
    st->add_option("KEY", *key, key_help)->required();
    st->callback([&action, &g, key] { action = [&g, key] { return status(g, *key); }; });

    auto* reset = rl->add_subcommand("reset", "RB-15 step 3: start a key's window afresh");
    reset->add_option("KEY", *key, key_help)->required();
    reset->add_flag("--yes,-y", *yes, "Do it without asking");
    reset->callback([&action, &g, key, yes] {
        action = [&g, key, yes] {
            return act(
                g, {"reset the rate-limit window of " + *key}, *yes,
                [key](Admin& a) { return a.reset(*key); }, show_status_after);
        };
    });

    auto* tier =
        rl->add_subcommand("set-tier", "RB-15: change a key's tier, reset its window, print the new limit");
    tier->add_option("KEY", *key, key_help)->required();
    tier->add_option("TIER", *value, "free, standard, professional or enterprise")
        ->required()
        ->check(CLI::IsMember({"free", "standard", "professional", "enterprise"}));
    tier->add_flag("--yes,-y", *yes, "Do it without asking");
    tier->callback([&action, &g, key, value, yes] {
        action = [&g, key, value, yes] {
            return act(
                g, {"set the tier of " + *key + " to " + *value, "reset its rate-limit window"}, *yes,
                [key, value](Admin& a) { return a.set_tier(*key, *value); }, show_status_after);
        };
    });

    auto* an = rl->add_subcommand("analytics",
                                  "RB-16: most-blocked keys, keys near their limit, shared IPs, bursts");
    an->callback([&action, &g] { action = [&g] { return analytics(g); }; });

    auto* block = rl->add_subcommand("block", "RB-16 3a: block a key (its requests get 403 with the reason)");
    block->add_option("KEY", *key, key_help)->required();
    block->add_option("--reason", *value, "Why (shown to the client)")->required();
    block->add_flag("--yes,-y", *yes, "Do it without asking");
    block->callback([&action, &g, key, value, yes] {
        action = [&g, key, value, yes] {
            return act(
                g, {"block " + *key + ": " + *value}, *yes,
                [key, value](Admin& a) { return a.block(*key, *value); }, show_key);
        };
    });

    auto* unblock = rl->add_subcommand("unblock", "Lift a key's block");
    unblock->add_option("KEY", *key, key_help)->required();
    unblock->add_flag("--yes,-y", *yes, "Do it without asking");
    unblock->callback([&action, &g, key, yes] {
        action = [&g, key, yes] {
            return act(
                g, {"unblock " + *key}, *yes, [key](Admin& a) { return a.unblock(*key); }, show_key);
        };
    });

    auto* wl = rl->add_subcommand("whitelist", "RB-16 4a: exempt a client address (or network) for a key");
    wl->add_option("KEY", *key, key_help)->required();
    wl->add_option("IP", *value, "An address or CIDR network")->required();
    wl->add_flag("--yes,-y", *yes, "Do it without asking");
    wl->callback([&action, &g, key, value, yes] {
        action = [&g, key, value, yes] {
            return act(
                g, {"exempt " + *value + " from the rate limit of " + *key}, *yes,
                [key, value](Admin& a) { return a.whitelist(*key, *value); },
                [](const json::object& o) {
                    std::cout << fmt::format("{}: whitelist {}\n", str(o, "apiKey"), str(o, "whitelistIps"));
                });
        };
    });

    auto* burst = rl->add_subcommand("burst", "RB-16 4b: set a key's burst allowance");
    burst->add_option("KEY", *key, key_help)->required();
    burst->add_option("N", *number, "Requests above the steady rate admitted at once")
        ->required()
        ->check(CLI::Range(0, 1000000));
    burst->add_flag("--yes,-y", *yes, "Do it without asking");
    burst->callback([&action, &g, key, number, yes] {
        action = [&g, key, number, yes] {
            return act(
                g, {fmt::format("set the burst of {} to {}", *key, *number)}, *yes,
                [key, number](Admin& a) { return a.burst(*key, *number); }, show_key);
        };
    });
}

}  // namespace ywctl
