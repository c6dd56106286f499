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
// ratelimit::gcra() and lease_grant() in policy.cpp (unit-tested): keep them in step.
// KEYS[1] rl:{id} hash: tat (µs), blocks (denials since the last reset), m/mc/mp and h/hc/hp (the minute and
//         hour buckets of admitted requests: bucket number, its count, the previous bucket's count)
// KEYS[2] rl:epoch (read only)   KEYS[3] rl:blocks:<hour> (denials per key id, for analytics)
// ARGV: interval µs, tolerance µs, key id, want (requests asked for at once: a lease), giveback (requests of
//       an earlier lease this instance did not use: their room is returned first), kLeaseShare
// Returns {allowed 0|1, remaining, retry_after µs, reset_after µs, epoch, granted}.
constexpr std::string_view kGcraLua = R"lua(
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[4]) or 1
local giveback = tonumber(ARGV[5]) or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local s = redis.call('HMGET', KEYS[1], 'tat', 'm', 'mc', 'mp', 'h', 'hc', 'hp')
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local stored = tonumber(s[1]) or 0
if giveback > 0 and stored > now then stored = math.max(now, stored - giveback * interval) end
local tat = math.max(stored, now)
if now < tat - tolerance then
  if giveback > 0 then redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat)) end
  redis.call('HINCRBY', KEYS[1], 'blocks', 1)
  redis.call('ZINCRBY', KEYS[3], 1, ARGV[3])
  redis.call('EXPIRE', KEYS[3], 7200)
  return {0, 0, tat - tolerance - now, tat - now, epoch, 0}
end
local room = math.floor((now + tolerance - tat) / interval) + 1
local granted = math.max(1, math.min(want, math.floor(room / tonumber(ARGV[6]))))
local new_tat = tat + granted * interval
local function roll(bucket, count, prev, size)
  local cur = math.floor(now / size)
  bucket = tonumber(bucket) or -1
  count = tonumber(count) or 0
  if bucket == cur then return cur, math.max(0, count - giveback) + granted, tonumber(prev) or 0 end
  if bucket == cur - 1 then return cur, granted, count end
  return cur, granted, 0
end
local m, mc, mp = roll(s[2], s[3], s[4], 60000000)
local h, hc, hp = roll(s[5], s[6], s[7], 3600000000)
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'm', m, 'mc', mc, 'mp', mp,
           'h', h, 'hc', hc, 'hp', hp)
redis.call('PEXPIRE', KEYS[1], 7200000)
local left = now + tolerance - new_tat
local remaining = 0
if left >= 0 then remaining = math.floor(left / interval) + 1 end
return {1, remaining, 0, new_tat - now, epoch, granted}
)lua";

// Adds refusals decided locally to a key's state, only where the script wrote one: a key reset meanwhile
// (DEL) stays reset. KEYS[1] rl:{id}  ARGV[1] how many.
constexpr std::string_view kAddBlocksLua =
    "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'blocks', ARGV[1]) end "
    "return 0";

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

Limiter::Limiter(redis::Commands* redis, LimiterOptions options) : redis_(redis), options_(options) {}

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
    const bool redis_up = redis_ && redis_->connected();
    // Room this instance already holds comes first: it was granted, whatever was refused since.
    std::int64_t refill = 0;
    if (auto spent = spend_lease(subject.key_id, *policy, redis_up, refill)) {
        if (refill > 0) {  // before the lease runs dry; the answer is for the next requests
            Decision r = co_await ask_redis(subject, *policy, refill, 0);
            absorb(subject.key_id, *policy, r, true);
        }
        co_return *spent;
    }
    {
        std::lock_guard lock(mutex_);
        auto it = remembered_.find(subject.key_id);
        if (it != remembered_.end()) {
            auto now = Clock::now();
            if (it->second.policy == *policy && now < it->second.until) {
                ++counters_.remembered_denied;
                if (unreported_blocks_.size() < options_.max_remembered) ++unreported_blocks_[subject.key_id];
                Decision r = it->second.decision;
                r.source = Source::kRemembered;
                r.retry_after_ms = std::max<std::int64_t>(
                    1, std::chrono::ceil<std::chrono::milliseconds>(it->second.until - now).count());
                co_return r;
            }
            remembered_.erase(it);
        }
    }
    if (redis_up) {
        LeaseAsk ask = plan_ask(subject.key_id, *policy);
        Decision r = co_await ask_redis(subject, *policy, ask.want, ask.giveback);
        if (ask.owner) absorb(subject.key_id, *policy, r, false);
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

std::optional<Decision> Limiter::spend_lease(const std::string& key_id, const Policy& policy, bool can_refill,
                                             std::int64_t& refill) {
    if (options_.max_lease <= 1) return std::nullopt;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    auto it = leases_.find(key_id);
    if (it == leases_.end()) return std::nullopt;
    Lease& l = it->second;
    if (l.tokens <= 0 || now >= l.expires || !(l.policy == policy) || l.epoch != epoch_.load()) {
        return std::nullopt;
    }
    --l.tokens;
    ++counters_.lease_allowed;
    Decision d;
    d.source = Source::kLease;
    d.policy = policy;
    d.remaining = l.remaining + l.tokens;
    d.reset_after_ms = std::max<std::int64_t>(
        0, l.reset_after_ms - std::chrono::ceil<std::chrono::milliseconds>(now - l.granted_at).count());
    // Half spent within its time: the next lease is bigger, and asked for now, before this one runs dry.
    if (can_refill && !l.refilling && l.tokens <= l.want / 2) {
        l.want = std::min(options_.max_lease, l.want * 2);
        l.refilling = true;
        refill = l.want;
    }
    return d;
}

Limiter::LeaseAsk Limiter::plan_ask(const std::string& key_id, const Policy& policy) {
    LeaseAsk ask;
    if (options_.max_lease <= 1) return ask;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    if (leases_.size() >= options_.max_remembered) leases_.clear();
    Lease& l = leases_[key_id];
    const bool same = l.policy == policy && l.epoch == epoch_.load();
    if (!same) {
        l = Lease{};            // a new key, a tier change or a reset: start from one request at a time
    } else if (l.tokens > 0) {  // expired with room unused: give it back, and ask for less next time
        ask.giveback = l.tokens;
        l.tokens = 0;
        l.want = std::max<std::int64_t>(1, l.want / 2);
    } else if (now < l.expires && !l.refilling) {  // ran dry within its time: ask for more
        l.want = std::min(options_.max_lease, l.want * 2);
    }
    // One lease request in flight per key and instance; the others meanwhile ask for themselves alone.
    ask.owner = !l.refilling;
    if (ask.owner) {
        l.refilling = true;
        ask.want = l.want;
    }
    return ask;
}

void Limiter::absorb(const std::string& key_id, const Policy& policy, const Decision& d, bool spent) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    auto it = leases_.find(key_id);
    if (it == leases_.end()) return;  // cleared meanwhile (reset, epoch change)
    Lease& l = it->second;
    l.refilling = false;
    if (d.source != Source::kRedis || !d.allowed) return;
    if (!(l.policy == policy) || l.epoch != epoch_.load()) l.tokens = 0;
    l.tokens += d.granted - (spent ? 0 : 1);  // the asking request takes one unless the lease admitted it
    l.policy = policy;
    l.epoch = epoch_.load();
    l.granted_at = now;
    l.expires = now + options_.lease_ttl;
    l.remaining = d.remaining;
    l.reset_after_ms = d.reset_after_ms;
}

asio::awaitable<Decision> Limiter::ask_redis(const Subject& subject, const Policy& policy, std::int64_t want,
                                             std::int64_t giveback) {
    Decision d;
    d.policy = policy;
    std::int64_t hour =
        std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::vector<std::string> keys{state_key(subject.key_id), std::string(kEpochKey), blocks_key(hour)};
    std::vector<std::string> args{std::to_string(policy.interval_us()),
                                  std::to_string(policy.tolerance_us()),
                                  subject.key_id,
                                  std::to_string(want),
                                  std::to_string(giveback),
                                  std::to_string(kLeaseShare)};
    auto reply = co_await redis_->eval(limiter_script(), std::move(keys), std::move(args),
                                       Clock::now() + options_.timeout);
    if (!reply || !reply->is_array() || reply->elements.size() != 6) {
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
    d.granted = d.allowed ? std::max<std::int64_t>(1, e[5].integer) : 0;
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
    leases_.clear();
    unreported_blocks_.clear();  // a reset clears the key's refusals; an admin change loses at most a poll's
}

void Limiter::forget(std::string_view key_id) {
    std::lock_guard lock(mutex_);
    remembered_.erase(std::string(key_id));
    local_tat_.erase(std::string(key_id));
    leases_.erase(std::string(key_id));
    unreported_blocks_.erase(std::string(key_id));
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
            co_await report_blocks();
        }
        timer.expires_after(options_.epoch_poll);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> Limiter::report_blocks() {
    std::unordered_map<std::string, std::int64_t> blocks;
    {
        std::lock_guard lock(mutex_);
        blocks.swap(unreported_blocks_);
    }
    if (blocks.empty()) co_return;
    const std::string hourly = blocks_key(
        std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    std::vector<redis::Command> cmds;
    cmds.reserve(blocks.size() * 2 + 1);
    for (const auto& [key_id, n] : blocks) {
        cmds.push_back({"EVAL", std::string(kAddBlocksLua), "1", state_key(key_id), std::to_string(n)});
        cmds.push_back({"ZINCRBY", hourly, std::to_string(n), key_id});
    }
    cmds.push_back({"EXPIRE", hourly, "7200"});
    auto replies = co_await redis_->pipeline(std::move(cmds), Clock::now() + options_.epoch_poll);
    if (replies) co_return;
    std::lock_guard lock(mutex_);  // Redis went away: keep them for the next poll
    for (const auto& [key_id, n] : blocks) {
        if (unreported_blocks_.size() >= options_.max_remembered) break;
        unreported_blocks_[key_id] += n;
    }
}

LimiterStats Limiter::stats() const {
    LimiterStats s;
    s.redis_allowed = counters_.redis_allowed;
    s.redis_denied = counters_.redis_denied;
    s.remembered_denied = counters_.remembered_denied;
    s.lease_allowed = counters_.lease_allowed;
    s.local_allowed = counters_.local_allowed;
    s.local_denied = counters_.local_denied;
    s.whitelisted = counters_.whitelisted;
    s.fail_open = counters_.fail_open;
    s.fail_closed = counters_.fail_closed;
    s.redis_errors = counters_.redis_errors;
    s.epoch_changes = counters_.epoch_changes;
    return s;
}

void Limiter::dump_metrics(prometheus::Writer& out) const {
    LimiterStats s = stats();
    out.family(
        "yw_ratelimit_decisions_total", "counter",
        "Rate-limit decisions by source (redis, lease, remembered, local fallback, whitelist, fail_open, "
        "fail_closed) and result.");
    auto line = [&out](std::string_view source, std::string_view result, std::uint64_t n) {
        std::string labels = prometheus::label("source", source);
        prometheus::append_label(labels, "result", result);
        out.sample("yw_ratelimit_decisions_total", labels, n);
    };
    line("redis", "allowed", s.redis_allowed);
    line("redis", "denied", s.redis_denied);
    line("lease", "allowed", s.lease_allowed);
    line("remembered", "denied", s.remembered_denied);
    line("local", "allowed", s.local_allowed);
    line("local", "denied", s.local_denied);
    line("whitelist", "allowed", s.whitelisted);
    line("fail_open", "allowed", s.fail_open);
    line("fail_closed", "denied", s.fail_closed);
    out.family("yw_ratelimit_redis_errors_total", "counter",
               "Script calls that failed or timed out (the fallback decided).");
    out.sample("yw_ratelimit_redis_errors_total", {}, s.redis_errors);
}

}  // namespace yw::ratelimit
