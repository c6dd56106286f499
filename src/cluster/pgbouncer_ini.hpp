// Repointing PgBouncer's [databases] entries from one PostgreSQL server to another (failover, switchover, and
// `ywctl cluster up` after roles changed): a pure text edit of pgbouncer.ini that keeps everything else.
#pragma once

#include <string>
#include <vector>

namespace yw::cluster {

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

}  // namespace yw::cluster
