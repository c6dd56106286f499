// Cache key names, TTL jitter and the not-found marker: the pure rules of the cache, unit-tested.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yw::cache {

// What a key caches. The name is the key's first segment and the `namespace` label of the metrics.
enum class Namespace {
    kUsers,          // users:{tenant}:{user}: GET /v1/users/{id}
    kConversations,  // conversations:{tenant}:{conversation}: GET /v1/conversations/{id}
    kMessages,       // messages:{tenant}:{conversation}:first: the first page (default limit) of its messages
};
inline constexpr std::array<Namespace, 3> kNamespaces = {Namespace::kUsers, Namespace::kConversations,
                                                         Namespace::kMessages};
std::string_view name_of(Namespace ns);  // "users", "conversations", "messages"

// Every key carries the tenant: a hit can only ever answer the tenant that made it. (RB-12 writes
// `users:{id}`; ids are unique across tenants, but the tenant in the key makes isolation structural rather
// than a property of the data — docs/runbooks.md.)
std::string user_key(std::string_view tenant_id, std::string_view user_id);
std::string conversation_key(std::string_view tenant_id, std::string_view conversation_id);
std::string first_page_key(std::string_view tenant_id, std::string_view conversation_id);

// A key's invalidation stamp, `inv:{<key>}`: every write of the key sets it to Redis's clock (µs, always
// moving up; a TTL longer than any load) in the same script as the delete. A load stores what it read only
// while the stamp is what it was before the load began (warming: older than its start), so a write made by
// any instance during a load wins over the load. Not a cache entry: `cache clear` and the namespaces ignore
// it. (The braces keep key and stamp in one Redis Cluster slot.)
std::string stamp_key(std::string_view key);

// The patterns `ywctl cache clear --all` deletes: every cache namespace, never the rate limiter's `rl:`.
std::array<std::string, 3> cache_patterns();

// A TTL spread uniformly over [base·(1 − jitter), base·(1 + jitter)] so that keys written together do not
// expire together (no synchronized stampede on the database). `uniform` is a random number in [0, 1);
// `jitter` is clamped to [0, 1]. Never below one second: Redis EX counts whole seconds.
std::chrono::seconds jittered_ttl(std::chrono::seconds base, double jitter, double uniform);

// The value stored for "the database has no such row" (negative caching): '!' and the 404 message. JSON
// never starts with '!', so it cannot be confused with a cached resource.
std::string not_found_entry(std::string_view message);
// The 404 message of a not-found entry, or nullopt for a resource.
std::optional<std::string> not_found_message(std::string_view entry);

// The namespace a key belongs to (its first segment), or nullopt for keys that are not the cache's.
std::optional<Namespace> namespace_of(std::string_view key);

}  // namespace yw::cache
