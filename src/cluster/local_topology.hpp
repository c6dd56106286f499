// The local topology behind `ywctl cluster`: the production shape on one machine.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace yw::cluster {

// Ports derive from one base so that a second topology is one flag away: primary N, replicas N+1 and N+2,
// PgBouncer N+1000, Redis N+947, S3 N+948, S3 over TLS N+949 (defaults 15432, 15433, 15434, 16432, 16379,
// 16380, 16381).
struct Ports {
    int primary = 15432;
    int replica1 = 15433;
    int replica2 = 15434;
    int pgbouncer = 16432;
    int redis = 16379;
    int s3 = 16380;
    int s3_tls =
        16381;  // nginx with the topology's own CA in front of the S3 server: pgBackRest speaks TLS only

    static Ports from_base(int base);
    int base() const { return primary; }
};

inline constexpr int kDefaultPortBase = 15432;

struct Options {
    std::filesystem::path dir = "var/cluster";
    std::optional<int> port_base;   // unset: the saved one, or the default
    bool sync = false;              // synchronous_standby_names = 'ANY 1 (replica_1, replica_2)'
    std::chrono::seconds wait{90};  // how long `up` waits for the replicas to stream
    // Once the S3 server is provisioned: take a first full backup (`ywctl cluster up --no-backup`: archiving
    // and the stanza only; the integration tests, which take their own backups where they need one).
    bool first_backup = true;
    std::function<void(const std::string&)> progress;  // step-by-step messages; may be empty
};

enum class NodeKind { kPrimary, kReplica, kPgBouncer, kRedis, kS3 };

struct NodeStatus {
    std::string name;  // primary, replica-1, replica-2, pgbouncer, redis, s3
    NodeKind kind = NodeKind::kPrimary;
    int port = 0;
    bool running = false;                // answers on its port
    std::string role;                    // primary | replica | pooler | cache | object storage
    std::string state;                   // streaming, up, down, …
    std::optional<long long> lag_ms;     // replicas: replay lag as the primary sees it
    std::optional<long long> lag_bytes;  // replicas: WAL not yet replayed
    std::string detail;                  // version or error text
};

struct Connections {
    std::string primary;  // superuser DSN, direct
    std::string replica1;
    std::string replica2;
    std::string pgbouncer;  // app_user through PgBouncer (the application's DATABASE_URL)
    std::string pgbouncer_admin;
    std::string redis;
    std::string app_primary;  // app_user, direct to the primary (migrations, probes)
    std::string s3;           // the S3 server's endpoint, http://127.0.0.1:<port>
    std::string s3_tls;       // the same over TLS (the topology's CA: DIR/s3/tls/ca.crt), for pgBackRest
};

inline constexpr const char* kLocalBucket = "ywmessaging";
inline constexpr const char* kLocalStanza = "ywmessaging";
// pgBackRest's repository in the bucket, beside the partition archives (partitions/).
inline constexpr const char* kBackupPrefix = "/backup";

// moto_server (Python's moto[server], on the machine image): YW_MOTO_SERVER, PATH, then pyenv's shims.
std::optional<std::string> find_moto_server();

// Runs a PostgreSQL primary + replica-1 + replica-2 (streaming on physical slots), PgBouncer in transaction
// pooling in front of the primary, Redis, and an S3 server (moto, with SigV4 enforced and its own access key)
// — the production shape on one machine, for `make run`, the integration tests and the benchmarks.
class LocalTopology {
  public:
    // Reads DIR/topology.json when the directory holds a topology; otherwise prepares a new one (nothing is
    // written until up()).
    static Result<LocalTopology> open(Options options);

    // Starts whatever is not running; idempotent. Checks every needed port first; on failure stops what this
    // call started, so nothing half-started is left running.
    Status up();
    Result<std::vector<NodeStatus>> status() const;
    Status down();
    // down(), then removes the directory (only one that holds a topology.json).
    Status destroy();

    // The PostgreSQL nodes by name and port: primary, replica-1, replica-2. Names, not roles: after a
    // failover replica-1 may be the primary.
    std::vector<std::pair<std::string, int>> postgres_nodes() const;
    int port_of(const std::string& node) const;  // 0 for an unknown name
    std::filesystem::path data_dir(const std::string& node) const { return dir_ / node; }
    // The node that is the primary now, read from the data directories (a standby has standby.signal): the
    // one without it; when several lack it (an old primary that never rejoined), the one on the newest
    // timeline. "primary" for a topology not created yet.
    std::string current_primary() const;
    // Nodes that are neither the current primary nor standbys: old primaries that must rejoin (`ywctl
    // rejoin`).
    std::vector<std::string> diverged_nodes() const;

    const Ports& ports() const { return ports_; }
    const std::filesystem::path& dir() const { return dir_; }
    Connections connections() const;
    // DIR/cluster.env: DATABASE_URL, DATABASE_READ_REPLICAS, REDIS_URL, … for ywmsgd --config.
    std::filesystem::path env_file() const { return dir_ / "cluster.env"; }
    std::filesystem::path pgbackrest_conf() const { return dir_ / "pgbackrest" / "pgbackrest.conf"; }

  private:
    LocalTopology() = default;
    void say(const std::string& message) const;
    Status check_ports(const std::vector<std::pair<std::string, int>>& wanted) const;
    Status start_primary(std::vector<std::function<void()>>& undo);
    Status prepare_primary(const std::string& node);
    Status set_sync_names(const std::string& node) const;
    Status start_replica(const std::string& name, int port, const std::string& primary,
                         std::vector<std::function<void()>>& undo);
    Status start_existing(const std::string& name, std::vector<std::function<void()>>& undo);
    bool is_standby(const std::string& node) const;
    int timeline(const std::string& node) const;
    Status start_pgbouncer(const std::string& primary, std::vector<std::function<void()>>& undo);
    Status write_pgbouncer_ini(const std::filesystem::path& home, int primary_port) const;
    Status launch_pgbouncer(const std::filesystem::path& home, std::vector<std::function<void()>>& undo);
    Status start_redis(std::vector<std::function<void()>>& undo);
    // Starts moto_server in the background (it takes a second or two: started first, provisioned last).
    Status start_s3(std::vector<std::function<void()>>& undo);
    // Waits for it, creates an IAM user, its policy and access key (after which moto checks every signature),
    // and the bucket; the key is kept in DIR/s3/credentials.
    Status provision_s3();
    bool s3_ready() const;
    // pgBackRest on the topology's S3 (docs/backup.md): a CA and nginx for TLS, pgbackrest.conf with every
    // node (it finds the primary itself, also after a failover), the stanza, archive_command and
    // restore_command on every node, and the first full backup. Skipped, with a message, without S3, nginx
    // or pgbackrest.
    Status configure_backups(std::vector<std::function<void()>>& undo);
    Status make_tls_files(const std::filesystem::path& tls) const;
    Status start_tls_proxy(const std::filesystem::path& tls, std::vector<std::function<void()>>& undo);
    Status write_pgbackrest_conf() const;
    Status write_state() const;
    Status write_env_file() const;

    Options options_;
    std::filesystem::path dir_;
    Ports ports_;
    std::string app_password_;
    bool exists_ = false;
    bool s3_started_ = false;  // this up() launched moto and must provision it
    bool s3_fresh_ = false;    // this up() provisioned a new (empty) S3 server: the stanza must be made again
};

}  // namespace yw::cluster
