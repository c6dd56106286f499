// Tiers, GCRA and the sliding-window estimate: pure functions (see policy.hpp).
#include "ratelimit/policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

namespace yw::ratelimit {
namespace {

struct Tier {
    const char* name;
    std::int64_t limit;
    std::int64_t burst;
};
// The runbooks' tiers (RB-15) and default bursts.
constexpr Tier kTiers[] = {
    {"free", 10, 2},
    {"standard", 100, 20},
    {"professional", 1000, 100},
    {"enterprise", 10000, 1000},
};

std::vector<unsigned char> bytes_of(const boost::asio::ip::address& a) {
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        return {b.begin(), b.end()};
    }
    auto b = a.to_v6().to_bytes();
    return {b.begin(), b.end()};
}

// Network prefix match on the address bytes.
bool in_network(const boost::asio::ip::address& ip, const boost::asio::ip::address& net, int bits) {
    if (ip.is_v4() != net.is_v4()) return false;
    auto a = bytes_of(ip);
    auto b = bytes_of(net);
    if (bits < 0 || bits > static_cast<int>(a.size()) * 8) return false;
    for (int i = 0; i < bits; ++i) {
        int mask = 0x80 >> (i % 8);
        if ((a[i / 8] & mask) != (b[i / 8] & mask)) return false;
    }
    return true;
}

}  // namespace

Result<Policy> policy_for(std::string_view tier, std::optional<int> burst_size) {
    for (const auto& t : kTiers) {
        if (tier != t.name) continue;
        Policy p{t.name, t.limit, t.burst};
        if (burst_size && *burst_size >= 0) p.burst = *burst_size;
        return p;
    }
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown tier '{}' (free, standard, professional, enterprise)", tier));
}

const std::vector<std::string>& tier_names() {
    static const std::vector<std::string> names{"free", "standard", "professional", "enterprise"};
    return names;
}

Policy local_share(const Policy& policy, int instances) {
    if (instances <= 1) return policy;
    Policy p = policy;
    p.limit = std::max<std::int64_t>(1, policy.limit / instances);
    p.burst = policy.burst / instances;
    return p;
}

std::int64_t lease_grant(std::int64_t room, std::int64_t want) {
    return std::max<std::int64_t>(1, std::min(want, room / kLeaseShare));
}

Verdict gcra(const Policy& policy, std::int64_t tat_us, std::int64_t now_us, std::int64_t want) {
    const std::int64_t interval = policy.interval_us();
    const std::int64_t tolerance = policy.tolerance_us();
    std::int64_t tat = std::max(tat_us, now_us);
    Verdict v;
    // A request is admitted when the key's debt (tat - now) leaves room for it within the tolerance.
    std::int64_t allow_at = tat - tolerance;
    if (now_us < allow_at) {
        v.tat_us = tat;
        v.retry_after_us = allow_at - now_us;
        v.reset_after_us = tat - now_us;
        return v;
    }
    v.granted = lease_grant(gcra_remaining(policy, tat, now_us), want);
    std::int64_t new_tat = tat + v.granted * interval;
    v.allowed = true;
    v.tat_us = new_tat;
    v.remaining = gcra_remaining(policy, new_tat, now_us);
    v.reset_after_us = new_tat - now_us;
    return v;
}

std::int64_t gcra_remaining(const Policy& policy, std::int64_t tat_us, std::int64_t now_us) {
    // The k-th next request is admitted while tat + (k-1)·interval - tolerance <= now.
    std::int64_t room = now_us + policy.tolerance_us() - std::max(tat_us, now_us);
    return room < 0 ? 0 : room / policy.interval_us() + 1;
}

std::int64_t sliding_count(std::int64_t bucket, std::int64_t count, std::int64_t prev, std::int64_t bucket_us,
                           std::int64_t now_us) {
    std::int64_t current = now_us / bucket_us;
    std::int64_t cur = 0, before = 0;
    if (bucket == current) {
        cur = count;
        before = prev;
    } else if (bucket == current - 1) {
        before = count;
    }
    std::int64_t elapsed = now_us - current * bucket_us;
    // prev × the share of the previous bucket still inside the window, rounded to nearest.
    return cur + (before * (bucket_us - elapsed) + bucket_us / 2) / bucket_us;
}

bool ip_whitelisted(const std::vector<std::string>& whitelist, std::string_view ip_text) {
    if (whitelist.empty() || ip_text.empty()) return false;
    boost::system::error_code ec;
    auto ip = boost::asio::ip::make_address(std::string(ip_text), ec);
    if (ec) return false;
    if (ip.is_v6() && ip.to_v6().is_v4_mapped())
        ip = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6());
    for (const auto& entry : whitelist) {
        auto slash = entry.find('/');
        auto net = boost::asio::ip::make_address(entry.substr(0, slash), ec);
        if (ec) continue;
        int bits = net.is_v4() ? 32 : 128;
        if (slash != std::string::npos) {
            try {
                bits = std::stoi(entry.substr(slash + 1));
            } catch (...) {
                continue;
            }
        }
        if (in_network(ip, net, bits)) return true;
    }
    return false;
}

}  // namespace yw::ratelimit
