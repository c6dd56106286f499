// Table rendering and JSON printing shared by every ywctl command.
#include "output.hpp"

#include <boost/json/serialize.hpp>
#include <iostream>

namespace ywctl {
namespace {

size_t display_width(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // count UTF-8 lead bytes only
    return n;
}

}  // namespace

std::string render(const Table& table) {
    std::vector<size_t> widths(table.header.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    };
    measure(table.header);
    for (const auto& r : table.rows) measure(r);
    std::string out;
    auto line = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) out += std::string(widths[i] - display_width(row[i]) + 2, ' ');
        }
        out += '\n';
    };
    line(table.header);
    for (const auto& r : table.rows) line(r);
    return out;
}

const char* mark(bool ok) { return ok ? "✓" : "✗"; }

void print_json(const boost::json::value& value) { std::cout << boost::json::serialize(value) << std::endl; }

void print_error(bool json, const std::string& message) {
    if (json) {
        print_json(boost::json::object{{"error", message}});
    } else {
        std::cerr << "ywctl: " << message << std::endl;
    }
}

}  // namespace ywctl
