// Table rendering and JSON printing shared by every ywctl command.
#include "output.hpp"

#include <unistd.h>

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

const char* level_name(Level level) {
    switch (level) {
        case Level::kOk:
            return "ok";
        case Level::kWarning:
            return "warning";
        case Level::kCritical:
            return "critical";
        case Level::kUnknown:
            return "unknown";
    }
    return "unknown";
}

Level worst(Level a, Level b) {
    auto rank = [](Level l) {
        switch (l) {
            case Level::kOk:
                return 0;
            case Level::kUnknown:
                return 1;
            case Level::kWarning:
                return 2;
            case Level::kCritical:
                return 3;
        }
        return 1;
    };
    return rank(a) >= rank(b) ? a : b;
}

Level CheckReport::level() const {
    Level l = Level::kOk;
    for (const auto& r : rows) l = worst(l, r.level);
    return l;
}

void CheckReport::print(bool json) const {
    if (json) {
        boost::json::array checks;
        for (const auto& r : rows) {
            checks.push_back({{"name", r.name},
                              {"status", level_name(r.level)},
                              {"value", r.value},
                              {"threshold", r.threshold},
                              {"detail", r.detail}});
        }
        boost::json::array steps;
        for (const auto& s : next_steps) steps.push_back(boost::json::string(s));
        print_json(boost::json::object{{"title", title},
                                       {"status", level_name(level())},
                                       {"checks", std::move(checks)},
                                       {"data", data},
                                       {"next_steps", std::move(steps)}});
        return;
    }
    Table table{{"", "check", "value", "threshold", "detail"}, {}};
    for (const auto& r : rows) {
        std::string m = mark(r.level == Level::kOk);
        if (r.level != Level::kOk) m += std::string(" ") + level_name(r.level);
        table.rows.push_back({m, r.name, r.value, r.threshold, r.detail});
    }
    std::cout << title << ": " << level_name(level()) << "\n\n" << render(table);
    if (!next_steps.empty()) {
        std::cout << "\nNext:\n";
        for (const auto& s : next_steps) std::cout << "  " << s << "\n";
    }
    std::cout << std::flush;
}

bool confirm(const std::vector<std::string>& plan, bool yes, bool json) {
    std::ostream& out = json ? std::cerr : std::cout;
    out << "Plan:\n";
    for (size_t i = 0; i < plan.size(); ++i) out << "  " << i + 1 << ". " << plan[i] << "\n";
    out << std::flush;
    if (yes) return true;
    if (!isatty(STDIN_FILENO)) {
        print_error(json, "refusing to act without --yes (stdin is not a terminal)");
        return false;
    }
    out << "Type yes to go on: " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer == "yes") return true;
    print_error(json, "not confirmed; nothing done");
    return false;
}

}  // namespace ywctl
