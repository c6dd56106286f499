// Cache key names and TTL jitter.
#include "cache/keys.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace yw::cache {

std::string_view name_of(Namespace ns) {
    switch (ns) {
        case Namespace::kUsers:
            return "users";
        case Namespace::kConversations:
            return "conversations";
        case Namespace::kMessages:
            return "messages";
    }
    return "unknown";
}

std::string user_key(std::string_view tenant_id, std::string_view user_id) {
    return fmt::format("users:{}:{}", tenant_id, user_id);
}

std::string conversation_key(std::string_view tenant_id, std::string_view conversation_id) {
    return fmt::format("conversations:{}:{}", tenant_id, conversation_id);
}

std::string first_page_key(std::string_view tenant_id, std::string_view conversation_id) {
    return fmt::format("messages:{}:{}:first", tenant_id, conversation_id);
}

std::string stamp_key(std::string_view key) { return fmt::format("inv:{{{}}}", key); }

std::array<std::string, 3> cache_patterns() {
    std::array<std::string, 3> out;
    for (size_t i = 0; i < kNamespaces.size(); ++i) out[i] = fmt::format("{}:*", name_of(kNamespaces[i]));
    return out;
}

std::chrono::seconds jittered_ttl(std::chrono::seconds base, double jitter, double uniform) {
    jitter = std::clamp(jitter, 0.0, 1.0);
    uniform = std::clamp(uniform, 0.0, 1.0);
    double factor = 1.0 - jitter + 2.0 * jitter * uniform;
    auto seconds = static_cast<long long>(std::llround(static_cast<double>(base.count()) * factor));
    return std::chrono::seconds(std::max(1LL, seconds));
}

std::string not_found_entry(std::string_view message) { return fmt::format("!{}", message); }

std::optional<std::string> not_found_message(std::string_view entry) {
    if (entry.empty() || entry.front() != '!') return std::nullopt;
    return std::string(entry.substr(1));
}

std::optional<Namespace> namespace_of(std::string_view key) {
    auto colon = key.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    for (Namespace ns : kNamespaces) {
        if (key.substr(0, colon) == name_of(ns)) return ns;
    }
    return std::nullopt;
}

}  // namespace yw::cache
