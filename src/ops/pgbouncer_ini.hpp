// pgbouncer.ini as text: pure edits that keep everything else.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace yw::ops {

// Reading and setting a key (RB-6 resize), and repointing the [databases] entries from one PostgreSQL server
// to another (failover, switchover, `ywctl cluster up`).

// The section a line opens ("[pgbouncer]" -> "pgbouncer", lower case), or nullopt.
std::optional<std::string> section_of(const std::string& line);
// The key (lower case) and value of a "key = value" line; nullopt for comments, blank lines and sections.
std::optional<std::pair<std::string, std::string>> key_value(const std::string& line);
// Every "key = value" of `[section]`, in file order.
std::vector<std::pair<std::string, std::string>> section_entries(const std::string& text,
                                                                 const std::string& section);

// The value of `key` in `[section]` of an ini text; nullopt when absent.
std::optional<std::string> ini_value(const std::string& text, const std::string& section,
                                     const std::string& key);
// The text with `key = value` in `[section]`: the existing line replaced (comments and everything else kept),
// or a line added at the end of the section.
std::string set_ini_value(const std::string& text, const std::string& section, const std::string& key,
                          const std::string& value);

struct Endpoint {
    std::string host;
    int port = 5432;
    bool operator==(const Endpoint&) const = default;
};

struct RepointResult {
    std::string text;                    // the new pgbouncer.ini
    std::vector<std::string> databases;  // the entries that now point at `to`
};

// Every [databases] entry whose host/port is one of `from` gets `to`'s host and port (a missing port= is
// PgBouncer's 5432; a missing host= is left alone: it is a Unix socket, not one of ours). Comments, other
// entries, other keys of the entry and every other section are kept byte for byte.
RepointResult repoint_databases(const std::string& ini, const std::vector<Endpoint>& from,
                                const Endpoint& to);

// host and port of an entry's connection string ("host=127.0.0.1 port=15432 dbname=ywmessaging"); port 5432
// when absent, -1 when not a port number (1–65535), empty host when absent.
Endpoint entry_endpoint(const std::string& connstr);

}  // namespace yw::ops
