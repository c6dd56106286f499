// `ywctl index advise | create | check` and `query compare --around` (RB-9, RB-10) on the real topology, on a
// partitioned copy of conversation_message without the API's index: the hot query advised (costed with HypoPG
// on a replica), the index built partition by partition around a compare that reports a significant
// improvement with the same rows; HypoPG missing; bad names refused before anything is built; a build
// interrupted by SIGINT, by its backend killed, or by a lock it cannot get leaves no INVALID index behind;
// and check finding the invalid and the duplicate indexes.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <thread>

#include "common/config.hpp"
#include "common/files.hpp"
#include "support/ops_helpers.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* kTenant = "01a234aa-0000-7000-8000-000000000001";
constexpr const char* kConversation = "01a234aa-0000-7000-8000-000000000042";

const std::string kLatest50 =
    "SELECT id, content, created_at FROM adv_msg WHERE tenant_id = $1::uuid AND conversation_id = $2::uuid"
    " AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50";

std::string query_text(pg::SyncConnection& conn, const std::string& sql, const std::string& column) {
    auto r = conn.simple_query("test.read", sql);
    return r && !r->empty() ? r->text(0, column) : std::string("<error>");
}

// Indexes on adv_msg and its partitions that are not valid, and whether `name` exists at all.
std::string invalid_indexes() {
    auto primary = Topology::get().superuser("primary");
    return query_text(
        primary,
        "SELECT coalesce(string_agg(i.indexrelid::regclass::text, ','), '') AS names FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid WHERE NOT i.indisvalid AND c.relname LIKE 'adv_msg%'",
        "names");
}

bool exists(const std::string& relation) {
    auto primary = Topology::get().superuser("primary");
    return query_text(primary, "SELECT to_regclass('" + relation + "') IS NOT NULL AS e", "e") == "t";
}

void drop_index(const std::string& name) {
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.exec_script("test.drop", "DROP INDEX IF EXISTS " + name).ok());
}

// Three monthly partitions, 150,000 messages over 300 conversations, owned by app_user (the role ywctl builds
// indexes as) and without any index: the hot query reads every partition sequentially.
class IndexCommands : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        auto primary = Topology::get().superuser("primary");
        const std::string setup = fmt::format(
            "CREATE TABLE adv_msg (LIKE conversation_message INCLUDING DEFAULTS) PARTITION BY RANGE "
            "(created_at);"
            "CREATE TABLE adv_msg_a PARTITION OF adv_msg FOR VALUES FROM (MINVALUE) TO (now() - interval '20 "
            "hours');"
            "CREATE TABLE adv_msg_b PARTITION OF adv_msg FOR VALUES FROM (now() - interval '20 hours')"
            "  TO (now() - interval '10 hours');"
            "CREATE TABLE adv_msg_c PARTITION OF adv_msg FOR VALUES FROM (now() - interval '10 hours') TO "
            "(MAXVALUE);"
            "INSERT INTO adv_msg (id, tenant_id, conversation_id, direction, content, created_at)"
            " SELECT gen_random_uuid(), '{}'::uuid,"
            "  ('01a234aa-0000-7000-8000-' || lpad((g % 300)::text, 12, '0'))::uuid,"
            "  'outbound', 'message ' || g, now() - g * interval '0.4 second'"
            " FROM generate_series(1, 150000) g;"
            "ALTER TABLE adv_msg OWNER TO app_user; ALTER TABLE adv_msg_a OWNER TO app_user;"
            "ALTER TABLE adv_msg_b OWNER TO app_user; ALTER TABLE adv_msg_c OWNER TO app_user;"
            "ANALYZE adv_msg;",
            kTenant);
        ASSERT_TRUE(primary.exec_script("test.adv_msg", setup).ok());
        ASSERT_TRUE(wait_until(30s, [] {
            auto replica = Topology::get().superuser("replica-1");
            return query_text(replica, "SELECT count(*) AS n FROM adv_msg", "n") == "150000";
        }));
    }

    static RunResult advise(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--json",  "index", "advise",  kLatest50,
                                      "--param", kTenant, "--param", kConversation};
        args.insert(args.end(), extra.begin(), extra.end());
        return ywctl(args);
    }

    // `ywctl index create NAME --on adv_msg(COLUMNS) --yes …` as a child process, to interrupt.
    static std::vector<std::string> create_args(const std::string& name, const std::string& columns,
                                                const std::string& lock_timeout_ms) {
        return {"--config",
                Topology::get().env_file().string(),
                "index",
                "create",
                name,
                "--on",
                "adv_msg(" + columns + ")",
                "--lock-timeout-ms",
                lock_timeout_ms,
                "--yes"};
    }
};

TEST_F(IndexCommands, AdvisesTheHotQuerysIndexCostedOnAReplica) {
    auto r = advise();
    ASSERT_EQ(r.exit_code, 1) << r.output;  // an index is suggested
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("costed"), true) << r.output;
    ASSERT_TRUE(doc.at("best").is_object()) << r.output;
    const auto& best = doc.at("best").as_object();
    const auto& cols = best.at("columns").as_array();
    ASSERT_GE(cols.size(), 2u) << r.output;
    std::set<std::string> leading{std::string(cols[0].as_string()), std::string(cols[1].as_string())};
    EXPECT_EQ(leading, (std::set<std::string>{"tenant_id", "conversation_id"})) << r.output;
    EXPECT_LE(best.at("cost_ratio").as_double(), 0.5) << r.output;
    EXPECT_EQ(best.at("used"), true);
    // The recipe for a partitioned table: the parent's index ON ONLY, then each partition built and attached.
    const auto& statements = doc.at("statements").as_array();
    ASSERT_EQ(statements.size(), 1u + 2 * 3) << r.output;
    EXPECT_NE(std::string(statements[0].as_string()).find("ON ONLY \"adv_msg\""), std::string::npos);
    int concurrently = 0, attach = 0;
    for (const auto& s : statements) {
        concurrently += std::string(s.as_string()).find("CREATE INDEX CONCURRENTLY") != std::string::npos;
        attach += std::string(s.as_string()).find("ATTACH PARTITION") != std::string::npos;
    }
    EXPECT_EQ(concurrently, 3);
    EXPECT_EQ(attach, 3);
    // Nothing was built: the hypothetical indexes lived in advise's session only.
    EXPECT_FALSE(exists(std::string(doc.at("index_name").as_string())));
}

TEST_F(IndexCommands, TopAdvisesOnTheBusiestStatementsWithoutTheirValues) {
    // The hot query as the API runs it, as app_user on replica-1: pg_stat_statements keeps it as $1, $2
    // without values (and shows app_user the text of its own statements only).
    auto env = read_env_file(Topology::get().env_file().string());
    ASSERT_TRUE(env.ok());
    std::string replicas = env->at("DATABASE_READ_REPLICAS");  // replica-1=URL,replica-2=URL
    const std::string url =
        replicas.substr(replicas.find('=') + 1, replicas.find(',') - replicas.find('=') - 1);
    auto replica = pg::SyncConnection::open(url);
    ASSERT_TRUE(replica.ok()) << replica.error().message;
    for (int i = 0; i < 5; ++i) {
        const std::string sql = fmt::format(
            "SELECT id, content, created_at FROM adv_msg WHERE tenant_id = '{}'::uuid AND conversation_id = "
            "'{}'::uuid"
            " AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50",
            kTenant, kConversation);
        ASSERT_TRUE(replica->simple_query("test.hot", sql).ok());
    }
    auto r = ywctl({"--json", "index", "advise", "--top", "5"});
    ASSERT_EQ(r.exit_code, 1) << r.output;
    bool advised = false;
    const auto doc = json_of(r);
    for (const auto& st : doc.at("statements").as_array()) {
        if (std::string(st.at("query").as_string()).find("adv_msg") == std::string::npos) continue;
        ASSERT_TRUE(st.as_object().contains("advice")) << r.output;
        const auto& best = st.at("advice").at("best");
        ASSERT_TRUE(best.is_object()) << r.output;
        EXPECT_EQ(best.at("columns").as_array().at(0), "tenant_id") << r.output;
        // Every partition is costed (NULLs for the values would have pruned them all away).
        EXPECT_NE(std::string(st.at("advice").at("plan").as_string()).find("adv_msg_"), std::string::npos)
            << r.output;
        advised = true;
    }
    EXPECT_TRUE(advised) << r.output;
    // The statement, or --top: not both.
    EXPECT_EQ(ywctl({"index", "advise", "--top", "3", "SELECT 1"}).exit_code, 64);
}

TEST_F(IndexCommands, TheSuggestedIndexBuiltAroundACompareIsASignificantImprovement) {
    auto advice = json_of(advise());
    ASSERT_TRUE(advice.at("best").is_object());
    std::vector<std::string> cols;
    for (const auto& c : advice.at("best").at("columns").as_array()) cols.emplace_back(c.as_string());
    const std::string name = "adv_msg_hot_idx";
    const std::string create =
        fmt::format("{}/ywctl --config {} index create {} --on 'adv_msg({})' --yes", YW_BINARY_DIR,
                    Topology::get().env_file().string(), name, fmt::join(cols, ", "));
    auto r = ywctl({"--json", "query", "compare", "--before", kLatest50, "--param", kTenant, "--param",
                    kConversation, "--around", create, "--runs", "20"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("significant"), true) << r.output;
    EXPECT_EQ(doc.at("same_rows"), true) << r.output;
    EXPECT_LT(doc.at("change_percent").as_double(), -50) << r.output;
    EXPECT_NE(std::string(doc.at("after").at("plan").as_string()).find("Index"), std::string::npos)
        << r.output;
    EXPECT_NE(std::string(doc.at("verdict").as_string()).find("not interleaved"), std::string::npos);
    // Built whole: the parent's index is valid with one index per partition attached.
    auto primary = Topology::get().superuser("primary");
    EXPECT_EQ(
        query_text(primary,
                   "SELECT indisvalid::text AS v FROM pg_index WHERE indexrelid = '" + name + "'::regclass",
                   "v"),
        "true");
    EXPECT_EQ(
        query_text(primary,
                   "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = '" + name + "'::regclass", "n"),
        "3");
    EXPECT_EQ(invalid_indexes(), "");
    // Now the advice is: nothing more to build.
    auto again = advise();
    EXPECT_EQ(again.exit_code, 0) << again.output;
    drop_index(name);
}

TEST_F(IndexCommands, WithoutHypoPGTheAdviceSaysHowToEnableItAndStillNamesCandidates) {
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.exec_script("test.nohypo", "DROP EXTENSION hypopg").ok());
    auto r = advise({"--node", "primary"});
    ASSERT_TRUE(primary.exec_script("test.hypo", "CREATE EXTENSION hypopg").ok());
    ASSERT_TRUE(wait_until(30s, [] {
        auto replica = Topology::get().superuser("replica-1");
        return query_text(replica, "SELECT count(*) AS n FROM pg_extension WHERE extname = 'hypopg'", "n") ==
               "1";
    }));
    EXPECT_EQ(r.exit_code, 0) << r.output;  // nothing costed, nothing suggested
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("costed"), false) << r.output;
    EXPECT_FALSE(doc.at("candidates").as_array().empty()) << r.output;
    EXPECT_NE(json::serialize(doc.at("notes")).find("postgresql-15-hypopg"), std::string::npos) << r.output;
}

TEST_F(IndexCommands, BadNamesTablesAndColumnsAreRefusedBeforeAnythingIsBuilt) {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::vector<Case> cases{
        {{"index", "create", "x_idx", "--on", "adv_msg(no_such_column)", "--yes"},
         "no column 'no_such_column'"},
        {{"index", "create", "x_idx", "--on", "no_such_table(id)", "--yes"}, "there is no table"},
        {{"index", "create", "x_idx", "--on", "adv_msg_a(id)", "--yes"}, "is a partition of adv_msg"},
        {{"index", "create", "adv_msg_a", "--on", "adv_msg(id)", "--yes"}, "exists already"},
        {{"index", "create", "x_idx", "--on", "adv_msg", "--yes"}, "expected TABLE(COLUMN"},
        {{"index", "create", "x_idx", "--on", "adv_msg(id) ; DROP TABLE adv_msg", "--yes"},
         "expected TABLE(COLUMN"},
        {{"index", "create", "x_idx", "--on", "adv_msg(id; DROP TABLE adv_msg)", "--yes"}, "no column"},
        {{"index", "advise"}, "required"},
        {{"query", "explain", "--name", "no.such"}, "no registry statement"},
    };
    for (const auto& c : cases) {
        auto r = ywctl(c.args);
        EXPECT_EQ(r.exit_code, 64) << fmt::format("{}", fmt::join(c.args, " ")) << "\n" << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
    }
    EXPECT_FALSE(exists("x_idx"));
    EXPECT_TRUE(exists("adv_msg"));
    // A predicate carrying a second statement: refused by the server (one statement per call), nothing built,
    // nothing dropped.
    auto smuggled = ywctl({"index", "create", "x_idx", "--on", "adv_msg(conversation_id)", "--where",
                           "deleted_at IS NULL; DROP TABLE adv_msg_c", "--yes"});
    EXPECT_EQ(smuggled.exit_code, 1) << smuggled.output;
    EXPECT_TRUE(exists("adv_msg_c"));
    EXPECT_FALSE(exists("x_idx"));
    EXPECT_EQ(invalid_indexes(), "");
    // Without --yes: the statements, nothing built.
    auto dry = ywctl({"index", "create", "x_idx", "--on", "adv_msg(conversation_id)"});
    EXPECT_EQ(dry.exit_code, 0) << dry.output;
    EXPECT_NE(dry.output.find("ATTACH PARTITION"), std::string::npos) << dry.output;
    EXPECT_FALSE(exists("x_idx"));
}

// A transaction holding a snapshot (no lock on adv_msg): CREATE INDEX CONCURRENTLY waits for it after making
// its INVALID index — the moment an interruption used to leave one behind.
class HeldSnapshot {
  public:
    HeldSnapshot() : conn_(Topology::get().superuser("primary")) {
        EXPECT_TRUE(conn_.simple_query("test.hold", "BEGIN ISOLATION LEVEL REPEATABLE READ").ok());
        EXPECT_TRUE(conn_.simple_query("test.snapshot", "SELECT count(*) FROM pg_class").ok());
    }
    void release() {
        if (!held_) return;
        held_ = false;
        (void)conn_.simple_query("test.release", "COMMIT");
    }
    ~HeldSnapshot() { release(); }

  private:
    pg::SyncConnection conn_;
    bool held_ = true;
};

bool build_waits_for_snapshots() {
    return wait_until(30s, [] {
        auto primary = Topology::get().superuser("primary");
        return query_text(primary,
                          "SELECT count(*) AS n FROM pg_stat_progress_create_index"
                          " WHERE phase = 'waiting for old snapshots'",
                          "n") == "1";
    });
}

int wait_exit(Child& child) {
    EXPECT_TRUE(wait_until(90s, [&] { return !child.running(); })) << child.log();
    return child.terminate();
}

TEST_F(IndexCommands, SigintDuringABuildLeavesNoInvalidIndex) {
    HeldSnapshot held;
    Child build("ywctl", create_args("adv_msg_sigint_idx", "conversation_id", "60000"), {});
    ASSERT_TRUE(build_waits_for_snapshots()) << build.log();
    EXPECT_NE(invalid_indexes(), "");  // what an interruption would leave
    kill(build.pid(), SIGINT);
    std::this_thread::sleep_for(300ms);
    held.release();  // the clean-up's DROP INDEX CONCURRENTLY may wait for it too
    EXPECT_EQ(wait_exit(build), 1) << build.log();
    EXPECT_NE(build.log().find("interrupted"), std::string::npos) << build.log();
    EXPECT_NE(build.log().find("dropped"), std::string::npos) << build.log();
    EXPECT_EQ(invalid_indexes(), "") << build.log();
    EXPECT_FALSE(exists("adv_msg_sigint_idx"));
}

TEST_F(IndexCommands, ABuildWhoseBackendIsKilledLeavesNoInvalidIndex) {
    HeldSnapshot held;
    Child build("ywctl", create_args("adv_msg_killed_idx", "conversation_id", "60000"), {});
    ASSERT_TRUE(build_waits_for_snapshots()) << build.log();
    auto primary = Topology::get().superuser("primary");
    EXPECT_EQ(
        query_text(primary, "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_progress_create_index",
                   "n"),
        "1");
    held.release();
    EXPECT_EQ(wait_exit(build), 1) << build.log();
    EXPECT_NE(build.log().find("dropped"), std::string::npos) << build.log();
    EXPECT_EQ(invalid_indexes(), "") << build.log();
    EXPECT_FALSE(exists("adv_msg_killed_idx"));
}

TEST_F(IndexCommands, ALockNotGrantedWithinLockTimeoutStopsTheBuildCleanly) {
    // A writer in the middle of a transaction: the parent's index needs a lock that conflicts with it.
    auto writer = Topology::get().superuser("primary");
    ASSERT_TRUE(writer.simple_query("test.begin", "BEGIN").ok());
    ASSERT_TRUE(
        writer
            .simple_query("test.write", fmt::format("INSERT INTO adv_msg (id, tenant_id, conversation_id, "
                                                    "direction, content) VALUES (gen_random_uuid(), '{0}', "
                                                    "'{0}', 'inbound', 'held')",
                                                    kTenant))
            .ok());
    auto r = ywctl({"index", "create", "adv_msg_locked_idx", "--on", "adv_msg(conversation_id)",
                    "--lock-timeout-ms", "300", "--yes"});
    (void)writer.simple_query("test.rollback", "ROLLBACK");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("lock timeout"), std::string::npos) << r.output;
    EXPECT_EQ(invalid_indexes(), "");
    EXPECT_FALSE(exists("adv_msg_locked_idx"));
}

TEST_F(IndexCommands, CheckFindsInvalidAndDuplicateIndexes) {
    auto primary = Topology::get().superuser("primary");
    // A unique index that cannot be built (duplicates) is left INVALID by CREATE INDEX CONCURRENTLY; and two
    // indexes with the same definition.
    ASSERT_TRUE(primary
                    .exec_script("test.check_setup",
                                 "CREATE TABLE chk_t (id int, v int); INSERT INTO chk_t SELECT g, g % 3 FROM "
                                 "generate_series(1, 100) g; CREATE INDEX chk_t_v ON chk_t (v);"
                                 "CREATE INDEX chk_t_v_again ON chk_t (v)")
                    .ok());
    EXPECT_FALSE(
        primary.simple_query("test.invalid", "CREATE UNIQUE INDEX CONCURRENTLY chk_t_v_unique ON chk_t (v)")
            .ok());
    auto r = ywctl({"--json", "index", "check"});
    EXPECT_EQ(r.exit_code, 2) << r.output;  // an INVALID index
    auto doc = json_of(r);
    bool invalid = false, duplicate = false;
    for (const auto& f : doc.at("findings").as_array()) {
        if (f.at("kind") == "invalid" && f.at("index") == "chk_t_v_unique") invalid = true;
        if (f.at("kind") == "duplicate" && (f.at("index") == "chk_t_v_again" || f.at("index") == "chk_t_v"))
            duplicate = true;
    }
    EXPECT_TRUE(invalid) << r.output;
    EXPECT_TRUE(duplicate) << r.output;
    ASSERT_TRUE(primary.exec_script("test.check_clean", "DROP TABLE chk_t").ok());
    auto after = ywctl({"--json", "index", "check"});
    EXPECT_NE(after.exit_code, 2) << after.output;
}

}  // namespace
}  // namespace yw::test
