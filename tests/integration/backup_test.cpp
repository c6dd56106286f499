// Backups and point-in-time recovery with pgBackRest on the topology's real S3 server (moto behind nginx's
// TLS, SigV4 enforced): backup run/list/check, a PITR restore that brings deleted rows back, the restore
// drill, and the faults — a wrong key, a repository that does not answer, failing archive_command, a backup
// killed mid-way, bad targets and directories, and archiving after a switchover.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "common/config.hpp"
#include "common/files.hpp"
#include "common/process.hpp"
#include "node/control.hpp"
#include "support/ops_helpers.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

fs::path conf_path() { return Topology::get().local().pgbackrest_conf(); }

void exec(pg::SyncConnection& c, const std::string& sql) {
    auto r = c.simple_query("test.sql", sql);
    ASSERT_TRUE(r.ok()) << sql << ": " << r.error().message;
}

std::string scalar(pg::SyncConnection& c, const std::string& sql) {
    auto r = c.simple_query("test.sql", sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << (r.ok() ? "" : r.error().message);
    if (!r.ok() || r->empty()) return "";
    return r->rows[0][0].value_or("");
}

// Switches WAL on the primary and waits until pgBackRest archived the segment: what an operator does (or
// archive_timeout does) before a point-in-time restore to "just now".
void switch_and_wait_archived(pg::SyncConnection& primary) {
    std::string segment = scalar(primary, "SELECT pg_walfile_name(pg_switch_wal())");
    ASSERT_TRUE(wait_until(
        30s,
        [&] {
            return scalar(primary, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") >= segment;
        }))
        << "segment " << segment
        << " not archived: " << scalar(primary, "SELECT failed_count FROM pg_stat_archiver");
}

json::array backups_listed() {
    auto r = ywctl({"backup", "list", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto o = json_of(r);
    return o.contains("backups") ? o.at("backups").as_array() : json::array{};
}

// The tests that restore need a backup; each makes sure there is one, so that it also runs alone.
void ensure_backup() {
    if (!backups_listed().empty()) return;
    auto r = ywctl({"backup", "run", "--type", "full"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
}

// A copy of the topology's pgbackrest.conf with some lines replaced, readable by the postgres user.
fs::path conf_variant(const std::string& name, const std::map<std::string, std::string>& replace) {
    std::ifstream in(conf_path());
    fs::path out_path = Topology::get().dir() / "pgbackrest" / (name + ".conf");
    std::ofstream out(out_path);
    for (std::string line; std::getline(in, line);) {
        auto eq = line.find('=');
        std::string key = eq == std::string::npos ? "" : line.substr(0, eq);
        auto it = replace.find(key);
        out << (it != replace.end() ? key + "=" + it->second : line) << "\n";
    }
    out.close();
    node::give_to_service_user(out_path);
    return out_path;
}

// Every backup: runs first, so that the others have one to restore.
TEST(Backup, RunListAndCheck) {
    auto full = ywctl({"backup", "run", "--type", "full", "--json"});
    ASSERT_EQ(full.exit_code, 0) << full.output;
    auto f = json_of(full).at("backup").as_object();
    EXPECT_EQ(f.at("type"), "full");
    EXPECT_TRUE(f.at("usable").as_bool());
    EXPECT_GT(f.at("size").as_int64(), 1 << 20);

    auto incr = ywctl({"backup", "run", "--json"});  // incr by default, on top of the full one
    ASSERT_EQ(incr.exit_code, 0) << incr.output;
    auto i = json_of(incr).at("backup").as_object();
    EXPECT_EQ(i.at("type"), "incr");
    EXPECT_EQ(i.at("prior"), f.at("label"));

    auto listed = backups_listed();
    ASSERT_GE(listed.size(), 2u);
    EXPECT_EQ(listed.back().at("label"), i.at("label"));
    auto list_json = json_of(ywctl({"backup", "list", "--json"}));
    EXPECT_EQ(list_json.at("cipher"), "aes-256-cbc");  // the repository is encrypted
    EXPECT_TRUE(list_json.contains("recovery_window"));

    // The objects are in the bucket beside the partition archives, as an independent client sees them.
    auto creds = read_env_file(Topology::get().env_file().string());
    ASSERT_TRUE(creds.ok());
    auto aws =
        run_process({aws_cli(), "--endpoint-url", Topology::get().connections().s3, "s3api", "head-object",
                     "--bucket", "ywmessaging", "--key", "backup/backup/ywmessaging/backup.info"},
                    RunOptions{.env = {"AWS_ACCESS_KEY_ID=" + creds->at("AWS_ACCESS_KEY_ID"),
                                       "AWS_SECRET_ACCESS_KEY=" + creds->at("AWS_SECRET_ACCESS_KEY"),
                                       "AWS_DEFAULT_REGION=us-east-1"}});
    ASSERT_TRUE(aws.ok());
    EXPECT_EQ(aws->exit_code, 0) << aws->output;

    auto check = ywctl({"backup", "check", "--json"});
    auto report = json_of(check);
    EXPECT_EQ(check.exit_code, 0) << check.output;
    EXPECT_EQ(check_status(report, "newest backup age"), "ok") << check.output;
    EXPECT_EQ(check_status(report, "WAL archiving"), "ok") << check.output;
    EXPECT_EQ(check_status(report, "pgbackrest check"), "ok") << check.output;
    EXPECT_EQ(check_status(report, "pgbackrest verify"), "ok") << check.output;

    // The age thresholds: a backup a few seconds old is "too old" at --warning-hours 0? The flag refuses 0;
    // the rule itself is unit-tested (backup_check_test), here the wiring of the flags.
    EXPECT_EQ(ywctl({"backup", "check", "--quick", "--warning-hours", "0"}).exit_code, 64);
}

// PITR: rows written, the time noted, the rows deleted; a restore to the noted time has them back, and not
// what was written after.
TEST(Backup, PointInTimeRestoreBringsDeletedRowsBack) {
    ASSERT_NO_FATAL_FAILURE(ensure_backup());
    auto primary = Topology::get().superuser("primary");
    exec(primary,
         "INSERT INTO tenants (id, name) SELECT gen_random_uuid(), 'pitr-' || g FROM generate_series(1, 25) "
         "g");
    std::this_thread::sleep_for(1100ms);
    std::string noted = scalar(primary,
                               "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    std::this_thread::sleep_for(1100ms);
    exec(primary, "DELETE FROM tenants WHERE name LIKE 'pitr-%'");
    exec(primary, "INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), 'after-the-point')");
    switch_and_wait_archived(primary);

    fs::path dir = Topology::get().dir() / "pitr";
    auto r = ywctl({"backup", "restore", "--to", dir.string(), "--target-time", noted, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto o = json_of(r);
    int port = static_cast<int>(o.at("port").as_int64());
    auto copy = pg::SyncConnection::open(
        fmt::format("host=127.0.0.1 port={} user=postgres dbname=ywmessaging", port));
    ASSERT_TRUE(copy.ok()) << copy.error().message;
    EXPECT_EQ(scalar(*copy, "SELECT count(*) FROM tenants WHERE name LIKE 'pitr-%'"), "25");
    EXPECT_EQ(scalar(*copy, "SELECT count(*) FROM tenants WHERE name = 'after-the-point'"), "0");
    EXPECT_EQ(scalar(*copy, "SELECT pg_is_in_recovery()"), "f");  // promoted: queryable and writable
    // A scratch copy never archives into the repository it came from.
    EXPECT_EQ(scalar(*copy, "SHOW archive_mode"), "off");
    // The topology was not touched: the rows stay deleted there.
    EXPECT_EQ(scalar(primary, "SELECT count(*) FROM tenants WHERE name LIKE 'pitr-%'"), "0");
    ASSERT_TRUE(node::stop(dir).ok());
    fs::remove_all(dir);
}

TEST(Backup, RestoreRefusesBadTargetsAndDirectories) {
    ASSERT_NO_FATAL_FAILURE(ensure_backup());
    fs::path dir = Topology::get().dir() / "refused";
    auto refused = [&](const std::vector<std::string>& extra, const std::string& says) {
        std::vector<std::string> args = {"backup", "restore", "--to", dir.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = ywctl(args);
        EXPECT_EQ(r.exit_code, 64) << r.output;
        EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
        EXPECT_FALSE(fs::exists(dir / "PG_VERSION"));
    };
    // In the future, and before the oldest backup: refused with the valid range.
    refused({"--target-time", "2099-01-01T00:00:00Z"}, "outside what can be recovered");
    refused({"--target-time", "2001-01-01T00:00:00+02:00"}, "from the oldest usable backup's end to now");
    refused({"--target-time", "yesterday"}, "not an RFC 3339 time");
    refused({"--target-time", "2026-12-01 10:00:00"}, "with an offset");  // no zone: ambiguous
    refused({"--target-lsn", "0/1"}, "before the oldest usable backup");
    refused({"--target-lsn", "nonsense"}, "not an LSN");
    refused({"--set", "20990101-000000F"}, "no usable backup labelled");
    refused({"--set", "../../etc"}, "is not a backup label");
    // A directory with anything in it.
    fs::create_directories(dir);
    std::ofstream(dir / "keep.txt") << "operator's file\n";
    refused({}, "is not empty");
    EXPECT_TRUE(fs::exists(dir / "keep.txt"));
    fs::remove_all(dir);
}

TEST(Backup, DrillRestoreComparesWithThePrimary) {
    ASSERT_NO_FATAL_FAILURE(ensure_backup());
    auto primary = Topology::get().superuser("primary");
    exec(primary,
         "INSERT INTO conversation_message (id, tenant_id, conversation_id, direction, content) "
         "SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'inbound', 'drill ' || g "
         "FROM generate_series(1, 500) g");
    auto r = ywctl({"drill", "restore", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto o = json_of(r);
    EXPECT_TRUE(o.at("ok").as_bool()) << r.output;
    EXPECT_GE(o.at("messages_primary").as_int64(), 500);
    EXPECT_EQ(o.at("messages_primary"), o.at("messages_restored"));
    EXPECT_EQ(o.at("checksum_primary"), o.at("checksum_restored"));
    EXPECT_GT(o.at("rto_ms").as_int64(), 0);
    // The copy replayed the archived WAL: it knows a transaction (the 500 inserts at least).
    EXPECT_FALSE(o.at("recovered_to").as_string().empty()) << r.output;
    EXPECT_EQ(o.at("rpo_bytes").as_int64(), 0);
    // The scratch server is gone.
    std::regex dir_re(R"(ywctl-drill-\w+)");
    for (const auto& e : fs::directory_iterator(fs::temp_directory_path()))
        EXPECT_FALSE(std::regex_search(e.path().filename().string(), dir_re) &&
                     fs::exists(e.path() / "data" / "PG_VERSION"))
            << e.path();
}

// A wrong secret and a repository that does not answer: clear failures, critical checks, a database that
// keeps running, no secret in the output.
TEST(Backup, WrongKeyOrUnreachableRepositoryFailsClearly) {
    const std::string secret = "wrong-secret-wrong-secret-wrong-secret-0";
    fs::path wrong = conf_variant("wrong-key", {{"repo1-s3-key-secret", secret}, {"io-timeout", "2"}});
    auto r = ywctl({"backup", "run"}, {"PGBACKREST_CONFIG=" + wrong.string()});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("403"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(secret), std::string::npos) << "the secret was printed";
    auto check = ywctl({"backup", "check", "--quick", "--json"}, {"PGBACKREST_CONFIG=" + wrong.string()});
    EXPECT_EQ(check.exit_code, 2) << check.output;
    EXPECT_EQ(check_status(json_of(check), "repository reachable"), "critical") << check.output;
    EXPECT_EQ(check.output.find(secret), std::string::npos);

    fs::path closed =
        conf_variant("closed", {{"repo1-storage-port", std::to_string(free_port())}, {"io-timeout", "2"}});
    auto down = ywctl({"backup", "run"}, {"PGBACKREST_CONFIG=" + closed.string()});
    EXPECT_EQ(down.exit_code, 2) << down.output;
    auto primary = Topology::get().superuser("primary");
    EXPECT_EQ(scalar(primary, "SELECT 1"), "1");
}

// archive_command failing: WAL piles up on the primary, and `backup check` says so and how much.
TEST(Backup, FailingArchivingIsCriticalAndReportsTheWalRetained) {
    ASSERT_NO_FATAL_FAILURE(ensure_backup());
    auto primary = Topology::get().superuser("primary");
    std::string original = scalar(primary, "SHOW archive_command");
    fs::path wrong =
        conf_variant("archive-wrong", {{"repo1-s3-key-secret", "not-the-secret"}, {"io-timeout", "2"}});
    std::string failing = original;
    failing.replace(failing.find(conf_path().string()), conf_path().string().size(), wrong.string());
    exec(primary, "ALTER SYSTEM SET archive_command = '" + failing + "'");
    exec(primary, "SELECT pg_reload_conf()");
    struct Restore {
        pg::SyncConnection& c;
        std::string command;
        ~Restore() {
            (void)c.simple_query("test.sql", "ALTER SYSTEM SET archive_command = '" + command + "'");
            (void)c.simple_query("test.sql", "SELECT pg_reload_conf()");
        }
    } restore{primary, original};
    for (int i = 0; i < 3; ++i) {
        exec(primary, "CREATE TEMP TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)");
        exec(primary, "SELECT pg_switch_wal()");
    }
    ASSERT_TRUE(wait_until(30s, [&] {
        return scalar(
                   primary,
                   "SELECT last_failed_time > coalesce(last_archived_time, 'epoch') FROM pg_stat_archiver") ==
               "t";
    }));
    fs::path prom = Topology::get().dir() / "yw_backup.prom";
    auto check = ywctl({"backup", "check", "--quick", "--json", "--prometheus-file", prom.string()});
    auto report = json_of(check);
    EXPECT_EQ(check.exit_code, 2) << check.output;
    EXPECT_EQ(check_status(report, "WAL archiving"), "critical") << check.output;
    // The same facts for the alert rules (node_exporter's textfile collector).
    std::string metrics = read_text(prom);
    EXPECT_NE(metrics.find("\nyw_backup_archive_failing 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\nyw_backup_repository_up 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("yw_backup_last_success_timestamp_seconds{type="), std::string::npos) << metrics;
    EXPECT_GE(report.at("data").at("wal_ready_segments").as_int64(), 2) << check.output;
    EXPECT_GE(report.at("data").at("wal_retained_bytes").as_int64(), 2ll << 24) << check.output;

    // Repaired: the segments are archived and the check is green again.
    exec(primary, "ALTER SYSTEM SET archive_command = '" + original + "'");
    exec(primary, "SELECT pg_reload_conf()");
    switch_and_wait_archived(primary);
    auto again = ywctl({"backup", "check", "--quick", "--json"});
    EXPECT_EQ(check_status(json_of(again), "WAL archiving"), "ok") << again.output;
}

// A standby whose slot's WAL is gone fetches from the repository: its own restore_command, as PostgreSQL runs
// it (through the shell, in its data directory, as the postgres user), brings back an archived segment.
TEST(Backup, AStandbysRestoreCommandFetchesArchivedWal) {
    auto primary = Topology::get().superuser("primary");
    switch_and_wait_archived(primary);
    std::string segment = scalar(primary, "SELECT last_archived_wal FROM pg_stat_archiver");
    auto replica = Topology::get().superuser("replica-2");
    std::string command = scalar(replica, "SHOW restore_command");
    ASSERT_NE(command.find("archive-get"), std::string::npos) << command;
    fs::path target = Topology::get().dir() / "fetched-segment";
    std::string sh = std::regex_replace(std::regex_replace(command, std::regex("%f"), segment),
                                        std::regex("%p"), target.string());
    RunOptions o;
    if (running_as_root()) o.as_user = node::kServiceUser;
    auto r =
        run_process({"sh", "-c", "cd " + (Topology::get().dir() / "replica-2").string() + " && " + sh}, o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << r->output;
    ASSERT_TRUE(fs::exists(target));
    EXPECT_EQ(fs::file_size(target), 16u << 20);  // a whole WAL segment, decrypted and decompressed
    fs::remove(target);
}

// pgBackRest killed mid-backup: the broken backup is not listed as usable, and the next run succeeds.
TEST(Backup, KilledBackupIsNotListedAndTheNextRunSucceeds) {
    // Enough data that a full backup takes more than a moment.
    auto primary = Topology::get().superuser("primary");
    exec(primary,
         "CREATE TABLE IF NOT EXISTS backup_ballast AS SELECT g, md5(g::text) || repeat('x', 400) AS pad "
         "FROM generate_series(1, 200000) g");
    auto before = backups_listed();
    Child run("ywctl", {"--config", Topology::get().env_file().string(), "backup", "run", "--type", "full"},
              {});
    const std::string pattern = "config=" + conf_path().string() + " --stanza=ywmessaging --type=full backup";
    ASSERT_TRUE(wait_until(20s, [&] {
        auto p = run_process({"pgrep", "-f", "--", pattern});
        return p.ok() && p->exit_code == 0;
    }));
    std::this_thread::sleep_for(700ms);  // into the copy
    (void)run_process({"pkill", "-KILL", "-f", "--", pattern});
    (void)run.terminate(5s);
    auto after = backups_listed();
    EXPECT_EQ(after.size(), before.size()) << json::serialize(after);
    for (const auto& b : after) EXPECT_TRUE(b.at("usable").as_bool());

    auto next = ywctl({"backup", "run", "--type", "full", "--json"});
    ASSERT_EQ(next.exit_code, 0) << next.output;
    EXPECT_EQ(backups_listed().size(), std::min<size_t>(before.size() + 1, 99));
    exec(primary, "DROP TABLE backup_ballast");
}

// After a switchover replica-1 is the primary: it archives to the same stanza, and a backup finds it.
TEST(Backup, ThePromotedNodeArchivesToTheSameStanza) {
    auto so = ywctl({"switchover", "--to", "replica-1", "--yes", "--dir", Topology::get().dir().string()});
    ASSERT_EQ(so.exit_code, 0) << so.output;
    struct Back {
        ~Back() {
            (void)ywctl({"switchover", "--to", "primary", "--yes", "--dir", Topology::get().dir().string()});
        }
    } back;
    auto promoted = Topology::get().superuser("replica-1");
    ASSERT_EQ(scalar(promoted, "SELECT pg_is_in_recovery()"), "f");
    exec(promoted, "INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), 'after-switchover')");
    switch_and_wait_archived(promoted);
    auto r = ywctl({"backup", "run", "--type", "incr", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto check = ywctl({"backup", "check", "--quick", "--json"});
    EXPECT_EQ(check_status(json_of(check), "WAL archiving"), "ok") << check.output;
}

}  // namespace
}  // namespace yw::test
