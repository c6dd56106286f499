// PageFloors: how far back each recently read conversation's first page reached, so the next first page is
// one query pruned to the partitions that hold it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

namespace yw::messaging {

// A first page of N messages is the N newest. Once a full page was read, at least N messages exist at or
// after its last row's created_at (the floor); new messages only arrive later, so `created_at >= floor`
// still holds the N newest until messages are deleted (then the window holds fewer than N and the service
// asks again below it). Without a floor the service runs the unbounded query, whose generic plan scans the
// partitions newest first and stops at N rows (an ordered Append).
//
// A hint, never an answer: a wrong or lost floor costs a query, not a row. Fixed memory: a direct-mapped
// table of kSlots entries keyed by the conversation id's hash; a collision replaces the older entry.
class PageFloors {
  public:
    static constexpr size_t kSlots = 1 << 15;  // 32,768 conversations, 24 bytes each: 768 KiB

    PageFloors();

    // The floor remembered for a page of `limit` messages of `conversation_id` (µs since the epoch).
    std::optional<std::int64_t> find(std::string_view conversation_id, int limit) const;
    // A page of `limit` messages came back full, its oldest row created at `floor_us`.
    void remember(std::string_view conversation_id, int limit, std::int64_t floor_us);
    // A window came back short: the floor no longer holds (messages were deleted).
    void forget(std::string_view conversation_id, int limit);

  private:
    struct Slot {
        std::uint64_t tag = 0;  // the key's hash; 0: empty
        std::int64_t floor_us = 0;
        int limit = 0;
    };
    static std::uint64_t tag_of(std::string_view conversation_id);
    static constexpr size_t kStripes = 64;

    std::unique_ptr<std::array<Slot, kSlots>> slots_;
    mutable std::array<std::mutex, kStripes> stripes_;
};

}  // namespace yw::messaging
