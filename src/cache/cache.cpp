// Cache-aside over the async Redis client: GET, else load once (single-flight) and SET EX with jitter.
#include "cache/cache.hpp"

#include <fmt/format.h>

#include <functional>
#include <random>

#include "common/hex.hpp"
#include "common/logging.hpp"
#include "redis/commands.hpp"

namespace yw::cache {

namespace asio = boost::asio;

namespace {

// Stores a loaded entry only while its stamp is what it was before the load: a write of the key on any
// instance in between raised it. KEYS[1] the entry, KEYS[2] its stamp; ARGV[1] the stamp seen before the
// load ('' for none), ARGV[2] the value, ARGV[3] the TTL in seconds. Returns 1 when stored.
const redis::Script& fill_script() {
    static const redis::Script script{R"lua(
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
)lua"};
    return script;
}

// A write's invalidation. Each key's stamp becomes "<µs> <LSN>": Redis's clock in µs (strictly above the
// stamp's last value, so it always moves) and the highest WAL position of the writes that invalidated it
// (16 hex digits, so strings compare as positions), for ARGV[1] seconds; the key is deleted. ARGV[2]: this
// write's position. KEYS: entry1, stamp1, entry2, stamp2….
const redis::Script& invalidate_script() {
    static const redis::Script script{R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS, 2 do
  local old = redis.call('GET', KEYS[i + 1]) or ''
  local lsn = ARGV[2]
  local old_lsn = string.match(old, ' (%x+)$') or ''
  if old_lsn > lsn then lsn = old_lsn end
  local stamp = math.max(now, (tonumber(string.match(old, '^%d+')) or 0) + 1)
  redis.call('SET', KEYS[i + 1], string.format('%.0f', stamp) .. ' ' .. lsn, 'EX', ARGV[1])
  redis.call('UNLINK', KEYS[i])
end
return #KEYS / 2
)lua"};
    return script;
}

// Bulk fill (warming): each entry only where the key is absent and no write of it came after ARGV[1], Redis's
// clock (µs) read before the bulk load began: a write stamped earlier committed before the load, which saw
// it. KEYS: entry1, stamp1, entry2, stamp2…; ARGV: since, value1, ttl1, value2, ttl2…. Returns how many were
// stored.
const redis::Script& warm_script() {
    static const redis::Script script{R"lua(
local since = tonumber(ARGV[1])
local stored = 0
for i = 1, #KEYS, 2 do
  local stamp = tonumber(string.match(redis.call('GET', KEYS[i + 1]) or '', '^%d+'))
  if (stamp == nil or stamp < since) and redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[i + 2], 'NX') then
    stored = stored + 1
  end
end
return stored
)lua"};
    return script;
}

// Keys and their stamps, interleaved, as the scripts above take them.
std::vector<std::string> with_stamps(const std::vector<std::string>& keys) {
    std::vector<std::string> out;
    out.reserve(keys.size() * 2);
    for (const auto& key : keys) {
        out.push_back(key);
        out.push_back(stamp_key(key));
    }
    return out;
}

// The WAL position a fill must see, from the key's stamp as MGET read it ('' when no write invalidated the
// key within stamp_ttl: 0). A stamp without one (written by an older version) could be any write: the
// primary.
std::uint64_t lsn_of_stamp(std::string_view stamp) {
    if (stamp.empty()) return 0;
    auto space = stamp.rfind(' ');
    if (space == std::string_view::npos) return Cache::kUnknownLsn;
    return parse_hex_u64(stamp.substr(space + 1)).value_or(Cache::kUnknownLsn);
}

double uniform01() {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

std::string_view name_of(Outcome outcome) {
    switch (outcome) {
        case Outcome::kHit:
            return "HIT";
        case Outcome::kMiss:
            return "MISS";
        case Outcome::kBypass:
            return "BYPASS";
    }
    return "BYPASS";
}

Cache::Cache(CacheOptions options)
    : options_(options), flights_([](const std::exception& e) {
          return Answer{Outcome::kBypass, make_error(ErrorCode::kInternal, e.what())};
      }) {}

std::atomic<std::uint64_t>& Cache::generation(const std::string& key) {
    return generations_[std::hash<std::string>{}(key) % generations_.size()];
}

std::chrono::seconds Cache::ttl_for(Namespace ns, bool not_found) const {
    if (not_found) return options_.negative_ttl;  // short already; no jitter needed
    auto base = ns == Namespace::kMessages ? options_.messages_ttl : options_.ttl;
    return jittered_ttl(base, options_.jitter, uniform01());
}

void Cache::redis_failed(Namespace ns, std::string_view command, const Error& error) {
    counters(ns).errors.fetch_add(1, std::memory_order_relaxed);
    if (!failing_.exchange(true)) {
        log::warn("cache: Redis failed, answering from the database",
                  {{"command", std::string(command).c_str()}, {"error", error.message.c_str()}});
    }
}

void Cache::redis_worked() {
    if (failing_.load(std::memory_order_relaxed) && failing_.exchange(false))
        log::info("cache: Redis is back");
}

asio::awaitable<Result<Fetched>> Cache::get(Namespace ns, const std::string& key, Loader load) {
    // Named, not a temporary in the co_await: GCC 12 mishandles temporaries that live across a suspension.
    SingleFlight<Answer>::Loader flight = [&]() { return lookup_or_load(ns, key, load); };
    Answer answer = co_await flights_.run(key, flight);
    Counters& c = counters(ns);
    if (answer.outcome == Outcome::kHit) c.hits.fetch_add(1, std::memory_order_relaxed);
    if (answer.outcome == Outcome::kMiss) c.misses.fetch_add(1, std::memory_order_relaxed);
    if (!answer.body) co_return answer.body.error();
    co_return Fetched{std::move(answer.body.value()), answer.outcome};
}

asio::awaitable<Cache::Answer> Cache::lookup_or_load(Namespace ns, const std::string& key,
                                                     const Loader& load) {
    Counters& c = counters(ns);
    bool cacheable = redis_ != nullptr;
    const std::string stamp = cacheable ? stamp_key(key) : std::string();
    std::string stamp_before;  // the key's invalidation stamp before the load ('' for none)
    if (cacheable) {
        // The entry and its stamp in one call: on a miss the load starts after the stamp was read.
        redis::Command mget{"MGET", key, stamp};
        auto reply =
            co_await redis_->command(std::move(mget), std::chrono::steady_clock::now() + options_.timeout);
        if (reply && reply->is_array() && reply->elements.size() == 2) {
            redis_worked();
            auto& entry = reply->elements[0];
            if (entry.is_string()) {
                if (auto message = not_found_message(entry.str)) {
                    co_return Answer{Outcome::kHit, make_error(ErrorCode::kNotFound, std::move(*message))};
                }
                co_return Answer{Outcome::kHit, std::move(entry.str)};
            }
            if (reply->elements[1].is_string()) stamp_before = std::move(reply->elements[1].str);
        } else {
            redis_failed(ns, "MGET", reply ? Error{ErrorCode::kUnavailable, reply->str} : reply.error());
            cacheable = false;  // Redis is failing: answer from the database, do not wait for a SET too
        }
    }

    std::uint64_t before = generation(key).load(std::memory_order_acquire);
    FillLsn fill;
    if (cacheable) fill = lsn_of_stamp(stamp_before);
    Result<std::string> loaded = co_await load(fill);
    c.loads.fetch_add(1, std::memory_order_relaxed);
    bool not_found = !loaded && loaded.error().code == ErrorCode::kNotFound;
    if (!loaded && !not_found) co_return Answer{Outcome::kBypass, std::move(loaded)};  // database error
    if (!cacheable) co_return Answer{Outcome::kBypass, std::move(loaded)};

    // A write deleted this key while we loaded (in this process: the generation; on any instance: the stamp
    // in Redis): what we hold may predate it. Answer it (it was true when read), but do not store it.
    if (generation(key).load(std::memory_order_acquire) != before) {
        c.stale.fetch_add(1, std::memory_order_relaxed);
        co_return Answer{Outcome::kMiss, std::move(loaded)};
    }
    std::vector<std::string> args;
    args.reserve(3);
    args.push_back(std::move(stamp_before));
    args.push_back(not_found ? not_found_entry(loaded.error().message) : loaded.value());
    args.push_back(std::to_string(ttl_for(ns, not_found).count()));
    std::vector<std::string> keys{key, stamp};
    auto stored = co_await redis_->eval(fill_script(), std::move(keys), std::move(args),
                                        std::chrono::steady_clock::now() + options_.timeout);
    if (!stored || stored->is_error()) {
        redis_failed(ns, "SET", stored ? Error{ErrorCode::kUnavailable, stored->str} : stored.error());
    } else if (stored->is_integer() && stored->integer == 0) {
        c.stale.fetch_add(1, std::memory_order_relaxed);
    }
    co_return Answer{Outcome::kMiss, std::move(loaded)};
}

asio::awaitable<void> Cache::invalidate(std::vector<std::string> keys, std::uint64_t written_lsn) {
    // Bumped before the delete: a load running now sees it and will not store what it read.
    for (const auto& key : keys) generation(key).fetch_add(1, std::memory_order_acq_rel);
    if (!redis_ || keys.empty()) co_return;
    Namespace ns = namespace_of(keys.front()).value_or(Namespace::kUsers);
    // Stamps and deletes in one script: a load on any instance that began before this write will not store
    // what it read (the stamp moved), and what was stored before is gone.
    std::vector<std::string> script_keys = with_stamps(keys);
    std::vector<std::string> args{std::to_string(options_.stamp_ttl.count()),
                                  fmt::format("{:016X}", written_lsn)};
    auto reply = co_await redis_->eval(invalidate_script(), std::move(script_keys), std::move(args),
                                       std::chrono::steady_clock::now() + options_.timeout);
    if (!reply || reply->is_error()) {
        redis_failed(ns, "UNLINK", reply ? Error{ErrorCode::kUnavailable, reply->str} : reply.error());
        co_return;
    }
    redis_worked();
}

asio::awaitable<Result<std::int64_t>> Cache::clock() {
    if (!redis_) co_return make_error(ErrorCode::kUnavailable, "no Redis configured");
    redis::Command time{"TIME"};
    auto reply =
        co_await redis_->command(std::move(time), std::chrono::steady_clock::now() + options_.timeout);
    if (!reply) co_return reply.error();
    auto now = redis::time_us(*reply);
    if (!now) co_return make_error(ErrorCode::kInternal, "unexpected reply to TIME");
    co_return *now;
}

asio::awaitable<size_t> Cache::store_if_absent(Namespace ns, std::int64_t since,
                                               std::vector<std::pair<std::string, std::string>> entries) {
    if (!redis_ || entries.empty()) co_return 0;
    std::vector<std::string> keys, args{std::to_string(since)};
    keys.reserve(entries.size());
    args.reserve(entries.size() * 2 + 1);
    for (auto& [key, json] : entries) {
        keys.push_back(std::move(key));
        args.push_back(std::move(json));
        args.push_back(std::to_string(ttl_for(ns, false).count()));
    }
    std::vector<std::string> script_keys = with_stamps(keys);
    auto stored = co_await redis_->eval(warm_script(), std::move(script_keys), std::move(args),
                                        std::chrono::steady_clock::now() + options_.timeout * 10);
    if (!stored || !stored->is_integer()) {
        redis_failed(ns, "SET NX", stored ? Error{ErrorCode::kUnavailable, stored->str} : stored.error());
        co_return 0;
    }
    co_return static_cast<size_t>(stored->integer);
}

bool Cache::connected() const { return redis_ != nullptr && redis_->connected(); }

std::vector<NamespaceStats> Cache::stats() const {
    std::vector<NamespaceStats> out;
    for (Namespace ns : kNamespaces) {
        const Counters& c = counters_[static_cast<size_t>(ns)];
        out.push_back({ns, c.hits.load(std::memory_order_relaxed), c.misses.load(std::memory_order_relaxed),
                       c.stale.load(std::memory_order_relaxed), c.errors.load(std::memory_order_relaxed),
                       c.loads.load(std::memory_order_relaxed)});
    }
    return out;
}

}  // namespace yw::cache
