// Cache-aside over the async Redis client: GET, else load once (single-flight) and SET EX with jitter.
#include "cache/cache.hpp"

#include <functional>
#include <random>

#include "common/logging.hpp"
#include "redis/client.hpp"

namespace yw::cache {

namespace asio = boost::asio;

namespace {

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
    if (cacheable) {
        redis::Command get_command{"GET", key};
        auto reply = co_await redis_->command(std::move(get_command),
                                              std::chrono::steady_clock::now() + options_.timeout);
        if (reply && reply->is_string()) {
            redis_worked();
            if (auto message = not_found_message(reply->str)) {
                co_return Answer{Outcome::kHit, make_error(ErrorCode::kNotFound, std::move(*message))};
            }
            co_return Answer{Outcome::kHit, std::move(reply->str)};
        }
        if (reply && reply->is_nil()) {
            redis_worked();
        } else {
            redis_failed(ns, "GET", reply ? Error{ErrorCode::kUnavailable, reply->str} : reply.error());
            cacheable = false;  // Redis is failing: answer from the database, do not wait for a SET too
        }
    }

    std::uint64_t before = generation(key).load(std::memory_order_acquire);
    Result<std::string> loaded = co_await load();
    c.loads.fetch_add(1, std::memory_order_relaxed);
    bool not_found = !loaded && loaded.error().code == ErrorCode::kNotFound;
    if (!loaded && !not_found) co_return Answer{Outcome::kBypass, std::move(loaded)};  // database error
    if (!cacheable) co_return Answer{Outcome::kBypass, std::move(loaded)};

    if (generation(key).load(std::memory_order_acquire) != before) {
        // A write deleted this key while we loaded: what we hold may predate it. Answer it (it was true when
        // read), but do not store it.
        c.stale.fetch_add(1, std::memory_order_relaxed);
        co_return Answer{Outcome::kMiss, std::move(loaded)};
    }
    std::string value = not_found ? not_found_entry(loaded.error().message) : loaded.value();
    redis::Command set_command{"SET", key, std::move(value), "EX",
                               std::to_string(ttl_for(ns, not_found).count())};
    auto stored =
        co_await redis_->command(std::move(set_command), std::chrono::steady_clock::now() + options_.timeout);
    if (!stored || stored->is_error()) {
        redis_failed(ns, "SET", stored ? Error{ErrorCode::kUnavailable, stored->str} : stored.error());
    }
    co_return Answer{Outcome::kMiss, std::move(loaded)};
}

asio::awaitable<void> Cache::invalidate(std::vector<std::string> keys) {
    // Bumped before the delete: a load running now sees it and will not store what it read.
    for (const auto& key : keys) generation(key).fetch_add(1, std::memory_order_acq_rel);
    if (!redis_ || keys.empty()) co_return;
    Namespace ns = namespace_of(keys.front()).value_or(Namespace::kUsers);
    redis::Command unlink{"UNLINK"};
    unlink.insert(unlink.end(), keys.begin(), keys.end());
    auto reply =
        co_await redis_->command(std::move(unlink), std::chrono::steady_clock::now() + options_.timeout);
    if (!reply || reply->is_error()) {
        redis_failed(ns, "UNLINK", reply ? Error{ErrorCode::kUnavailable, reply->str} : reply.error());
        co_return;
    }
    redis_worked();
}

asio::awaitable<size_t> Cache::store_if_absent(Namespace ns,
                                               std::vector<std::pair<std::string, std::string>> entries) {
    if (!redis_ || entries.empty()) co_return 0;
    std::vector<redis::Command> commands;
    commands.reserve(entries.size());
    for (auto& [key, json] : entries) {
        commands.push_back(
            {"SET", key, std::move(json), "EX", std::to_string(ttl_for(ns, false).count()), "NX"});
    }
    size_t count = commands.size();
    auto replies = co_await redis_->pipeline(std::move(commands),
                                             std::chrono::steady_clock::now() + options_.timeout * 10);
    if (!replies) {
        redis_failed(ns, "SET NX", replies.error());
        co_return 0;
    }
    co_return count;
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
