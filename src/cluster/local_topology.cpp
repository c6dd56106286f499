// ywctl cluster up|status|down|destroy: the local topology launcher (see local_topology.hpp).
#include "cluster/local_topology.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "backup/pgbackrest.hpp"
#include "common/files.hpp"
#include "common/hex.hpp"
#include "common/logging.hpp"
#include "common/process.hpp"
#include "node/control.hpp"
#include "ops/pgbouncer_ini.hpp"
#include "pg/ops_queries.hpp"
#include "pg/sync_connection.hpp"
#include "s3/client.hpp"
#include "s3/encoding.hpp"
#include "s3/xml.hpp"

namespace yw::cluster {

// initdb, pg_basebackup, pgbouncer and redis-server are driven as child processes (as the postgres system
// user when we are root), with every step checked.

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Status fail(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

std::string random_hex(size_t bytes) {
    std::vector<unsigned char> buf(bytes);
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return to_hex(buf);
}

}  // namespace

namespace {

Status write_file(const fs::path& path, const std::string& content,
                  fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
    std::ofstream out(path, std::ios::trunc);
    if (!out) return fail(fmt::format("cannot write {}", path.string()));
    out << content;
    out.close();
    std::error_code ec;
    fs::permissions(path, perms, ec);
    node::give_to_service_user(path);
    return {};
}

Status append_file(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::app);
    if (!out) return fail(fmt::format("cannot append to {}", path.string()));
    out << content;
    return {};
}

std::optional<pid_t> read_pid(const fs::path& pidfile) {
    std::ifstream in(pidfile);
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return std::nullopt;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return std::nullopt;
    return static_cast<pid_t>(pid);
}

}  // namespace

namespace {

std::optional<std::pair<std::string, std::string>> read_s3_credentials(const fs::path& dir);

Status stop_pidfile_process(const fs::path& pidfile, const std::string& what) {
    auto pid = read_pid(pidfile);
    if (!pid) return {};
    kill(*pid, SIGTERM);
    if (!wait_until(15s, [&] { return kill(*pid, 0) != 0; })) {
        kill(*pid, SIGKILL);
        if (!wait_until(5s, [&] { return kill(*pid, 0) != 0; }))
            return fail(fmt::format("{} (pid {}) did not stop", what, *pid));
    }
    return {};
}

std::string dsn(int port, const std::string& user, const std::string& db, const std::string& password = {}) {
    std::string out = fmt::format("host=127.0.0.1 port={} user={} dbname={}", port, user, db);
    if (!password.empty()) out += " password=" + password;
    return out;
}

std::string url(int port, const std::string& user, const std::string& db, const std::string& password = {}) {
    return fmt::format("postgresql://{}{}@127.0.0.1:{}/{}", user, password.empty() ? "" : ":" + password,
                       port, db);
}

bool redis_ping(int port, std::string* detail = nullptr) {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (detail && c) *detail = c->errstr;
        if (c) redisFree(c);
        return false;
    }
    redisSetTimeout(c, tv);
    bool ok = false;
    if (auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"))) {
        ok = reply->type == REDIS_REPLY_STATUS && std::string_view(reply->str, reply->len) == "PONG";
        freeReplyObject(reply);
    }
    if (ok && detail) {
        if (auto* info = static_cast<redisReply*>(redisCommand(c, "INFO server"))) {
            if (info->type == REDIS_REPLY_STRING) {
                std::string text(info->str, info->len);
                auto at = text.find("redis_version:");
                if (at != std::string::npos)
                    *detail = "redis " + text.substr(at + 14, text.find('\r', at) - at - 14);
            }
            freeReplyObject(info);
        }
    }
    redisFree(c);
    return ok;
}

}  // namespace

namespace {

// moto 5 checks a SigV4 signature against the URL as Werkzeug re-encodes it ('/' left bare in query values,
// other escapes in the path normalised) rather than the request target the client signed, so pgBackRest's
// listings (prefix=backup%2F…) and any key with an escaped character fail with SignatureDoesNotMatch. Python
// imports sitecustomize at start-up: this one makes moto check the raw target, as AWS does.
constexpr const char* kMotoSignatureFix =
    R"PY(# Written by `ywctl cluster up` (src/cluster/local_topology.cpp).
# moto checks SigV4 signatures against the re-encoded URL; check them against the raw request target instead.
try:
    from moto.core import responses as _responses

    _setup_class = _responses.BaseResponse.setup_class

    def _setup_class_with_raw_target(self, request, full_url, headers, *args, **kwargs):
        _setup_class(self, request, full_url, headers, *args, **kwargs)
        environ = getattr(request, "environ", None) or {}
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw and raw.startswith("/"):
            scheme, _, rest = full_url.partition("://")
            self.uri = scheme + "://" + rest.split("/", 1)[0] + raw

    _responses.BaseResponse.setup_class = _setup_class_with_raw_target
except Exception:
    pass
)PY";

std::optional<std::string> find_nginx() {
    if (auto p = find_program("nginx")) return p;
    if (fs::exists("/usr/sbin/nginx")) return std::string("/usr/sbin/nginx");
    return std::nullopt;
}

// Backups need the S3 server, nginx for its TLS and pgBackRest.
bool backups_possible() { return find_moto_server() && find_nginx() && find_program("pgbackrest"); }

}  // namespace

Ports Ports::from_base(int base) {
    return Ports{base, base + 1, base + 2, base + 1000, base + 947, base + 948, base + 949};
}

Result<LocalTopology> LocalTopology::open(Options options) {
    LocalTopology t;
    t.options_ = std::move(options);
    std::error_code ec;
    t.dir_ = fs::absolute(t.options_.dir, ec);
    if (ec)
        return make_error(ErrorCode::kInvalidArgument, fmt::format("bad --dir {}", t.options_.dir.string()));
    fs::path state = t.dir_ / "topology.json";
    if (fs::exists(state)) {
        boost::system::error_code jec;
        auto doc = boost::json::parse(read_text(state), jec);
        if (jec || !doc.is_object()) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{} is not valid JSON", state.string()));
        }
        const auto& o = doc.as_object();
        int saved_base = static_cast<int>(o.at("port_base").to_number<int64_t>());
        if (t.options_.port_base && *t.options_.port_base != saved_base) {
            return make_error(
                ErrorCode::kInvalidArgument,
                fmt::format("the topology in {} uses --port-base {}; destroy it to change ports",
                            t.dir_.string(), saved_base));
        }
        t.ports_ = Ports::from_base(saved_base);
        t.app_password_ = std::string(o.at("app_password").as_string());
        t.exists_ = true;
    } else {
        int base = t.options_.port_base.value_or(kDefaultPortBase);
        if (base < 1024 || base > 64000) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("--port-base must be 1024..64000, got {}", base));
        }
        t.ports_ = Ports::from_base(base);
        t.app_password_ = random_hex(16);
    }
    return t;
}

void LocalTopology::say(const std::string& message) const {
    if (options_.progress) options_.progress(message);
}

Connections LocalTopology::connections() const {
    Connections c;
    c.primary = url(ports_.primary, "postgres", "ywmessaging");
    c.replica1 = url(ports_.replica1, "postgres", "ywmessaging");
    c.replica2 = url(ports_.replica2, "postgres", "ywmessaging");
    c.pgbouncer = url(ports_.pgbouncer, "app_user", "ywmessaging", app_password_);
    c.pgbouncer_admin = url(ports_.pgbouncer, "pgbouncer", "pgbouncer");
    c.redis = fmt::format("redis://127.0.0.1:{}/0", ports_.redis);
    c.app_primary = url(ports_.primary, "app_user", "ywmessaging", app_password_);
    c.s3 = fmt::format("http://127.0.0.1:{}", ports_.s3);
    c.s3_tls = fmt::format("https://127.0.0.1:{}", ports_.s3_tls);
    return c;
}

Status LocalTopology::check_ports(const std::vector<std::pair<std::string, int>>& wanted) const {
    for (const auto& [name, port] : wanted) {
        if (port_in_use(port)) {
            return make_error(
                ErrorCode::kConflict,
                fmt::format("port {} (for {}) is already in use; stop what holds it or choose another "
                            "--port-base",
                            port, name));
        }
    }
    return {};
}

Status LocalTopology::write_state() const {
    boost::json::object o;
    o["version"] = 1;
    o["port_base"] = ports_.base();
    o["app_password"] = app_password_;
    return write_file(dir_ / "topology.json", boost::json::serialize(o) + "\n");
}

Status LocalTopology::write_env_file() const {
    Connections c = connections();
    std::string admin_token;
    fs::path token_file = dir_ / "admin_token";
    if (fs::exists(token_file)) {
        admin_token = read_text(token_file);
    } else {
        admin_token = random_hex(24);
        if (auto s = write_file(token_file, admin_token); !s) return s;
    }
    std::string text = fmt::format(
        "# Written by `ywctl cluster up`: the local topology's settings for ywmsgd and ywctl (--config {}).\n"
        "DATABASE_URL={}\n"
        "DATABASE_READ_REPLICAS=replica-1={},replica-2={}\n"
        "DATABASE_PRIMARY_URL={}\n"
        "REDIS_URL={}\n"
        "YW_ADMIN_TOKEN={}\n"
        "# ywctl: superuser DSNs of the nodes and PgBouncer's ini file; PgBouncer's admin console (ywctl, "
        "and ywmsgd's /health/detailed).\n"
        "DATABASE_ADMIN_URLS=primary={},replica-1={},replica-2={}\n"
        "PGBOUNCER_ADMIN_URL={}\n"
        "PGBOUNCER_INI={}\n"
        "# RB-18/19: the archival log ywctl partitions archive appends to.\n"
        "YW_ARCHIVE_LOG={}\n",
        env_file().string(), c.pgbouncer, url(ports_.replica1, "app_user", "ywmessaging", app_password_),
        url(ports_.replica2, "app_user", "ywmessaging", app_password_), c.app_primary, c.redis, admin_token,
        c.primary, c.replica1, c.replica2, c.pgbouncer_admin, (dir_ / "pgbouncer" / "pgbouncer.ini").string(),
        (dir_ / "archive.log").string());
    if (auto creds = read_s3_credentials(dir_)) {
        text += fmt::format(
            "# Object storage (archives, backups): the local S3 server, signed requests with this key only.\n"
            "S3_ENDPOINT={}\nS3_BUCKET={}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY="
            "{}\n",
            c.s3, kLocalBucket, creds->first, creds->second);
    }
    if (fs::exists(pgbackrest_conf())) {
        text += fmt::format(
            "# Backups (docs/backup.md): pgBackRest's own variables, read by ywctl backup and by "
            "pgbackrest.\n"
            "PGBACKREST_CONFIG={}\nPGBACKREST_STANZA={}\n",
            pgbackrest_conf().string(), kLocalStanza);
    }
    return write_file(env_file(), text);
}

Status LocalTopology::start_primary(std::vector<std::function<void()>>& undo) {
    fs::path data = dir_ / "primary";
    if (!fs::exists(data / "PG_VERSION")) {
        say("initdb primary");
        std::error_code ec;
        fs::remove_all(data, ec);
        if (auto s = node::run_postgres_program({node::pg_program("initdb"), "-D", data.string(), "-U",
                                                 "postgres", "-E", "UTF8", "--no-locale", "--auth=trust",
                                                 "--no-instructions"});
            !s) {
            return s;
        }
        std::string conf = fmt::format(
            "\n# --- ywctl cluster ---\n"
            "listen_addresses = '127.0.0.1'\n"
            "port = {}\n"
            "unix_socket_directories = ''\n"
            "max_connections = 200\n"
            "shared_buffers = 128MB\n"
            "wal_level = replica\n"
            "max_wal_senders = 10\n"
            "max_replication_slots = 10\n"
            "wal_keep_size = 256MB\n"
            "hot_standby = on\n"
            "hot_standby_feedback = on\n"
            "wal_log_hints = on  # pg_rewind can rejoin an old primary after a failover\n"
            "shared_preload_libraries = 'pg_stat_statements'\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
            "# WAL archiving through pgBackRest (archive_command is set once the repository exists)\n"
            "archive_mode = {}\n",
            ports_.primary, backups_possible() ? "on" : "off");
        if (auto s = append_file(data / "postgresql.conf", conf); !s) return s;
        // Loopback only. The superuser and replication connect without a password (a local development
        // topology); the application role must use its SCRAM password, as in production.
        std::string hba =
            "# --- ywctl cluster ---\n"
            "local   all          all                    trust\n"
            "host    all          postgres  127.0.0.1/32 trust\n"
            "host    replication  postgres  127.0.0.1/32 trust\n"
            "host    all          all       127.0.0.1/32 scram-sha-256\n";
        if (auto s = write_file(data / "pg_hba.conf", hba); !s) return s;
    }
    return start_existing("primary", undo);
}

Status LocalTopology::prepare_primary(const std::string& node) {
    auto conn = pg::SyncConnection::open(dsn(port_of(node), "postgres", "postgres"));
    if (!conn) return conn.error();
    auto role = conn->query(pg::queries::kRoleExists, {"app_user"});
    if (!role) return role.error();
    // A password hashed client side never appears in the server's logs.
    char* hashed = PQencryptPasswordConn(conn->raw(), app_password_.c_str(), "app_user", "scram-sha-256");
    if (!hashed) return fail("cannot hash the app_user password");
    std::string verb = role->empty() ? "CREATE" : "ALTER";
    std::string sql = fmt::format("{} ROLE app_user LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
                                  verb, conn->quote_literal(hashed));
    PQfreemem(hashed);
    if (auto s = conn->exec_script("cluster.app_role", sql); !s) return s;
    auto db = conn->query(pg::queries::kDatabaseExists, {"ywmessaging"});
    if (!db) return db.error();
    if (db->empty()) {
        say("create database ywmessaging owned by app_user");
        if (auto s =
                conn->exec_script("cluster.create_database", "CREATE DATABASE ywmessaging OWNER app_user");
            !s) {
            return s;
        }
    }
    // pg_stat_statements (preloaded above) in the application's database: `ywctl query top` reads it (RB-8).
    // HypoPG when the machine has it (postgresql-15-hypopg): `ywctl index advise` costs hypothetical indexes
    // with it, and says how to enable it where it is missing.
    if (auto app_db = pg::SyncConnection::open(dsn(port_of(node), "postgres", "ywmessaging")); app_db) {
        if (auto s = app_db->exec_script(
                "cluster.extensions",
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n"
                "DO $$ BEGIN\n"
                "  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg')"
                " THEN\n"
                "    CREATE EXTENSION IF NOT EXISTS hypopg;\n"
                "  END IF;\n"
                "END $$");
            !s) {
            return s;
        }
    } else {
        return app_db.error();
    }
    // A slot for every other node: the replicas, and an old primary once it rejoined as a standby.
    std::vector<std::string> standbys;
    for (const auto& [name, port] : postgres_nodes()) {
        if (name == node || (fs::exists(data_dir(name) / "PG_VERSION") && !is_standby(name))) continue;
        standbys.push_back(node::application_name(name));
        std::string slot = node::slot_name(name);
        auto exists = conn->query(pg::queries::kSlotExists, {slot});
        if (!exists) return exists.error();
        if (exists->empty()) {
            if (auto r = conn->query(pg::queries::kSlotCreate, {slot}); !r) return r.error();
        }
    }
    if (options_.sync) return set_sync_names(node);
    return {};
}

Status LocalTopology::set_sync_names(const std::string& node) const {
    // Standbys carry the quorum they would enforce once promoted (ignored while in recovery): synchronous
    // replication then holds from a new primary's first commit, and `ywctl failover` knows it is on.
    auto diverged = diverged_nodes();
    std::vector<std::string> others;
    for (const auto& [name, port] : postgres_nodes())
        if (name != node && std::find(diverged.begin(), diverged.end(), name) == diverged.end())
            others.push_back(node::application_name(name));
    std::string names = fmt::format("ANY 1 ({})", fmt::join(others, ", "));
    auto conn = pg::SyncConnection::open(dsn(port_of(node), "postgres", "postgres"));
    if (!conn) return conn.error();
    say(fmt::format("synchronous replication on {}: {}", node, names));
    if (auto s = conn->exec_script(
            "cluster.sync", "ALTER SYSTEM SET synchronous_standby_names = " + conn->quote_literal(names));
        !s) {
        return s;
    }
    return conn->exec_script("cluster.reload", "SELECT pg_reload_conf()");
}

Status LocalTopology::start_replica(const std::string& name, int port, const std::string& primary,
                                    std::vector<std::function<void()>>& undo) {
    fs::path data = dir_ / name;
    std::string app_name = node::application_name(name);
    std::string slot = node::slot_name(name);
    if (!fs::exists(data / "PG_VERSION")) {
        say(fmt::format("pg_basebackup {} from the primary on slot {}", name, slot));
        std::error_code ec;
        fs::remove_all(data, ec);
        if (auto s = node::run_postgres_program(
                {node::pg_program("pg_basebackup"), "-d", dsn(port_of(primary), "postgres", "postgres"), "-D",
                 data.string(), "-R", "-S", slot, "-X", "stream", "-c", "fast", "--no-password"},
                300s);
            !s) {
            return s;
        }
        // -R wrote primary_conninfo; restate it with our application_name, and give the node its own port
        // (the last setting in postgresql.auto.conf wins).
        std::string conf = fmt::format(
            "# --- ywctl cluster ---\n"
            "port = {}\n"
            "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={}'\n"
            "primary_slot_name = '{}'\n",
            port, port_of(primary), app_name, slot);
        if (auto s = append_file(data / "postgresql.auto.conf", conf); !s) return s;
        node::give_to_service_user(data);
    }
    return start_existing(name, undo);
}

Status LocalTopology::start_existing(const std::string& name, std::vector<std::function<void()>>& undo) {
    fs::path data = dir_ / name;
    int port = port_of(name);
    if (node::postmaster_running(data)) return {};
    say(fmt::format("start {} on port {}", name, port));
    if (auto s =
            node::run_postgres_program({node::pg_program("pg_ctl"), "-D", data.string(), "-l",
                                        (dir_ / "log" / (name + ".log")).string(), "-w", "-t", "60", "start"},
                                       90s);
        !s) {
        return s;
    }
    undo.push_back([this, data] { (void)node::stop(data); });
    return {};
}

Status LocalTopology::start_pgbouncer(const std::string& primary, std::vector<std::function<void()>>& undo) {
    fs::path home = dir_ / "pgbouncer";
    fs::path pidfile = home / "pgbouncer.pid";
    if (read_pid(pidfile)) return {};
    std::error_code ec;
    fs::create_directories(home, ec);
    node::give_to_service_user(home);
    if (fs::exists(home / "pgbouncer.ini")) {
        // Keep the operator's edits (pool sizes); only make [databases] follow the current primary.
        std::vector<ops::Endpoint> others;
        for (const auto& [name, port] : postgres_nodes())
            if (name != primary) others.push_back({"127.0.0.1", port});
        auto repointed = ops::repoint_databases(read_text(home / "pgbouncer.ini"), others,
                                                {"127.0.0.1", port_of(primary)});
        if (!repointed.databases.empty()) say(fmt::format("pgbouncer follows the primary: {}", primary));
        if (auto s = write_file(home / "pgbouncer.ini", repointed.text); !s) return s;
    } else {
        if (auto s = write_pgbouncer_ini(home, port_of(primary)); !s) return s;
    }
    return launch_pgbouncer(home, undo);
}

Status LocalTopology::write_pgbouncer_ini(const fs::path& home, int primary_port) const {
    fs::path pidfile = home / "pgbouncer.pid";
    std::string ini = fmt::format(
        "; Written by `ywctl cluster up`. `ywctl pool resize` edits default_pool_size.\n"
        "[databases]\n"
        "ywmessaging = host=127.0.0.1 port={} dbname=ywmessaging\n"
        "\n[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        "listen_port = {}\n"
        "unix_socket_dir =\n"
        "auth_type = hba\n"
        "auth_file = {}\n"
        "auth_hba_file = {}\n"
        "admin_users = pgbouncer, postgres\n"
        "stats_users = pgbouncer, postgres\n"
        "pool_mode = transaction\n"
        "default_pool_size = 50\n"
        "reserve_pool_size = 5\n"
        "max_client_conn = 1000\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        "logfile = {}\n"
        "pidfile = {}\n"
        "log_connections = 0\n"
        "log_disconnections = 0\n"
        "; after a failover repoints [databases], retry the (new) server within 0.2 s, not 15 s\n"
        "server_login_retry = 0.2\n",
        primary_port, ports_.pgbouncer, (home / "userlist.txt").string(), (home / "hba.conf").string(),
        (dir_ / "log" / "pgbouncer.log").string(), pidfile.string());
    if (auto s = write_file(home / "pgbouncer.ini", ini); !s) return s;
    // PgBouncer needs app_user's password to log in to PostgreSQL with SCRAM on the client's behalf.
    std::string users =
        fmt::format("\"app_user\" \"{}\"\n\"postgres\" \"\"\n\"pgbouncer\" \"\"\n", app_password_);
    if (auto s = write_file(home / "userlist.txt", users); !s) return s;
    std::string hba =
        "host  pgbouncer  pgbouncer  127.0.0.1/32  trust\n"
        "host  pgbouncer  postgres   127.0.0.1/32  trust\n"
        "host  all        postgres   127.0.0.1/32  trust\n"
        "host  all        all        127.0.0.1/32  scram-sha-256\n";
    return write_file(home / "hba.conf", hba);
}

Status LocalTopology::launch_pgbouncer(const fs::path& home, std::vector<std::function<void()>>& undo) {
    fs::path pidfile = home / "pgbouncer.pid";
    say(fmt::format("start pgbouncer on port {}", ports_.pgbouncer));
    if (auto s = node::run_postgres_program({"pgbouncer", "-d", (home / "pgbouncer.ini").string()}, 30s); !s)
        return s;
    undo.push_back([pidfile] { (void)stop_pidfile_process(pidfile, "pgbouncer"); });
    if (!wait_until(15s, [&] { return port_in_use(ports_.pgbouncer); })) {
        return fail(fmt::format("pgbouncer did not listen on port {}; see {}", ports_.pgbouncer,
                                (dir_ / "log" / "pgbouncer.log").string()));
    }
    return {};
}

Status LocalTopology::start_redis(std::vector<std::function<void()>>& undo) {
    fs::path home = dir_ / "redis";
    fs::path pidfile = home / "redis.pid";
    if (read_pid(pidfile) && redis_ping(ports_.redis)) return {};
    std::error_code ec;
    fs::create_directories(home, ec);
    node::give_to_service_user(home);
    std::string conf = fmt::format(
        "# Written by `ywctl cluster up`.\n"
        "bind 127.0.0.1\n"
        "port {}\n"
        "daemonize yes\n"
        "pidfile {}\n"
        "logfile {}\n"
        "dir {}\n"
        "save \"\"\n"
        "appendonly no\n"
        "maxmemory 256mb\n"
        "maxmemory-policy volatile-lru\n",
        ports_.redis, pidfile.string(), (dir_ / "log" / "redis.log").string(), home.string());
    if (auto s = write_file(home / "redis.conf", conf); !s) return s;
    say(fmt::format("start redis on port {}", ports_.redis));
    if (auto s = node::run_postgres_program({"redis-server", (home / "redis.conf").string()}, 30s); !s)
        return s;
    undo.push_back([pidfile] { (void)stop_pidfile_process(pidfile, "redis"); });
    if (!wait_until(15s, [&] { return redis_ping(ports_.redis); })) {
        return fail(fmt::format("redis did not answer PING on port {}; see {}", ports_.redis,
                                (dir_ / "log" / "redis.log").string()));
    }
    return {};
}

namespace {

// DIR/s3/credentials: "<access key id>\n<secret>\n", written when moto was provisioned.
std::optional<std::pair<std::string, std::string>> read_s3_credentials(const fs::path& dir) {
    std::ifstream in(dir / "s3" / "credentials");
    std::string id, secret;
    if (!(in >> id >> secret)) return std::nullopt;
    return std::make_pair(id, secret);
}

}  // namespace

std::optional<std::string> find_moto_server() {
    if (const char* p = std::getenv("YW_MOTO_SERVER"); p && *p) return std::string(p);
    return find_program("moto_server");
}

Status LocalTopology::start_s3(std::vector<std::function<void()>>& undo) {
    fs::path home = dir_ / "s3";
    fs::path pidfile = home / "moto.pid";
    s3_started_ = false;
    if (read_pid(pidfile) && s3_ready()) return {};
    if (read_pid(pidfile)) (void)stop_pidfile_process(pidfile, "moto_server");  // up, never provisioned
    auto moto = find_moto_server();
    if (!moto) {
        say("no moto_server found (pip's moto[server]; YW_MOTO_SERVER names it): the topology runs without "
            "S3, "
            "and `ywctl partitions archive` has nowhere to write");
        return {};
    }
    std::error_code ec;
    fs::create_directories(home, ec);
    fs::remove(home / "credentials", ec);  // moto keeps everything in memory: a new server, a new key
    // The first three requests (CreateUser, PutUserPolicy, CreateAccessKey) go unchecked; from then on moto
    // verifies every SigV4 signature against the IAM users it knows.
    fs::create_directories(home / "pyshim", ec);
    if (auto s = write_file(
            home / "pyshim" / "sitecustomize.py", kMotoSignatureFix,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
        !s)
        return s;
    std::string command = fmt::format(
        "INITIAL_NO_AUTH_ACTION_COUNT=3 PYTHONPATH={} setsid {} -H 127.0.0.1 -p {} >>{} 2>&1 </dev/null & "
        "echo $! >{}",
        render_command({(home / "pyshim").string()}), render_command({*moto}), ports_.s3,
        render_command({(dir_ / "log" / "s3.log").string()}), render_command({pidfile.string()}));
    say(fmt::format("start the S3 server (moto) on port {}", ports_.s3));
    auto r = run_process({"sh", "-c", command});
    if (!r || r->exit_code != 0)
        return fail("cannot start moto_server: " + (r ? r->output : r.error().message));
    undo.push_back([pidfile] { (void)stop_pidfile_process(pidfile, "moto_server"); });
    s3_started_ = true;
    return {};
}

bool LocalTopology::s3_ready() const {
    return port_in_use(ports_.s3) && read_s3_credentials(dir_).has_value();
}

Status LocalTopology::provision_s3() {
    if (!s3_started_) return {};  // already running and provisioned, or no moto_server
    s3_started_ = false;
    fs::path log_file = dir_ / "log" / "s3.log";
    if (!wait_until(30s, [&] { return port_in_use(ports_.s3); }))
        return fail(
            fmt::format("the S3 server did not listen on port {}; see {}", ports_.s3, log_file.string()));
    s3::Config bootstrap;
    bootstrap.endpoint = connections().s3;
    bootstrap.region = "us-east-1";
    bootstrap.access_key_id = "bootstrap";
    bootstrap.secret_access_key = "bootstrap";
    bootstrap.retries = 5;
    s3::Client iam(bootstrap);
    auto call = [&](const std::string& form) -> Result<std::string> {
        s3::Request req;
        req.service = "iam";
        req.method = "POST";
        std::string body = form + "&Version=2010-05-08";
        req.body = body;
        req.content_type = "application/x-www-form-urlencoded; charset=utf-8";
        auto res = iam.request(req);
        if (!res) return res.error();
        if (res->status != 200)
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("IAM {} answered {}: {}", form.substr(0, form.find('&')),
                                          res->status, res->body.substr(0, 300)));
        return res->body;
    };
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
    if (auto r = call("Action=CreateUser&UserName=ywmessaging"); !r) return r.error();
    if (auto r = call("Action=PutUserPolicy&UserName=ywmessaging&PolicyName=all&PolicyDocument=" +
                      s3::uri_encode(policy));
        !r)
        return r.error();
    auto key = call("Action=CreateAccessKey&UserName=ywmessaging");
    if (!key) return key.error();
    std::string id = s3::xml::text(*key, "AccessKeyId").value_or(""),
                secret = s3::xml::text(*key, "SecretAccessKey").value_or("");
    if (id.empty() || secret.empty()) return fail("IAM CreateAccessKey gave no key");
    s3::Config real = bootstrap;
    real.bucket = kLocalBucket;
    real.access_key_id = id;
    real.secret_access_key = secret;
    s3::Client client(real);
    if (auto s = client.create_bucket(); !s) return fail("cannot create the bucket: " + s.error().message);
    if (auto s = write_file(dir_ / "s3" / "credentials", id + "\n" + secret + "\n"); !s) return s;
    s3_fresh_ = true;
    return {};
}

Status LocalTopology::make_tls_files(const fs::path& tls) const {
    if (fs::exists(tls / "server.crt") && fs::exists(tls / "ca.crt")) return {};
    say("make the topology's CA and the S3 server's TLS certificate");
    std::error_code ec;
    fs::create_directories(tls, ec);
    auto openssl = [&](const std::vector<std::string>& args) -> Status {
        std::vector<std::string> argv = {"openssl"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_process(argv);
        if (!r || r->exit_code != 0)
            return fail("openssl " + args.front() + " failed: " + (r ? r->output : r.error().message));
        return {};
    };
    const std::string ca_key = (tls / "ca.key").string(), ca = (tls / "ca.crt").string(),
                      key = (tls / "server.key").string(), csr = (tls / "server.csr").string(),
                      ext = (tls / "server.ext").string(), crt = (tls / "server.crt").string();
    // pgBackRest 2.45 matches the endpoint against DNS names only, hence 127.0.0.1 as a DNS name too.
    if (auto s =
            write_file(tls / "server.ext",
                       "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
        !s)
        return s;
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
              "3650", "-subj", "/CN=ywctl local topology CA", "-keyout", ca_key, "-out", ca},
             {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
              "/CN=127.0.0.1", "-keyout", key, "-out", csr},
             {"x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "3650",
              "-extfile", ext, "-out", crt}}) {
        if (auto s = openssl(args); !s) return s;
    }
    for (const char* f : {"ca.crt", "server.crt"})
        fs::permissions(
            tls / f,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
            ec);
    node::give_to_service_user(tls);
    return {};
}

Status LocalTopology::start_tls_proxy(const fs::path& tls, std::vector<std::function<void()>>& undo) {
    fs::path pidfile = tls / "nginx.pid";
    if (read_pid(pidfile)) return {};
    auto nginx = find_nginx();
    if (!nginx) return fail("nginx is not installed (scripts/bootstrap.sh installs nginx-light)");
    std::error_code ec;
    fs::create_directories(tls / "tmp", ec);
    // Streams both ways (no request buffering, any size), and passes the Host header the client signed.
    std::string conf = fmt::format(
        "# Written by `ywctl cluster up`: TLS in front of the S3 server, for pgBackRest.\n"
        "daemon on;\nworker_processes 1;\npid {pid};\nerror_log {log} warn;\n"
        "events {{ worker_connections 256; }}\n"
        "http {{\n"
        "  access_log off;\n"
        "  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};\n"
        "  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
        "  server {{\n"
        "    listen 127.0.0.1:{port} ssl;\n"
        "    ssl_certificate {crt};\n    ssl_certificate_key {key};\n"
        "    client_max_body_size 0;\n    proxy_request_buffering off;\n    proxy_buffering off;\n"
        "    location / {{\n"
        "      proxy_pass http://127.0.0.1:{s3};\n      proxy_http_version 1.1;\n"
        "      proxy_set_header Host $http_host;\n      proxy_set_header Connection \"\";\n"
        "      proxy_read_timeout 300s;\n"
        "    }}\n  }}\n}}\n",
        fmt::arg("pid", pidfile.string()), fmt::arg("log", (dir_ / "log" / "s3-tls.log").string()),
        fmt::arg("tmp", (tls / "tmp").string()), fmt::arg("port", ports_.s3_tls),
        fmt::arg("crt", (tls / "server.crt").string()), fmt::arg("key", (tls / "server.key").string()),
        fmt::arg("s3", ports_.s3));
    if (auto s = write_file(tls / "nginx.conf", conf); !s) return s;
    node::give_to_service_user(tls);
    say(fmt::format("start nginx (TLS for S3) on port {}", ports_.s3_tls));
    RunOptions opts;
    if (running_as_root()) opts.as_user = node::kServiceUser;
    opts.timeout = 30s;
    auto r = run_process({*nginx, "-p", tls.string(), "-e", (dir_ / "log" / "s3-tls.log").string(), "-c",
                          (tls / "nginx.conf").string()},
                         opts);
    if (!r || r->exit_code != 0) return fail("cannot start nginx: " + (r ? r->output : r.error().message));
    undo.push_back([pidfile] { (void)stop_pidfile_process(pidfile, "nginx"); });
    if (!wait_until(10s, [&] { return port_in_use(ports_.s3_tls); }))
        return fail(fmt::format("nginx did not listen on port {}", ports_.s3_tls));
    return {};
}

Status LocalTopology::write_pgbackrest_conf() const {
    auto creds = read_s3_credentials(dir_);
    if (!creds) return fail("no S3 key for pgBackRest");
    fs::path home = dir_ / "pgbackrest";
    std::error_code ec;
    for (const char* sub : {"log", "lock", "spool"}) fs::create_directories(home / sub, ec);
    // The repository's passphrase: kept with the topology (production: a secret store, docs/backup.md).
    fs::path cipher_file = home / "cipher";
    std::string cipher = fs::exists(cipher_file) ? read_text(cipher_file) : random_hex(32);
    if (!fs::exists(cipher_file))
        if (auto s = write_file(cipher_file, cipher); !s) return s;
    std::string nodes;
    int n = 1;
    for (const auto& [name, port] : postgres_nodes())
        nodes += fmt::format("pg{0}-path={1}\npg{0}-port={2}\n", n++, data_dir(name).string(), port);
    std::string conf = fmt::format(
        "# Written by `ywctl cluster up` (docs/backup.md). Holds the S3 key and the repository passphrase.\n"
        "[global]\n"
        "repo1-type=s3\nrepo1-path={prefix}\nrepo1-s3-bucket={bucket}\nrepo1-s3-endpoint=127.0.0.1\n"
        "repo1-storage-port={port}\nrepo1-storage-ca-file={ca}\nrepo1-s3-region=us-east-1\n"
        "repo1-s3-uri-style=path\nrepo1-s3-key={key}\nrepo1-s3-key-secret={secret}\n"
        "repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass={cipher}\n"
        "repo1-retention-full=2\nrepo1-bundle=y\n"
        "compress-type=lz4\nprocess-max=2\nstart-fast=y\narchive-timeout=60\n"
        // A repository that does not answer fails archive_command within about 8 × io-timeout (pgBackRest's
        // retries, measured: 1 s → 8.7 s, 4 s → 32.7 s), and a fast shutdown waits for the archiver: loopback
        // S3 answers in milliseconds, so 3 s.
        "io-timeout=3\n"
        "log-path={home}/log\nlock-path={home}/lock\nspool-path={home}/spool\n"
        "log-level-console=warn\nlog-level-file=info\n"
        "\n[{stanza}]\n{nodes}",
        fmt::arg("prefix", kBackupPrefix), fmt::arg("bucket", kLocalBucket), fmt::arg("port", ports_.s3_tls),
        fmt::arg("ca", (dir_ / "s3" / "tls" / "ca.crt").string()), fmt::arg("key", creds->first),
        fmt::arg("secret", creds->second), fmt::arg("cipher", cipher), fmt::arg("home", home.string()),
        fmt::arg("stanza", kLocalStanza), fmt::arg("nodes", nodes));
    if (auto s = write_file(pgbackrest_conf(), conf); !s) return s;
    node::give_to_service_user(home);
    return {};
}

Status LocalTopology::configure_backups(std::vector<std::function<void()>>& undo) {
    if (!s3_ready()) return {};  // no S3 server: nowhere to keep backups
    if (!find_nginx() || !find_program("pgbackrest")) {
        say("no nginx or pgbackrest (scripts/bootstrap.sh installs them): the topology runs without backups");
        return {};
    }
    fs::path tls = dir_ / "s3" / "tls";
    if (auto s = make_tls_files(tls); !s) return s;
    if (auto s = start_tls_proxy(tls, undo); !s) return s;
    // A new S3 server is empty (moto keeps everything in memory): the stanza is made again, with its key.
    if (!s3_fresh_ && fs::exists(pgbackrest_conf())) return {};
    s3_fresh_ = false;
    if (auto s = write_pgbackrest_conf(); !s) return s;
    backup::PgBackRest engine({pgbackrest_conf().string(), kLocalStanza});
    say(fmt::format("pgbackrest stanza-create {} (repository s3://{}{})", kLocalStanza, kLocalBucket,
                    kBackupPrefix));
    if (auto s = engine.run_checked({"stanza-create"}, 120s); !s) return s;
    // The same commands on every node ("$PWD" is the data directory archive_command and restore_command run
    // in), so that a promoted standby archives to the same stanza and a standby behind its slot can fetch.
    const std::string base = fmt::format("pgbackrest --config={} --stanza={} --pg1-path=\"$PWD\"",
                                         pgbackrest_conf().string(), kLocalStanza);
    const std::string primary = current_primary();
    bool archiving = true;
    for (const auto& [name, port] : postgres_nodes()) {
        if (!node::postmaster_running(data_dir(name))) continue;
        auto conn = pg::SyncConnection::open(dsn(port, "postgres", "postgres"));
        if (!conn) return conn.error();
        for (const auto& sql :
             {"ALTER SYSTEM SET archive_command = " + conn->quote_literal(base + " archive-push \"$PWD/%p\""),
              "ALTER SYSTEM SET restore_command = " + conn->quote_literal(base + " archive-get %f \"%p\""),
              std::string("SELECT pg_reload_conf()")})
            if (auto s = conn->exec_script("cluster.archiving", sql); !s) return s;
        if (name == primary) {
            auto mode = conn->simple_query("cluster.archive_mode", "SHOW archive_mode");
            if (mode && !mode->empty() && mode->rows[0][0].value_or("") == "off") {
                // A topology made before backups existed: archive_mode takes a restart.
                (void)conn->exec_script("cluster.archive_mode", "ALTER SYSTEM SET archive_mode = on");
                say(
                    fmt::format("archive_mode is off on {}: restart the topology (ywctl cluster down; ywctl "
                                "cluster up) to archive WAL",
                                name));
                archiving = false;
            }
        }
    }
    if (options_.first_backup && archiving) {
        say("first full backup (pgbackrest backup --type=full)");
        if (auto s = engine.run_checked({"--type=full", "backup"}, 600s); !s) return s;
    }
    return {};
}

std::vector<std::pair<std::string, int>> LocalTopology::postgres_nodes() const {
    return {{"primary", ports_.primary}, {"replica-1", ports_.replica1}, {"replica-2", ports_.replica2}};
}

int LocalTopology::port_of(const std::string& node) const {
    for (const auto& [name, port] : postgres_nodes())
        if (name == node) return port;
    return 0;
}

bool LocalTopology::is_standby(const std::string& node) const {
    return fs::exists(data_dir(node) / "standby.signal");
}

int LocalTopology::timeline(const std::string& node) const {
    // A promotion writes pg_wal/0000000N.history at once (the control file only learns the new timeline at
    // the next checkpoint): the highest history file is the node's timeline.
    int tli = 1;
    std::error_code ec;
    for (auto it = fs::directory_iterator(data_dir(node) / "pg_wal", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.size() != 16 || name.substr(8) != ".history") continue;
        try {
            tli = std::max(tli, static_cast<int>(std::stoul(name.substr(0, 8), nullptr, 16)));
        } catch (const std::exception&) {
        }
    }
    return tli;
}

std::string LocalTopology::current_primary() const {
    std::vector<std::string> candidates;
    for (const auto& [name, port] : postgres_nodes())
        if (fs::exists(data_dir(name) / "PG_VERSION") && !is_standby(name)) candidates.push_back(name);
    if (candidates.empty()) return "primary";
    if (candidates.size() == 1) return candidates.front();
    // An old primary that went down and never rejoined: the promoted node is on a newer timeline.
    std::string best = candidates.front();
    int best_tli = timeline(best);
    for (size_t i = 1; i < candidates.size(); ++i) {
        int tli = timeline(candidates[i]);
        if (tli > best_tli) {
            best = candidates[i];
            best_tli = tli;
        }
    }
    return best;
}

std::vector<std::string> LocalTopology::diverged_nodes() const {
    std::string primary = current_primary();
    std::vector<std::string> out;
    for (const auto& [name, port] : postgres_nodes())
        if (name != primary && fs::exists(data_dir(name) / "PG_VERSION") && !is_standby(name))
            out.push_back(name);
    return out;
}

Status LocalTopology::up() {
    // Every port a stopped node will need must be free before anything starts.
    // Nodes start in the role their data directory holds now: after a failover replica-1 may be the primary.
    // An old primary that never rejoined stays down: starting it would make a second writable primary.
    const std::string primary = current_primary();
    const std::vector<std::string> diverged = diverged_nodes();
    auto is_diverged = [&](const std::string& n) {
        return std::find(diverged.begin(), diverged.end(), n) != diverged.end();
    };
    std::vector<std::pair<std::string, int>> wanted;
    for (const auto& [name, port] : postgres_nodes())
        if (!is_diverged(name) && !node::postmaster_running(data_dir(name))) wanted.emplace_back(name, port);
    if (!read_pid(dir_ / "pgbouncer" / "pgbouncer.pid")) wanted.emplace_back("pgbouncer", ports_.pgbouncer);
    if (!read_pid(dir_ / "redis" / "redis.pid")) wanted.emplace_back("redis", ports_.redis);
    if (!read_pid(dir_ / "s3" / "moto.pid")) wanted.emplace_back("s3", ports_.s3);
    if (!read_pid(dir_ / "s3" / "tls" / "nginx.pid")) wanted.emplace_back("s3 over TLS", ports_.s3_tls);
    if (auto s = check_ports(wanted); !s) return s;

    std::error_code ec;
    fs::create_directories(dir_ / "log", ec);
    if (ec) return fail(fmt::format("cannot create {}: {}", dir_.string(), ec.message()));
    if (running_as_root()) {
        if (!lookup_user(node::kServiceUser)) {
            return fail(
                "running as root needs the 'postgres' system user (install postgresql-15: "
                "scripts/bootstrap.sh)");
        }
        node::give_to_service_user(dir_);
        RunOptions opts;
        opts.as_user = node::kServiceUser;
        auto r = run_process({"test", "-w", dir_.string()}, opts);
        if (!r || r->exit_code != 0) {
            return fail(
                fmt::format("the postgres user cannot write {} (a parent directory is closed to it); choose "
                            "another --dir, e.g. under /tmp or /var/tmp",
                            dir_.string()));
        }
    }

    if (auto s = write_state(); !s) return s;
    std::vector<std::function<void()>> undo;
    Status status = [&]() -> Status {
        if (auto s = start_s3(undo); !s) return s;
        if (primary == "primary") {
            if (auto s = start_primary(undo); !s) return s;
        } else {
            if (auto s = start_existing(primary, undo); !s) return s;
        }
        if (auto s = prepare_primary(primary); !s) return s;
        // The S3 server's IAM key before anything else can reach it (its first three requests go unchecked),
        // then TLS in front of it before any standby starts: a standby begins with restore_command, and
        // archive_command or restore_command against a dead endpoint retries for seconds (a fast shutdown
        // waits for it). TLS stops after the nodes (undo, down).
        if (auto s = provision_s3(); !s) return s;
        const fs::path tls = dir_ / "s3" / "tls";
        if (s3_ready() && fs::exists(tls / "server.crt") && find_nginx())
            if (auto s = start_tls_proxy(tls, undo); !s) return s;
        std::vector<std::string> standbys;
        for (const auto& [name, port] : postgres_nodes()) {
            if (name == primary) continue;
            if (is_diverged(name)) {
                say(fmt::format(
                    "{} is a former primary that has not rejoined; left stopped (ywctl rejoin {})", name,
                    name));
                continue;
            }
            if (auto s = start_replica(name, port, primary, undo); !s) return s;
            if (options_.sync)
                if (auto s = set_sync_names(name); !s) return s;
            standbys.push_back(name);
        }
        if (auto s = start_pgbouncer(primary, undo); !s) return s;
        if (auto s = start_redis(undo); !s) return s;
        say(fmt::format("wait for {} standby(s) to stream from {}", standbys.size(), primary));
        if (auto s =
                node::wait_streaming(dsn(port_of(primary), "postgres", "postgres"), standbys, options_.wait);
            !s)
            return s;
        // Backups are a part of the topology, not a condition of it: a failure is said loudly, and every
        // other node stays up (`ywctl backup check` then tells what is missing).
        if (auto s = configure_backups(undo); !s)
            say("warning: backups are not set up (" + s.error().message + "); see " +
                (dir_ / "log").string() + " and docs/backup.md");
        return write_env_file();
    }();
    if (!status) {
        say("failed; stopping what this run started");
        for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
        return status;
    }
    exists_ = true;
    return {};
}

Result<std::vector<NodeStatus>> LocalTopology::status() const {
    // Every node is asked for its role (pg_is_in_recovery), whatever its name; the primary tells how its
    // standbys stream. A node that is down shows the role its data directory holds.
    std::vector<NodeStatus> nodes;
    std::map<std::string, std::pair<std::string, std::pair<long long, long long>>> seen;
    for (const auto& [name, port] : postgres_nodes()) {
        NodeStatus n{name, NodeKind::kReplica, port};
        auto conn = pg::SyncConnection::open(dsn(port, "postgres", "postgres"), 2s);
        if (!conn) {
            n.role = is_standby(name) ? "replica" : "primary";
            n.state = "down";
            n.detail = conn.error().message;
            auto diverged = diverged_nodes();
            if (std::find(diverged.begin(), diverged.end(), name) != diverged.end()) {
                n.role = "former primary";
                n.detail = fmt::format("must rejoin as a replica: ywctl rejoin {}", name);
            }
        } else {
            n.running = true;
            if (auto role = conn->query(pg::queries::kNodeRole)) {
                n.role = role->text(0, "in_recovery") == "t" ? "replica" : "primary";
                n.detail = "PostgreSQL " + role->text(0, "version");
            }
            if (n.role == "primary") {
                n.state = "up";
                if (auto rows = conn->query(pg::queries::kReplicationStatus)) {
                    for (size_t i = 0; i < rows->size(); ++i) {
                        seen[rows->text(i, "application_name")] = {
                            rows->text(i, "state"),
                            {std::stoll(rows->text(i, "replay_lag_ms")),
                             rows->is_null(i, "replay_lag_bytes")
                                 ? 0
                                 : std::stoll(rows->text(i, "replay_lag_bytes"))}};
                    }
                }
            }
        }
        n.kind = n.role == "primary" ? NodeKind::kPrimary : NodeKind::kReplica;
        nodes.push_back(n);
    }
    for (auto& n : nodes) {
        if (!n.running || n.role != "replica") continue;
        auto it = seen.find(node::application_name(n.name));
        if (it != seen.end()) {
            n.state = it->second.first;
            n.lag_ms = it->second.second.first;
            n.lag_bytes = it->second.second.second;
        } else {
            n.state = "not streaming";
        }
    }
    NodeStatus bouncer{"pgbouncer", NodeKind::kPgBouncer, ports_.pgbouncer};
    bouncer.role = "pooler";
    if (auto conn = pg::SyncConnection::open(dsn(ports_.pgbouncer, "pgbouncer", "pgbouncer"), 2s)) {
        bouncer.running = true;
        bouncer.state = "up";
        if (auto v = conn->simple_query("pgbouncer.version", "SHOW VERSION"); v && !v->empty()) {
            bouncer.detail = v->rows[0][0].value_or("");
        }
    } else {
        bouncer.state = "down";
        bouncer.detail = conn.error().message;
    }
    nodes.push_back(bouncer);
    NodeStatus redis{"redis", NodeKind::kRedis, ports_.redis};
    redis.role = "cache";
    redis.running = redis_ping(ports_.redis, &redis.detail);
    redis.state = redis.running ? "up" : "down";
    nodes.push_back(redis);
    NodeStatus s3{"s3", NodeKind::kS3, ports_.s3};
    s3.role = "object storage";
    s3.running = s3_ready();
    s3.state = s3.running ? "up" : "down";
    s3.detail = !s3.running ? "not running (no moto_server?)"
                : read_pid(dir_ / "s3" / "tls" / "nginx.pid")
                    ? fmt::format("moto, bucket {}; TLS on port {} (backups)", kLocalBucket, ports_.s3_tls)
                    : fmt::format("moto, bucket {}", kLocalBucket);
    nodes.push_back(s3);
    return nodes;
}

Status LocalTopology::down() {
    Status first;
    auto keep = [&](Status s) {
        if (!s && first) first = s;
    };
    say("stop pgbouncer");
    keep(stop_pidfile_process(dir_ / "pgbouncer" / "pgbouncer.pid", "pgbouncer"));
    say("stop replicas and primary");
    const std::string primary = current_primary();
    for (const auto& [name, port] : postgres_nodes())
        if (name != primary) keep(node::stop(data_dir(name)));
    keep(node::stop(data_dir(primary)));
    say("stop redis");
    keep(stop_pidfile_process(dir_ / "redis" / "redis.pid", "redis"));
    say("stop the S3 server");
    keep(stop_pidfile_process(dir_ / "s3" / "tls" / "nginx.pid", "nginx"));
    keep(stop_pidfile_process(dir_ / "s3" / "moto.pid", "moto_server"));
    return first;
}

Status LocalTopology::destroy() {
    if (!fs::exists(dir_ / "topology.json")) {
        if (!fs::exists(dir_)) return {};
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{} holds no topology.json; refusing to delete it", dir_.string()));
    }
    if (auto s = down(); !s) return s;
    say(fmt::format("delete {}", dir_.string()));
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) return fail(fmt::format("cannot delete {}: {}", dir_.string(), ec.message()));
    return {};
}

}  // namespace yw::cluster
