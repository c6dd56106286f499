// pgbouncer.ini [databases] repointing: see pgbouncer_ini.hpp.
#include "cluster/pgbouncer_ini.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace yw::cluster {
namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string key_of(const std::string& word) { return word.substr(0, word.find('=')); }

}  // namespace

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
        if (!t.empty() && t.front() == '[') section = t;
        auto eq = line.find('=');
        bool entry = section == "[databases]" && !t.empty() && t.front() != ';' && t.front() != '#' &&
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

}  // namespace yw::cluster
