// The messaging domain: tenants and API keys (admin), users, conversations and messages (tenant-scoped).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/cache.hpp"
#include "common/error.hpp"
#include "common/single_flight.hpp"
#include "messaging/api_key.hpp"
#include "messaging/cursor.hpp"
#include "messaging/json_body.hpp"
#include "messaging/page_floors.hpp"
#include "pg/cluster.hpp"

namespace yw::messaging {

// Services validate, run registry SQL through pg::Cluster with an intent, and return the API's JSON
// resources.

template <typename T>
using Task = boost::asio::awaitable<Result<T>>;
using Json = boost::json::object;

// Who is calling: resolved from an API key.
struct Principal {
    std::string key_id;
    std::string tenant_id;
    std::string prefix;  // display prefix: logs and the audit log
    std::string tier;
    std::optional<int> burst_size;
    std::vector<std::string> whitelist_ips;
    bool blocked = false;
    std::string block_reason;
};

// API key → Principal, with the metadata cached in-process for `ttl` (a change made in SQL shows within it).
// Unknown keys are cached too, briefly, so a flood of bad keys does not become a flood of queries.
class Authenticator {
  public:
    // `failure_limit`: failed lookups one client address may cause per minute (0: no limit); past it, keys
    // this instance has not seen succeed lately are refused (429) without asking the database.
    Authenticator(pg::Cluster& db, std::chrono::milliseconds ttl, int failure_limit = 0);
    // Missing or malformed → 401; unknown → 401; blocked → 403 with the reason; too many failures from
    // `client_ip` → 429.
    Task<Principal> authenticate(std::string_view presented, std::string_view client_ip = {});
    void forget_all();

  private:
    struct Entry {
        std::optional<Principal> principal;  // nullopt: no such key
        std::chrono::steady_clock::time_point expires;
    };
    struct Failures {
        std::chrono::steady_clock::time_point window_start;
        int count = 0;
    };
    using Clock = std::chrono::steady_clock;
    // Under mutex_: seconds until `client_ip` may cause lookups again; 0 when it may now.
    long long locked_out_for(std::string_view client_ip, Clock::time_point now);
    void note_failure(std::string_view client_ip, Clock::time_point now);
    // The key's row by its hash (nullopt: no such key). Concurrent lookups of one key share one query.
    using Lookup = Result<std::optional<Principal>>;
    boost::asio::awaitable<Lookup> lookup(std::string hash_hex, KeyHash hash);
    // Caches a lookup's answer (an unknown key briefly) and returns it.
    std::optional<Principal> remember(const std::string& hash_hex, std::optional<Principal> principal);

    pg::Cluster& db_;
    const std::chrono::milliseconds ttl_;
    const int failure_limit_;
    std::mutex mutex_;
    // By SHA-256 hex of the key. An expired entry of a valid key still says "this key worked lately".
    std::unordered_map<std::string, Entry> cache_;
    std::unordered_map<std::string, Failures> failures_;  // by client address
    // A key's first requests arriving together (a client opening 64 connections) cost one query, not 64.
    SingleFlight<Lookup> lookups_{
        [](const std::exception& e) { return Lookup(make_error(ErrorCode::kInternal, e.what())); }};
};

struct PageRequest {
    int limit = 50;      // kDefaultPageLimit
    std::string cursor;  // empty: the first page
};

class AdminService {
  public:
    explicit AdminService(pg::Cluster& db) : db_(db) {}
    Task<Json> create_tenant(const JsonBody& body);
    Task<Json> create_api_key(std::string_view tenant_id, const JsonBody& body);
    Task<Json> get_api_key(std::string_view prefix);
    Task<Json> patch_api_key(std::string_view prefix, const JsonBody& body);

  private:
    pg::Cluster& db_;
};

// Reads marked "cached" go through the cache (users:, conversations:, messages: keys) and answer the JSON
// text; the writes that change what they return delete those keys before answering.
class UserService {
  public:
    UserService(pg::Cluster& db, const CursorCodec& cursors, cache::Cache& cache)
        : db_(db), cursors_(cursors), cache_(cache) {}
    Task<Json> create(const Principal& p, const JsonBody& body);
    Task<Json> list(const Principal& p, const PageRequest& page);
    Task<cache::Fetched> get(const Principal& p, std::string_view id);  // cached
    Task<Json> patch(const Principal& p, std::string_view id, const JsonBody& body);
    Task<bool> remove(const Principal& p, std::string_view id);

  private:
    Task<std::string> load(const Principal& p, std::string_view id, cache::Cache::FillLsn fill);
    pg::Cluster& db_;
    const CursorCodec& cursors_;
    cache::Cache& cache_;
};

class ConversationService {
  public:
    ConversationService(pg::Cluster& db, const CursorCodec& cursors, cache::Cache& cache)
        : db_(db), cursors_(cursors), cache_(cache) {}
    Task<Json> create(const Principal& p, const JsonBody& body);
    Task<Json> list(const Principal& p, const PageRequest& page, std::optional<std::string> status);
    Task<cache::Fetched> get(const Principal& p, std::string_view id);  // cached
    Task<Json> patch(const Principal& p, std::string_view id, const JsonBody& body);

  private:
    Task<std::string> load(const Principal& p, std::string_view id, cache::Cache::FillLsn fill);
    pg::Cluster& db_;
    const CursorCodec& cursors_;
    cache::Cache& cache_;
};

class MessageService {
  public:
    MessageService(pg::Cluster& db, const CursorCodec& cursors, cache::Cache& cache)
        : db_(db), cursors_(cursors), cache_(cache) {}
    // Also changes the conversation (last_message_at): both its keys go.
    Task<Json> create(const Principal& p, std::string_view conversation_id, const JsonBody& body);
    // Newest first; keyset on (created_at, id). The first page of the default size is cached.
    Task<cache::Fetched> list(const Principal& p, std::string_view conversation_id, const PageRequest& page);
    Task<bool> remove(const Principal& p, std::string_view conversation_id, std::string_view message_id);

  private:
    // `fill`: see load_read.
    Task<std::string> load_page(const Principal& p, std::string_view conversation_id, const PageRequest& page,
                                cache::Cache::FillLsn fill);
    pg::Cluster& db_;
    const CursorCodec& cursors_;
    cache::Cache& cache_;
    PageFloors floors_;
};

// Shared validation.
Status validate_uuid(std::string_view text, std::string_view what);
// Keyset pages on id (UUIDv7, creation order): the id to continue after — the nil UUID for the first page —
// from a cursor made for `scope`, or 400.
Result<std::string> id_after(const CursorCodec& cursors, const std::string& cursor,
                             const std::vector<std::string>& scope);
// The cursor of the page after `rows` when it came back full (`limit` rows), else "".
std::string next_id_cursor(const CursorCodec& cursors, std::vector<std::string> scope,
                           const pg::ResultSet& rows, int limit);
// The database read of a cached resource's load. A fill (its answer stored for every reader, for minutes)
// reads a node that has replayed the writes which invalidated the key, any replica when none did lately; a
// load that will not be stored reads as any read (the tenant's own writes).
inline boost::asio::awaitable<Result<pg::ResultSet>> load_read(pg::Cluster& db, cache::Cache::FillLsn fill,
                                                               const pg::Query& query, pg::Params params) {
    if (fill) return db.exec(pg::AtLeast{*fill}, query, std::move(params));
    return db.exec(pg::Intent::kRead, query, std::move(params));
}
// What a write's invalidation tells the fills of its keys to wait for: its WAL position, or, when the write
// failed (it may have committed), a position only the primary is sure to have.
static_assert(cache::Cache::kUnknownLsn == pg::kNewestLsn);
inline std::uint64_t written_lsn(const Result<pg::ResultSet>& rows) {
    return rows ? rows->write_lsn() : cache::Cache::kUnknownLsn;
}
// A database error as the client may see it: constraint texts and SQL never leave the server.
Error client_error(const Error& db_error, std::string_view conflict_message);

inline constexpr int kMaxPageLimit = 200;
inline constexpr int kDefaultPageLimit = 50;  // PageRequest's default: the only first page that is cached
inline constexpr size_t kMaxMessageLength = 1600;

}  // namespace yw::messaging
