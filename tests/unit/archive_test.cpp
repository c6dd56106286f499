// The archive's pure parts: gzip streams (round trip, truncation, corruption, concatenated members), CSV
// record counting as COPY writes it, the manifest (round trip and strict reading), month arithmetic, SHA-256.
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

#include "archive/archiver.hpp"
#include "archive/codec.hpp"
#include "archive/manifest.hpp"
#include "common/sha256.hpp"

namespace yw::archive {
namespace {

std::string gzip_of(std::string_view text, size_t chunk = 1000) {
    std::string out;
    GzipWriter w([&](std::string_view b) {
        out.append(b);
        return Status{};
    });
    for (size_t i = 0; i < text.size(); i += chunk) EXPECT_TRUE(w.write(text.substr(i, chunk)).ok());
    EXPECT_TRUE(w.finish().ok());
    return out;
}

Result<std::string> gunzip_of(std::string_view gz, size_t chunk = 777) {
    std::string out;
    GzipReader r([&](std::string_view b) {
        out.append(b);
        return Status{};
    });
    for (size_t i = 0; i < gz.size(); i += chunk)
        if (auto s = r.write(gz.substr(i, chunk)); !s) return s.error();
    if (auto s = r.finish(); !s) return s.error();
    return out;
}

std::string sample(size_t bytes) {
    std::mt19937 rng(42);
    std::string s;
    const char* words[] = {"hello", "\"quoted\"", ",", "\n", "café", "✓", "line", " "};
    while (s.size() < bytes) s += words[rng() % 8];
    return s;
}

TEST(Gzip, RoundTripsInAnyChunking) {
    for (size_t size : {0ul, 1ul, 1000ul, 300000ul}) {
        std::string text = sample(size);
        std::string gz = gzip_of(text, 4093);
        auto back = gunzip_of(gz, 1);
        if (size > 0) back = gunzip_of(gz, 65536);
        ASSERT_TRUE(back.ok()) << back.error().message;
        EXPECT_EQ(*back, text);
    }
}

TEST(Gzip, WhatGzipWritesIsWhatZlibReads) {
    // The gzip format (1f 8b), not zlib's: gunzip and `aws s3 cp … | gunzip` read it.
    std::string gz = gzip_of("abc");
    ASSERT_GE(gz.size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
}

TEST(Gzip, TruncatedCorruptAndEmptyStreamsAreErrors) {
    std::string gz = gzip_of(sample(50000));
    auto truncated = gunzip_of(gz.substr(0, gz.size() / 2));
    ASSERT_FALSE(truncated.ok());
    EXPECT_NE(truncated.error().message.find("truncated"), std::string::npos);
    EXPECT_FALSE(gunzip_of(gz.substr(0, gz.size() - 4)).ok());  // the size in the trailer is missing

    std::string corrupt = gz;
    corrupt[corrupt.size() / 2] ^= 0x55;
    EXPECT_FALSE(gunzip_of(corrupt).ok());
    std::string bad_crc = gz;
    bad_crc[bad_crc.size() - 6] ^= 0x01;  // the CRC-32 of the trailer
    EXPECT_FALSE(gunzip_of(bad_crc).ok());
    EXPECT_FALSE(gunzip_of("").ok());
    EXPECT_FALSE(gunzip_of("not gzip at all").ok());
    EXPECT_FALSE(gunzip_of(gz + "trailing garbage").ok());
}

TEST(Gzip, ConcatenatedMembersReadAsOneStream) {
    auto back = gunzip_of(gzip_of("first,") + gzip_of("second"));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, "first,second");
}

TEST(Gzip, ASinkErrorStopsTheStream) {
    GzipWriter w([](std::string_view) { return Status(make_error(ErrorCode::kUnavailable, "S3 is down")); });
    Status s = w.write(sample(200000));
    if (s) s = w.finish();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message, "S3 is down");
}

TEST(CsvRecords, CountsRecordsNotLines) {
    CsvRecordCounter c;
    c.update("id,content\n1,\"two\nlines\"\n2,\"a \"\"quote\"\"\"\n");
    EXPECT_EQ(c.records(), 3);  // header + 2 rows
    EXPECT_TRUE(c.ends_cleanly());
    CsvRecordCounter split;  // the same, one byte at a time
    for (char ch : std::string("id,content\n1,\"two\nlines\"\n2,\"a \"\"quote\"\"\"\n"))
        split.update({&ch, 1});
    EXPECT_EQ(split.records(), 3);
}

TEST(CsvRecords, AnUnclosedQuoteOrAMissingNewlineIsNotClean) {
    CsvRecordCounter open;
    open.update("id\n\"unterminated\n");
    EXPECT_FALSE(open.ends_cleanly());
    CsvRecordCounter partial;
    partial.update("id\n1\n2");
    EXPECT_EQ(partial.records(), 3);
    EXPECT_FALSE(partial.ends_cleanly());
    CsvRecordCounter empty;
    EXPECT_EQ(empty.records(), 0);
    EXPECT_TRUE(empty.ends_cleanly());
}

Manifest sample_manifest() {
    Manifest m;
    m.table = "conversation_message_2023_12";
    m.parent = "conversation_message";
    m.month = "2023_12";
    m.from = "2023-12-01 00:00:00+00";
    m.to = "2024-01-01 00:00:00+00";
    m.columns = {{"id", "uuid", true}, {"created_at", "timestamp with time zone", true}};
    m.ddl = "CREATE TABLE …";
    m.rows = 42;
    m.csv_bytes = 1000;
    m.csv_sha256 = Sha256::hex_of("csv");
    m.object_key = object_key(m.table);
    m.object_bytes = 300;
    m.object_sha256 = Sha256::hex_of("gz");
    m.table_bytes = 8192;
    m.server_version = "15.18";
    m.archived_at = "2026-12-01T10:00:00Z";
    m.tool = "ywctl";
    return m;
}

TEST(Manifest, RoundTrips) {
    Manifest m = sample_manifest();
    auto back = parse_manifest(to_json(m));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->table, m.table);
    EXPECT_EQ(back->rows, 42);
    EXPECT_EQ(back->columns.size(), 2u);
    EXPECT_EQ(back->columns[1].type, "timestamp with time zone");
    EXPECT_TRUE(back->columns[0].not_null);
    EXPECT_EQ(back->csv_sha256, m.csv_sha256);
    EXPECT_EQ(back->object_bytes, 300u);
    EXPECT_EQ(back->from, m.from);
    EXPECT_EQ(to_json(*back), to_json(m));
    EXPECT_EQ(object_key(m.table), "partitions/conversation_message_2023_12.csv.gz");
    EXPECT_EQ(manifest_key(m.table), "partitions/conversation_message_2023_12.manifest.json");
}

TEST(Manifest, RefusesWhatIsNotOursOrIsMalformed) {
    auto refused = [](const std::function<void(Manifest&)>& change) {
        Manifest m = sample_manifest();
        change(m);
        return !parse_manifest(to_json(m)).ok();
    };
    EXPECT_TRUE(refused([](Manifest& m) { m.format = "something else"; }));
    EXPECT_TRUE(refused([](Manifest& m) { m.month = "2023-12"; }));
    EXPECT_TRUE(refused([](Manifest& m) { m.table = "users"; }));
    EXPECT_TRUE(refused([](Manifest& m) { m.csv_sha256 = "abc"; }));
    EXPECT_TRUE(refused([](Manifest& m) { m.object_sha256 = std::string(64, 'G'); }));
    EXPECT_TRUE(refused([](Manifest& m) { m.object_key = "partitions/../../etc/passwd"; }));
    EXPECT_TRUE(refused([](Manifest& m) { m.columns.clear(); }));
    EXPECT_TRUE(refused([](Manifest& m) { m.columns[0].name = "id; DROP TABLE users"; }));
    EXPECT_TRUE(refused([](Manifest& m) { m.columns[0].name = "\"Quoted\""; }));
    for (const char* text : {"", "[]", "null", "{", "{\"format\":1}", "\xff\xfe"})
        EXPECT_FALSE(parse_manifest(text).ok()) << text;
    EXPECT_FALSE(parse_manifest(R"({"format":"ywmessaging.partition-archive/1","rows":-1})").ok());
}

TEST(Months, ValidAndArithmetic) {
    EXPECT_TRUE(valid_month("2023_12"));
    for (const char* bad : {"2023-12", "2023_13", "2023_00", "202312", "2023_1", "abcd_12", "1969_12", ""})
        EXPECT_FALSE(valid_month(bad)) << bad;
    EXPECT_EQ(add_months("2023_12", 1), "2024_01");
    EXPECT_EQ(add_months("2024_01", -1), "2023_12");
    EXPECT_EQ(add_months("2026_12", -12), "2025_12");
    EXPECT_EQ(add_months("2026_03", -27), "2023_12");
    EXPECT_EQ(add_months("2026_03", 0), "2026_03");
}

TEST(Sha256Stream, IncrementalEqualsOneShot) {
    std::string text = sample(100000);
    Sha256 h;
    for (size_t i = 0; i < text.size(); i += 333) h.update(std::string_view(text).substr(i, 333));
    EXPECT_EQ(h.finish_hex(), Sha256::hex_of(text));
    EXPECT_EQ(Sha256::hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace yw::archive
