// Row access by column name and text arrays.
#include "pg/row.hpp"

#include <libpq-fe.h>

#include <cassert>

#include "common/time.hpp"

namespace yw::pg {

int column_index(const ResultSet& rs, std::string_view column) {
    std::string name(column);
    int c = PQfnumber(rs.raw(), name.c_str());
    assert(c >= 0 && "a registry query lacks a column the service reads");
    return c;
}

std::int64_t int64_at(const ResultSet& rs, int row, int col) {
    std::int64_t v = 0;
    bool ok = parse_int64(rs.get(row, col), v);
    assert(ok && "an integer column was not an integer");
    (void)ok;
    return v;
}

int Row::col(std::string_view column) const { return column_index(rs_, column); }

std::string Row::text(std::string_view column) const { return std::string(view(column)); }

std::string_view Row::view(std::string_view column) const { return rs_.get(row_, col(column)); }

bool Row::is_null(std::string_view column) const { return rs_.is_null(row_, col(column)); }

std::int64_t Row::int64(std::string_view column) const { return int64_at(rs_, row_, col(column)); }

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

}  // namespace yw::pg
