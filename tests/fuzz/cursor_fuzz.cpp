// Pagination cursors (src/messaging/cursor.*): any text → fields or a 400, never another list's fields; and
// whatever fields are encoded decode back unchanged.
#include <algorithm>

#include "fuzz.hpp"
#include "messaging/cursor.hpp"

using namespace yw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const messaging::CursorCodec codec("fuzz-secret-0123456789abcdef");
    static const std::vector<std::string> kScope{"m", "tenant-a", "conversation-1"};
    auto input = fuzz::text(data, size);
    auto fields = codec.decode(input, kScope);
    if (fields) {
        fuzz::require(
            fields->size() >= kScope.size() && std::equal(kScope.begin(), kScope.end(), fields->begin()),
            "a decoded cursor belongs to the asked list");
    }
    std::string raw;
    if (messaging::base64url_decode(input, raw)) {
        fuzz::require(messaging::base64url_encode(raw).size() <= input.size() + 2, "base64url sizes agree");
    }
    // Round trip: the input's bytes, split on '|' (which fields must not contain), as the cursor's fields
    // (short ones: decode refuses cursors over its size limit).
    if (size > 64) return 0;
    std::vector<std::string> mine = kScope;
    std::string_view rest = input;
    while (!rest.empty()) {
        auto bar = rest.find('|');
        mine.emplace_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
    }
    auto back = codec.decode(codec.encode(mine), kScope);
    fuzz::require(back.ok() && *back == mine, "encode then decode is the identity");
    std::vector<std::string> other_scope{"m", "tenant-b", "conversation-1"};
    fuzz::require(!codec.decode(codec.encode(mine), other_scope).ok(), "a cursor does not open another list");
    return 0;
}
