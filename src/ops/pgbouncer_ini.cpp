// pgbouncer.ini line by line: see pgbouncer_ini.hpp.
#include "ops/pgbouncer_ini.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace yw::ops {
namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::optional<std::string> section_of(const std::string& line) {
    std::string t = trim(line);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') return lower(trim(t.substr(1, t.size() - 2)));
    return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> key_value(const std::string& line) {
    std::string t = trim(line);
    if (t.empty() || t[0] == ';' || t[0] == '#') return std::nullopt;
    auto eq = t.find('=');
    if (eq == std::string::npos) return std::nullopt;
    return std::pair{lower(trim(t.substr(0, eq))), trim(t.substr(eq + 1))};
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream ss(text);
    for (std::string line; std::getline(ss, line);) out.push_back(line);
    return out;
}

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string key_of(const std::string& word) { return word.substr(0, word.find('=')); }

}  // namespace

std::vector<std::pair<std::string, std::string>> section_entries(const std::string& text,
                                                                 const std::string& section) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string current;
    for (const auto& line : lines_of(text)) {
        if (auto opened = section_of(line)) {
            current = *opened;
        } else if (auto kv = key_value(line); kv && current == lower(section)) {
            out.push_back(std::move(*kv));
        }
    }
    return out;
}

Endpoint entry_endpoint(const std::string& connstr) {
    Endpoint e{"", 5432};
    for (const auto& w : words(connstr)) {
        auto eq = w.find('=');
        if (eq == std::string::npos) continue;
        std::string k = w.substr(0, eq), v = w.substr(eq + 1);
        if (k == "host") e.host = v;
        if (k == "port") {
            // The whole value, 1–65535; anything else (also "15432x", which stoi read as 15432) is -1, an
            // endpoint that matches none of ours.
            int port = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
            e.port =
                ec == std::errc{} && end == v.data() + v.size() && port >= 1 && port <= 65535 ? port : -1;
        }
    }
    return e;
}

RepointResult repoint_databases(const std::string& ini, const std::vector<Endpoint>& from,
                                const Endpoint& to) {
    RepointResult out;
    std::istringstream in(ini);
    std::string section;
    for (std::string line; std::getline(in, line);) {
        std::string t = trim(line);
        if (auto opened = section_of(line)) section = *opened;
        auto eq = line.find('=');
        bool entry = section == "databases" && !t.empty() && t.front() != ';' && t.front() != '#' &&
                     t.front() != '[' && eq != std::string::npos;
        if (entry && line.find('\'') == std::string::npos) {
            std::string name = trim(line.substr(0, eq));
            std::string connstr = line.substr(eq + 1);
            Endpoint current = entry_endpoint(connstr);
            if (!current.host.empty() && std::find(from.begin(), from.end(), current) != from.end()) {
                std::string rebuilt = "host=" + to.host + " port=" + std::to_string(to.port);
                for (const auto& w : words(connstr)) {
                    std::string k = key_of(w);
                    if (k != "host" && k != "port") rebuilt += " " + w;
                }
                line = name + " = " + rebuilt;
                out.databases.push_back(name);
            }
        }
        out.text += line + "\n";
    }
    if (!ini.empty() && ini.back() != '\n' && !out.text.empty()) out.text.pop_back();
    return out;
}

std::optional<std::string> ini_value(const std::string& text, const std::string& section,
                                     const std::string& key) {
    std::string current;
    for (const auto& line : lines_of(text)) {
        if (auto sec = section_of(line)) {
            current = *sec;
            continue;
        }
        if (current != lower(section)) continue;
        if (auto kv = key_value(line); kv && kv->first == lower(key)) return kv->second;
    }
    return std::nullopt;
}

std::string set_ini_value(const std::string& text, const std::string& section, const std::string& key,
                          const std::string& value) {
    auto lines = lines_of(text);
    std::string current;
    std::optional<size_t> last_in_section;  // where to add the key when the section lacks it
    bool found_section = false;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (auto sec = section_of(lines[i])) {
            current = *sec;
            if (current == lower(section)) {
                found_section = true;
                last_in_section = i;
            }
            continue;
        }
        if (current != lower(section)) continue;
        if (!trim(lines[i]).empty()) last_in_section = i;
        if (auto kv = key_value(lines[i]); kv && kv->first == lower(key)) {
            lines[i] = key + " = " + value;
            std::string out;
            for (const auto& l : lines) out += l + "\n";
            return out;
        }
    }
    std::string entry = key + " = " + value;
    if (!found_section) {
        lines.push_back("[" + section + "]");
        lines.push_back(entry);
    } else {
        lines.insert(lines.begin() + static_cast<long>(*last_in_section) + 1, entry);
    }
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

}  // namespace yw::ops
