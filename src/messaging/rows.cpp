// Row access by name and the JSON shapes of docs/api.md.
#include "messaging/rows.hpp"

#include <string>

#include "common/json.hpp"
#include "common/time.hpp"

namespace yw::messaging {
boost::json::value nullable_text(const Row& r, std::string_view column) {
    if (r.is_null(column)) return nullptr;
    return boost::json::string(r.view(column));
}

boost::json::value timestamp(const Row& r, std::string_view column) {
    if (r.is_null(column)) return nullptr;
    return boost::json::string(rfc3339_from_us(r.int64(column)));
}

namespace {

constexpr ShapeField kUserFields[] = {
    {"id", "id", FieldKind::kText},
    {"name", "name", FieldKind::kText},
    {"phone", "phone", FieldKind::kNullableText},
    {"email", "email", FieldKind::kNullableText},
    {"created_at", "created_us", FieldKind::kTimestamp},
    {"updated_at", "updated_us", FieldKind::kTimestamp},
};
constexpr ShapeField kConversationFields[] = {
    {"id", "id", FieldKind::kText},
    {"user_id", "user_id", FieldKind::kText},
    {"status", "status", FieldKind::kText},
    {"subject", "subject", FieldKind::kNullableText},
    {"last_message_at", "last_message_us", FieldKind::kTimestamp},
    {"created_at", "created_us", FieldKind::kTimestamp},
    {"updated_at", "updated_us", FieldKind::kTimestamp},
};
constexpr ShapeField kMessageFields[] = {
    {"id", "id", FieldKind::kText},
    {"conversation_id", "conversation_id", FieldKind::kText},
    {"direction", "direction", FieldKind::kText},
    {"channel", "channel", FieldKind::kText},
    {"content", "content", FieldKind::kText},
    {"delivery_status", "delivery_status", FieldKind::kText},
    {"created_at", "created_us", FieldKind::kTimestamp},
};

}  // namespace

const Shape kUserShape{kUserFields};
const Shape kConversationShape{kConversationFields};
const Shape kMessageShape{kMessageFields};

boost::json::object render(const Row& r, Shape shape) {
    boost::json::object o;
    o.reserve(shape.size());
    for (const ShapeField& f : shape) {
        switch (f.kind) {
            case FieldKind::kText:
                o.emplace(f.name, r.view(f.column));
                break;
            case FieldKind::kNullableText:
                o.emplace(f.name, nullable_text(r, f.column));
                break;
            case FieldKind::kTimestamp:
                o.emplace(f.name, timestamp(r, f.column));
                break;
        }
    }
    return o;
}

boost::json::object user_json(const Row& r) { return render(r, kUserShape); }
boost::json::object conversation_json(const Row& r) { return render(r, kConversationShape); }
boost::json::object message_json(const Row& r) { return render(r, kMessageShape); }

PageText::PageText(Shape shape) : shape_(shape) {
    out_.reserve(4096);
    out_ = R"({"data":[)";
}

void PageText::append(const pg::ResultSet& rows) {
    if (rows.rows() == 0) return;
    cols_.clear();
    for (const ShapeField& f : shape_) cols_.push_back(pg::column_index(rows, f.column));
    for (int row = 0; row < rows.rows(); ++row, ++size_) {
        out_ += size_ ? R"(,{)" : R"({)";
        for (size_t i = 0; i < shape_.size(); ++i) {
            const ShapeField& f = shape_[i];
            const int c = cols_[i];
            if (i) out_ += ',';
            append_json_string(f.name, out_);
            out_ += ':';
            if (f.kind != FieldKind::kText && rows.is_null(row, c)) {
                out_ += "null";
            } else if (f.kind == FieldKind::kTimestamp) {
                out_ += '"';
                out_ += rfc3339_from_us(pg::int64_at(rows, row, c));
                out_ += '"';
            } else {
                append_json_string(rows.get(row, c), out_);
            }
        }
        out_ += '}';
    }
}

std::string PageText::finish(const std::string& next_cursor) {
    out_ += R"(],"next_cursor":)";
    if (next_cursor.empty()) {
        out_ += "null";
    } else {
        append_json_string(next_cursor, out_);
    }
    out_ += '}';
    return std::move(out_);
}

boost::json::object api_key_json(const Row& r) {
    boost::json::array ips;
    for (auto& ip : parse_text_array(r.view("whitelist_ips"))) ips.emplace_back(ip);
    boost::json::value burst = nullptr;
    if (!r.is_null("burst_size")) burst = r.int64("burst_size");
    return {{"id", r.view("id")},
            {"tenant_id", r.view("tenant_id")},
            {"prefix", r.view("prefix")},
            {"name", nullable_text(r, "name")},
            {"tier", r.view("tier")},
            {"burst_size", burst},
            {"whitelist_ips", ips},
            {"blocked", r.boolean("blocked")},
            {"block_reason", nullable_text(r, "block_reason")},
            {"created_at", timestamp(r, "created_us")},
            {"updated_at", timestamp(r, "updated_us")},
            {"last_used_at", timestamp(r, "last_used_us")}};
}

boost::json::object tenant_json(const Row& r) {
    return {{"id", r.view("id")}, {"name", r.view("name")}, {"created_at", timestamp(r, "created_us")}};
}

boost::json::object page(boost::json::array data, const std::string& next_cursor) {
    boost::json::object o;
    o["data"] = std::move(data);
    o["next_cursor"] = next_cursor.empty() ? boost::json::value(nullptr) : boost::json::value(next_cursor);
    return o;
}

}  // namespace yw::messaging
