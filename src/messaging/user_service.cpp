// The people a tenant messages: create, page through, read, change, soft-delete.
#include <fmt/format.h>

#include <regex>

#include "common/json.hpp"
#include "common/uuid7.hpp"
#include "messaging/rows.hpp"
#include "messaging/services.hpp"
#include "pg/queries.hpp"

namespace yw::messaging {
namespace {

constexpr std::string_view kNoUser = "no such user";
constexpr std::string_view kPhoneTaken = "another user of this tenant has this phone number";

Status validate_contact(const Field<std::string>& phone, const Field<std::string>& email) {
    static const std::regex phone_pattern(R"(^\+?[0-9]{5,20}$)");
    if (phone.has_value() && !std::regex_match(phone.value, phone_pattern)) {
        return make_error(ErrorCode::kInvalidArgument, "phone must be an optional + and 5 to 20 digits");
    }
    if (email.has_value() && (email.value.find('@') == std::string::npos || email.value.front() == '@' ||
                              email.value.back() == '@')) {
        return make_error(ErrorCode::kInvalidArgument, "email must look like name@domain");
    }
    return {};
}

pg::Param opt(const Field<std::string>& f) { return f.has_value() ? pg::Param(f.value) : std::nullopt; }

}  // namespace

Task<Json> UserService::create(const Principal& p, const JsonBody& body) {
    auto name = body.string("name", 1, 200);
    if (!name) co_return name.error();
    if (!name->present) co_return make_error(ErrorCode::kInvalidArgument, "name is required");
    auto phone = body.string("phone", 1, 21, true);
    if (!phone) co_return phone.error();
    auto email = body.string("email", 3, 320, true);
    if (!email) co_return email.error();
    if (auto s = validate_contact(*phone, *email); !s) co_return s.error();
    std::string id = to_string(uuid7());
    pg::Params params{id, p.tenant_id, name->value, opt(*phone), opt(*email)};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kUserCreate, std::move(params));
    if (!rows) co_return client_error(rows.error(), kPhoneTaken);
    // Stamped like any write to the key: the first fill must read a node that has the new row, or a lagging
    // replica's 404 would be cached.
    std::vector<std::string> fresh{cache::user_key(p.tenant_id, id)};
    co_await cache_.invalidate(std::move(fresh), written_lsn(rows));
    co_return user_json(Row(*rows, 0));
}

Task<Json> UserService::list(const Principal& p, const PageRequest& page) {
    const std::vector<std::string> scope{"u", p.tenant_id};
    auto after = id_after(cursors_, page.cursor, scope);
    if (!after) co_return after.error();
    pg::Params params{p.tenant_id, *after, std::to_string(page.limit)};
    auto rows = co_await db_.exec(pg::Intent::kRead, pg::queries::kUserList, std::move(params));
    if (!rows) co_return rows.error();
    boost::json::array data;
    for (int i = 0; i < rows->rows(); ++i) data.push_back(user_json(Row(*rows, i)));
    co_return messaging::page(std::move(data), next_id_cursor(cursors_, scope, *rows, page.limit));
}

Task<cache::Fetched> UserService::get(const Principal& p, std::string_view id) {
    if (auto s = validate_uuid(id, "user id"); !s) co_return s.error();
    cache::Cache::Loader loader = [&](cache::Cache::FillLsn fill) { return load(p, id, fill); };
    std::string key = cache::user_key(p.tenant_id, id);
    co_return co_await cache_.get(cache::Namespace::kUsers, key, std::move(loader));
}

Task<std::string> UserService::load(const Principal& p, std::string_view id, cache::Cache::FillLsn fill) {
    pg::Params params{std::string(id), p.tenant_id};
    auto rows = co_await load_read(db_, fill, pg::queries::kUserGet, std::move(params));
    if (!rows) co_return rows.error();
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoUser));
    co_return to_json(user_json(Row(*rows, 0)));
}

Task<Json> UserService::patch(const Principal& p, std::string_view id, const JsonBody& body) {
    if (auto s = validate_uuid(id, "user id"); !s) co_return s.error();
    auto name = body.string("name", 1, 200);
    if (!name) co_return name.error();
    auto phone = body.string("phone", 1, 21, true);
    if (!phone) co_return phone.error();
    auto email = body.string("email", 3, 320, true);
    if (!email) co_return email.error();
    if (auto s = validate_contact(*phone, *email); !s) co_return s.error();
    if (body.empty()) co_return make_error(ErrorCode::kInvalidArgument, "nothing to change");
    auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
    pg::Params params{std::string(id),      p.tenant_id, flag(name->present),  opt(*name),
                      flag(phone->present), opt(*phone), flag(email->present), opt(*email)};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kUserPatch, std::move(params));
    std::vector<std::string> stale{cache::user_key(p.tenant_id, id)};
    co_await cache_.invalidate(std::move(stale), written_lsn(rows));
    if (!rows) co_return client_error(rows.error(), kPhoneTaken);
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoUser));
    co_return user_json(Row(*rows, 0));
}

Task<bool> UserService::remove(const Principal& p, std::string_view id) {
    if (auto s = validate_uuid(id, "user id"); !s) co_return s.error();
    pg::Params params{std::string(id), p.tenant_id};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kUserDelete, std::move(params));
    std::vector<std::string> stale{cache::user_key(p.tenant_id, id)};
    co_await cache_.invalidate(std::move(stale), written_lsn(rows));
    if (!rows) co_return rows.error();
    if (rows->affected_rows() == 0) co_return make_error(ErrorCode::kNotFound, std::string(kNoUser));
    co_return true;
}

}  // namespace yw::messaging
