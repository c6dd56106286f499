// Rate-limit policy and math, free of I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace yw::ratelimit {

// The tiers, GCRA (the same arithmetic the Redis script runs), the sliding-window usage estimate the admin
// status shows, and the whitelist match. Unit-tested.

inline constexpr std::int64_t kPeriodUs = 60'000'000;  // limits are per minute

// What one key may do: `limit` requests per minute, of which `burst` may come at once on top of the steady
// rate. GCRA admits at most limit + burst requests in any window of one minute.
struct Policy {
    std::string tier;  // "free", "standard", "professional", "enterprise"
    std::int64_t limit = 0;
    std::int64_t burst = 0;

    std::int64_t interval_us() const { return kPeriodUs / limit; }  // one request's share of the period
    std::int64_t tolerance_us() const { return burst * interval_us(); }
    bool operator==(const Policy&) const = default;
};

// The tier's policy; a key's burst_size (when set) overrides the tier's default burst. kInvalidArgument for
// an unknown tier.
Result<Policy> policy_for(std::string_view tier, std::optional<int> burst_size = std::nullopt);
// The tier names in ascending order of limit.
const std::vector<std::string>& tier_names();

// The same policy shared by `instances` instances that cannot see each other (Redis is down): each admits
// its share, at least one request per minute.
Policy local_share(const Policy& policy, int instances);

// Leases: a busy key takes several requests' worth of room at once for one instance to spend locally, so it
// costs one script call per lease rather than per request. A lease is at most `want` and at most a
// kLeaseShare-th of the room left: with fewer than 2 × kLeaseShare requests left every request is decided
// alone (exactly, across instances), and no instance ever holds more than a sixteenth of a key's room.
inline constexpr std::int64_t kLeaseShare = 16;
// Requests granted at once when `room` (≥ 1) are admissible and `want` (≥ 1) were asked for.
std::int64_t lease_grant(std::int64_t room, std::int64_t want);

// One GCRA decision. `tat_us` is the key's theoretical arrival time (0 or anything in the past: fresh).
// `want` > 1 asks for a lease: `granted` requests admitted at once (lease_grant).
struct Verdict {
    bool allowed = false;
    std::int64_t granted = 0;         // requests admitted (≥ 1 when allowed)
    std::int64_t tat_us = 0;          // the state to store: unchanged when denied
    std::int64_t remaining = 0;       // further requests admissible right now, beyond those granted
    std::int64_t retry_after_us = 0;  // denied: when the next request would be admitted
    std::int64_t reset_after_us = 0;  // when the key is back to a full burst
};
Verdict gcra(const Policy& policy, std::int64_t tat_us, std::int64_t now_us, std::int64_t want = 1);
// Requests admissible right now with state `tat_us`, without taking one.
std::int64_t gcra_remaining(const Policy& policy, std::int64_t tat_us, std::int64_t now_us);

// Usage counters kept beside the GCRA state: admitted requests per minute and per hour, the current and the
// previous bucket of each, estimated over a sliding window (prev weighted by the part still inside it).
struct Counters {
    std::int64_t minute = -1, minute_count = 0, minute_prev = 0;  // minute: now_us / 60 s of the last write
    std::int64_t hour = -1, hour_count = 0, hour_prev = 0;
};
// Admitted requests in the last `bucket_us` ending at `now_us`, from a bucket pair last written in `bucket`.
std::int64_t sliding_count(std::int64_t bucket, std::int64_t count, std::int64_t prev, std::int64_t bucket_us,
                           std::int64_t now_us);

// RB-16's whitelist: `ip` equals an entry, or lies in an entry's network ("10.0.0.0/8", "2001:db8::/32").
bool ip_whitelisted(const std::vector<std::string>& whitelist, std::string_view ip);

}  // namespace yw::ratelimit
