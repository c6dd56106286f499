// Redis's INFO reply: see info.hpp.
#include "redis/info.hpp"

#include <charconv>

namespace yw::redis {
namespace {

std::optional<std::uint64_t> to_u64(std::string_view text) {
    std::uint64_t out = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
    return out;
}

}  // namespace

Info parse_info(std::string_view text) {
    Info out;
    while (!text.empty()) {
        auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        out.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
    return out;
}

std::optional<std::uint64_t> info_u64(const Info& info, std::string_view field) {
    auto it = info.find(field);
    if (it == info.end()) return std::nullopt;
    return to_u64(it->second);
}

std::uint64_t keyspace_keys(const Info& info) {
    std::uint64_t keys = 0;
    for (const auto& [name, value] : info) {
        if (name.size() < 3 || name.compare(0, 2, "db") != 0 || !to_u64(std::string_view(name).substr(2)))
            continue;
        std::string_view v = value;
        if (v.compare(0, 5, "keys=") != 0) continue;
        v.remove_prefix(5);
        if (auto comma = v.find(','); comma != std::string_view::npos) v = v.substr(0, comma);
        if (auto n = to_u64(v)) keys += *n;
    }
    return keys;
}

}  // namespace yw::redis
