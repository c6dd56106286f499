// The limiter: the shared GCRA script, the local memory of denied keys, and the fallback (see limiter.hpp).
#include "ratelimit/limiter.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.hpp"

namespace yw::ratelimit {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// GCRA for one key, atomically on the server's clock (TIME), so every instance agrees. The arithmetic is
// ratelimit::gcra() in policy.cpp (unit-tested): keep the two in step.
// KEYS[1] rl:{id} hash: tat (µs), blocks (denials since the last reset), m/mc/mp and h/hc/hp (the minute and
//         hour buckets of admitted requests: bucket number, its count, the previous bucket's count)
// KEYS[2] rl:epoch (read only)   KEYS[3] rl:blocks:<hour> (denials per key id, for analytics)
// ARGV: interval µs, tolerance µs, key id
// Returns {allowed 0|1, remaining, retry_after µs, reset_after µs, epoch}.
constexpr std::string_view kGcraLua = R"lua(
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local s = redis.call('HMGET', KEYS[1], 'tat', 'm', 'mc', 'mp', 'h', 'hc', 'hp')
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local tat = math.max(tonumber(s[1]) or 0, now)
if now < tat - tolerance then
  redis.call('HINCRBY', KEYS[1], 'blocks', 1)
  redis.call('ZINCRBY', KEYS[3], 1, ARGV[3])
  redis.call('EXPIRE', KEYS[3], 7200)
  return {0, 0, tat - tolerance - now, tat - now, epoch}
end
local new_tat = tat + interval
local function roll(bucket, count, prev, size)
  local cur = math.floor(now / size)
  bucket = tonumber(bucket) or -1
  count = tonumber(count) or 0
  if bucket == cur then return cur, count + 1, tonumber(prev) or 0 end
  if bucket == cur - 1 then return cur, 1, count end
  return cur, 1, 0
end
local m, mc, mp = roll(s[2], s[3], s[4], 60000000)
local h, hc, hp = roll(s[5], s[6], s[7], 3600000000)
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'm', m, 'mc', mc, 'mp', mp,
           'h', h, 'hc', hc, 'hp', hp)
redis.call('PEXPIRE', KEYS[1], 7200000)
local room = now + tolerance - new_tat
local remaining = 0
if room >= 0 then remaining = math.floor(room / interval) + 1 end
return {1, remaining, 0, new_tat - now, epoch}
)lua";

std::int64_t ceil_ms(std::int64_t us) { return (us + 999) / 1000; }

std::int64_t steady_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

Result<Fallback> parse_fallback(std::string_view text) {
    if (text == "local") return Fallback::kLocal;
    if (text == "open") return Fallback::kOpen;
    if (text == "closed") return Fallback::kClosed;
    return make_error(ErrorCode::kInvalidArgument, "must be local, open or closed");
}

std::string state_key(std::string_view key_id) { return fmt::format("rl:{{{}}}", key_id); }
std::string blocks_key(std::int64_t unix_hour) { return fmt::format("rl:blocks:{}", unix_hour); }

const redis::Script& limiter_script() {
    static const redis::Script script{std::string(kGcraLua)};
    return script;
}

Limiter::Limiter(redis::Client* redis, LimiterOptions options) : redis_(redis), options_(options) {}

Limiter::~Limiter() { stop(); }

asio::awaitable<Decision> Limiter::check(const Subject& subject, std::string_view client_ip) {
    Decision d;
    if (!options_.enabled) co_return d;
    if (subject.whitelist_ips && ip_whitelisted(*subject.whitelist_ips, client_ip)) {
        ++counters_.whitelisted;
        d.source = Source::kWhitelist;
        co_return d;
    }
    auto policy = policy_for(subject.tier, subject.burst_size);
    if (!policy) {  // the schema's CHECK makes this unreachable; limit as the lowest tier rather than not at
                    // all
        policy = policy_for("free");
    }
    {
        std::lock_guard lock(mutex_);
        auto it = remembered_.find(subject.key_id);
        if (it != remembered_.end()) {
            auto now = Clock::now();
            if (it->second.policy == *policy && now < it->second.until) {
                ++counters_.remembered_denied;
                Decision r = it->second.decision;
                r.source = Source::kRemembered;
                r.retry_after_ms = std::max<std::int64_t>(
                    1, std::chrono::ceil<std::chrono::milliseconds>(it->second.until - now).count());
                co_return r;
            }
            remembered_.erase(it);
        }
    }
    if (redis_ && redis_->connected()) {
        Decision r = co_await ask_redis(subject, *policy);
        if (r.source == Source::kRedis) co_return r;
    }
    switch (options_.fallback) {
        case Fallback::kOpen:
            ++counters_.fail_open;
            d.source = Source::kFailOpen;
            d.policy = *policy;
            co_return d;
        case Fallback::kClosed:
            ++counters_.fail_closed;
            d.allowed = false;
            d.source = Source::kFailClosed;
            d.policy = *policy;
            d.retry_after_ms = 1000;
            co_return d;
        case Fallback::kLocal:
            break;
    }
    co_return decide_locally(subject, *policy);
}

asio::awaitable<Decision> Limiter::ask_redis(const Subject& subject, const Policy& policy) {
    Decision d;
    d.policy = policy;
    std::int64_t hour =
        std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::vector<std::string> keys{state_key(subject.key_id), std::string(kEpochKey), blocks_key(hour)};
    std::vector<std::string> args{std::to_string(policy.interval_us()), std::to_string(policy.tolerance_us()),
                                  subject.key_id};
    auto reply = co_await redis_->eval(limiter_script(), std::move(keys), std::move(args),
                                       Clock::now() + options_.timeout);
    if (!reply || !reply->is_array() || reply->elements.size() != 5) {
        ++counters_.redis_errors;
        if (reply && reply->is_error())
            log::warn("rate-limit script failed", {{"error", reply->str.c_str()}});
        co_return d;  // source kDisabled: the caller falls back
    }
    const auto& e = reply->elements;
    d.source = Source::kRedis;
    d.allowed = e[0].integer == 1;
    d.remaining = e[1].integer;
    d.retry_after_ms = std::max<std::int64_t>(d.allowed ? 0 : 1, ceil_ms(e[2].integer));
    d.reset_after_ms = ceil_ms(e[3].integer);
    observe_epoch(e[4].integer);
    if (d.allowed) {
        ++counters_.redis_allowed;
    } else {
        ++counters_.redis_denied;
        std::lock_guard lock(mutex_);
        if (remembered_.size() >= options_.max_remembered) remembered_.clear();
        remembered_[subject.key_id] =
            Remembered{policy, Clock::now() + std::chrono::milliseconds(d.retry_after_ms), d};
    }
    co_return d;
}

Decision Limiter::decide_locally(const Subject& subject, const Policy& policy) {
    Policy share = local_share(policy, options_.instances);
    std::int64_t now = steady_us();
    Verdict v;
    {
        std::lock_guard lock(mutex_);
        if (local_tat_.size() >= options_.max_remembered) local_tat_.clear();
        auto& tat = local_tat_[subject.key_id];
        v = gcra(share, tat, now);
        tat = v.tat_us;
    }
    Decision d;
    d.source = Source::kLocal;
    d.policy = policy;
    d.allowed = v.allowed;
    d.remaining = v.remaining;
    d.retry_after_ms = v.allowed ? 0 : std::max<std::int64_t>(1, ceil_ms(v.retry_after_us));
    d.reset_after_ms = ceil_ms(v.reset_after_us);
    ++(v.allowed ? counters_.local_allowed : counters_.local_denied);
    return d;
}

void Limiter::observe_epoch(std::int64_t epoch) {
    std::int64_t seen = epoch_.exchange(epoch);
    if (seen == -1 || seen == epoch) return;
    ++counters_.epoch_changes;
    clear_local();
    if (on_epoch_change_) on_epoch_change_();
}

void Limiter::clear_local() {
    std::lock_guard lock(mutex_);
    remembered_.clear();
}

void Limiter::forget(std::string_view key_id) {
    std::lock_guard lock(mutex_);
    remembered_.erase(std::string(key_id));
    local_tat_.erase(std::string(key_id));
}

void Limiter::start(asio::any_io_executor executor) {
    if (!redis_ || !options_.enabled) return;
    asio::co_spawn(executor, poll_epoch(), asio::detached);
}

void Limiter::stop() { stopping_ = true; }

// Keys denied from local memory never reach Redis, so the epoch is also polled: a reset or an admin change
// made elsewhere reaches this instance within one poll period.
asio::awaitable<void> Limiter::poll_epoch() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!stopping_) {
        if (redis_->connected()) {
            redis::Command get{"GET", std::string(kEpochKey)};
            auto reply = co_await redis_->command(std::move(get), Clock::now() + options_.epoch_poll);
            if (reply && !reply->is_error()) {
                std::int64_t epoch = 0;
                if (reply->is_string()) epoch = std::strtoll(reply->str.c_str(), nullptr, 10);
                observe_epoch(epoch);
            }
        }
        timer.expires_after(options_.epoch_poll);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

LimiterStats Limiter::stats() const {
    LimiterStats s;
    s.redis_allowed = counters_.redis_allowed;
    s.redis_denied = counters_.redis_denied;
    s.remembered_denied = counters_.remembered_denied;
    s.local_allowed = counters_.local_allowed;
    s.local_denied = counters_.local_denied;
    s.whitelisted = counters_.whitelisted;
    s.fail_open = counters_.fail_open;
    s.fail_closed = counters_.fail_closed;
    s.redis_errors = counters_.redis_errors;
    s.epoch_changes = counters_.epoch_changes;
    return s;
}

std::string Limiter::exposition() const {
    LimiterStats s = stats();
    std::string out =
        "# HELP yw_ratelimit_decisions_total Rate-limit decisions by source (redis, remembered, local "
        "fallback, "
        "whitelist, fail_open, fail_closed) and result.\n"
        "# TYPE yw_ratelimit_decisions_total counter\n";
    auto line = [&out](std::string_view source, std::string_view result, std::uint64_t n) {
        out += fmt::format("yw_ratelimit_decisions_total{{source=\"{}\",result=\"{}\"}} {}\n", source, result,
                           n);
    };
    line("redis", "allowed", s.redis_allowed);
    line("redis", "denied", s.redis_denied);
    line("remembered", "denied", s.remembered_denied);
    line("local", "allowed", s.local_allowed);
    line("local", "denied", s.local_denied);
    line("whitelist", "allowed", s.whitelisted);
    line("fail_open", "allowed", s.fail_open);
    line("fail_closed", "denied", s.fail_closed);
    out +=
        "# HELP yw_ratelimit_redis_errors_total Script calls that failed or timed out (the fallback "
        "decided).\n"
        "# TYPE yw_ratelimit_redis_errors_total counter\n";
    out += fmt::format("yw_ratelimit_redis_errors_total {}\n", s.redis_errors);
    if (redis_) {
        auto r = redis_->stats();
        out +=
            "# HELP yw_redis_connected Whether the Redis connection is up.\n# TYPE yw_redis_connected "
            "gauge\n";
        out += fmt::format("yw_redis_connected {}\n", redis_->connected() ? 1 : 0);
        out +=
            "# HELP yw_redis_reconnects_total Connections re-established after a loss.\n"
            "# TYPE yw_redis_reconnects_total counter\n";
        out += fmt::format("yw_redis_reconnects_total {}\n", r.reconnects);
        out +=
            "# HELP yw_redis_errors_total Redis calls that failed (not connected, timeout, connection "
            "lost).\n"
            "# TYPE yw_redis_errors_total counter\n";
        out += fmt::format("yw_redis_errors_total {}\n", r.errors);
    }
    return out;
}

}  // namespace yw::ratelimit
