#include "messaging/page_floors.hpp"

#include <fmt/format.h>

#include <charconv>
#include <functional>
#include <string>

namespace yw::messaging {

PageFloors::PageFloors() : slots_(std::make_unique<std::array<Slot, kSlots>>()) {}

std::uint64_t PageFloors::tag_of(std::string_view conversation_id) {
    std::uint64_t h = std::hash<std::string_view>{}(conversation_id);
    return h == 0 ? 1 : h;
}

std::optional<std::int64_t> PageFloors::find(std::string_view conversation_id, int limit) const {
    std::uint64_t tag = tag_of(conversation_id);
    size_t i = tag % kSlots;
    std::lock_guard lock(stripes_[i % kStripes]);
    const Slot& slot = (*slots_)[i];
    if (slot.tag != tag || slot.limit != limit) return std::nullopt;
    return slot.floor_us;
}

void PageFloors::remember(std::string_view conversation_id, int limit, std::int64_t floor_us) {
    std::uint64_t tag = tag_of(conversation_id);
    size_t i = tag % kSlots;
    std::lock_guard lock(stripes_[i % kStripes]);
    (*slots_)[i] = Slot{tag, floor_us, limit};
}

void PageFloors::forget(std::string_view conversation_id, int limit) {
    std::uint64_t tag = tag_of(conversation_id);
    size_t i = tag % kSlots;
    std::lock_guard lock(stripes_[i % kStripes]);
    Slot& slot = (*slots_)[i];
    if (slot.tag == tag && slot.limit == limit) slot = Slot{};
}

std::string PageFloors::shared_key(std::string_view tenant_id, std::string_view conversation_id, int limit) {
    return fmt::format("floors:{}:{}:{}", tenant_id, conversation_id, limit);
}

boost::asio::awaitable<std::optional<std::int64_t>> PageFloors::lookup(const std::string& tenant_id,
                                                                       const std::string& conversation_id,
                                                                       int limit) {
    if (auto local = find(conversation_id, limit)) co_return local;
    if (!redis_ || !redis_->connected()) co_return std::nullopt;
    redis::Command get{"GET", shared_key(tenant_id, conversation_id, limit)};
    auto reply = co_await redis_->command(std::move(get), std::chrono::steady_clock::now() + kSharedTimeout);
    if (!reply || !reply->is_string()) co_return std::nullopt;
    std::int64_t floor_us = 0;
    const std::string& text = reply->str;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), floor_us);
    if (ec != std::errc{} || end != text.data() + text.size() || floor_us <= 0) co_return std::nullopt;
    remember(conversation_id, limit, floor_us);
    co_return floor_us;
}

boost::asio::awaitable<void> PageFloors::keep(const std::string& tenant_id,
                                              const std::string& conversation_id, int limit,
                                              std::int64_t floor_us, std::optional<std::int64_t> known) {
    remember(conversation_id, limit, floor_us);
    if (!redis_ || !redis_->connected() || known == floor_us) co_return;
    redis::Command set{"SET", shared_key(tenant_id, conversation_id, limit), std::to_string(floor_us), "PX",
                       std::to_string(std::chrono::milliseconds(kSharedTtl).count())};
    (void)co_await redis_->command(std::move(set), std::chrono::steady_clock::now() + kSharedTimeout);
}

boost::asio::awaitable<void> PageFloors::drop(const std::string& tenant_id,
                                              const std::string& conversation_id, int limit) {
    forget(conversation_id, limit);
    if (!redis_ || !redis_->connected()) co_return;
    redis::Command del{"DEL", shared_key(tenant_id, conversation_id, limit)};
    (void)co_await redis_->command(std::move(del), std::chrono::steady_clock::now() + kSharedTimeout);
}

}  // namespace yw::messaging
