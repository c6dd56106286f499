// Backups' pure parts: pgBackRest's `info --output=json` (a real 2.45 answer and hostile ones), its error
// text, backup labels, RFC 3339 targets, the recovery window, and `backup check`'s thresholds.
#include <gtest/gtest.h>

#include <random>

#include "backup/check.hpp"
#include "backup/restore.hpp"
#include "common/time.hpp"

namespace yw::backup {
namespace {

// As pgBackRest 2.45 printed it for the local topology: a full backup, then an incremental one.
constexpr const char* kInfo =
    R"([{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"00000001000000000000000A",)"
    R"("min":"000000010000000000000004"}],"backup":[{"archive":{"start":"000000010000000000000005",)"
    R"("stop":"000000010000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,)"
    R"("repo-key":1},"error":false,"info":{"delta":30574692,"repository":{"delta":6082880,"size":6082880},)"
    R"("size":30574692},"label":"20261201-224841F","lsn":{"start":"0/5000028","stop":"0/6000088"},)"
    R"("prior":null,"reference":null,"timestamp":{"start":1796165321,"stop":1796165331},"type":"full"},)"
    R"({"archive":{"start":"000000010000000000000009","stop":"00000001000000000000000A"},"error":false,)"
    R"("info":{"delta":8500,"repository":{"delta":2100,"size":6084980},"size":30574692},)"
    R"("label":"20261201-224841F_20261201-224901I","lsn":{"start":"0/9000028","stop":"0/A000050"},)"
    R"("prior":"20261201-224841F","reference":["20261201-224841F"],)"
    R"("timestamp":{"start":1796165341,"stop":1796165344},"type":"incr"}],"cipher":"aes-256-cbc",)"
    R"("db":[{"id":1,"repo-key":1,"system-id":7714470700533725887,"version":"15"}],"name":"ywmessaging",)"
    R"("repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}}],)"
    R"("status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}])";

TEST(BackupInfo, ReadsPgBackRestsAnswer) {
    auto info = parse_info(kInfo, "ywmessaging");
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->status_code, 0);
    EXPECT_EQ(info->cipher, "aes-256-cbc");
    EXPECT_EQ(info->archive_min, "000000010000000000000004");
    EXPECT_EQ(info->archive_max, "00000001000000000000000A");
    ASSERT_EQ(info->backups.size(), 2u);
    const auto& full = info->backups[0];
    EXPECT_EQ(full.label, "20261201-224841F");
    EXPECT_EQ(full.type, "full");
    EXPECT_EQ(full.prior, "");
    EXPECT_EQ(full.stop, 1796165331);
    EXPECT_EQ(full.size, 30574692);
    EXPECT_EQ(full.repo_size, 6082880);
    EXPECT_EQ(full.lsn_stop, "0/6000088");
    EXPECT_EQ(full.wal_start, "000000010000000000000005");
    EXPECT_FALSE(full.error);
    EXPECT_EQ(info->newest()->type, "incr");
    EXPECT_EQ(info->newest()->prior, "20261201-224841F");
    EXPECT_FALSE(info->backup_running);
}

TEST(BackupInfo, RefusesWhatIsNotItsShape) {
    for (const char* bad :
         {"", "{}", "null", "[", "[{\"name\":\"other\",\"status\":{\"code\":0}}]",
          "[{\"name\":\"ywmessaging\"}]", "[{\"name\":\"ywmessaging\",\"status\":{\"code\":\"0\"}}]",
          "[{\"name\":\"ywmessaging\",\"status\":{\"code\":0},\"backup\":{}}]",
          "[{\"name\":\"ywmessaging\",\"status\":{\"code\":0},\"backup\":[1]}]",
          "[{\"name\":\"ywmessaging\",\"status\":{\"code\":0},\"backup\":[{\"label\":\"x\"}]}]",
          "[{\"name\":\"ywmessaging\",\"status\":{\"code\":0},"
          "\"backup\":[{\"label\":\"x\",\"type\":\"weekly\"}]}]"}) {
        EXPECT_FALSE(parse_info(bad, "ywmessaging").ok()) << bad;
    }
    // A stanza with no backups yet is a valid answer.
    auto empty =
        parse_info(R"([{"name":"ywmessaging","status":{"code":2,"message":"no valid backups"},"backup":[]}])",
                   "ywmessaging");
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(empty->status_code, 2);
    EXPECT_EQ(empty->newest(), nullptr);
}

TEST(BackupInfo, SurvivesRandomMutations) {
    std::mt19937 rng(7);
    std::string base = kInfo;
    for (int i = 0; i < 20000; ++i) {
        std::string s = base;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            size_t at = rng() % s.size();
            switch (rng() % 3) {
                case 0:
                    s[at] = static_cast<char>(rng() % 256);
                    break;
                case 1:
                    s.erase(at, 1 + rng() % 8);
                    break;
                default:
                    s.insert(at, 1, "{}[]\",:0-9"[rng() % 10]);
                    break;
            }
            if (s.empty()) s = "[";
        }
        auto r = parse_info(s, "ywmessaging");  // never crashes; when it answers, the answer is sane
        if (!r.ok()) continue;
        for (const auto& b : r->backups)
            EXPECT_TRUE(b.type == "full" || b.type == "diff" || b.type == "incr");
    }
}

TEST(BackupInfo, ErrorSummaryKeepsTheErrorAndDropsTheHttpDump) {
    std::string out =
        "WARN: environment contains invalid option 'x'\n"
        "ERROR: [039]: HTTP request failed with 403 (FORBIDDEN):\n"
        "       *** Path/Query ***:\n"
        "       GET /ywmessaging/?delimiter=%2F\n"
        "       *** Response Content ***:\n"
        "       <Error><Code>SignatureDoesNotMatch</Code></Error>\n";
    EXPECT_EQ(error_summary(out), "ERROR: [039]: HTTP request failed with 403 (FORBIDDEN):");
    EXPECT_EQ(
        error_summary("ERROR: [056]: unable to find primary cluster - cannot proceed\n"
                      "       HINT: are all available clusters in recovery?\n"
                      "2026-12-01 INFO: stanza-create command end\n"),
        "ERROR: [056]: unable to find primary cluster - cannot proceed HINT: are all available clusters in "
        "recovery?");
    EXPECT_EQ(error_summary("something odd\nlast words\n\n"), "last words");
    EXPECT_EQ(error_summary(""), "pgbackrest failed without a message");
}

TEST(BackupInfo, LabelsAreOnlyThoseItMakes) {
    EXPECT_TRUE(valid_label("20261201-224857F"));
    EXPECT_TRUE(valid_label("20261201-224857F_20261201-224901I"));
    EXPECT_TRUE(valid_label("20261201-224857F_20261201-224901D"));
    for (const char* bad : {"", "latest", "20261201-224857", "20261201-224857I", "../20261201-224857F",
                            "20261201-224857F_", "20261201-224857F_20261201-224901F", "20261201-224857F;rm"})
        EXPECT_FALSE(valid_label(bad)) << bad;
}

TEST(BackupTime, ParsesRfc3339WithAnOffsetOnly) {
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339("2026-12-01T22:50:00Z"), 1796165400ll * 1000000);
    EXPECT_EQ(parse_rfc3339("2026-12-01 23:50:00+01:00"), 1796165400ll * 1000000);
    EXPECT_EQ(parse_rfc3339("2026-12-01T22:50:00.5Z"), 1796165400ll * 1000000 + 500000);
    EXPECT_EQ(parse_rfc3339("2026-12-01T22:50:00.1234567Z"), 1796165400ll * 1000000 + 123456);
    EXPECT_EQ(parse_rfc3339("2026-12-01T17:50:00-0500"), 1796165400ll * 1000000);
    EXPECT_EQ(parse_rfc3339("2026-12-01T22:50:00+00"), 1796165400ll * 1000000);
    EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), 1709164800ll * 1000000);
    for (const char* bad :
         {"", "2026-12-01", "2026-12-01T22:50:00", "2026-12-01 22:50", "2023-02-29T00:00:00Z",
          "2026-13-01T00:00:00Z", "2026-12-32T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T22:50:00.Z",
          "2026-12-01T22:50:00+25:00", "2026-12-01T22:50:00Zjunk", "yesterday", "2026-12-01T22:50:00 Z",
          "２026-12-01T22:50:00Z"})
        EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
    // Round trip with the API's own rendering.
    for (long long us : {0ll, 1796165400123456ll, 951782400000000ll})
        EXPECT_EQ(parse_rfc3339(rfc3339_from_us(us)), us);
}

TEST(BackupCheck, WindowStartsAtTheOldestUsableBackup) {
    RepoInfo info;
    EXPECT_FALSE(recovery_window(info, 100).has_value());
    info.backups = {
        {.label = "a", .stop = 10, .error = true}, {.label = "b", .stop = 20}, {.label = "c", .stop = 30}};
    auto w = recovery_window(info, 100);
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(w->from, 20);
    EXPECT_EQ(w->to, 100);
}

ops::Level level_of(const ops::Report& r, const std::string& name) {
    for (const auto& f : r.findings)
        if (f.name == name) return f.level;
    ADD_FAILURE() << "no finding " << name;
    return ops::Level::kUnknown;
}

BackupSnapshot healthy(long long backup_age_s) {
    BackupSnapshot s;
    s.now = 1'000'000;
    RepoInfo repo;
    repo.status_code = 0;
    repo.cipher = "aes-256-cbc";
    repo.backups = {{.label = "20261201-224857F", .type = "full", .stop = s.now - backup_age_s}};
    s.repo = repo;
    ArchiverState a;
    a.archive_mode = "on";
    a.has_command = true;
    a.archived_count = 10;
    a.archived_s_ago = 5;
    s.archiver = a;
    return s;
}

TEST(BackupCheck, NewestBackupAgeAgainstTheThresholds) {
    using ops::Level;
    EXPECT_EQ(level_of(assess_backups(healthy(3600)), "newest backup age"), Level::kOk);
    EXPECT_EQ(level_of(assess_backups(healthy(26 * 3600)), "newest backup age"), Level::kOk);
    EXPECT_EQ(level_of(assess_backups(healthy(26 * 3600 + 1)), "newest backup age"), Level::kWarning);
    EXPECT_EQ(level_of(assess_backups(healthy(50 * 3600)), "newest backup age"), Level::kWarning);
    EXPECT_EQ(level_of(assess_backups(healthy(50 * 3600 + 1)), "newest backup age"), Level::kCritical);
    BackupThresholds t;
    t.warning_age = std::chrono::hours(1);
    t.critical_age = std::chrono::hours(2);
    EXPECT_EQ(level_of(assess_backups(healthy(7201), t), "newest backup age"), Level::kCritical);
    // Only backups pgBackRest did not flag count.
    auto s = healthy(10);
    s.repo->backups.back().error = true;
    EXPECT_EQ(level_of(assess_backups(s), "newest backup"), Level::kCritical);
    s.repo->backups.clear();
    EXPECT_EQ(level_of(assess_backups(s), "newest backup"), Level::kCritical);
}

TEST(BackupCheck, ArchivingFailingOffOrPilingUp) {
    using ops::Level;
    auto s = healthy(10);
    EXPECT_EQ(level_of(assess_backups(s), "WAL archiving"), Level::kOk);
    s.archiver->failing = true;
    s.archiver->failed_count = 3;
    EXPECT_EQ(level_of(assess_backups(s), "WAL archiving"), Level::kCritical);
    s = healthy(10);
    s.archiver->archive_mode = "off";
    EXPECT_EQ(level_of(assess_backups(s), "WAL archiving"), Level::kCritical);
    s = healthy(10);
    s.archiver->has_command = false;
    EXPECT_EQ(level_of(assess_backups(s), "WAL archiving"), Level::kCritical);
    s = healthy(10);
    s.archiver->ready_segments = 7;
    EXPECT_EQ(level_of(assess_backups(s), "WAL waiting to be archived"), Level::kOk);
    s.archiver->ready_segments = 8;
    EXPECT_EQ(level_of(assess_backups(s), "WAL waiting to be archived"), Level::kWarning);
    s.archiver->ready_segments = 64;
    auto r = assess_backups(s);
    EXPECT_EQ(level_of(r, "WAL waiting to be archived"), Level::kCritical);
    EXPECT_EQ(r.data.at("wal_retained_bytes").as_int64(), 64ll << 24);
    s = healthy(10);
    s.archiver.reset();
    s.archiver_error = "no primary";
    EXPECT_EQ(level_of(assess_backups(s), "WAL archiving"), Level::kUnknown);
}

TEST(BackupCheck, RepositoryCheckAndVerify) {
    using ops::Level;
    auto s = healthy(10);
    s.repo.reset();
    s.repo_error = "pgbackrest info failed: ERROR: [039]: HTTP request failed with 403";
    EXPECT_EQ(level_of(assess_backups(s), "repository reachable"), Level::kCritical);
    s = healthy(10);
    s.repo->status_code = 4;  // different cipher
    EXPECT_EQ(level_of(assess_backups(s), "repository reachable"), Level::kCritical);
    s = healthy(10);
    s.checked = true;
    s.verified = true;
    EXPECT_EQ(level_of(assess_backups(s), "pgbackrest check"), Level::kOk);
    EXPECT_EQ(level_of(assess_backups(s), "pgbackrest verify"), Level::kOk);
    s.verify_error = "pgbackrest verify failed (exit 1)";
    EXPECT_EQ(level_of(assess_backups(s), "pgbackrest verify"), Level::kCritical);
}

TEST(BackupCheck, AdvisesTheNewestBackupWhenNothingCanBePromoted) {
    ops::Report r;
    RepoInfo info = *healthy(7200).repo;
    advise_restore(r, info, 1'000'000);
    EXPECT_EQ(level_of(r, "newest backup"), ops::Level::kOk);
    ASSERT_EQ(r.next_steps.size(), 1u);
    EXPECT_EQ(r.next_steps[0].rfind(
                  "ywctl backup restore --to <new data directory>   # backup 20261201-224857F", 0),
              0u)
        << r.next_steps[0];
    ops::Report none;
    advise_restore(none, RepoInfo{}, 1'000'000);
    EXPECT_EQ(level_of(none, "newest backup"), ops::Level::kCritical);
    EXPECT_TRUE(none.next_steps.empty());
}

}  // namespace
}  // namespace yw::backup
