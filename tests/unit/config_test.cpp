// Configuration parsing: defaults, every validation naming its variable, the KEY=VALUE file.
#include "common/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace yw {
namespace {

Env minimal() { return {{"DATABASE_URL", "postgresql://app_user:pw@127.0.0.1:16432/ywmessaging"}}; }

TEST(Config, DefaultsWithOnlyDatabaseUrl) {
    auto c = parse_config(minimal());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->http_host, "127.0.0.1");
    EXPECT_EQ(c->http_port, 8080);
    EXPECT_EQ(c->slow_query_threshold_ms, 100);
    EXPECT_FALSE(c->auto_migrate);
    EXPECT_FALSE(c->cache_warming_enabled);
    EXPECT_EQ(c->health_timeout, std::chrono::milliseconds(1000));
    EXPECT_TRUE(c->read_replicas.empty());
    EXPECT_TRUE(c->redis_url.empty());
    EXPECT_TRUE(c->warnings.empty());
}

TEST(Config, MissingDatabaseUrlIsNamed) {
    auto c = parse_config({});
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("DATABASE_URL"), std::string::npos);
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

TEST(Config, EveryBadValueIsReportedWithItsName) {
    Env env = minimal();
    env["YW_HTTP_PORT"] = "80a";
    env["SLOW_QUERY_THRESHOLD_MS"] = "-5";
    env["CACHE_WARMING_ENABLED"] = "maybe";
    env["YW_LOG_LEVEL"] = "loud";
    env["REDIS_URL"] = "http://example";
    env["YW_ADMIN_TOKEN"] = "short";
    auto c = parse_config(env);
    ASSERT_FALSE(c.ok());
    for (const char* name : {"YW_HTTP_PORT", "SLOW_QUERY_THRESHOLD_MS", "CACHE_WARMING_ENABLED",
                             "YW_LOG_LEVEL", "REDIS_URL", "YW_ADMIN_TOKEN"}) {
        EXPECT_NE(c.error().message.find(name), std::string::npos)
            << name << " missing in: " << c.error().message;
    }
}

TEST(Config, PortOutOfRange) {
    Env env = minimal();
    env["YW_HTTP_PORT"] = "70000";
    auto c = parse_config(env);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("YW_HTTP_PORT must be an integer from 1 to 65535, got '70000'"),
              std::string::npos);
}

TEST(Config, InvalidDatabaseUrlIsRejectedByLibpqParser) {
    Env env = {{"DATABASE_URL", "postgresql://host/db?bogus_option=1"}};
    auto c = parse_config(env);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("DATABASE_URL is not a valid PostgreSQL connection string"),
              std::string::npos);
}

TEST(Config, InvalidPortInDatabaseUrlIsCaughtAtStart) {
    for (const char* url :
         {"postgresql://h:notaport/db", "host=h port=99999 dbname=d", "postgresql://h1:5432,h2:x/db"}) {
        auto c = parse_config({{"DATABASE_URL", url}});
        ASSERT_FALSE(c.ok()) << url;
        EXPECT_NE(c.error().message.find("DATABASE_URL has an invalid port"), std::string::npos)
            << c.error().message;
    }
    EXPECT_TRUE(parse_config({{"DATABASE_URL", "postgresql://h1:5432,h2:5433/db"}}).ok());
}

TEST(Config, ReplicasNamedAndUnnamed) {
    Env env = minimal();
    env["DATABASE_READ_REPLICAS"] =
        "replica-1=postgresql://app_user@127.0.0.1:15433/ywmessaging, "
        "postgresql://app_user@127.0.0.1:15434/ywmessaging";
    auto c = parse_config(env);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->read_replicas.size(), 2u);
    EXPECT_EQ(c->read_replicas[0].name, "replica-1");
    EXPECT_EQ(c->read_replicas[0].url, "postgresql://app_user@127.0.0.1:15433/ywmessaging");
    EXPECT_EQ(c->read_replicas[1].name, "replica-2");
}

TEST(Config, DuplicateReplicaNames) {
    Env env = minimal();
    env["DATABASE_READ_REPLICAS"] = "a=postgresql://h:1/d,a=postgresql://h:2/d";
    auto c = parse_config(env);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("names 'a' twice"), std::string::npos);
}

TEST(Config, BooleansAcceptCommonSpellings) {
    for (const char* yes : {"1", "true", "TRUE", "yes", "on"}) {
        Env env = minimal();
        env["CACHE_WARMING_ENABLED"] = yes;
        auto c = parse_config(env);
        ASSERT_TRUE(c.ok());
        EXPECT_TRUE(c->cache_warming_enabled) << yes;
    }
}

TEST(Config, UnknownYwVariableIsAWarningNotAnError) {
    Env env = minimal();
    env["YW_HTTP_PROT"] = "9000";
    env["UNRELATED"] = "x";
    auto c = parse_config(env);
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->warnings.size(), 1u);
    EXPECT_NE(c->warnings[0].find("YW_HTTP_PROT"), std::string::npos);
}

TEST(Config, EnvFileParsesCommentsQuotesAndExport) {
    std::string path = testing::TempDir() + "/yw_config_test.env";
    {
        std::ofstream out(path);
        out << "# comment\n\nexport DATABASE_URL='postgresql://u@h:1/d'\nYW_HTTP_PORT = "
               "\"9090\"\nREDIS_URL=redis://h:6379/0\n";
    }
    auto env = read_env_file(path);
    ASSERT_TRUE(env.ok()) << env.error().message;
    EXPECT_EQ(env->at("DATABASE_URL"), "postgresql://u@h:1/d");
    EXPECT_EQ(env->at("YW_HTTP_PORT"), "9090");
    auto c = parse_config(*env);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->http_port, 9090);
    std::remove(path.c_str());
}

TEST(Config, EnvFileRejectsGarbageWithLineNumber) {
    std::string path = testing::TempDir() + "/yw_config_bad.env";
    {
        std::ofstream out(path);
        out << "DATABASE_URL=x\nthis is not a setting\n";
    }
    auto env = read_env_file(path);
    ASSERT_FALSE(env.ok());
    EXPECT_NE(env.error().message.find(":2:"), std::string::npos);
    std::remove(path.c_str());
}

TEST(Config, MissingEnvFile) {
    auto env = read_env_file("/nonexistent/yw.env");
    ASSERT_FALSE(env.ok());
    EXPECT_NE(env.error().message.find("/nonexistent/yw.env"), std::string::npos);
}

TEST(Config, NodesAdminUrlsAndProbeSettings) {
    Env env = minimal();
    env["DATABASE_READ_REPLICAS"] = "replica-1=postgresql://app_user@127.0.0.1:15433/ywmessaging";
    env["DATABASE_ADMIN_URLS"] =
        "primary=postgresql://postgres@127.0.0.1:15432/postgres,replica-1=postgresql://"
        "postgres@127.0.0.1:15433/"
        "postgres";
    env["PGBOUNCER_ADMIN_URL"] = "postgresql://pgbouncer@127.0.0.1:16432/pgbouncer";
    env["YW_PROBE_INTERVAL_MS"] = "250";
    env["YW_MAX_REPLICA_LAG_MS"] = "2000";
    auto c = parse_config(env);
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto nodes = c->nodes();
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_EQ(nodes[0].name, "primary");
    EXPECT_EQ(nodes[0].url, c->database_url);  // DATABASE_PRIMARY_URL defaults to DATABASE_URL
    EXPECT_EQ(nodes[1].name, "replica-1");
    ASSERT_EQ(c->admin_urls.size(), 2u);
    EXPECT_EQ(c->admin_urls[1].name, "replica-1");
    EXPECT_EQ(c->probe_interval.count(), 250);
    EXPECT_EQ(c->probe_timeout.count(), 500);
    EXPECT_EQ(c->max_replica_lag.count(), 2000);
    EXPECT_TRUE(c->warnings.empty());
}

TEST(Config, RateLimitAndRedisSettings) {
    Env env = minimal();
    auto defaults = parse_config(env);
    ASSERT_TRUE(defaults.ok());
    EXPECT_TRUE(defaults->rate_limit_enabled);
    EXPECT_EQ(defaults->instances, 1);
    EXPECT_EQ(defaults->rate_limit_fallback, "local");
    EXPECT_EQ(defaults->rate_limit_timeout.count(), 50);
    env["YW_RATE_LIMIT_ENABLED"] = "false";
    env["YW_INSTANCES"] = "4";
    env["YW_RATE_LIMIT_FALLBACK"] = "closed";
    env["YW_RATE_LIMIT_TIMEOUT_MS"] = "20";
    env["YW_REDIS_CONNECT_TIMEOUT_MS"] = "300";
    env["YW_REDIS_COMMAND_TIMEOUT_MS"] = "80";
    auto c = parse_config(env);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_FALSE(c->rate_limit_enabled);
    EXPECT_EQ(c->instances, 4);
    EXPECT_EQ(c->rate_limit_fallback, "closed");
    EXPECT_EQ(c->rate_limit_timeout.count(), 20);
    EXPECT_EQ(c->redis_connect_timeout.count(), 300);
    EXPECT_EQ(c->redis_command_timeout.count(), 80);
    EXPECT_TRUE(c->warnings.empty());
    env["YW_RATE_LIMIT_FALLBACK"] = "maybe";
    env["YW_INSTANCES"] = "0";
    auto bad = parse_config(env);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("YW_RATE_LIMIT_FALLBACK"), std::string::npos);
    EXPECT_NE(bad.error().message.find("YW_INSTANCES"), std::string::npos);
}

TEST(Config, EveryDocumentedYwNameIsKnown) {
    Env env = minimal();
    for (const char* name : {"YW_DB_POOL_SIZE", "YW_DB_PREPARE", "YW_QUERY_TIMEOUT_MS", "YW_PROBE_TIMEOUT_MS",
                             "YW_CONFIG_FILE", "YW_PG_BINDIR", "YW_KEY_CACHE_TTL_MS", "YW_QUERY_WINDOW_S"}) {
        env[name] = name == std::string("YW_DB_PREPARE") ? "false" : "100";
    }
    env["YW_CONFIG_FILE"] = "";
    env["YW_PG_BINDIR"] = "/usr/lib/postgresql/15/bin";
    env["YW_TYPO_SETTING"] = "1";
    auto c = parse_config(env);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->warnings.size(), 1u);
    EXPECT_NE(c->warnings[0].find("YW_TYPO_SETTING"), std::string::npos);
}

TEST(Config, CacheSettingsDefaultsAndBounds) {
    auto d = parse_config(minimal());
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_TRUE(d->cache_enabled);
    EXPECT_EQ(d->cache_ttl.count(), 300);
    EXPECT_EQ(d->cache_messages_ttl.count(), 60);
    EXPECT_EQ(d->cache_negative_ttl.count(), 5);
    EXPECT_EQ(d->cache_ttl_jitter_pct, 10);
    EXPECT_EQ(d->cache_timeout.count(), 100);
    EXPECT_EQ(d->cache_warming_max_keys, 1000);
    EXPECT_EQ(d->cache_warming_timeout.count(), 5000);

    Env env = minimal();
    env["YW_CACHE_ENABLED"] = "false";
    env["YW_CACHE_TTL_S"] = "600";
    env["YW_CACHE_MESSAGES_TTL_S"] = "30";
    env["YW_CACHE_NEGATIVE_TTL_S"] = "2";
    env["YW_CACHE_TTL_JITTER_PCT"] = "20";
    env["YW_CACHE_TIMEOUT_MS"] = "50";
    env["YW_CACHE_WARMING_MAX_KEYS"] = "10";
    env["YW_CACHE_WARMING_TIMEOUT_MS"] = "2000";
    auto c = parse_config(env);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_FALSE(c->cache_enabled);
    EXPECT_EQ(c->cache_ttl.count(), 600);
    EXPECT_EQ(c->cache_messages_ttl.count(), 30);
    EXPECT_EQ(c->cache_negative_ttl.count(), 2);
    EXPECT_EQ(c->cache_ttl_jitter_pct, 20);
    EXPECT_EQ(c->cache_timeout.count(), 50);
    EXPECT_EQ(c->cache_warming_max_keys, 10);
    EXPECT_EQ(c->cache_warming_timeout.count(), 2000);
    EXPECT_TRUE(c->warnings.empty());

    Env bad = minimal();
    bad["YW_CACHE_TTL_S"] = "0";
    bad["YW_CACHE_TTL_JITTER_PCT"] = "90";
    bad["YW_CACHE_NEGATIVE_TTL_S"] = "x";
    auto b = parse_config(bad);
    ASSERT_FALSE(b.ok());
    for (const char* name : {"YW_CACHE_TTL_S", "YW_CACHE_TTL_JITTER_PCT", "YW_CACHE_NEGATIVE_TTL_S"}) {
        EXPECT_NE(b.error().message.find(name), std::string::npos) << name;
    }
}
}  // namespace
}  // namespace yw
