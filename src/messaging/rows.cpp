// Row access by name and the JSON shapes of docs/api.md.
#include "messaging/rows.hpp"

#include <libpq-fe.h>

#include <cassert>
#include <string>

#include "common/time.hpp"

namespace yw::messaging {

int Row::col(std::string_view column) const {
    std::string name(column);
    int c = PQfnumber(rs_.raw(), name.c_str());
    assert(c >= 0 && "a registry query lacks a column the service reads");
    return c;
}

std::string Row::text(std::string_view column) const { return std::string(view(column)); }

std::string_view Row::view(std::string_view column) const { return rs_.get(row_, col(column)); }

bool Row::is_null(std::string_view column) const { return rs_.is_null(row_, col(column)); }

boost::json::value Row::nullable_text(std::string_view column) const {
    if (is_null(column)) return nullptr;
    return boost::json::string(rs_.get(row_, col(column)));
}

std::int64_t Row::int64(std::string_view column) const {
    std::int64_t v = 0;
    bool ok = parse_int64(rs_.get(row_, col(column)), v);
    assert(ok && "an integer column was not an integer");
    (void)ok;
    return v;
}

boost::json::value Row::timestamp(std::string_view column) const {
    if (is_null(column)) return nullptr;
    return boost::json::string(rfc3339_from_us(int64(column)));
}

boost::json::object user_json(const Row& r) {
    return {{"id", r.view("id")},
            {"name", r.view("name")},
            {"phone", r.nullable_text("phone")},
            {"email", r.nullable_text("email")},
            {"created_at", r.timestamp("created_us")},
            {"updated_at", r.timestamp("updated_us")}};
}

boost::json::object conversation_json(const Row& r) {
    return {{"id", r.view("id")},
            {"user_id", r.view("user_id")},
            {"status", r.view("status")},
            {"subject", r.nullable_text("subject")},
            {"last_message_at", r.timestamp("last_message_us")},
            {"created_at", r.timestamp("created_us")},
            {"updated_at", r.timestamp("updated_us")}};
}

boost::json::object message_json(const Row& r) {
    return {{"id", r.view("id")},
            {"conversation_id", r.view("conversation_id")},
            {"direction", r.view("direction")},
            {"channel", r.view("channel")},
            {"content", r.view("content")},
            {"delivery_status", r.view("delivery_status")},
            {"created_at", r.timestamp("created_us")}};
}

boost::json::object api_key_json(const Row& r) {
    boost::json::array ips;
    for (auto& ip : parse_text_array(r.view("whitelist_ips"))) ips.emplace_back(ip);
    boost::json::value burst = nullptr;
    if (!r.is_null("burst_size")) burst = r.int64("burst_size");
    return {{"id", r.view("id")},
            {"tenant_id", r.view("tenant_id")},
            {"prefix", r.view("prefix")},
            {"name", r.nullable_text("name")},
            {"tier", r.view("tier")},
            {"burst_size", burst},
            {"whitelist_ips", ips},
            {"blocked", r.boolean("blocked")},
            {"block_reason", r.nullable_text("block_reason")},
            {"created_at", r.timestamp("created_us")},
            {"updated_at", r.timestamp("updated_us")},
            {"last_used_at", r.timestamp("last_used_us")}};
}

boost::json::object tenant_json(const Row& r) {
    return {{"id", r.view("id")}, {"name", r.view("name")}, {"created_at", r.timestamp("created_us")}};
}

std::vector<std::string> parse_text_array(std::string_view text) {
    std::vector<std::string> out;
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') return out;
    text = text.substr(1, text.size() - 2);
    while (!text.empty()) {
        auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        if (item.size() >= 2 && item.front() == '"' && item.back() == '"')
            item = item.substr(1, item.size() - 2);
        out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        text = text.substr(comma + 1);
    }
    return out;
}

std::string text_array(const std::vector<std::string>& items, bool empty_as_null) {
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        if (empty_as_null && items[i].empty()) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char c : items[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

boost::json::object page(boost::json::array data, const std::string& next_cursor) {
    boost::json::object o;
    o["data"] = std::move(data);
    o["next_cursor"] = next_cursor.empty() ? boost::json::value(nullptr) : boost::json::value(next_cursor);
    return o;
}

}  // namespace yw::messaging
