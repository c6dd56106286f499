// Manifest JSON: writing and strict reading (see manifest.hpp).
#include "archive/manifest.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <regex>

namespace yw::archive {

namespace json = boost::json;

std::string object_key(const std::string& table) { return "partitions/" + table + ".csv.gz"; }
std::string manifest_key(const std::string& table) { return "partitions/" + table + ".manifest.json"; }

std::string to_json(const Manifest& m) {
    json::array columns;
    for (const auto& c : m.columns)
        columns.push_back({{"name", c.name}, {"type", c.type}, {"not_null", c.not_null}});
    json::object o{
        {"format", m.format},
        {"table", m.table},
        {"parent", m.parent},
        {"month", m.month},
        {"bounds", {{"from", m.from}, {"to", m.to}}},
        {"columns", std::move(columns)},
        {"ddl", m.ddl},
        {"rows", m.rows},
        {"csv", {{"bytes", m.csv_bytes}, {"sha256", m.csv_sha256}, {"format", "csv, header, UTF-8"}}},
        {"object",
         {{"key", m.object_key},
          {"bytes", m.object_bytes},
          {"sha256", m.object_sha256},
          {"encoding", "gzip"}}},
        {"table_bytes", m.table_bytes},
        {"server_version", m.server_version},
        {"archived_at", m.archived_at},
        {"tool", m.tool},
    };
    return json::serialize(o) + "\n";
}

namespace {

Error bad(const std::string& what) { return make_error(ErrorCode::kUnprocessable, "manifest: " + what); }

bool is_sha256_hex(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view text) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec || !doc.is_object()) return bad("not a JSON object");
    const json::object& o = doc.as_object();
    auto str = [&](const json::object& obj, const char* key, std::string& out) -> bool {
        const json::value* v = obj.if_contains(key);
        if (!v || !v->is_string()) return false;
        out = std::string(v->as_string());
        return true;
    };
    auto count = [&](const json::object& obj, const char* key, auto& out) -> bool {
        const json::value* v = obj.if_contains(key);
        if (!v) return false;
        if (v->is_int64() && v->as_int64() >= 0) {
            out = static_cast<std::remove_reference_t<decltype(out)>>(v->as_int64());
            return true;
        }
        if (v->is_uint64()) {
            out = static_cast<std::remove_reference_t<decltype(out)>>(v->as_uint64());
            return true;
        }
        return false;
    };
    Manifest m;
    if (!str(o, "format", m.format) || m.format != kManifestFormat)
        return bad(fmt::format("format must be \"{}\"", kManifestFormat));
    if (!str(o, "table", m.table) || !str(o, "parent", m.parent) || !str(o, "month", m.month))
        return bad("table, parent and month are required strings");
    static const std::regex month_re("[0-9]{4}_(0[1-9]|1[0-2])");
    if (!std::regex_match(m.month, month_re)) return bad("month must be YYYY_MM");
    if (m.parent != "conversation_message" || m.table != m.parent + "_" + m.month)
        return bad("table must be conversation_message_<month>");
    const json::value* bounds = o.if_contains("bounds");
    if (!bounds || !bounds->is_object() || !str(bounds->as_object(), "from", m.from) ||
        !str(bounds->as_object(), "to", m.to))
        return bad("bounds.from and bounds.to are required");
    const json::value* columns = o.if_contains("columns");
    if (!columns || !columns->is_array() || columns->as_array().empty())
        return bad("columns must be a non-empty array");
    static const std::regex name_re("[a-z_][a-z0-9_]{0,62}");
    for (const auto& cv : columns->as_array()) {
        if (!cv.is_object()) return bad("each column must be an object");
        Column c;
        if (!str(cv.as_object(), "name", c.name) || !std::regex_match(c.name, name_re))
            return bad("a column name is missing or not a plain identifier");
        str(cv.as_object(), "type", c.type);
        if (const auto* nn = cv.as_object().if_contains("not_null"); nn && nn->is_bool())
            c.not_null = nn->as_bool();
        m.columns.push_back(std::move(c));
    }
    str(o, "ddl", m.ddl);
    if (!count(o, "rows", m.rows)) return bad("rows must be a non-negative integer");
    const json::value* csv = o.if_contains("csv");
    if (!csv || !csv->is_object() || !count(csv->as_object(), "bytes", m.csv_bytes) ||
        !str(csv->as_object(), "sha256", m.csv_sha256) || !is_sha256_hex(m.csv_sha256))
        return bad("csv.bytes and csv.sha256 (64 lower-case hex digits) are required");
    const json::value* object = o.if_contains("object");
    if (!object || !object->is_object() || !str(object->as_object(), "key", m.object_key) ||
        !count(object->as_object(), "bytes", m.object_bytes) ||
        !str(object->as_object(), "sha256", m.object_sha256) || !is_sha256_hex(m.object_sha256))
        return bad("object.key, object.bytes and object.sha256 (64 lower-case hex digits) are required");
    if (m.object_key != object_key(m.table)) return bad("object.key must be " + object_key(m.table));
    count(o, "table_bytes", m.table_bytes);
    str(o, "server_version", m.server_version);
    str(o, "archived_at", m.archived_at);
    str(o, "tool", m.tool);
    return m;
}

}  // namespace yw::archive
