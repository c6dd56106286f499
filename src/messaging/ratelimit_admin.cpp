// Rate-limit administration: Redis state + api_keys + api_audit_log (see ratelimit_admin.hpp).
#include "messaging/ratelimit_admin.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json/array.hpp>
#include <cmath>
#include <map>

#include "common/time.hpp"
#include "messaging/api_key.hpp"
#include "messaging/rows.hpp"
#include "pg/ratelimit_queries.hpp"

namespace yw::messaging {
namespace asio = boost::asio;
namespace q = pg::ratelimit_queries;
using ratelimit::blocks_key;
using ratelimit::kEpochKey;
using ratelimit::Policy;
using ratelimit::policy_for;
using ratelimit::sliding_count;
using ratelimit::state_key;

namespace {

constexpr std::chrono::milliseconds kRedisDeadline{1000};
constexpr std::int64_t kMinuteUs = 60'000'000;
constexpr std::int64_t kHourUs = 3'600'000'000;
constexpr double kNearLimit = 0.8;  // "near the limit": 80 % of the per-minute limit used
constexpr size_t kTop = 20;

std::int64_t int_field(const redis::Reply& r) {
    if (r.is_integer()) return r.integer;
    if (r.is_string()) return std::strtoll(r.str.c_str(), nullptr, 10);
    return 0;
}

std::int64_t field_or(const redis::Reply& r, std::int64_t fallback) {
    return r.is_nil() ? fallback : int_field(r);
}

Policy policy_of(const std::string& tier, std::optional<int> burst) {
    auto p = policy_for(tier, burst);
    return p ? *p : *policy_for("free");
}

std::optional<int> burst_of(const Row& r) {
    if (r.is_null("burst_size")) return std::nullopt;
    return static_cast<int>(r.int64("burst_size"));
}

std::string flag(bool b) { return b ? "true" : "false"; }

std::int64_t percent(std::int64_t used, std::int64_t limit) {
    return std::llround(100.0 * static_cast<double>(used) / static_cast<double>(limit));
}

// Analytics entries, built outside the coroutines (GCC 12 and initializer lists in coroutines do not mix).
Json blocked_entry(const std::string& prefix, const std::string& tier, std::int64_t blocks) {
    Json j;
    j["apiKey"] = prefix;
    j["tier"] = tier;
    j["blocks"] = blocks;
    return j;
}

Json near_entry(const Row& r, const Policy& p, std::int64_t requests) {
    Json j;
    j["apiKey"] = r.text("prefix");
    j["tier"] = p.tier;
    j["requestsLastMinute"] = requests;
    j["requestLimit"] = p.limit;
    j["percentUsed"] = percent(requests, p.limit);
    return j;
}

Json shared_ip_entry(const Row& r) {
    Json j;
    j["ip"] = r.text("ip");
    boost::json::array keys;
    for (auto& k : parse_text_array(r.text("prefixes"))) keys.emplace_back(k);
    j["keys"] = std::move(keys);
    j["requests"] = r.int64("requests");
    return j;
}

Json burst_entry(const Row& r, const Policy& p, std::int64_t peak, std::int64_t allowed) {
    Json j;
    j["apiKey"] = r.text("prefix");
    j["tier"] = p.tier;
    j["peakPerSecond"] = peak;
    j["allowedPerSecond"] = allowed;
    j["lastAt"] = timestamp(r, "last_us");
    return j;
}

}  // namespace

RateLimitAdmin::RateLimitAdmin(pg::Cluster& db, redis::Commands& redis, ratelimit::Limiter* limiter,
                               std::function<void()> on_change)
    : db_(db), redis_(redis), limiter_(limiter), on_change_(std::move(on_change)) {}

Task<RateLimitAdmin::KeyRow> RateLimitAdmin::find(std::string_view key) {
    if (key.empty() || key.size() > 200)
        co_return make_error(ErrorCode::kInvalidArgument, "an API key or its prefix is required");
    bool full = looks_like_api_key(key);
    pg::Params params{std::string(full ? key_prefix(key) : key), full ? to_hex(sha256(key)) : std::string()};
    // The primary: an operator's change (or the SQL of RB-15) must be seen at once, never a lagging replica.
    auto rows = co_await db_.exec(pg::Intent::kWrite, q::kKeyLookup, std::move(params));
    if (!rows) co_return rows.error();
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, "no API key with this key or prefix");
    Row r(*rows, 0);
    KeyRow k;
    k.id = r.text("id");
    k.prefix = r.text("prefix");
    k.tier = r.text("tier");
    k.burst_size = burst_of(r);
    k.whitelist_ips = parse_text_array(r.text("whitelist_ips"));
    k.blocked = r.boolean("blocked");
    k.block_reason = r.text("block_reason");
    co_return k;
}

Task<Json> RateLimitAdmin::status(std::string_view key) {
    auto row = co_await find(key);
    if (!row) co_return row.error();
    co_return co_await status_of(*row);
}

Task<Json> RateLimitAdmin::status_of(const KeyRow& row) {
    Policy policy = policy_of(row.tier, row.burst_size);
    std::vector<redis::Command> cmds{
        {"TIME"}, {"HMGET", state_key(row.id), "tat", "blocks", "m", "mc", "mp", "h", "hc", "hp"}};
    auto replies =
        co_await redis_.pipeline(std::move(cmds), std::chrono::steady_clock::now() + kRedisDeadline);
    if (!replies) co_return replies.error();
    auto clock = redis::time_us((*replies)[0]);
    const auto& f = (*replies)[1];
    if (!clock || !f.is_array() || f.elements.size() != 8)
        co_return make_error(ErrorCode::kInternal, "unexpected reply from Redis");
    std::int64_t now = *clock;
    const auto& e = f.elements;
    std::int64_t tat = std::max(field_or(e[0], now), now);
    std::int64_t used = sliding_count(field_or(e[2], -1), int_field(e[3]), int_field(e[4]), kMinuteUs, now);
    std::int64_t hourly = sliding_count(field_or(e[5], -1), int_field(e[6]), int_field(e[7]), kHourUs, now);
    Json out;
    out["apiKey"] = row.prefix;
    out["requestsUsed"] = used;
    out["requestLimit"] = policy.limit;
    out["percentUsed"] = percent(used, policy.limit);
    out["windowResetAt"] = rfc3339_from_us(tat);
    out["hourlyAverage"] = hourly;
    out["blocksSinceReset"] = int_field(e[1]);
    out["tier"] = row.tier;
    out["burst"] = policy.burst;
    out["remaining"] = gcra_remaining(policy, tat, now);
    out["blocked"] = row.blocked;
    if (row.blocked) out["blockReason"] = row.block_reason;
    co_return out;
}

asio::awaitable<Status> RateLimitAdmin::changed(const KeyRow& row, bool reset) {
    std::vector<redis::Command> cmds;
    if (reset) cmds.push_back({"DEL", state_key(row.id)});
    cmds.push_back({"INCR", std::string(kEpochKey)});
    auto replies =
        co_await redis_.pipeline(std::move(cmds), std::chrono::steady_clock::now() + kRedisDeadline);
    if (limiter_) limiter_->forget(row.id);
    if (on_change_) on_change_();
    if (!replies) co_return replies.error();
    co_return Status{};
}

Task<Json> RateLimitAdmin::reset(std::string_view key) {
    auto row = co_await find(key);
    if (!row) co_return row.error();
    auto done = co_await changed(*row, true);
    if (!done) co_return done.error();
    co_return co_await status_of(*row);
}

Task<Json> RateLimitAdmin::patch(std::string_view key, pg::Params fields) {
    auto row = co_await find(key);
    if (!row) co_return row.error();
    pg::Params params{row->prefix};
    for (auto& f : fields) params.push_back(std::move(f));
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kApiKeyPatch, std::move(params));
    if (!rows) co_return rows.error();
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, "no API key with this key or prefix");
    Row r(*rows, 0);
    row->tier = r.text("tier");
    row->burst_size = burst_of(r);
    row->blocked = r.boolean("blocked");
    row->block_reason = r.text("block_reason");
    auto done = co_await changed(*row, false);
    Json out = api_key_json(r);
    if (!done)
        out["warning"] =
            "saved; Redis unavailable, other instances pick the change up within the key cache TTL";
    co_return out;
}

Task<Json> RateLimitAdmin::set_tier(std::string_view key, std::string_view tier) {
    if (!policy_for(tier)) co_return policy_for(tier).error();
    // ($flag, $value) pairs of kApiKeyPatch: tier, burst_size, whitelist_ips, blocked, block_reason.
    pg::Params fields{flag(true),   std::string(tier), flag(false), std::nullopt, flag(false),
                      std::nullopt, flag(false),       flag(false), flag(false),  std::nullopt};
    auto patched = co_await patch(key, std::move(fields));
    if (!patched) co_return patched.error();
    co_return co_await reset(key);
}

Task<Json> RateLimitAdmin::block(std::string_view key, std::string_view reason) {
    if (reason.empty() || reason.size() > 500)
        co_return make_error(ErrorCode::kInvalidArgument,
                             "a block reason of 1 to 500 characters is required");
    pg::Params fields{flag(false),  std::nullopt, flag(false), std::nullopt, flag(false),
                      std::nullopt, flag(true),   flag(true),  flag(true),   std::string(reason)};
    co_return co_await patch(key, std::move(fields));
}

Task<Json> RateLimitAdmin::unblock(std::string_view key) {
    pg::Params fields{flag(false),  std::nullopt, flag(false), std::nullopt, flag(false),
                      std::nullopt, flag(true),   flag(false), flag(true),   std::nullopt};
    co_return co_await patch(key, std::move(fields));
}

Task<Json> RateLimitAdmin::burst(std::string_view key, int burst_size) {
    if (burst_size < 0 || burst_size > 1000000)
        co_return make_error(ErrorCode::kInvalidArgument, "burst must be 0 to 1000000");
    pg::Params fields{flag(false), std::nullopt, flag(true),  std::to_string(burst_size),
                      flag(false), std::nullopt, flag(false), flag(false),
                      flag(false), std::nullopt};
    co_return co_await patch(key, std::move(fields));
}

Task<Json> RateLimitAdmin::whitelist(std::string_view key, std::string_view ip) {
    boost::system::error_code ec;
    std::string addr(ip.substr(0, ip.find('/')));
    (void)boost::asio::ip::make_address(addr, ec);
    if (ec || ip.size() > 64)
        co_return make_error(ErrorCode::kInvalidArgument, "not an IP address or network");
    auto row = co_await find(key);
    if (!row) co_return row.error();
    pg::Params params{row->id, std::string(ip)};
    auto rows = co_await db_.exec(pg::Intent::kWrite, q::kWhitelistAdd, std::move(params));
    if (!rows) co_return make_error(ErrorCode::kInvalidArgument, "not an IP address or network");
    Json out;
    out["apiKey"] = row->prefix;
    boost::json::array ips;
    for (auto& a : parse_text_array(Row(*rows, 0).text("whitelist_ips"))) ips.emplace_back(a);
    out["whitelistIps"] = std::move(ips);
    auto done = co_await changed(*row, false);
    if (!done)
        out["warning"] =
            "saved; Redis unavailable, other instances pick the change up within the key cache TTL";
    co_return out;
}

// The denials counted by the script, this hour and the last, by key.
Task<boost::json::array> RateLimitAdmin::most_blocked() {
    std::int64_t hour =
        std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    redis::Command zunion;
    zunion.push_back("ZUNION");
    zunion.push_back("2");
    zunion.push_back(blocks_key(hour));
    zunion.push_back(blocks_key(hour - 1));
    zunion.push_back("WITHSCORES");
    auto reply =
        co_await redis_.command(std::move(zunion), std::chrono::steady_clock::now() + kRedisDeadline);
    if (!reply) co_return reply.error();
    if (!reply->is_array())
        co_return make_error(ErrorCode::kInternal, "unexpected reply from Redis: " + reply->str);
    std::vector<std::pair<std::int64_t, std::string>> counts;
    const auto& el = reply->elements;
    for (size_t i = 0; i + 1 < el.size(); i += 2) counts.emplace_back(int_field(el[i + 1]), el[i].str);
    std::sort(counts.rbegin(), counts.rend());
    if (counts.size() > kTop) counts.resize(kTop);
    std::vector<std::string> ids;
    for (auto& c : counts) ids.push_back(c.second);
    pg::Params params;
    params.push_back(text_array(ids));
    auto rows = co_await db_.exec(pg::Intent::kRead, q::kKeysByIds, std::move(params));
    if (!rows) co_return rows.error();
    std::map<std::string, std::pair<std::string, std::string>> by_id;  // id → (prefix, tier)
    for (int i = 0; i < rows->rows(); ++i) {
        Row r(*rows, i);
        by_id[r.text("id")] = {r.text("prefix"), r.text("tier")};
    }
    boost::json::array out;
    for (const auto& c : counts) {
        auto it = by_id.find(c.second);
        if (it != by_id.end()) out.push_back(blocked_entry(it->second.first, it->second.second, c.first));
    }
    co_return out;
}

Task<Json> RateLimitAdmin::analytics() {
    Json out;
    out["generatedAt"] = rfc3339_from_us(unix_us_now());
    auto blocked = co_await most_blocked();
    out["redisAvailable"] = blocked.ok();
    if (blocked) {
        out["mostBlocked"] = std::move(*blocked);
    } else if (blocked.error().code != ErrorCode::kUnavailable &&
               blocked.error().code != ErrorCode::kTimeout) {
        co_return blocked.error();
    } else {
        out["mostBlocked"] = boost::json::array();
    }
    boost::json::array near;
    const pg::Params none;
    auto usage = co_await db_.exec(pg::Intent::kRead, q::kRecentUsage, none);
    if (!usage) co_return usage.error();
    for (int i = 0; i < usage->rows() && near.size() < kTop; ++i) {
        Row r(*usage, i);
        Policy p = policy_of(r.text("tier"), burst_of(r));
        std::int64_t n = r.int64("requests");
        if (static_cast<double>(n) < kNearLimit * static_cast<double>(p.limit)) continue;
        near.push_back(near_entry(r, p, n));
    }
    out["nearLimit"] = std::move(near);

    boost::json::array shared;
    auto ips = co_await db_.exec(pg::Intent::kRead, q::kSharedIps, none);
    if (!ips) co_return ips.error();
    for (int i = 0; i < ips->rows(); ++i) {
        shared.push_back(shared_ip_entry(Row(*ips, i)));
    }
    out["sharedIps"] = std::move(shared);

    // A burst: more requests in one second than the key's steady rate per second plus its burst allowance.
    boost::json::array bursts;
    auto peaks = co_await db_.exec(pg::Intent::kRead, q::kPeakSeconds, none);
    if (!peaks) co_return peaks.error();
    for (int i = 0; i < peaks->rows() && bursts.size() < kTop; ++i) {
        Row r(*peaks, i);
        Policy p = policy_of(r.text("tier"), burst_of(r));
        std::int64_t peak = r.int64("peak");
        std::int64_t allowed = p.burst + (p.limit + 59) / 60;
        if (peak <= allowed) continue;
        bursts.push_back(burst_entry(r, p, peak, allowed));
    }
    out["bursts"] = std::move(bursts);
    co_return out;
}

}  // namespace yw::messaging
