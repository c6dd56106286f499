// Messages of a conversation: the hot path of the product (the latest 50, newest first).
#include <memory>

#include "common/json.hpp"
#include "common/time.hpp"
#include "common/uuid7.hpp"
#include "messaging/rows.hpp"
#include "messaging/services.hpp"
#include "pg/queries.hpp"

namespace yw::messaging {
namespace {

constexpr std::string_view kNoConversation = "no such conversation";
// Below the floor itself: (created_at, id) < (floor, the nil UUID) is created_at < floor.
const std::string kMinId = "00000000-0000-0000-0000-000000000000";

// What a new or deleted message makes stale: the conversation (last_message_at) and its first page.
std::vector<std::string> message_keys(const Principal& p, std::string_view conversation_id) {
    return {cache::conversation_key(p.tenant_id, conversation_id),
            cache::first_page_key(p.tenant_id, conversation_id)};
}

}  // namespace

Task<Json> MessageService::create(const Principal& p, std::string_view conversation_id,
                                  const JsonBody& body) {
    if (auto s = validate_uuid(conversation_id, "conversation id"); !s) co_return s.error();
    auto content = body.string("content", 1, kMaxMessageLength, false, ErrorCode::kUnprocessable);
    if (!content) co_return content.error();
    if (!content->present) co_return make_error(ErrorCode::kInvalidArgument, "content is required");
    auto direction = body.one_of("direction", {"inbound", "outbound"});
    if (!direction) co_return direction.error();
    auto channel = body.one_of("channel", {"sms", "mms"});
    if (!channel) co_return channel.error();
    pg::Params params{to_string(uuid7()),
                      std::string(conversation_id),
                      p.tenant_id,
                      direction->present ? direction->value : std::string("outbound"),
                      channel->present ? channel->value : std::string("sms"),
                      content->value};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kMessageCreate, std::move(params));
    co_await cache_.invalidate(message_keys(p, conversation_id), written_lsn(rows));
    if (!rows) co_return client_error(rows.error(), "conflict");
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoConversation));
    co_return message_json(Row(*rows, 0));
}

Task<cache::Fetched> MessageService::list(const Principal& p, std::string_view conversation_id,
                                          const PageRequest& page) {
    if (auto s = validate_uuid(conversation_id, "conversation id"); !s) co_return s.error();
    if (page.cursor.empty() && page.limit == kDefaultPageLimit) {
        cache::Cache::Loader loader = [&](cache::Cache::FillLsn fill) {
            return load_page(p, conversation_id, page, fill);
        };
        std::string key = cache::first_page_key(p.tenant_id, conversation_id);
        co_return co_await cache_.get(cache::Namespace::kMessages, key, std::move(loader));
    }
    auto body = co_await load_page(p, conversation_id, page, std::nullopt);
    if (!body) co_return body.error();
    co_return cache::Fetched{std::move(body.value()), cache::Outcome::kBypass};
}

Task<std::string> MessageService::load_page(const Principal& p, std::string_view conversation_id,
                                            const PageRequest& page, cache::Cache::FillLsn fill) {
    std::string conv(conversation_id);
    std::string limit = std::to_string(page.limit);
    // Written as text: this page is the product's hot path. (On the heap: GCC 12 warns of a mismatched
    // delete for the coroutine frame when it holds a PageText.)
    auto data = std::make_unique<PageText>(kMessageShape);
    std::int64_t last_us = 0;
    std::string last_id;
    auto remember_last = [&](const pg::ResultSet& rows) {
        if (rows.rows() == 0) return;
        Row last(rows, rows.rows() - 1);
        last_us = last.int64("created_us");
        last_id = last.text("id");
    };
    auto older_than = [&](std::int64_t before_us, std::string before_id, int count) {
        pg::Params params{conv, p.tenant_id, std::to_string(count), rfc3339_from_us(before_us),
                          std::move(before_id)};
        return load_read(db_, fill, pg::queries::kMessagesBefore, std::move(params));
    };

    if (page.cursor.empty()) {
        // One statement: from the floor of the last full page when there is one (pruned to the partitions
        // that hold the page), else the whole conversation newest first.
        std::optional<std::int64_t> floor = floors_.find(conv, page.limit);
        pg::Params first_params{conv, p.tenant_id, limit};
        if (floor) first_params.emplace_back(rfc3339_from_us(*floor));
        const pg::Query& first_query = floor ? pg::queries::kMessagesRecent : pg::queries::kMessagesLatest;
        auto first = co_await load_read(db_, fill, first_query, std::move(first_params));
        if (!first) co_return first.error();
        data->append(*first);
        remember_last(*first);
        if (floor && first->rows() < page.limit) {
            // Messages were deleted since: the rest lies below the window (or below its last row).
            floors_.forget(conv, page.limit);
            std::int64_t below_us = first->rows() > 0 ? last_us : *floor;
            std::string below_id = first->rows() > 0 ? last_id : kMinId;
            auto older = co_await older_than(below_us, std::move(below_id), page.limit - first->rows());
            if (!older) co_return older.error();
            data->append(*older);
            remember_last(*older);
        }
        if (data->size() == page.limit) floors_.remember(conv, page.limit, last_us);
    } else {
        auto fields = cursors_.decode(page.cursor, {"m", p.tenant_id, conv});
        std::int64_t before_us = 0;
        if (!fields) co_return fields.error();
        if (fields->size() != 5 || !parse_int64((*fields)[3], before_us) ||
            !validate_uuid((*fields)[4], "cursor")) {
            co_return make_error(ErrorCode::kInvalidArgument, "invalid cursor");
        }
        auto rows = co_await older_than(before_us, (*fields)[4], page.limit);
        if (!rows) co_return rows.error();
        data->append(*rows);
        remember_last(*rows);
    }
    if (data->size() == 0) {
        // An empty page of a conversation that is not this tenant's must look like one that does not exist.
        pg::Params exists_params{conv, p.tenant_id};
        auto exists =
            co_await load_read(db_, fill, pg::queries::kConversationExists, std::move(exists_params));
        if (!exists) co_return exists.error();
        if (exists->rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoConversation));
    }
    std::string next;
    if (data->size() == page.limit)
        next = cursors_.encode({"m", p.tenant_id, conv, std::to_string(last_us), last_id});
    co_return data->finish(next);
}

Task<bool> MessageService::remove(const Principal& p, std::string_view conversation_id,
                                  std::string_view message_id) {
    if (auto s = validate_uuid(conversation_id, "conversation id"); !s) co_return s.error();
    Uuid id{};
    if (!parse_uuid(message_id, id))
        co_return make_error(ErrorCode::kInvalidArgument, "message id is not a valid UUID");
    std::int64_t ms = 0;
    for (int i = 0; i < 6; ++i) ms = ms << 8 | id[static_cast<size_t>(i)];
    constexpr std::int64_t kYear9999Ms =
        253402300799999;  // ids we make carry a real time; others cannot match
    if (ms > kYear9999Ms) co_return make_error(ErrorCode::kNotFound, "no such message");
    pg::Params params{std::string(message_id), std::string(conversation_id), p.tenant_id,
                      rfc3339_from_us(ms * 1000)};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kMessageDelete, std::move(params));
    co_await cache_.invalidate(message_keys(p, conversation_id), written_lsn(rows));
    if (!rows) co_return client_error(rows.error(), "conflict");
    if (rows->affected_rows() == 0) co_return make_error(ErrorCode::kNotFound, "no such message");
    co_return true;
}

}  // namespace yw::messaging
