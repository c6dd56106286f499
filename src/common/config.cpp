// Parsing and validation of Config; pure functions over an Env map so tests need no real environment.
#include "common/config.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

extern char** environ;

namespace yw {
namespace {

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

class Parser {
  public:
    explicit Parser(const Env& env) : env_(env) {}

    // Every lookup records the name: YW_* names never looked up are reported as probable typos.
    const std::string* get(const char* name) {
        known_.insert(name);
        auto it = env_.find(name);
        if (it == env_.end() || it->second.empty()) return nullptr;
        return &it->second;
    }

    void problem(std::string text) { problems_.push_back(std::move(text)); }
    const std::vector<std::string>& problems() const { return problems_; }
    bool known(const std::string& name) const { return known_.contains(name); }

    template <typename Int>
    void integer(const char* name, Int& out, long long min, long long max) {
        const std::string* v = get(name);
        if (!v) return;
        long long parsed = 0;
        auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
        if (ec != std::errc{} || ptr != v->data() + v->size() || parsed < min || parsed > max) {
            problem(fmt::format("{} must be an integer from {} to {}, got '{}'", name, min, max, *v));
            return;
        }
        out = static_cast<Int>(parsed);
    }

    void millis(const char* name, std::chrono::milliseconds& out, long long min, long long max) {
        long long ms = out.count();
        integer(name, ms, min, max);
        out = std::chrono::milliseconds(ms);
    }

    void boolean(const char* name, bool& out) {
        const std::string* v = get(name);
        if (!v) return;
        std::string lower = *v;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") {
            out = true;
        } else if (lower == "0" || lower == "false" || lower == "no" || lower == "off") {
            out = false;
        } else {
            problem(fmt::format("{} must be true or false, got '{}'", name, *v));
        }
    }

    void postgres_url(const char* name, const std::string& value) {
        char* err = nullptr;
        PQconninfoOption* opts = PQconninfoParse(value.c_str(), &err);
        if (!opts) {
            std::string why = err ? trim(err) : "unparseable";
            PQfreemem(err);
            problem(fmt::format("{} is not a valid PostgreSQL connection string: {}", name, why));
            return;
        }
        // libpq parses but does not check values until it connects; a bad port should fail at start, by name.
        for (PQconninfoOption* o = opts; o->keyword; ++o) {
            if (std::string_view(o->keyword) != "port" || !o->val) continue;
            std::string_view ports = o->val;
            while (!ports.empty()) {
                auto comma = ports.find(',');
                std::string_view one = ports.substr(0, comma);
                int port = 0;
                auto [ptr, ec] = std::from_chars(one.data(), one.data() + one.size(), port);
                if (ec != std::errc{} || ptr != one.data() + one.size() || port < 1 || port > 65535) {
                    problem(fmt::format("{} has an invalid port '{}'", name, one));
                    break;
                }
                ports = comma == std::string_view::npos ? std::string_view{} : ports.substr(comma + 1);
            }
        }
        PQconninfoFree(opts);
    }

  private:
    const Env& env_;
    std::vector<std::string> problems_;
    std::set<std::string, std::less<>> known_;
};

// "name=url,name=url" (or bare URLs, named `<prefix>N` by position) into `out`; names must be unique.
void parse_named_urls(Parser& p, const char* variable, const char* prefix, std::vector<NodeEndpoint>& out) {
    const std::string* v = p.get(variable);
    if (!v) return;
    std::string_view rest = *v;
    int index = 0;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string item = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        ++index;
        if (item.empty()) continue;
        NodeEndpoint ep;
        // "name=url", unless the '=' belongs to a key=value DSN (then the text before it has a space or is a
        // DSN key).
        auto eq = item.find('=');
        auto scheme = item.find("://");
        if (eq != std::string::npos && (scheme == std::string::npos || eq < scheme) &&
            item.substr(0, eq).find(' ') == std::string::npos &&
            item.substr(eq + 1).find("://") != std::string::npos) {
            ep.name = trim(item.substr(0, eq));
            ep.url = trim(item.substr(eq + 1));
        } else {
            ep.name = fmt::format("{}{}", prefix, index);
            ep.url = item;
        }
        p.postgres_url(variable, ep.url);
        for (const auto& other : out) {
            if (other.name == ep.name) p.problem(fmt::format("{} names '{}' twice", variable, ep.name));
        }
        out.push_back(std::move(ep));
    }
}

void parse_redis(Parser& p, Config& c) {
    const std::string* v = p.get("REDIS_URL");
    if (!v) return;
    auto url = boost::urls::parse_uri(*v);
    if (!url || (url->scheme() != "redis" && url->scheme() != "rediss") || url->host().empty()) {
        p.problem(fmt::format(
            "REDIS_URL must look like redis://[:password@]host:port[/db], got '{}'",
            url ? std::string("a URL with another scheme or no host") : std::string("not a URL")));
        return;
    }
    c.redis_url = *v;
}

void parse_s3(Parser& p, Config& c) {
    if (const auto* v = p.get("S3_ENDPOINT")) {
        auto url = boost::urls::parse_uri(*v);
        if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty() ||
            !(url->path().empty() || url->path() == "/") || url->has_query() || url->has_userinfo()) {
            p.problem("S3_ENDPOINT must look like http(s)://host[:port], without a path or credentials");
        } else {
            c.s3.endpoint = *v;
            if (c.s3.endpoint.back() == '/') c.s3.endpoint.pop_back();
        }
    }
    if (const auto* v = p.get("S3_BUCKET")) {
        // S3's bucket naming rules: 3–63 lower-case letters, digits, dots and hyphens.
        bool ok = v->size() >= 3 && v->size() <= 63;
        for (char ch : *v)
            ok = ok && (std::islower(static_cast<unsigned char>(ch)) ||
                        std::isdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-');
        if (!ok) {
            p.problem(fmt::format(
                "S3_BUCKET must be 3–63 lower-case letters, digits, dots or hyphens, got '{}'", *v));
        } else {
            c.s3.bucket = *v;
        }
    }
    if (const auto* v = p.get("AWS_REGION")) c.s3.region = *v;
    if (const auto* v = p.get("AWS_ACCESS_KEY_ID")) c.s3.access_key_id = *v;
    if (const auto* v = p.get("AWS_SECRET_ACCESS_KEY")) c.s3.secret_access_key = *v;
    if (c.s3.configured() && (c.s3.access_key_id.empty() || c.s3.secret_access_key.empty()))
        p.problem("S3_BUCKET is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not");
    if (const auto* v = p.get("YW_ARCHIVE_LOG")) c.archive_log = *v;
}

void parse_backup(Parser& p, Config& c) {
    if (const auto* v = p.get("PGBACKREST_CONFIG")) {
        if (v->empty() || v->front() != '/')
            p.problem(fmt::format("PGBACKREST_CONFIG must be an absolute path, got '{}'", *v));
        else
            c.backup.config_file = *v;
    }
    if (const auto* v = p.get("PGBACKREST_STANZA")) {
        // pgBackRest's own rule for stanza names: letters, digits, '-', '_' and '.'.
        bool ok = !v->empty() && v->size() <= 64;
        for (char ch : *v)
            ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.');
        if (!ok)
            p.problem(
                fmt::format("PGBACKREST_STANZA must be 1–64 letters, digits, '-', '_' or '.', got '{}'", *v));
        else
            c.backup.stanza = *v;
    }
}

}  // namespace

Env process_env() {
    Env env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv = *e;
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    return env;
}

Result<Env> parse_env_text(std::string_view text, std::string_view origin) {
    Env env;
    int number = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string line(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++number;
        std::string t = trim(line);
        if (t.empty() || t[0] == '#') continue;
        if (t.rfind("export ", 0) == 0) t = trim(t.substr(7));
        auto eq = t.find('=');
        if (eq == std::string::npos || eq == 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}:{}: expected KEY=VALUE, got '{}'", origin, number, t));
        }
        std::string key = trim(t.substr(0, eq));
        std::string value = trim(t.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        env[key] = value;
    }
    return env;
}

Result<Env> read_env_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::kInvalidArgument, fmt::format("cannot read config file {}", path));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_env_text(text, path);
}

Result<Config> parse_config(const Env& env) {
    Parser p(env);
    Config c;

    if (const auto* v = p.get("YW_HTTP_HOST")) c.http_host = *v;
    p.integer("YW_HTTP_PORT", c.http_port, 1, 65535);
    p.integer("YW_THREADS", c.threads, 0, 256);
    p.integer("YW_MAX_CONNECTIONS", c.http_max_connections, 1, 1000000);
    p.millis("YW_HTTP_IDLE_TIMEOUT_MS", c.http_idle_timeout, 100, 3600000);

    if (const auto* v = p.get("DATABASE_URL")) {
        c.database_url = *v;
        p.postgres_url("DATABASE_URL", *v);
    } else {
        p.problem("DATABASE_URL is required (the primary, or PgBouncer in front of it)");
    }
    parse_named_urls(p, "DATABASE_READ_REPLICAS", "replica-", c.read_replicas);
    for (const auto& r : c.read_replicas) {
        if (r.name == "primary") p.problem("DATABASE_READ_REPLICAS cannot name a replica 'primary'");
    }
    if (const auto* v = p.get("DATABASE_PRIMARY_URL")) {
        c.primary_url = *v;
        p.postgres_url("DATABASE_PRIMARY_URL", *v);
    } else {
        c.primary_url = c.database_url;
    }
    parse_named_urls(p, "DATABASE_ADMIN_URLS", "node-", c.admin_urls);
    if (const auto* v = p.get("PGBOUNCER_ADMIN_URL")) {
        c.pgbouncer_admin_url = *v;
        p.postgres_url("PGBOUNCER_ADMIN_URL", *v);
    }
    if (const auto* v = p.get("PGBOUNCER_INI")) c.pgbouncer_ini = *v;
    p.millis("YW_PROBE_INTERVAL_MS", c.probe_interval, 50, 60000);
    p.millis("YW_PROBE_TIMEOUT_MS", c.probe_timeout, 10, 60000);
    p.millis("YW_MAX_REPLICA_LAG_MS", c.max_replica_lag, 0, 3600000);
    parse_redis(p, c);
    p.millis("YW_REDIS_CONNECT_TIMEOUT_MS", c.redis_connect_timeout, 10, 60000);
    p.millis("YW_REDIS_COMMAND_TIMEOUT_MS", c.redis_command_timeout, 1, 60000);
    p.boolean("YW_RATE_LIMIT_ENABLED", c.rate_limit_enabled);
    p.integer("YW_INSTANCES", c.instances, 1, 1000);
    if (const auto* v = p.get("YW_RATE_LIMIT_FALLBACK")) {
        if (*v != "local" && *v != "open" && *v != "closed")
            p.problem(fmt::format("YW_RATE_LIMIT_FALLBACK must be local, open or closed, got '{}'", *v));
        c.rate_limit_fallback = *v;
    }
    p.millis("YW_RATE_LIMIT_TIMEOUT_MS", c.rate_limit_timeout, 1, 10000);
    p.integer("YW_RATE_LIMIT_LEASE_MAX", c.rate_limit_lease_max, 1, 10000);
    p.millis("YW_RATE_LIMIT_LEASE_TTL_MS", c.rate_limit_lease_ttl, 1, 10000);

    if (const auto* v = p.get("YW_ADMIN_TOKEN")) {
        if (v->size() < 16) p.problem("YW_ADMIN_TOKEN must be at least 16 characters");
        c.admin_token = *v;
    }
    p.boolean("YW_AUTO_MIGRATE", c.auto_migrate);
    c.migrations_dir = YW_DEFAULT_MIGRATIONS_DIR;
    if (const auto* v = p.get("YW_MIGRATIONS_DIR")) c.migrations_dir = *v;

    p.integer("YW_DB_POOL_SIZE", c.db_pool_size, 1, 1000);
    p.boolean("YW_DB_PREPARE", c.db_prepare);
    p.millis("YW_DB_ACQUIRE_TIMEOUT_MS", c.db_acquire_timeout, 1, 60000);
    p.millis("YW_DB_CONNECT_TIMEOUT_MS", c.db_connect_timeout, 10, 60000);
    p.millis("YW_QUERY_TIMEOUT_MS", c.query_timeout, 10, 600000);
    p.millis("YW_KEY_CACHE_TTL_MS", c.key_cache_ttl, 0, 60000);
    p.integer("YW_AUTH_FAILURE_LIMIT", c.auth_failure_limit, 0, 1000000);
    long long window_s = c.query_window.count();
    p.integer("YW_QUERY_WINDOW_S", window_s, 10, 86400);
    c.query_window = std::chrono::seconds(window_s);
    if (const auto* v = p.get("YW_CURSOR_SECRET")) {
        if (v->size() < 16) p.problem("YW_CURSOR_SECRET must be at least 16 characters");
        c.cursor_secret = *v;
    }
    p.integer("SLOW_QUERY_THRESHOLD_MS", c.slow_query_threshold_ms, 1, 600000);
    p.boolean("CACHE_WARMING_ENABLED", c.cache_warming_enabled);
    p.boolean("YW_CACHE_ENABLED", c.cache_enabled);
    long long cache_s = c.cache_ttl.count();
    p.integer("YW_CACHE_TTL_S", cache_s, 1, 86400);
    c.cache_ttl = std::chrono::seconds(cache_s);
    cache_s = c.cache_messages_ttl.count();
    p.integer("YW_CACHE_MESSAGES_TTL_S", cache_s, 1, 86400);
    c.cache_messages_ttl = std::chrono::seconds(cache_s);
    cache_s = c.cache_negative_ttl.count();
    p.integer("YW_CACHE_NEGATIVE_TTL_S", cache_s, 1, 3600);
    c.cache_negative_ttl = std::chrono::seconds(cache_s);
    p.integer("YW_CACHE_TTL_JITTER_PCT", c.cache_ttl_jitter_pct, 0, 50);
    p.millis("YW_CACHE_TIMEOUT_MS", c.cache_timeout, 1, 10000);
    p.integer("YW_CACHE_WARMING_MAX_KEYS", c.cache_warming_max_keys, 0, 1000000);
    p.millis("YW_CACHE_WARMING_TIMEOUT_MS", c.cache_warming_timeout, 10, 600000);
    p.millis("YW_HEALTH_TIMEOUT_MS", c.health_timeout, 10, 60000);
    p.millis("YW_HEALTH_DETAILED_TTL_MS", c.health_detailed_ttl, 0, 60000);
    p.millis("YW_STATUS_SAMPLE_INTERVAL_MS", c.status_sample_interval, 100, 300000);
    long long maintenance_s = c.partition_maintenance_interval.count();
    p.integer("YW_PARTITION_MAINTENANCE_INTERVAL_S", maintenance_s, 0, 86400);
    c.partition_maintenance_interval = std::chrono::seconds(maintenance_s);
    p.integer("YW_PARTITIONS_AHEAD", c.partitions_ahead, 1, 120);
    p.millis("YW_SHUTDOWN_TIMEOUT_MS", c.shutdown_timeout, 0, 600000);
    parse_s3(p, c);
    parse_backup(p, c);

    if (const auto* v = p.get("YW_LOG_LEVEL"); v && !log::parse_level(*v, c.log_level)) {
        p.problem(fmt::format("YW_LOG_LEVEL must be debug, info, warn or error, got '{}'", *v));
    }
    if (const auto* v = p.get("YW_LOG_FORMAT")) {
        if (*v == "json") {
            c.log_format = log::Format::kJson;
        } else if (*v == "text") {
            c.log_format = log::Format::kText;
        } else {
            p.problem(fmt::format("YW_LOG_FORMAT must be json or text, got '{}'", *v));
        }
    }

    // Read elsewhere (load_config, ywctl's postgres_bindir), known all the same.
    p.get("YW_CONFIG_FILE");
    p.get("YW_PG_BINDIR");
    p.get("YW_MOTO_SERVER");         // ywctl cluster up
    p.get("YW_ARCHIVE_KILL_AFTER");  // fault injection of the archive tests

    if (!p.problems().empty()) {
        std::string message = "invalid configuration: ";
        for (size_t i = 0; i < p.problems().size(); ++i) message += (i ? "; " : "") + p.problems()[i];
        return make_error(ErrorCode::kInvalidArgument, message);
    }
    for (const auto& [name, value] : env) {
        if (name.rfind("YW_", 0) == 0 && !p.known(name)) {
            c.warnings.push_back(fmt::format("unknown configuration variable {} is ignored", name));
        }
    }
    return c;
}

std::vector<std::string> names_of(const std::vector<NodeEndpoint>& nodes) {
    std::vector<std::string> names;
    for (const auto& n : nodes) names.push_back(n.name);
    return names;
}

std::vector<NodeEndpoint> Config::nodes() const {
    std::vector<NodeEndpoint> all{{"primary", primary_url}};
    all.insert(all.end(), read_replicas.begin(), read_replicas.end());
    return all;
}

Result<Config> load_config(const std::string& file) {
    Env env = process_env();
    std::string path = file;
    if (path.empty()) {
        if (auto it = env.find("YW_CONFIG_FILE"); it != env.end()) path = it->second;
    }
    if (path.empty()) return parse_config(env);
    auto from_file = read_env_file(path);
    if (!from_file) return from_file.error();
    Env merged = std::move(from_file.value());
    for (auto& [k, v] : env) merged[k] = v;  // the environment wins over the file
    return parse_config(merged);
}

}  // namespace yw
