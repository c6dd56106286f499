// Conversations between a tenant and one of its users.
#include "common/json.hpp"
#include "common/uuid7.hpp"
#include "messaging/rows.hpp"
#include "messaging/services.hpp"
#include "pg/queries.hpp"

namespace yw::messaging {
namespace {

constexpr std::string_view kNoConversation = "no such conversation";
const std::vector<std::string_view> kStatuses = {"open", "closed", "archived"};

pg::Param opt(const Field<std::string>& f) { return f.has_value() ? pg::Param(f.value) : std::nullopt; }

}  // namespace

Task<Json> ConversationService::create(const Principal& p, const JsonBody& body) {
    auto user_id = body.string("user_id", 36, 36);
    if (!user_id) co_return user_id.error();
    if (!user_id->present) co_return make_error(ErrorCode::kInvalidArgument, "user_id is required");
    if (auto s = validate_uuid(user_id->value, "user_id"); !s) co_return s.error();
    auto status = body.one_of("status", kStatuses);
    if (!status) co_return status.error();
    auto subject = body.string("subject", 0, 500, true);
    if (!subject) co_return subject.error();
    std::string id = to_string(uuid7());
    pg::Params params{id, p.tenant_id, user_id->value, status->present ? status->value : std::string("open"),
                      opt(*subject)};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kConversationCreate, std::move(params));
    if (!rows) co_return client_error(rows.error(), "conflict");
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, "no such user");
    // The new conversation and its (empty) first page are stamped like any write to them: their first fills
    // must read a node that has the new row, or a lagging replica's 404 would be cached.
    std::vector<std::string> fresh{cache::conversation_key(p.tenant_id, id),
                                   cache::first_page_key(p.tenant_id, id)};
    co_await cache_.invalidate(std::move(fresh), written_lsn(rows));
    co_return conversation_json(Row(*rows, 0));
}

Task<Json> ConversationService::list(const Principal& p, const PageRequest& page,
                                     std::optional<std::string> status) {
    if (status && *status != "open" && *status != "closed" && *status != "archived") {
        co_return make_error(ErrorCode::kInvalidArgument, "status must be one of open, closed, archived");
    }
    const std::vector<std::string> scope{"c", p.tenant_id, status.value_or("*")};
    auto after = id_after(cursors_, page.cursor, scope);
    if (!after) co_return after.error();
    pg::Params params{p.tenant_id, status, *after, std::to_string(page.limit)};
    auto rows = co_await db_.exec(pg::Intent::kRead, pg::queries::kConversationList, std::move(params));
    if (!rows) co_return rows.error();
    boost::json::array data;
    for (int i = 0; i < rows->rows(); ++i) data.push_back(conversation_json(Row(*rows, i)));
    co_return messaging::page(std::move(data), next_id_cursor(cursors_, scope, *rows, page.limit));
}

Task<cache::Fetched> ConversationService::get(const Principal& p, std::string_view id) {
    if (auto s = validate_uuid(id, "conversation id"); !s) co_return s.error();
    cache::Cache::Loader loader = [&](cache::Cache::FillLsn fill) { return load(p, id, fill); };
    std::string key = cache::conversation_key(p.tenant_id, id);
    co_return co_await cache_.get(cache::Namespace::kConversations, key, std::move(loader));
}

Task<std::string> ConversationService::load(const Principal& p, std::string_view id,
                                            cache::Cache::FillLsn fill) {
    pg::Params params{std::string(id), p.tenant_id};
    auto rows = co_await load_read(db_, fill, pg::queries::kConversationGet, std::move(params));
    if (!rows) co_return rows.error();
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoConversation));
    co_return to_json(conversation_json(Row(*rows, 0)));
}

Task<Json> ConversationService::patch(const Principal& p, std::string_view id, const JsonBody& body) {
    if (auto s = validate_uuid(id, "conversation id"); !s) co_return s.error();
    auto status = body.one_of("status", kStatuses);
    if (!status) co_return status.error();
    auto subject = body.string("subject", 0, 500, true);
    if (!subject) co_return subject.error();
    if (body.empty()) co_return make_error(ErrorCode::kInvalidArgument, "nothing to change");
    auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
    pg::Params params{std::string(id),        p.tenant_id,  flag(status->present), opt(*status),
                      flag(subject->present), opt(*subject)};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kConversationPatch, std::move(params));
    std::vector<std::string> stale{cache::conversation_key(p.tenant_id, id)};
    co_await cache_.invalidate(std::move(stale), written_lsn(rows));
    if (!rows) co_return client_error(rows.error(), "conflict");
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoConversation));
    co_return conversation_json(Row(*rows, 0));
}

}  // namespace yw::messaging
