// RB-18/RB-19 against the real topology and its real S3 server (moto, SigV4 enforced): archive a month
// (detach, COPY | gzip | multipart upload, verify by reading back, drop), restore it, and the faults — killed
// between every pair of steps, a corrupted object, S3 down or a wrong secret, two runs at once, a soft delete
// after the detach — with awscli as the independent client that reads what ywctl wrote and writes what it
// reads.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>

#include "archive/archiver.hpp"
#include "archive/manifest.hpp"
#include "common/config.hpp"
#include "common/process.hpp"
#include "common/sha256.hpp"
#include "s3/client.hpp"
#include "s3/settings.hpp"
#include "support/api_client.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr pg::Query kState{
    "test.archive_state",
    "SELECT state, coalesce(last_error, '') AS last_error, coalesce(log_line, '') AS log_line"
    " FROM partition_archive WHERE month = to_date($1, 'YYYY_MM')"};
constexpr pg::Query kTableState{"test.table_state",
                                "SELECT (i.inhrelid IS NOT NULL) AS attached FROM pg_class c LEFT JOIN "
                                "pg_inherits i ON i.inhrelid = c.oid"
                                " WHERE c.oid = to_regclass($1)"};
// The month's rows, in a stable order, as one digest: what must survive archive + restore unchanged.
constexpr const char* kDigestSql =
    "SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') AS digest FROM {} t";

const Config& config() {
    static Config c = [] {
        auto r = load_config(Topology::get().env_file().string());
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? *r : Config{};
    }();
    return c;
}

std::string table_of(const std::string& month) { return "conversation_message_" + month; }

pg::SyncConnection app_direct() {
    auto c = pg::SyncConnection::open(config().primary_url);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return std::move(c.value());
}

void exec(pg::SyncConnection& c, const std::string& sql) {
    auto r = c.simple_query("test.sql", sql);
    ASSERT_TRUE(r.ok()) << sql << ": " << r.error().message;
}

// Creates the month's partition as app_user (the owner, as the migrations make it) and fills it with `rows`
// messages of one conversation, with content a CSV must quote: commas, quotes, newlines, Unicode; every
// tenth soft-deleted.
void fill_month(const std::string& month, int rows, const std::string& tenant = "",
                const std::string& conversation = "") {
    auto db = app_direct();
    auto day_one = [](const std::string& m) {
        return fmt::format("{}-{}-01", m.substr(0, 4), m.substr(5, 2));
    };
    std::string from = day_one(month), to = day_one(archive::add_months(month, 1));
    exec(db, fmt::format("CREATE TABLE IF NOT EXISTS {} PARTITION OF conversation_message FOR VALUES FROM "
                         "('{} 00:00:00+00') TO ('{} 00:00:00+00')",
                         table_of(month), from, to));
    std::string t = tenant.empty() ? "gen_random_uuid()" : "'" + tenant + "'::uuid";
    std::string c = conversation.empty() ? "gen_random_uuid()" : "'" + conversation + "'::uuid";
    exec(db,
         fmt::format(
             "INSERT INTO conversation_message (id, tenant_id, conversation_id, direction, content, "
             "created_at, deleted_at) SELECT gen_random_uuid(), {0}, {1}, 'inbound', "
             "'msg ' || g || E', \"quoted\", line\\nbreak, café ✓ ' || repeat('x', g % 50), "
             "'{2} 00:00:00+00'::timestamptz + g * interval '1 minute', "
             "CASE WHEN g % 10 = 0 THEN '{2} 12:00:00+00'::timestamptz END FROM generate_series(1, {3}) g",
             t, c, from, rows));
}

struct Digest {
    long long rows = -1;
    std::string md5;
    bool operator==(const Digest&) const = default;
};

Digest digest(const std::string& table) {
    auto db = app_direct();
    auto r = db.simple_query("test.digest", fmt::format(fmt::runtime(kDigestSql), table));
    if (!r) return {};
    return {std::stoll(r->text(0, "n")), r->text(0, "digest")};
}

std::string state_of(const std::string& month) {
    auto db = app_direct();
    auto r = db.query(kState, {month});
    return r.ok() && !r->empty() ? r->text(0, "state") : "";
}

// "attached", "detached" or "absent".
std::string table_state(const std::string& table) {
    auto db = app_direct();
    auto r = db.query(kTableState, {table});
    if (!r.ok() || r->empty()) return "absent";
    return r->text(0, "attached") == "t" ? "attached" : "detached";
}

RunResult ywctl(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::vector<std::string> full = {"--config", Topology::get().env_file().string()};
    full.insert(full.end(), args.begin(), args.end());
    return run_built("ywctl", full, env, 300s);
}

// awscli, the independent client, with the topology's key.
RunResult aws(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {aws_cli(), "--endpoint-url", config().s3.endpoint};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions o;
    o.env = {"AWS_ACCESS_KEY_ID=" + config().s3.access_key_id,
             "AWS_SECRET_ACCESS_KEY=" + config().s3.secret_access_key, "AWS_DEFAULT_REGION=us-east-1",
             "AWS_PAGER="};
    auto r = run_process(argv, o);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : RunResult{};
}

std::string bucket() { return config().s3.bucket; }

std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / fmt::format("yw-archive-test-{}-{}", getpid(), name)).string();
}

class Archive : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(config().s3.configured()) << "the topology has no S3 server (moto_server not installed?)";
    }
};

TEST_F(Archive, ArchivesVerifiesDropsAndRestoresAMonthUnchanged) {
    const std::string month = "2024_02", table = table_of(month);
    fill_month(month, 700);
    Digest before = digest(table);
    ASSERT_EQ(before.rows, 700);

    auto run = ywctl({"--json", "partitions", "archive", "--month", month, "--yes"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(table_state(table), "absent");
    EXPECT_EQ(state_of(month), "dropped");
    auto doc = json::parse(run.output.substr(run.output.find('{')));
    EXPECT_EQ(doc.at("months").at(0).at("outcome").as_string(), "archived");
    EXPECT_EQ(doc.at("months").at(0).at("rows").as_int64(), 700);

    // The runbook's log line, in the archival log.
    std::ifstream log(config().archive_log);
    std::string line, last;
    while (std::getline(log, line)) last = line;
    EXPECT_TRUE(std::regex_match(
        last,
        std::regex(R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}: Archived conversation_message_2024_02, freed \d+MB)")))
        << last;

    // Encrypted at rest, as S3 itself reports it.
    auto head = aws({"s3api", "head-object", "--bucket", bucket(), "--key", archive::object_key(table)});
    ASSERT_EQ(head.exit_code, 0) << head.output;
    EXPECT_EQ(json::parse(head.output).at("ServerSideEncryption").as_string(), "AES256");

    // The runbook's manual path still works: aws s3 cp, gunzip, psql COPY into a scratch table.
    std::string gz = temp_path("manual.csv.gz");
    ASSERT_EQ(
        aws({"s3", "cp", fmt::format("s3://{}/{}", bucket(), archive::object_key(table)), gz}).exit_code, 0);
    {
        auto db = app_direct();
        exec(db, "CREATE TABLE manual_2024_02 (LIKE conversation_message)");
        auto r =
            run_process({"sh", "-c",
                         fmt::format("gunzip -c {} | psql '{}' -v ON_ERROR_STOP=1 -c \"\\copy manual_2024_02 "
                                     "FROM STDIN (FORMAT csv, HEADER)\"",
                                     gz, config().primary_url)});
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->exit_code, 0) << r->output;
        EXPECT_EQ(digest("manual_2024_02"), before);
        exec(db, "DROP TABLE manual_2024_02");
    }
    fs::remove(gz);

    // A month already archived is refused, clearly.
    auto again = ywctl({"partitions", "archive", "--month", month, "--yes"});
    EXPECT_EQ(again.exit_code, 64) << again.output;
    EXPECT_NE(again.output.find("already archived"), std::string::npos) << again.output;

    // Restore: attached back, every row as it was.
    auto restored = ywctl({"--json", "partitions", "restore", "--month", month});
    ASSERT_EQ(restored.exit_code, 0) << restored.output;
    EXPECT_EQ(table_state(table), "attached");
    EXPECT_EQ(digest(table), before);
    EXPECT_EQ(state_of(month), "restored");
    // …and as a partition: through the parent, with its bounds.
    EXPECT_EQ(digest("(SELECT * FROM conversation_message WHERE created_at >= '2024-02-01' AND created_at < "
                     "'2024-03-01')"),
              before);
}

TEST_F(Archive, RefusesTheCurrentMonthMonthsAheadAndRecentMonths) {
    auto now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    auto month_at = [&](int offset) {
        int m = utc.tm_year * 12 + utc.tm_mon + offset;
        return fmt::format("{:04d}_{:02d}", m / 12 + 1900, m % 12 + 1);
    };
    for (auto [offset, words] : std::vector<std::pair<int, std::string>>{
             {0, "current month"}, {1, "month ahead"}, {-3, "not older than 12 months"}}) {
        auto r = ywctl({"partitions", "archive", "--month", month_at(offset), "--yes"});
        EXPECT_EQ(r.exit_code, 64) << r.output;
        EXPECT_NE(r.output.find(words), std::string::npos) << r.output;
    }
    EXPECT_EQ(table_state(table_of(month_at(0))), "attached");
    auto bad = ywctl({"partitions", "archive", "--month", "2024-13", "--yes"});
    EXPECT_EQ(bad.exit_code, 64) << bad.output;

    // --dry-run names what it would do and does nothing.
    fill_month("2024_03", 10);
    auto dry = ywctl({"partitions", "archive", "--month", "2024_03", "--dry-run"});
    EXPECT_EQ(dry.exit_code, 0) << dry.output;
    EXPECT_NE(dry.output.find("would archive"), std::string::npos) << dry.output;
    EXPECT_EQ(table_state(table_of("2024_03")), "attached");
    EXPECT_EQ(state_of("2024_03"), "");
    // Without --yes on a pipe: the plan, then a refusal.
    auto unconfirmed = ywctl({"partitions", "archive", "--month", "2024_03"});
    EXPECT_EQ(unconfirmed.exit_code, 64) << unconfirmed.output;
    EXPECT_EQ(table_state(table_of("2024_03")), "attached");
}

TEST_F(Archive, KilledAfterEveryStepTheNextRunResumesAndNothingIsDroppedUnverified) {
    const std::string month = "2024_04", table = table_of(month);
    fill_month(month, 300);
    Digest before = digest(table);
    // Each run is SIGKILLed right after it recorded a state; the next one picks up from there.
    for (const auto& [kill_after, expect_table] : std::vector<std::pair<std::string, std::string>>{
             {"begin", "attached"}, {"detached", "detached"}, {"uploaded", "detached"}}) {
        auto r = ywctl({"partitions", "archive", "--month", month, "--yes"},
                       {"YW_ARCHIVE_KILL_AFTER=" + kill_after});
        EXPECT_EQ(r.exit_code, -1) << kill_after << ": " << r.output;  // killed by a signal
        EXPECT_EQ(table_state(table), expect_table) << "after a kill at " << kill_after;
        EXPECT_EQ(digest(table), before) << "after a kill at " << kill_after;
    }
    EXPECT_EQ(state_of(month), "uploaded");
    auto r = ywctl({"partitions", "archive", "--month", month, "--yes"}, {"YW_ARCHIVE_KILL_AFTER=verified"});
    EXPECT_EQ(r.exit_code, -1) << r.output;
    EXPECT_EQ(state_of(month), "verified");
    EXPECT_EQ(table_state(table), "detached");  // verified, not yet dropped

    auto done = ywctl({"partitions", "archive", "--month", month, "--yes"});
    ASSERT_EQ(done.exit_code, 0) << done.output;
    EXPECT_EQ(state_of(month), "dropped");
    EXPECT_EQ(table_state(table), "absent");
    auto restored = ywctl({"partitions", "restore", "--month", month, "--as", "restored_2024_04"});
    ASSERT_EQ(restored.exit_code, 0) << restored.output;
    EXPECT_EQ(table_state("restored_2024_04"), "detached");  // a plain table, not a partition
    EXPECT_EQ(digest("restored_2024_04"), before);
    // …with the parent's indexes, built after the load from their live definitions.
    auto db = app_direct();
    auto indexes = db.simple_query(
        "test.indexes",
        "SELECT string_agg(regexp_replace(indexdef, '^.* USING ', ''), '; ' ORDER BY indexdef) "
        "AS defs FROM pg_indexes WHERE tablename = 'restored_2024_04'");
    ASSERT_TRUE(indexes.ok());
    EXPECT_EQ(indexes->text(0, "defs"),
              "btree (conversation_id, created_at DESC, id DESC) WHERE (deleted_at IS NULL); btree (id, "
              "created_at)")
        << "the parent's two indexes";
}

TEST_F(Archive, KilledInTheMiddleOfTheUploadTheRerunAbortsTheOpenUploadAndFinishes) {
    const std::string month = "2024_10", table = table_of(month);
    fill_month(month, 1);
    {
        // More than one 8 MiB part of gzip: content that does not compress much (random uuids and md5s).
        auto db = app_direct();
        exec(db,
             "INSERT INTO conversation_message (id, tenant_id, conversation_id, direction, content, "
             "created_at) "
             "SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'outbound', md5(g::text) || "
             "md5((g * 7)::text), '2024-10-02 00:00:00+00'::timestamptz + g * interval '1 second' "
             "FROM generate_series(1, 150000) g");
    }
    Digest before = digest(table);
    auto s3_config = s3::config_from(config());
    ASSERT_TRUE(s3_config.ok());
    s3::Client s3(*s3_config);
    auto open_uploads = [&] {
        auto ids = s3.unfinished_uploads(archive::object_key(table));
        EXPECT_TRUE(ids.ok()) << ids.error().message;
        return ids.ok() ? ids->size() : 0u;
    };
    auto r = ywctl({"partitions", "archive", "--month", month, "--yes"}, {"YW_ARCHIVE_KILL_AFTER=uploading"});
    ASSERT_EQ(r.exit_code, -1) << r.output;
    EXPECT_EQ(open_uploads(), 1u) << "the killed run's multipart upload is still open";
    EXPECT_EQ(state_of(month), "detached");
    EXPECT_EQ(digest(table), before);

    auto done = ywctl({"partitions", "archive", "--month", month, "--yes"});
    ASSERT_EQ(done.exit_code, 0) << done.output;
    EXPECT_NE(done.output.find("abort the unfinished upload"), std::string::npos) << done.output;
    EXPECT_EQ(open_uploads(), 0u);
    EXPECT_EQ(state_of(month), "dropped");
}

TEST_F(Archive, ACorruptedObjectFailsVerificationAndTheMonthStays) {
    const std::string month = "2024_05", table = table_of(month);
    fill_month(month, 200);
    Digest before = digest(table);
    // Behind ywctl's back, between its upload and its verification: one byte flipped (same size: only the
    // download and its checksums can tell), then the object cut in half (HEAD tells).
    for (const std::string corruption : {"flipped byte", "truncated"}) {
        auto r =
            ywctl({"partitions", "archive", "--month", month, "--yes"}, {"YW_ARCHIVE_KILL_AFTER=uploaded"});
        ASSERT_EQ(r.exit_code, -1) << r.output;
        std::string gz = temp_path("corrupt.csv.gz");
        std::string url = fmt::format("s3://{}/{}", bucket(), archive::object_key(table));
        ASSERT_EQ(aws({"s3", "cp", url, gz}).exit_code, 0);
        if (corruption == "truncated") {
            fs::resize_file(gz, fs::file_size(gz) / 2);
        } else {
            std::fstream f(gz, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(static_cast<std::streamoff>(fs::file_size(gz) / 2));
            f.put('\x42');
        }
        ASSERT_EQ(aws({"s3", "cp", "--sse", "AES256", gz, url}).exit_code, 0);
        fs::remove(gz);

        auto verify = ywctl({"partitions", "archive", "--month", month, "--yes"});
        EXPECT_EQ(verify.exit_code, 2) << corruption << ": " << verify.output;
        EXPECT_NE(verify.output.find("verification failed"), std::string::npos) << verify.output;
        EXPECT_EQ(table_state(table), "detached") << corruption;
        EXPECT_EQ(digest(table), before) << corruption;
        EXPECT_EQ(state_of(month), "detached") << corruption;  // the next run exports again
    }

    auto again = ywctl({"partitions", "archive", "--month", month, "--yes"});
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(state_of(month), "dropped");
}

TEST_F(Archive, S3DownOrAWrongSecretChangesNothing) {
    const std::string month = "2024_06", table = table_of(month);
    fill_month(month, 50);
    auto wrong =
        ywctl({"partitions", "archive", "--month", month, "--yes"}, {"AWS_SECRET_ACCESS_KEY=wrong-secret"});
    EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
    EXPECT_NE(wrong.output.find("SignatureDoesNotMatch"), std::string::npos) << wrong.output;
    EXPECT_EQ(wrong.output.find("wrong-secret"), std::string::npos) << "the secret leaked into the output";
    EXPECT_EQ(table_state(table), "attached");
    EXPECT_EQ(state_of(month), "");

    auto down = ywctl({"partitions", "archive", "--month", month, "--yes"},
                      {fmt::format("S3_ENDPOINT=http://127.0.0.1:{}", free_port())});
    EXPECT_EQ(down.exit_code, 2) << down.output;
    EXPECT_EQ(table_state(table), "attached");
    EXPECT_EQ(state_of(month), "");
}

TEST_F(Archive, TwoRunsAtOnceTheSecondRefuses) {
    auto holder = app_direct();
    exec(holder, "SELECT pg_advisory_lock(hashtext('ywmessaging.partition_archive'))");
    auto r = ywctl({"partitions", "archive", "--month", "2024_07", "--yes"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("another `ywctl partitions archive` or `restore` is running"), std::string::npos)
        << r.output;
    auto restore = ywctl({"partitions", "restore", "--month", "2024_07"});
    EXPECT_EQ(restore.exit_code, 2) << restore.output;
    exec(holder, "SELECT pg_advisory_unlock(hashtext('ywmessaging.partition_archive'))");
}

TEST_F(Archive, RestoreRefusesAnObjectThatFailsItsChecksumBeforeLoadingAnything) {
    const std::string month = "2024_08", table = table_of(month);
    fill_month(month, 100);
    ASSERT_EQ(ywctl({"partitions", "archive", "--month", month, "--yes"}).exit_code, 0);
    // Replace the object with another valid gzip of the same CSV shape, one row changed.
    std::string csv = temp_path("other.csv"), gz = csv + ".gz";
    {
        std::ofstream out(csv);
        out << "id,tenant_id\n1,2\n";
    }
    ASSERT_EQ(run_process({"gzip", "-f", csv})->exit_code, 0);
    ASSERT_EQ(aws({"s3", "cp", "--sse", "AES256", gz,
                   fmt::format("s3://{}/{}", bucket(), archive::object_key(table))})
                  .exit_code,
              0);
    fs::remove(gz);
    auto r = ywctl({"partitions", "restore", "--month", month});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("nothing loaded"), std::string::npos) << r.output;
    EXPECT_EQ(table_state(table), "absent");
}

TEST_F(Archive, AnObjectUploadedWithAwsCliAndAManifestRestores) {
    // The month is built by hand, as an operator following the runbook would: psql COPY | gzip, aws s3 cp.
    const std::string month = "2023_05", table = table_of(month);
    fill_month(month, 120);
    Digest before = digest(table);
    std::string csv = temp_path("manual-2023-05.csv");
    auto copy = run_process({"psql", config().primary_url, "-v", "ON_ERROR_STOP=1", "-c",
                             fmt::format("\\copy {} TO '{}' (FORMAT csv, HEADER)", table, csv)});
    ASSERT_TRUE(copy.ok());
    ASSERT_EQ(copy->exit_code, 0) << copy->output;
    auto read_all = [](const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::string csv_text = read_all(csv);
    ASSERT_EQ(run_process({"gzip", "-f", csv})->exit_code, 0);
    std::string gz_text = read_all(csv + ".gz");
    auto db = app_direct();
    exec(db, "DROP TABLE " + table);

    archive::Manifest m;
    m.table = table;
    m.parent = "conversation_message";
    m.month = month;
    m.from = "2023-05-01 00:00:00+00";
    m.to = "2023-06-01 00:00:00+00";
    for (const char* c : {"id", "tenant_id", "conversation_id", "direction", "channel", "content",
                          "delivery_status", "created_at", "deleted_at"})
        m.columns.push_back({c, "", false});
    m.rows = before.rows;
    m.csv_bytes = csv_text.size();
    m.csv_sha256 = Sha256::hex_of(csv_text);
    m.object_key = archive::object_key(table);
    m.object_bytes = gz_text.size();
    m.object_sha256 = Sha256::hex_of(gz_text);
    std::string manifest = temp_path("manifest.json");
    std::ofstream(manifest) << archive::to_json(m);
    ASSERT_EQ(
        aws({"s3", "cp", "--sse", "AES256", csv + ".gz", fmt::format("s3://{}/{}", bucket(), m.object_key)})
            .exit_code,
        0);
    ASSERT_EQ(aws({"s3", "cp", manifest, fmt::format("s3://{}/{}", bucket(), archive::manifest_key(table))})
                  .exit_code,
              0);
    fs::remove(csv + ".gz");
    fs::remove(manifest);

    auto r = ywctl({"partitions", "restore", "--month", month});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(table_state(table), "attached");
    EXPECT_EQ(digest(table), before);
}

TEST_F(Archive, ASoftDeleteAfterTheDetachIsAnswered404AndTheArchiveKeepsTheRow) {
    int port = free_port();
    Child server("ywmsgd", {},
                 {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                  fmt::format("YW_HTTP_PORT={}", port), "YW_CACHE_ENABLED=false"});
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ApiClient api(port, admin_token_of(Topology::get()));
    auto tenant = api.make_tenant("archive soft delete");
    auto user = api.make_user(tenant, "Ruth");
    auto conversation = api.make_conversation(tenant, user);
    const std::string month = "2024_09", table = table_of(month);
    fill_month(month, 20, tenant.id, conversation);
    auto page = api.as(tenant.key, "GET", "/v1/conversations/" + conversation + "/messages?limit=50");
    ASSERT_EQ(page.status, 200) << page.body;
    auto items = parse_object(page).at("data").as_array();
    ASSERT_FALSE(items.empty());
    std::string message = std::string(items.at(0).at("id").as_string());

    ASSERT_EQ(ywctl({"partitions", "archive", "--month", month, "--yes"}, {"YW_ARCHIVE_KILL_AFTER=detached"})
                  .exit_code,
              -1);
    auto del = api.as(tenant.key, "DELETE", "/v1/conversations/" + conversation + "/messages/" + message);
    EXPECT_EQ(del.status, 404) << del.body;  // out of the write path: not silently lost, refused
    ASSERT_EQ(ywctl({"partitions", "archive", "--month", month, "--yes"}).exit_code, 0);
    ASSERT_EQ(ywctl({"partitions", "restore", "--month", month}).exit_code, 0);
    auto after = api.as(tenant.key, "GET", "/v1/conversations/" + conversation + "/messages?limit=50");
    ASSERT_EQ(after.status, 200);
    EXPECT_EQ(parse_object(after).at("data"), parse_object(page).at("data"));  // exactly as before
}

TEST_F(Archive, Rb17CountsAnArchivedMonthAsArchivedNotMissingAndPremakeLeavesItAlone) {
    auto now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    int m = utc.tm_year * 12 + utc.tm_mon - 15;  // inside RB-17's 24-month window, past the 12-month cut-off
    const std::string month = fmt::format("{:04d}_{:02d}", m / 12 + 1900, m % 12 + 1);
    fill_month(month, 30);
    ASSERT_EQ(ywctl({"partitions", "archive", "--month", month, "--yes"}).exit_code, 0);

    auto health = ywctl({"--json", "partitions", "health"});
    auto doc = json::parse(health.output.substr(health.output.find('{')));
    for (const auto& missing : doc.at("data").at("missing").as_array())
        EXPECT_NE(missing.as_string(), month) << health.output;
    bool named = false;
    for (const auto& check : doc.at("checks").as_array())
        if (check.at("name") == "missing months")
            named = std::string(check.at("detail").as_string()).find("archived to S3: " + month) !=
                    std::string::npos;
    EXPECT_TRUE(named) << health.output;

    // Premake asked for 24 months back does not bring an empty month back over the archive.
    auto db = app_direct();
    exec(db, "SELECT * FROM ensure_conversation_message_partitions(24, 2)");
    EXPECT_EQ(table_state(table_of(month)), "absent");
}

}  // namespace
}  // namespace yw::test
