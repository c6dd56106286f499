#include "messaging/page_floors.hpp"

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

}  // namespace yw::messaging
