// ywctl failover / rejoin against a real topology (RB-2): usage errors, refusals that change nothing, a
// primary killed with SIGKILL and a standby promoted, PgBouncer repointed, the old primary rejoined with
// pg_rewind, and `ywctl cluster` showing and restarting the nodes in their new roles. Breaks its topology:
// its own binary, tests in order.
#include "ops/failover.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "node/control.hpp"
#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr pg::Query kInRecovery{"test.in_recovery", "SELECT pg_is_in_recovery() AS r"};
constexpr pg::Query kCreateTable{"test.create_failover",
                                 "CREATE TABLE IF NOT EXISTS failover_probe (id int PRIMARY KEY, note text)"};
constexpr pg::Query kInsert{"test.insert_failover", "INSERT INTO failover_probe VALUES ($1::int, $2)"};
constexpr pg::Query kRead{"test.read_failover", "SELECT note FROM failover_probe WHERE id = $1::int"};
constexpr pg::Query kStandbys{"test.standbys",
                              "SELECT application_name, state FROM pg_stat_replication ORDER BY 1"};

std::vector<std::string> ctl_env() { return {"YW_CONFIG_FILE=" + Topology::get().env_file().string()}; }

RunResult ywctl(std::vector<std::string> args) { return run_built("ywctl", args, ctl_env()); }

std::string role_of(const std::string& node) {
    auto conn = Topology::get().superuser(node);
    auto r = conn.query(kInRecovery);
    if (!r) return "error: " + r.error().message;
    return r->text(0, "r") == "t" ? "replica" : "primary";
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string pgbouncer_ini() { return read_file(Topology::get().dir() / "pgbouncer" / "pgbouncer.ini"); }

// `ywctl cluster status --json`: role of each node by name, and the exit code.
std::map<std::string, std::string> cluster_roles(int* exit_code = nullptr) {
    auto r = run_built("ywctl", {"cluster", "status", "--json", "--dir", Topology::get().dir().string()});
    if (exit_code) *exit_code = r.exit_code;
    std::map<std::string, std::string> roles;
    boost::system::error_code ec;
    auto doc = json::parse(r.output.substr(r.output.find('{')), ec);
    if (ec) return roles;
    for (const auto& n : doc.at("nodes").as_array())
        roles[std::string(n.at("name").as_string())] = std::string(n.at("role").as_string());
    return roles;
}

TEST(Failover, AWrongNodeNameIsAUsageErrorListingTheNodes) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"failover", "--to", "replica-9", "--yes"},
             {"rejoin", "replica-9", "--yes", "--dir", Topology::get().dir().string()},
             {"switchover", "--to", "replica-9", "--yes", "--dir", Topology::get().dir().string()},
             {"drill", "failover", "--to", "replica-9", "--api", "http://127.0.0.1:1", "--yes"}}) {
        auto r = ywctl(args);
        EXPECT_EQ(r.exit_code, 64) << args[0] << ": " << r.output;
        EXPECT_NE(r.output.find("replica-9"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("primary, replica-1, replica-2"), std::string::npos) << r.output;
    }
    EXPECT_EQ(role_of("primary"), "primary");
}

TEST(Failover, WithoutYesAndWithoutATerminalNothingHappens) {
    auto r = ywctl({"failover", "--to", "replica-1", "--force"});
    EXPECT_EQ(r.exit_code, 64) << r.output;
    EXPECT_NE(r.output.find("promote replica-1"), std::string::npos) << r.output;  // the plan was shown
    EXPECT_EQ(role_of("replica-1"), "replica");
}

TEST(Failover, RefusedWhileThePrimaryAnswers) {
    std::string ini = pgbouncer_ini();
    auto r = ywctl({"failover", "--to", "replica-1", "--yes"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("primary still answers as a primary"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("nothing changed"), std::string::npos) << r.output;
    EXPECT_EQ(role_of("primary"), "primary");
    EXPECT_EQ(role_of("replica-1"), "replica");
    EXPECT_EQ(pgbouncer_ini(), ini);
}

TEST(Failover, ToAStandbyThatIsDownIsRefusedAndNothingChanges) {
    std::string ini = pgbouncer_ini();
    ASSERT_TRUE(node::stop(Topology::get().dir() / "replica-2", false).ok());
    // --force overrides "the primary still answers", never "the target is down".
    auto r = ywctl({"failover", "--to", "replica-2", "--force", "--yes", "--json"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("replica-2 is down"), std::string::npos) << r.output;
    EXPECT_EQ(role_of("primary"), "primary");
    EXPECT_EQ(role_of("replica-1"), "replica");
    EXPECT_EQ(pgbouncer_ini(), ini);
    ASSERT_TRUE(Topology::get().local().up().ok());  // replica-2 back, streaming
    EXPECT_EQ(role_of("replica-2"), "replica");
}

TEST(Failover, APrimaryKilledWithSigkillIsReplacedAndRejoinsAsAStandby) {
    auto app = Topology::get().app();
    ASSERT_TRUE(app.query(kCreateTable).ok());
    ASSERT_TRUE(app.query(kInsert, {"1", "before the crash"}).ok());

    ASSERT_TRUE(node::stop(Topology::get().dir() / "primary", true).ok());
    auto r = ywctl({"failover", "--yes", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json::parse(r.output.substr(r.output.find("{\"ok\"")));
    std::string promoted(doc.at("new_primary").as_string());
    std::string other = promoted == "replica-1" ? "replica-2" : "replica-1";
    EXPECT_EQ(role_of(promoted), "primary");
    EXPECT_EQ(role_of(other), "replica");
    // Every step is timed and reported.
    EXPECT_GE(doc.at("steps").as_array().size(), 5u) << r.output;

    // PgBouncer now sends the application to the new primary: the row is there, and writes work.
    auto after = Topology::get().app();
    auto read = after.query(kRead, {"1"});
    ASSERT_TRUE(read.ok()) << read.error().message;
    ASSERT_EQ(read->size(), 1u);
    EXPECT_TRUE(after.query(kInsert, {"2", "after the failover"}).ok());
    auto via = after.query(kInRecovery);
    ASSERT_TRUE(via.ok());
    EXPECT_EQ(via->text(0, "r"), "f");
    EXPECT_NE(pgbouncer_ini().find(fmt::format("port={}", Topology::get().local().port_of(promoted))),
              std::string::npos);

    // The other standby follows the new primary.
    auto np = Topology::get().superuser(promoted);
    auto standbys = np.query(kStandbys);
    ASSERT_TRUE(standbys.ok());
    ASSERT_EQ(standbys->size(), 1u);
    EXPECT_EQ(standbys->text(0, "application_name"), node::application_name(other));

    // cluster status shows the real roles; the old primary is a former primary that must rejoin.
    int exit_code = 0;
    auto roles = cluster_roles(&exit_code);
    EXPECT_EQ(roles[promoted], "primary");
    EXPECT_EQ(roles[other], "replica");
    EXPECT_EQ(roles["primary"], "former primary");
    EXPECT_EQ(exit_code, 2);

    // Rejoin: pg_rewind, its own port kept, streaming from the new primary under application_name "primary".
    auto rejoined = ywctl({"rejoin", "primary", "--yes", "--json", "--dir", Topology::get().dir().string()});
    ASSERT_EQ(rejoined.exit_code, 0) << rejoined.output;
    EXPECT_NE(rejoined.output.find("\"method\":\"pg_rewind\""), std::string::npos) << rejoined.output;
    EXPECT_EQ(role_of("primary"), "replica");
    auto row = Topology::get().superuser("primary").query(kRead, {"2"});
    ASSERT_TRUE(row.ok()) << row.error().message;
    EXPECT_EQ(row->size(), 1u);
    roles = cluster_roles(&exit_code);
    EXPECT_EQ(roles["primary"], "replica");
    EXPECT_EQ(roles[promoted], "primary");
    EXPECT_EQ(exit_code, 0);
}

TEST(Failover, ClusterDownAndUpKeepsTheRolesItFound) {
    auto before = cluster_roles();
    ASSERT_EQ(before["primary"], "replica");
    ASSERT_TRUE(Topology::get().local().down().ok());
    auto up = Topology::get().local().up();
    ASSERT_TRUE(up.ok()) << up.error().message;
    int exit_code = 0;
    auto after = cluster_roles(&exit_code);
    EXPECT_EQ(after, before);
    EXPECT_EQ(exit_code, 0);
    auto app = Topology::get().app();
    EXPECT_TRUE(app.query(kInsert, {"3", "after a restart"}).ok());
}

TEST(Failover, AControlledSwitchoverBringsThePrimaryBackWithoutTwoPrimaries) {
    auto r =
        ywctl({"switchover", "--to", "primary", "--yes", "--json", "--dir", Topology::get().dir().string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(role_of("primary"), "primary");
    EXPECT_EQ(role_of("replica-1"), "replica");
    EXPECT_EQ(role_of("replica-2"), "replica");
    auto app = Topology::get().app();
    auto read = app.query(kRead, {"3"});
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(read->size(), 1u);
    EXPECT_TRUE(app.query(kInsert, {"4", "after the switchover"}).ok());
    auto standbys = Topology::get().superuser("primary").query(kStandbys);
    ASSERT_TRUE(standbys.ok());
    ASSERT_EQ(standbys->size(), 2u);
    EXPECT_EQ(standbys->text(0, "state"), "streaming");
    EXPECT_EQ(standbys->text(1, "state"), "streaming");
}

}  // namespace
}  // namespace yw::test
