// The local topology against the real servers: streaming replication, PgBouncer, Redis, partitions, and the
// behaviour of `ywctl cluster` (idempotent up, status, a taken port, usage errors).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <thread>

#include "common/files.hpp"
#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

// Test-only SQL, named like the registry's.
constexpr pg::Query kReplicationRows{"test.replication_rows",
                                     "SELECT application_name, state FROM pg_stat_replication ORDER BY 1"};
constexpr pg::Query kSlots{"test.slots", "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1"};
constexpr pg::Query kCreateProbe{
    "test.create_probe", "CREATE TABLE IF NOT EXISTS replication_probe (id int PRIMARY KEY, note text)"};
constexpr pg::Query kInsertProbe{"test.insert_probe", "INSERT INTO replication_probe VALUES ($1::int, $2)"};
constexpr pg::Query kReadProbe{"test.read_probe", "SELECT note FROM replication_probe WHERE id = $1::int"};
constexpr pg::Query kIsSuperuser{"test.is_superuser",
                                 "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"};
constexpr pg::Query kCurrentUser{"test.current_user", "SELECT current_user AS u, pg_is_in_recovery() AS r"};
constexpr pg::Query kPostmasterStart{"test.postmaster_start", "SELECT pg_postmaster_start_time()::text AS t"};
constexpr pg::Query kPartitionNames{
    "test.partition_names",
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'conversation_message'::regclass ORDER BY 1"};

TEST(Topology, TwoReplicasStreamOnTheirSlots) {
    auto primary = Topology::get().superuser("primary");
    auto rows = primary.query(kReplicationRows);
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ(rows->text(0, "application_name"), "replica_1");
    EXPECT_EQ(rows->text(1, "application_name"), "replica_2");
    EXPECT_EQ(rows->text(0, "state"), "streaming");
    EXPECT_EQ(rows->text(1, "state"), "streaming");
    auto slots = primary.query(kSlots);
    ASSERT_TRUE(slots.ok());
    ASSERT_EQ(slots->size(), 2u);
    EXPECT_EQ(slots->text(0, "slot_name"), "replica_1_slot");
    EXPECT_EQ(slots->text(0, "active"), "t");
    EXPECT_EQ(slots->text(1, "slot_name"), "replica_2_slot");
    EXPECT_EQ(slots->text(1, "active"), "t");
}

TEST(Topology, ARowWrittenOnThePrimaryIsReadOnBothReplicas) {
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.query(kCreateProbe).ok());
    std::string note = fmt::format("written at {}", std::time(nullptr));
    auto inserted = primary.query(kInsertProbe, {"1", note});
    ASSERT_TRUE(inserted.ok()) << inserted.error().message;
    for (const char* node : {"replica-1", "replica-2"}) {
        auto replica = Topology::get().superuser(node);
        std::string seen;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto r = replica.query(kReadProbe, {"1"});
            if (r.ok() && !r->empty()) {
                seen = r->text(0, "note");
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
        EXPECT_EQ(seen, note) << node;
        // A replica refuses writes.
        auto write = replica.query(kInsertProbe, {"2", "x"});
        EXPECT_FALSE(write.ok()) << node;
    }
}

TEST(Topology, PgBouncerAdminConsoleAnswersShowPools) {
    auto c = Topology::get().connections();
    auto admin = pg::SyncConnection::open(c.pgbouncer_admin);
    ASSERT_TRUE(admin.ok()) << admin.error().message;
    auto pools = admin->simple_query("test.show_pools", "SHOW POOLS");
    ASSERT_TRUE(pools.ok()) << pools.error().message;
    EXPECT_GE(pools->size(), 1u);
    EXPECT_NO_FATAL_FAILURE(pools->column_index("cl_waiting"));
    auto config = admin->simple_query("test.show_config", "SHOW CONFIG");
    ASSERT_TRUE(config.ok());
    std::map<std::string, std::string> settings;
    for (const auto& row : config->rows) settings[row[0].value_or("")] = row[1].value_or("");
    EXPECT_EQ(settings["pool_mode"], "transaction");
    EXPECT_EQ(settings["default_pool_size"], "50");
    // The postgres superuser reaches the console too, as RB-5 does.
    auto as_postgres = pg::SyncConnection::open(fmt::format(
        "host=127.0.0.1 port={} user=postgres dbname=pgbouncer", Topology::get().ports().pgbouncer));
    ASSERT_TRUE(as_postgres.ok()) << as_postgres.error().message;
}

TEST(Topology, AppUserQueriesThroughPgBouncerAndIsNotASuperuser) {
    auto app = Topology::get().app();
    auto who = app.query(kCurrentUser);
    ASSERT_TRUE(who.ok()) << who.error().message;
    EXPECT_EQ(who->text(0, "u"), "app_user");
    EXPECT_EQ(who->text(0, "r"), "f");  // PgBouncer points at the primary
    auto super = app.query(kIsSuperuser);
    ASSERT_TRUE(super.ok());
    EXPECT_EQ(super->text(0, "rolsuper"), "f");
    // The application role needs its password: PgBouncer rejects a wrong one.
    auto wrong = pg::SyncConnection::open(
        fmt::format("host=127.0.0.1 port={} user=app_user password=wrong dbname=ywmessaging",
                    Topology::get().ports().pgbouncer));
    EXPECT_FALSE(wrong.ok());
}

TEST(Topology, RedisAnswersPing) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", Topology::get().ports().redis, tv);
    ASSERT_TRUE(c != nullptr && c->err == 0);
    auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
    ASSERT_NE(reply, nullptr);
    EXPECT_EQ(std::string(reply->str, reply->len), "PONG");
    freeReplyObject(reply);
    redisFree(c);
}

std::string month_partition(int offset) {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    int months = utc.tm_year * 12 + utc.tm_mon + offset;
    return fmt::format("conversation_message_{:04d}_{:02d}", 1900 + months / 12, months % 12 + 1);
}

TEST(Topology, PartitionsCoverTwentyFourMonthsBackAndTwoAhead) {
    auto primary = Topology::get().superuser("primary");
    auto rows = primary.query(kPartitionNames);
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    std::set<std::string> names;
    for (size_t i = 0; i < rows->size(); ++i) names.insert(rows->text(i, "relname"));
    for (int offset = -24; offset <= 2; ++offset) {
        EXPECT_TRUE(names.contains(month_partition(offset))) << month_partition(offset);
    }
    EXPECT_FALSE(names.contains(month_partition(-25)));
    EXPECT_FALSE(names.contains(month_partition(3)));
}

TEST(Topology, PartitionsEnsureCreatesAheadIdempotently) {
    auto env = Topology::get().env_file().string();
    auto first = run_built("ywctl", {"--config", env, "--json", "partitions", "ensure", "--ahead", "4"});
    ASSERT_EQ(first.exit_code, 0) << first.output;
    auto created = boost::json::parse(first.output.substr(first.output.find('{')));
    auto names = created.at("created").as_array();
    ASSERT_EQ(names.size(), 2u);
    EXPECT_EQ(names[0].as_string(), month_partition(3));
    EXPECT_EQ(names[1].as_string(), month_partition(4));
    auto second = run_built("ywctl", {"--config", env, "--json", "partitions", "ensure", "--ahead", "4"});
    ASSERT_EQ(second.exit_code, 0) << second.output;
    EXPECT_NE(second.output.find("\"created\":[]"), std::string::npos) << second.output;
    auto bad = run_built("ywctl", {"--config", env, "partitions", "ensure", "--ahead", "-1"});
    EXPECT_EQ(bad.exit_code, 64) << bad.output;
}

TEST(Topology, StatusReportsEveryNodeAndExitsOk) {
    auto dir = Topology::get().dir().string();
    auto r = run_built("ywctl", {"cluster", "status", "--dir", dir, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = boost::json::parse(r.output);
    auto nodes = doc.at("nodes").as_array();
    ASSERT_EQ(nodes.size(), 6u);
    std::map<std::string, boost::json::object> by_name;
    for (auto& n : nodes) by_name[std::string(n.at("name").as_string())] = n.as_object();
    EXPECT_EQ(by_name["primary"].at("role").as_string(), "primary");
    EXPECT_EQ(by_name["replica-1"].at("role").as_string(), "replica");
    EXPECT_EQ(by_name["replica-1"].at("state").as_string(), "streaming");
    EXPECT_EQ(by_name["replica-2"].at("state").as_string(), "streaming");
    EXPECT_TRUE(by_name["replica-2"].at("lag_ms").is_int64());
    EXPECT_EQ(by_name["pgbouncer"].at("state").as_string(), "up");
    EXPECT_EQ(by_name["redis"].at("state").as_string(), "up");
    EXPECT_EQ(by_name["s3"].at("state").as_string(), "up");
    EXPECT_EQ(by_name["s3"].at("role").as_string(), "object storage");
    auto table = run_built("ywctl", {"cluster", "status", "--dir", dir});
    EXPECT_EQ(table.exit_code, 0);
    EXPECT_NE(table.output.find("✓  replica-1"), std::string::npos) << table.output;
}

TEST(Topology, UpAgainLeavesRunningNodesAlone) {
    auto before = Topology::get().superuser("primary").query(kPostmasterStart);
    ASSERT_TRUE(before.ok());
    std::string env_before = read_text(Topology::get().env_file());
    auto r = run_built("ywctl", {"cluster", "up", "--dir", Topology::get().dir().string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("start primary"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("start the S3 server"), std::string::npos) << r.output;
    EXPECT_EQ(read_text(Topology::get().env_file()), env_before);  // same S3 key: moto kept running
    auto after = Topology::get().superuser("primary").query(kPostmasterStart);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(before->text(0, "t"), after->text(0, "t"));
}

TEST(Topology, UpWithATakenPortNamesItAndStartsNothing) {
    // Hold one port of a second topology's range, then ask for that topology.
    int base = 0;
    for (int candidate = 41000; candidate < 49000; candidate += 7) {
        auto p = cluster::Ports::from_base(candidate);
        if (!port_in_use(p.primary) && !port_in_use(p.replica1) && !port_in_use(p.replica2) &&
            !port_in_use(p.pgbouncer) && !port_in_use(p.redis)) {
            base = candidate;
            break;
        }
    }
    ASSERT_NE(base, 0);
    auto ports = cluster::Ports::from_base(base);
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(ports.pgbouncer));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(holder, 1), 0);

    char templ[] = "/tmp/yw-it-taken-XXXXXX";
    std::string dir = mkdtemp(templ);
    auto r = run_built("ywctl", {"cluster", "up", "--dir", dir, "--port-base", std::to_string(base)});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find(fmt::format("port {} (for pgbouncer) is already in use", ports.pgbouncer)),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(port_in_use(ports.primary));
    EXPECT_FALSE(port_in_use(ports.replica1));
    EXPECT_FALSE(port_in_use(ports.redis));
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "up wrote files before finding the port taken";
    close(holder);
    std::filesystem::remove_all(dir);
}

TEST(Ywctl, UsageErrorsExit64WithAMessage) {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    std::vector<Case> cases = {
        {{"frobnicate"}, "frobnicate"},
        {{"cluster", "explode"}, "explode"},
        {{"cluster", "status", "--bogus"}, "--bogus"},
        {{"cluster"}, "cluster"},
        {{}, "subcommand"},
        {{"cluster", "up", "--port-base", "80"}, "port-base"},
    };
    for (const auto& c : cases) {
        auto r = run_built("ywctl", c.args);
        EXPECT_EQ(r.exit_code, 64) << fmt::format("{}", fmt::join(c.args, " ")) << "\n" << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
    }
    auto destroy = run_built("ywctl", {"cluster", "destroy", "--dir", "/tmp/yw-nothing-here"});
    EXPECT_EQ(destroy.exit_code, 64) << destroy.output;  // no TTY and no --yes: refuses
}

}  // namespace
}  // namespace yw::test
