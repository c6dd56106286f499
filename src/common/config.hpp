// Configuration of ywmsgd and ywctl. Names are documented in docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace yw {

using Env = std::map<std::string, std::string>;

// A database node by name: "primary", "replica-1", … Names are stable; roles are discovered (after a
// failover "replica-1" may be the primary).
struct NodeEndpoint {
    std::string name;  // e.g. "replica-1"
    std::string url;   // a libpq connection string or URI
};
using ReplicaEndpoint = NodeEndpoint;

// The nodes' names, in order.
std::vector<std::string> names_of(const std::vector<NodeEndpoint>& nodes);

// Read once at start from the environment and an optional KEY=VALUE file, validated as a whole, then passed
// around immutable.
struct Config {
    std::string http_host = "127.0.0.1";
    std::uint16_t http_port = 8080;
    int threads = 0;                                     // 0: one per core
    std::size_t http_max_connections = 4096;             // YW_MAX_CONNECTIONS (docs/configuration.md)
    std::chrono::milliseconds http_idle_timeout{75000};  // YW_HTTP_IDLE_TIMEOUT_MS: keep-alive wait

    std::string database_url;                    // primary, or PgBouncer in front of it
    std::vector<ReplicaEndpoint> read_replicas;  // DATABASE_READ_REPLICAS
    std::string primary_url;  // DATABASE_PRIMARY_URL: the node "primary", direct (default: DATABASE_URL)
    // Superuser (or replication-admin) DSNs of the nodes, by the same names, for ywctl's checks and actions.
    std::vector<NodeEndpoint> admin_urls;  // DATABASE_ADMIN_URLS
    std::string pgbouncer_admin_url;       // PGBOUNCER_ADMIN_URL: the admin console (SHOW POOLS, RELOAD, …)
    std::string pgbouncer_ini;             // PGBOUNCER_INI: pgbouncer.ini on this host (ywctl pool resize)
    std::chrono::milliseconds probe_interval{1000};   // YW_PROBE_INTERVAL_MS: topology discovery period
    std::chrono::milliseconds probe_timeout{500};     // YW_PROBE_TIMEOUT_MS: one node probe's deadline
    std::chrono::milliseconds max_replica_lag{1000};  // YW_MAX_REPLICA_LAG_MS: reads skip laggier replicas
    std::string redis_url;                            // empty: no Redis configured
    std::chrono::milliseconds redis_connect_timeout{1000};  // YW_REDIS_CONNECT_TIMEOUT_MS
    std::chrono::milliseconds redis_command_timeout{
        250};  // YW_REDIS_COMMAND_TIMEOUT_MS: no reply for this long: the connection is replaced

    // Rate limiting per API key (src/ratelimit).
    bool rate_limit_enabled = true;                    // YW_RATE_LIMIT_ENABLED
    int instances = 1;                                 // YW_INSTANCES: ywmsgd instances sharing the limits
    std::string rate_limit_fallback = "local";         // YW_RATE_LIMIT_FALLBACK: local | open | closed
    std::chrono::milliseconds rate_limit_timeout{50};  // YW_RATE_LIMIT_TIMEOUT_MS: the script call's deadline
    int rate_limit_lease_max = 128;                    // YW_RATE_LIMIT_LEASE_MAX: requests per lease (1: off)
    std::chrono::milliseconds rate_limit_lease_ttl{250};  // YW_RATE_LIMIT_LEASE_TTL_MS

    std::string admin_token;  // empty: /admin/* is closed
    bool auto_migrate = false;
    std::string migrations_dir;

    int db_pool_size = 16;   // connections to each database endpoint
    bool db_prepare = true;  // named prepared statements on direct connections (never through PgBouncer)
    std::chrono::milliseconds db_acquire_timeout{2000};
    std::chrono::milliseconds db_connect_timeout{2000};
    std::chrono::milliseconds query_timeout{5000};
    std::chrono::milliseconds key_cache_ttl{5000};
    // YW_AUTH_FAILURE_LIMIT: failed key authentications one client address may cause per minute before its
    // unknown keys are refused without asking the database (0: no limit).
    int auth_failure_limit = 60;
    std::string cursor_secret;  // signs pagination cursors; shared by every instance
    std::chrono::seconds query_window{300};

    int slow_query_threshold_ms = 100;
    bool cache_warming_enabled = false;
    // The read cache (REDIS_URL): TTLs of entries, their jitter, "not found" entries, a Redis call's budget,
    // and the bounds of warming at start. docs/configuration.md.
    bool cache_enabled = true;                              // YW_CACHE_ENABLED (needs REDIS_URL)
    std::chrono::seconds cache_ttl{300};                    // YW_CACHE_TTL_S: users, conversations
    std::chrono::seconds cache_messages_ttl{60};            // YW_CACHE_MESSAGES_TTL_S: first pages
    std::chrono::seconds cache_negative_ttl{5};             // YW_CACHE_NEGATIVE_TTL_S
    int cache_ttl_jitter_pct = 10;                          // YW_CACHE_TTL_JITTER_PCT
    std::chrono::milliseconds cache_timeout{100};           // YW_CACHE_TIMEOUT_MS
    int cache_warming_max_keys = 1000;                      // YW_CACHE_WARMING_MAX_KEYS
    std::chrono::milliseconds cache_warming_timeout{5000};  // YW_CACHE_WARMING_TIMEOUT_MS
    std::chrono::milliseconds health_timeout{
        1000};  // YW_HEALTH_TIMEOUT_MS: also each /health/detailed probe's
    // YW_HEALTH_DETAILED_TTL_MS: how long one probe round of /health/detailed answers every caller
    std::chrono::milliseconds health_detailed_ttl{1000};
    // YW_STATUS_SAMPLE_INTERVAL_MS: how often the status page's charts get a point (they keep 15 minutes)
    std::chrono::milliseconds status_sample_interval{10000};
    // The partition maintainer (docs/partitions.md): how often it runs, how many months past the current one
    // it keeps; 0 turns it off (another instance or an operator does it).
    std::chrono::seconds partition_maintenance_interval{3600};
    int partitions_ahead = 2;
    // Object storage for archived months (and backups): AWS S3 in production, the local topology's S3 server
    // in development. The secret is never logged. docs/configuration.md.
    struct S3 {
        std::string endpoint;              // S3_ENDPOINT; empty: https://s3.<region>.amazonaws.com
        std::string bucket;                // S3_BUCKET; empty: no object storage configured
        std::string region = "us-east-1";  // AWS_REGION
        std::string access_key_id;         // AWS_ACCESS_KEY_ID
        std::string secret_access_key;     // AWS_SECRET_ACCESS_KEY
        bool configured() const { return !bucket.empty(); }
    } s3;
    std::string archive_log;  // YW_ARCHIVE_LOG: the archival log ywctl appends to (RB-18); empty: none
    // Backups (pgBackRest, docs/backup.md): pgBackRest's own variables, so that the engine and ywctl read the
    // same ones. An empty config file: no backups configured.
    struct Backup {
        std::string config_file;             // PGBACKREST_CONFIG: pgbackrest.conf (repository, stanza, nodes)
        std::string stanza = "ywmessaging";  // PGBACKREST_STANZA
        bool configured() const { return !config_file.empty(); }
    } backup;
    std::chrono::milliseconds shutdown_timeout{10000};

    log::Level log_level = log::Level::kInfo;
    log::Format log_format = log::Format::kJson;

    // Every node ywmsgd probes: "primary" (primary_url) then the read replicas.
    std::vector<NodeEndpoint> nodes() const;

    std::vector<std::string> warnings;  // non-fatal findings (unknown YW_* names) for the caller to log
};

// The process environment as a map.
Env process_env();

// Reads a KEY=VALUE file (comments with #, optional "export ", optional single or double quotes).
Result<Env> read_env_file(const std::string& path);
// The same from text (`origin` names it in errors): KEY=VALUE lines, # comments, optional "export ", quotes.
Result<Env> parse_env_text(std::string_view text, std::string_view origin);

// Validates every variable and reports all problems at once, each naming its variable.
Result<Config> parse_config(const Env& env);

// The file named by `file` (or YW_CONFIG_FILE when `file` is empty) overlaid by the process environment.
Result<Config> load_config(const std::string& file = {});

}  // namespace yw
