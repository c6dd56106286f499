// Cache warming at start (see cache_warming.hpp).
#include "messaging/cache_warming.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/json.hpp"
#include "common/logging.hpp"
#include "messaging/rows.hpp"
#include "pg/queries.hpp"

namespace yw::messaging {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

template <typename KeyFn, typename JsonFn>
Entries entries_of(const pg::ResultSet& rows, KeyFn key, JsonFn json) {
    Entries out;
    out.reserve(static_cast<size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i) {
        Row row(rows, i);
        out.emplace_back(key(row.text("tenant_id"), row.text("id")), to_json(json(row)));
    }
    return out;
}

}  // namespace

// Warming runs two registry queries (hot conversations, their users), rendered as the API renders them and
// stored with SET NX in one pipeline each.
boost::asio::awaitable<WarmingReport> warm_cache(pg::Cluster& db, cache::Cache& cache,
                                                 WarmingOptions options) {
    WarmingReport report;
    auto started = std::chrono::steady_clock::now();
    auto deadline = started + options.timeout;
    // Half the budget for conversations; their users (at most as many) take the rest.
    std::string limit = std::to_string(std::max(1, options.max_keys / 2));
    if (options.max_keys <= 0 || !cache.enabled()) co_return report;

    // Started with the server: the Redis client may still be connecting (it fails calls meanwhile).
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (!cache.connected() && std::chrono::steady_clock::now() < deadline) {
        wait.expires_after(std::chrono::milliseconds(20));
        co_await wait.async_wait(boost::asio::use_awaitable);
    }
    // Writes stamped after this moment may postdate what the queries read: those keys are left alone.
    auto since = co_await cache.clock();
    if (!since) {
        log::warn("cache warming stopped", {{"error", since.error().message.c_str()}});
        co_return report;
    }
    log::info("Cache warming started for key: conversations:*", {{"limit", limit}});
    pg::Params conversation_params{limit};
    auto conversations = co_await db.exec(pg::Intent::kReadAfterWrite, pg::queries::kCacheHotConversations,
                                          std::move(conversation_params), deadline);
    if (!conversations) {
        log::warn("cache warming stopped", {{"error", conversations.error().message.c_str()}});
        co_return report;
    }
    report.conversations = co_await cache.store_if_absent(
        cache::Namespace::kConversations, *since,
        entries_of(*conversations, cache::conversation_key, conversation_json));
    if (std::chrono::steady_clock::now() >= deadline) {
        log::warn("cache warming stopped at its deadline", {{"conversations", report.conversations}});
        co_return report;
    }

    log::info("Cache warming started for key: users:*", {{"limit", limit}});
    pg::Params user_params{limit};
    auto users = co_await db.exec(pg::Intent::kReadAfterWrite, pg::queries::kCacheHotUsers,
                                  std::move(user_params), deadline);
    if (!users) {
        log::warn("cache warming stopped", {{"error", users.error().message.c_str()}});
        co_return report;
    }
    report.users = co_await cache.store_if_absent(cache::Namespace::kUsers, *since,
                                                  entries_of(*users, cache::user_key, user_json));
    report.complete = true;
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    log::info("Cache warming finished",
              {{"conversations", report.conversations}, {"users", report.users}, {"ms", ms.count()}});
    co_return report;
}

}  // namespace yw::messaging
