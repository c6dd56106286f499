// The archive state machine and the restore (see archiver.hpp; docs/partitions.md).
#include "archive/archiver.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "archive/codec.hpp"
#include "archive/manifest.hpp"
#include "common/logging.hpp"
#include "common/sha256.hpp"
#include "pg/archive_queries.hpp"
#include "pg/ops_queries.hpp"
#include "pg/sync_connection.hpp"
#include "s3/xml.hpp"

namespace yw::archive {

namespace q = pg::queries;
using Clock = std::chrono::steady_clock;

bool valid_month(const std::string& month) {
    if (month.size() != 7 || month[4] != '_') return false;
    for (int i : {0, 1, 2, 3, 5, 6})
        if (month[i] < '0' || month[i] > '9') return false;
    int mm = (month[5] - '0') * 10 + (month[6] - '0');
    return mm >= 1 && mm <= 12 && month.substr(0, 4) >= "1970";
}

std::string add_months(const std::string& month, int delta) {
    int y = std::stoi(month.substr(0, 4));
    int m = std::stoi(month.substr(5, 2)) - 1 + delta;
    y += m >= 0 ? m / 12 : -((11 - m) / 12);
    m = ((m % 12) + 12) % 12;
    return fmt::format("{:04d}_{:02d}", y, m + 1);
}

bool ArchiveReport::ok() const {
    for (const auto& m : months)
        if (m.outcome == "failed" || m.outcome == "refused") return false;
    return true;
}

namespace {

std::string table_of(const std::string& month) { return "conversation_message_" + month; }

// "2023-12-01 00:00:00+00": the bounds every partition has (UTC midnights, migration 0001).
std::string bound_of(const std::string& month) {
    return fmt::format("{}-{}-01 00:00:00+00", month.substr(0, 4), month.substr(5, 2));
}

std::string megabytes(std::uint64_t bytes) { return fmt::format("{}MB", (bytes + (1u << 19)) / (1u << 20)); }

Error with_context(Error e, const std::string& context) {
    e.message = context + ": " + e.message;
    return e;
}

struct Facts {
    std::string month;  // the current month, UTC
    std::string version;
    std::string utc;       // now, ISO 8601
    std::string log_time;  // now, "YYYY-MM-DD HH:MM" (the runbook's log format)
};

// What reading an archived object back proves: the size and SHA-256 of the gzip object and of the CSV inside,
// and the CSV's rows (-1 when it does not end in whole records).
struct ObjectFacts {
    std::uint64_t gzip_bytes = 0;
    std::string gzip_sha256;
    std::uint64_t csv_bytes = 0;
    std::string csv_sha256;
    std::int64_t rows = -1;
};

// Downloads `key` once, gunzipping, hashing and counting on the way; `csv_copy`, when set, also receives the
// decompressed CSV. kUnprocessable when the object is not one whole gzip stream; S3's own errors otherwise.
Result<ObjectFacts> read_object(s3::Client& s3, const std::string& key, const Sink& csv_copy = {}) {
    ObjectFacts f;
    Sha256 csv_hash, gzip_hash;
    CsvRecordCounter counter;
    GzipReader gunzip([&](std::string_view csv) {
        csv_hash.update(csv);
        counter.update(csv);
        f.csv_bytes += csv.size();
        return csv_copy ? csv_copy(csv) : Status{};
    });
    auto got = s3.get(key, [&](std::string_view chunk) -> Status {
        gzip_hash.update(chunk);
        f.gzip_bytes += chunk.size();
        return gunzip.write(chunk);
    });
    if (!got) return got.error();
    if (auto s = gunzip.finish(); !s) return s.error();
    f.gzip_sha256 = gzip_hash.finish_hex();
    f.csv_sha256 = csv_hash.finish_hex();
    f.rows = counter.ends_cleanly() ? counter.records() - 1 : -1;  // minus the header line
    return f;
}

// "" when the object read back is the one the manifest describes; else what differs.
std::string differences(const ObjectFacts& got, const Manifest& want) {
    if (got.gzip_sha256 != want.object_sha256 || got.gzip_bytes != want.object_bytes)
        return fmt::format("the object's SHA-256 is {} ({} bytes), the manifest says {} ({} bytes)",
                           got.gzip_sha256, got.gzip_bytes, want.object_sha256, want.object_bytes);
    if (got.csv_sha256 != want.csv_sha256 || got.csv_bytes != want.csv_bytes)
        return fmt::format("the CSV's SHA-256 is {} ({} bytes), the manifest says {} ({} bytes)",
                           got.csv_sha256, got.csv_bytes, want.csv_sha256, want.csv_bytes);
    if (got.rows != want.rows)
        return fmt::format("the CSV holds {} rows, the manifest says {}", got.rows, want.rows);
    return {};
}

class Archiver {
  public:
    Archiver(pg::SyncConnection& db, s3::Client& s3, const ArchiveOptions& o, Facts facts)
        : db_(db), s3_(s3), o_(o), now_(std::move(facts)) {}

    MonthOutcome run_month(const std::string& month, bool explicit_month);

  private:
    void say(const std::string& m) const {
        if (o_.progress) o_.progress(m);
    }
    void checkpoint(const std::string& state) const {
        if (!o_.kill_after.empty() && o_.kill_after == state) {
            log::warn("YW_ARCHIVE_KILL_AFTER: killing this process", {{"state", state}});
            ::kill(::getpid(), SIGKILL);
        }
    }
    Status step(const std::string& month, const std::string& state, const std::string& detail) {
        auto r = db_.query(q::kArchiveStep, {month, state, detail});
        if (!r) return r.error();
        checkpoint(state);
        return {};
    }
    void record_failure(const std::string& month, const Error& e, std::optional<std::string> back_to) {
        auto r = db_.query(q::kArchiveFailed, {month, e.message, back_to});
        if (!r) log::warn("cannot record the failure", {{"month", month}, {"error", r.error().message}});
    }
    Result<pg::Rows> with_lock_retries(const std::string& what, const std::string& sql);
    Status detach(const std::string& month, const std::string& table);
    Status export_month(const std::string& month, const std::string& table, MonthOutcome& out);
    Status verify(const std::string& month, const std::string& table, MonthOutcome& out);
    Status finish(const std::string& month, const std::string& table, std::uint64_t table_bytes,
                  MonthOutcome& out);
    Status drop_expired(const std::string& month, const std::string& table, MonthOutcome& out);
    // DROP TABLE (when it still exists) and state `dropped` with the log line, in one transaction.
    Status drop_and_record(const std::string& month, const std::string& table, const std::string& line);
    void append_to_log(const std::string& line) const;
    std::string eligibility(const std::string& month) const;

    pg::SyncConnection& db_;
    s3::Client& s3_;
    const ArchiveOptions& o_;
    Facts now_;
};

// Why a month may not be archived; "" when it may.
std::string Archiver::eligibility(const std::string& month) const {
    if (month == now_.month) return fmt::format("{} is the current month: writes go there", month);
    if (month > now_.month) return fmt::format("{} is a month ahead: writes will go there", month);
    std::string cutoff = add_months(now_.month, -o_.older_than_months);
    if (month >= cutoff)
        return fmt::format("{} is not older than {} months (the cut-off is before {}; see --older-than)",
                           month, o_.older_than_months, cutoff);
    return {};
}

Result<pg::Rows> Archiver::with_lock_retries(const std::string& what, const std::string& sql) {
    // lock_timeout bounds how long the statement may wait for its lock, and so how long the API's statements
    // queued behind it wait: a moment, then we back off and try again.
    if (auto r = db_.query(q::kSetLockTimeout, {std::to_string(o_.lock_timeout.count()) + "ms"}); !r)
        return r.error();
    Error last;
    for (int attempt = 1; attempt <= std::max(1, o_.lock_attempts); ++attempt) {
        auto r = db_.simple_query(what, sql);
        if (r) return r;
        last = r.error();
        if (last.message.find("55P03") == std::string::npos) return last;
        say(fmt::format("{}: lock not granted within {} ms (attempt {}/{}); retrying", what,
                        o_.lock_timeout.count(), attempt, o_.lock_attempts));
        std::this_thread::sleep_for(std::chrono::milliseconds(250) * attempt);
    }
    return with_context(last, fmt::format("{} gave up after {} attempts", what, o_.lock_attempts));
}

Status Archiver::detach(const std::string& month, const std::string& table) {
    auto info = db_.query(q::kArchiveTable, {table});
    if (!info) return info.error();
    if (info->empty())
        return make_error(ErrorCode::kNotFound, fmt::format("{} does not exist any more", table));
    std::string quoted = db_.quote_identifier(table);
    if (info->text(0, "detach_pending") == "t") {
        // A DETACH … CONCURRENTLY was interrupted: finish it.
        say(fmt::format("{}: finishing an interrupted detach", table));
        if (auto r = with_lock_retries("archive.detach_finalize",
                                       fmt::format(fmt::runtime(q::kArchiveDetachFinalizeSql), quoted));
            !r)
            return r.error();
    } else if (info->text(0, "attached") == "t") {
        say(fmt::format("{}: detach concurrently (lock_timeout {} ms)", table, o_.lock_timeout.count()));
        if (auto r =
                with_lock_retries("archive.detach", fmt::format(fmt::runtime(q::kArchiveDetachSql), quoted));
            !r) {
            // An interrupted CONCURRENTLY leaves the partition "detach pending"; the next run finalizes it.
            return r.error();
        }
    }
    return step(month, "detached", "out of conversation_message: no write can reach it");
}

Status Archiver::export_month(const std::string& month, const std::string& table, MonthOutcome& out) {
    std::string quoted = db_.quote_identifier(table);
    auto columns = db_.query(q::kArchiveColumns, {table});
    if (!columns) return columns.error();
    Manifest m;
    m.table = table;
    m.parent = "conversation_message";
    m.month = month;
    m.from = bound_of(month);
    m.to = bound_of(add_months(month, 1));
    m.ddl = "CREATE TABLE " + quoted + " (\n";
    for (size_t i = 0; i < columns->size(); ++i) {
        Column c{columns->text(i, "name"), columns->text(i, "type"), columns->text(i, "not_null") == "t"};
        m.ddl += fmt::format("    {} {}{}{}\n", c.name, c.type, c.not_null ? " NOT NULL" : "",
                             i + 1 < columns->size() ? "," : "");
        m.columns.push_back(std::move(c));
    }
    m.ddl += fmt::format(");\n-- a partition of conversation_message FOR VALUES FROM ('{}') TO ('{}')\n",
                         m.from, m.to);
    m.object_key = object_key(table);
    m.server_version = now_.version;
    m.archived_at = now_.utc;
    m.tool = "ywctl";
    if (auto info = db_.query(q::kArchiveTable, {table}); info && !info->empty())
        m.table_bytes = static_cast<std::uint64_t>(info->optional_int(0, "bytes").value_or(0));

    say(fmt::format("{}: COPY … TO STDOUT | gzip | S3 multipart upload to s3://{}/{} (SSE AES256)", table,
                    s3_.config().bucket, m.object_key));
    // A run killed during its upload left that multipart upload open: abort it, or S3 keeps its parts.
    if (auto stale = s3_.unfinished_uploads(m.object_key); stale) {
        for (const auto& id : *stale) {
            say(fmt::format("{}: abort the unfinished upload {} of an interrupted run", table, id));
            if (auto s = s3_.abort_multipart(m.object_key, id); !s)
                log::warn("cannot abort an unfinished upload",
                          {{"key", m.object_key}, {"error", s.error().message}});
        }
    } else {
        log::warn("cannot list unfinished uploads",
                  {{"key", m.object_key}, {"error", stale.error().message}});
    }
    s3::PutOptions put;
    put.content_type = "application/gzip";
    put.encrypt = true;
    constexpr std::size_t kPartSize = 8u << 20;
    s3::ObjectWriter writer(s3_, m.object_key, put, kPartSize);
    Sha256 csv_hash, gzip_hash;
    GzipWriter gzip(
        [&](std::string_view bytes) {
            gzip_hash.update(bytes);
            m.object_bytes += bytes.size();
            Status s = writer.write(bytes);
            if (m.object_bytes > kPartSize) checkpoint("uploading");  // a part is in S3, the rest is not
            return s;
        },
        o_.gzip_level);
    auto rows = db_.copy_out("archive.copy_out", fmt::format(fmt::runtime(q::kArchiveCopyOutSql), quoted),
                             [&](std::string_view chunk) {
                                 csv_hash.update(chunk);
                                 m.csv_bytes += chunk.size();
                                 return gzip.write(chunk);
                             });
    if (!rows) return with_context(rows.error(), "export");
    if (auto s = gzip.finish(); !s) return s;
    if (auto s = writer.finish(); !s) return with_context(s.error(), "upload");
    m.rows = *rows;
    m.csv_sha256 = csv_hash.finish_hex();
    m.object_sha256 = gzip_hash.finish_hex();
    s3::PutOptions json_put;
    json_put.content_type = "application/json";
    if (auto s = s3_.put(manifest_key(table), to_json(m), json_put); !s)
        return with_context(s.error(), "manifest upload");
    auto r = db_.query(q::kArchiveUploaded, {month, std::to_string(m.rows), std::to_string(m.csv_bytes),
                                             m.csv_sha256, std::to_string(m.object_bytes), m.object_sha256,
                                             fmt::format("{} rows, {} of CSV, {} gzip object", m.rows,
                                                         megabytes(m.csv_bytes), megabytes(m.object_bytes))});
    if (!r) return r.error();
    out.rows = m.rows;
    out.object_bytes = m.object_bytes;
    checkpoint("uploaded");
    return {};
}

Status Archiver::verify(const std::string& month, const std::string& table, MonthOutcome& out) {
    auto row = db_.query(q::kArchiveRow, {month});
    if (!row || row->empty())
        return row ? make_error(ErrorCode::kInternal, "state row vanished") : row.error();
    const std::int64_t want_rows = row->optional_int(0, "row_count").value_or(-1);
    const auto want_gzip_bytes = static_cast<std::uint64_t>(row->optional_int(0, "gzip_bytes").value_or(-1));
    const auto want_csv_bytes = static_cast<std::uint64_t>(row->optional_int(0, "csv_bytes").value_or(-1));
    const std::string want_csv = row->text(0, "csv_sha256");
    const std::string want_gzip = row->text(0, "gzip_sha256");
    const std::string key = row->text(0, "object_key");
    auto mismatch = [](const std::string& what) {
        return make_error(ErrorCode::kUnprocessable, "verification failed: " + what);
    };

    say(fmt::format("{}: verify s3://{}/{} (HEAD, then download, gunzip, SHA-256 and row count)", table,
                    s3_.config().bucket, key));
    auto head = s3_.head(key);
    if (!head) return with_context(head.error(), "verification: HEAD " + key);
    if (head->size != want_gzip_bytes)
        return mismatch(
            fmt::format("the object has {} bytes, {} were uploaded", head->size, want_gzip_bytes));
    if (head->server_side_encryption != "AES256")
        return mismatch(
            fmt::format("the object is not encrypted at rest (x-amz-server-side-encryption: '{}')",
                        head->server_side_encryption));
    auto manifest_text = s3_.get_text(manifest_key(table));
    if (!manifest_text) return with_context(manifest_text.error(), "verification: manifest");
    auto manifest = parse_manifest(*manifest_text);
    if (!manifest) return mismatch(manifest.error().message);
    if (manifest->rows != want_rows || manifest->csv_sha256 != want_csv ||
        manifest->object_sha256 != want_gzip || manifest->object_bytes != want_gzip_bytes ||
        manifest->csv_bytes != want_csv_bytes)
        return mismatch("the manifest in S3 does not describe the object that was uploaded");
    auto got = read_object(s3_, key);
    if (!got) {
        if (got.error().code == ErrorCode::kUnprocessable) return mismatch(got.error().message);
        return with_context(got.error(), "verification: download");
    }
    if (std::string diff = differences(*got, *manifest); !diff.empty()) return mismatch(diff);
    auto count = db_.simple_query(
        "archive.count", fmt::format(fmt::runtime(q::kArchiveCountSql), db_.quote_identifier(table)));
    if (!count) return count.error();
    std::int64_t in_table = count->optional_int(0, "n").value_or(-1);
    if (in_table != want_rows)
        return mismatch(fmt::format("{} holds {} rows, the object {}", table, in_table, want_rows));
    out.rows = want_rows;
    out.object_bytes = got->gzip_bytes;
    return step(month, "verified",
                fmt::format("read back: {} rows, SHA-256 of object and CSV match the manifest and the table",
                            want_rows));
}

Status Archiver::drop_and_record(const std::string& month, const std::string& table,
                                 const std::string& line) {
    // DROP and the record in one transaction: a crash leaves either both or neither.
    if (auto r = db_.query(q::kBegin); !r) return r.error();
    auto rollback = [&](Error e) {
        (void)db_.query(q::kRollback);
        return e;
    };
    auto info = db_.query(q::kArchiveTable, {table});
    if (!info) return rollback(info.error());
    if (!info->empty()) {
        auto r = with_lock_retries(
            "archive.drop", fmt::format(fmt::runtime(q::kArchiveDropSql), db_.quote_identifier(table)));
        if (!r) return rollback(r.error());
    }
    if (auto r = db_.query(q::kArchiveFinished, {month, std::string("dropped"), std::nullopt, line}); !r)
        return rollback(r.error());
    if (auto r = db_.query(q::kCommit); !r) return r.error();
    return {};
}

void Archiver::append_to_log(const std::string& line) const {
    if (o_.archive_log.empty()) return;
    std::ofstream log_file(o_.archive_log, std::ios::app);
    if (log_file) log_file << line << "\n";
    if (!log_file)
        log::warn("cannot append to the archival log", {{"path", o_.archive_log}});  // in the table
}

Status Archiver::finish(const std::string& month, const std::string& table, std::uint64_t table_bytes,
                        MonthOutcome& out) {
    if (o_.keep_detached_days) {
        auto until = db_.simple_query(
            "archive.keep_until",
            fmt::format("SELECT (now() + make_interval(days => {}))::text AS t", *o_.keep_detached_days));
        if (!until) return until.error();
        std::string line = fmt::format("{}: Archived {}, kept detached until {}", now_.log_time, table,
                                       until->text(0, "t").substr(0, 16));
        auto r = db_.query(q::kArchiveFinished, {month, std::string("kept"), until->text(0, "t"), line});
        if (!r) return r.error();
        out.state = out.outcome = "kept";
        out.detail = line;
    } else {
        std::string line =
            fmt::format("{}: Archived {}, freed {}", now_.log_time, table, megabytes(table_bytes));
        if (auto s = drop_and_record(month, table, line); !s) return s;
        out.state = "dropped";
        out.outcome = "archived";
        out.detail = line;
    }
    append_to_log(out.detail);
    return {};
}

Status Archiver::drop_expired(const std::string& month, const std::string& table, MonthOutcome& out) {
    std::string line =
        fmt::format("{}: Dropped {} (archived, kept detached until its time was up)", now_.log_time, table);
    if (auto s = drop_and_record(month, table, line); !s) return s;
    out.state = out.outcome = "dropped";
    out.detail = line;
    append_to_log(line);
    return {};
}

MonthOutcome Archiver::run_month(const std::string& month, bool explicit_month) {
    MonthOutcome out;
    out.month = month;
    out.table = table_of(month);
    const auto started = Clock::now();
    auto refuse = [&](ErrorCode code, std::string why) {
        out.outcome = explicit_month ? "refused" : "skipped";
        out.detail = std::move(why);
        out.error = code;
        return out;
    };
    auto fail = [&](const Error& e, std::optional<std::string> back_to) {
        record_failure(month, e, back_to);
        out.outcome = "failed";
        out.detail = e.message;
        out.error = e.code;
        if (back_to) out.state = *back_to;
        out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        return out;
    };

    auto row = db_.query(q::kArchiveRow, {month});
    if (!row) return fail(row.error(), std::nullopt);
    std::string state = row->empty() ? "" : row->text(0, "state");
    std::uint64_t table_bytes =
        row->empty() ? 0 : static_cast<std::uint64_t>(row->optional_int(0, "table_bytes").value_or(0));
    out.state = state;
    if (state == "dropped")
        return refuse(ErrorCode::kConflict,
                      fmt::format("{} is already archived: {}", month, row->text(0, "log_line")));
    if (state == "kept") {
        if (row->text(0, "keep_expired") != "t")
            return refuse(ErrorCode::kConflict,
                          fmt::format("{} is already archived; its table is kept detached until {}", month,
                                      row->text(0, "keep_until")));
        if (o_.dry_run) {
            out.outcome = "would drop";
            out.detail = fmt::format("{}'s kept table is past its time: DROP TABLE {}", month, out.table);
            return out;
        }
        if (auto s = drop_expired(month, out.table, out); !s) return fail(s.error(), std::nullopt);
        out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        return out;
    }
    if (state.empty() || state == "restored") {
        if (std::string why = eligibility(month); !why.empty())
            return refuse(ErrorCode::kInvalidArgument, why);
        auto info = db_.query(q::kArchiveTable, {out.table});
        if (!info) return fail(info.error(), std::nullopt);
        if (info->empty())
            return refuse(ErrorCode::kNotFound,
                          fmt::format("{} has no table ({}): nothing to archive", month, out.table));
        table_bytes = static_cast<std::uint64_t>(info->optional_int(0, "bytes").value_or(0));
        out.table_bytes = table_bytes;
        if (o_.dry_run) {
            out.outcome = "would archive";
            out.detail = fmt::format("detach {} ({}), upload s3://{}/{}, verify, then {}", out.table,
                                     megabytes(table_bytes), s3_.config().bucket, object_key(out.table),
                                     o_.keep_detached_days
                                         ? fmt::format("keep it detached {} days", *o_.keep_detached_days)
                                         : std::string("DROP it"));
            return out;
        }
        auto begin = db_.query(q::kArchiveBegin,
                               {month, out.table, object_key(out.table), manifest_key(out.table),
                                std::to_string(table_bytes), std::string("ywctl partitions archive")});
        if (!begin) return fail(begin.error(), std::nullopt);
        state = "detaching";
        checkpoint("begin");
    } else if (o_.dry_run) {
        out.outcome = "would resume";
        out.detail = fmt::format("an unfinished archive of {} at state {} ({})", month, state,
                                 row->text(0, "last_error"));
        return out;
    } else {
        say(fmt::format("{}: resuming an unfinished archive at state {}", month, state));
    }
    out.table_bytes = table_bytes;

    while (true) {
        out.state = state;
        if (state == "detaching") {
            if (auto s = detach(month, out.table); !s) return fail(s.error(), std::nullopt);
            state = "detached";
        } else if (state == "detached") {
            if (auto s = export_month(month, out.table, out); !s) return fail(s.error(), std::nullopt);
            state = "uploaded";
        } else if (state == "uploaded") {
            if (auto s = verify(month, out.table, out); !s) {
                // The table is still the truth: back to `detached`, so that the next run exports it again.
                if (s.error().code == ErrorCode::kUnprocessable)
                    return fail(s.error(), std::string("detached"));
                return fail(s.error(), std::nullopt);
            }
            state = "verified";
        } else if (state == "verified") {
            if (auto s = finish(month, out.table, table_bytes, out); !s) return fail(s.error(), std::nullopt);
            break;
        } else {
            return fail(make_error(ErrorCode::kInternal, "unknown archive state " + state), std::nullopt);
        }
    }
    out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return out;
}

// S3 first: a wrong key, a missing bucket or a server that does not answer must stop a run before it changes
// anything. One ListObjectsV2 of at most one key proves the signature, the bucket and the permission to read.
Status check_s3(s3::Client& s3) {
    s3::Request req;
    req.path = "/" + s3.config().bucket;
    req.query = {{"list-type", "2"},
                 {"max-keys", "1"},
                 {"prefix", "partitions"}};  // no "/": moto 5.2.1 mis-signs an encoded one
    auto res = s3.request(req);
    std::string where = fmt::format("S3 at {} (bucket {})", s3.config().endpoint, s3.config().bucket);
    if (!res) return with_context(res.error(), where + " did not answer; nothing was changed");
    if (res->status != 200) {
        auto code_at = res->body.find("<Code>");
        std::string code =
            code_at == std::string::npos
                ? std::string()
                : res->body.substr(code_at + 6, res->body.find("</Code>", code_at) - code_at - 6);
        return make_error(
            res->status == 403 ? ErrorCode::kUnauthenticated : ErrorCode::kUnavailable,
            fmt::format("{} refused the request: HTTP {} {}; nothing was changed", where, res->status, code));
    }
    return {};
}

Result<Facts> read_facts(pg::SyncConnection& db) {
    auto now = db.query(q::kArchiveNow);
    if (!now) return now.error();
    return Facts{now->text(0, "month"), now->text(0, "version"), now->text(0, "utc"),
                 now->text(0, "log_time")};
}

// Opens the direct primary connection and takes the run's lock.
Result<pg::SyncConnection> open_locked(const std::string& primary_url) {
    auto db = pg::SyncConnection::open(primary_url, std::chrono::seconds(5));
    if (!db) return with_context(db.error(), "cannot connect to the primary (DATABASE_PRIMARY_URL)");
    (void)db->simple_query("archive.application_name", "SET application_name = 'ywctl partitions'");
    auto locked = db->query(q::kArchiveTryLock);
    if (!locked) return locked.error();
    if (locked->text(0, "locked") != "t") {
        std::string who;
        if (auto h = db->query(q::kArchiveLockHolder); h && !h->empty())
            who = fmt::format(" (backend pid {}, {}, for {} s)", h->text(0, "pid"), h->text(0, "application"),
                              h->text(0, "seconds"));
        return make_error(ErrorCode::kUnavailable,
                          "another `ywctl partitions archive` or `restore` is running" + who +
                              "; run again when it has finished");
    }
    return std::move(db.value());
}

}  // namespace

Result<ArchiveReport> archive(const std::string& primary_url, s3::Client& s3, const ArchiveOptions& options) {
    if (options.month && !valid_month(*options.month))
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("--month must be YYYY_MM (e.g. 2023_12), got '{}'", *options.month));
    if (options.older_than_months < 1)
        return make_error(ErrorCode::kInvalidArgument, "--older-than must be at least 1 month");
    if (auto s = check_s3(s3); !s) return s.error();
    auto db = open_locked(primary_url);
    if (!db) return db.error();
    auto facts = read_facts(*db);
    if (!facts) return facts.error();
    Archiver archiver(*db, s3, options, *facts);
    ArchiveReport report;
    if (options.month) {
        report.months.push_back(archiver.run_month(*options.month, true));
    } else {
        auto candidates = db->query(q::kArchiveCandidates, {std::to_string(options.older_than_months)});
        if (!candidates) return candidates.error();
        for (size_t i = 0; i < candidates->size(); ++i)
            report.months.push_back(archiver.run_month(candidates->text(i, "month"), false));
    }
    return report;
}

// ---------------------------------------------------------------------------------------------------------------
// Restore

namespace {

struct TempFile {
    std::string path;
    ~TempFile() {
        if (!path.empty()) ::unlink(path.c_str());
    }
};

}  // namespace

Result<RestoreOutcome> restore(const std::string& primary_url, s3::Client& s3, const RestoreOptions& o) {
    const auto started = Clock::now();
    auto say = [&](const std::string& m) {
        if (o.progress) o.progress(m);
    };
    if (!valid_month(o.month))
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("--month must be YYYY_MM (e.g. 2023_12), got '{}'", o.month));
    const std::string table = table_of(o.month);
    RestoreOutcome out;
    out.month = o.month;
    out.attached = o.attach;
    out.table = o.attach ? table : (o.as_table.empty() ? table + "_restored" : o.as_table);
    for (char c : out.table)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') || out.table.size() > 63)
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("--as must be a plain lower-case table name, got '{}'", out.table));

    auto db = open_locked(primary_url);
    if (!db) return db.error();
    if (auto exists = db->query(q::kArchiveTable, {out.table}); !exists) {
        return exists.error();
    } else if (!exists->empty()) {
        return make_error(ErrorCode::kConflict,
                          fmt::format("{} already exists{}: nothing is restored over a table", out.table,
                                      exists->text(0, "attached") == "t" ? " as a partition" : ""));
    }

    // 1. The manifest, strictly read.
    say(fmt::format("{}: read s3://{}/{}", o.month, s3.config().bucket, manifest_key(table)));
    auto text = s3.get_text(manifest_key(table));
    if (!text) return with_context(text.error(), "cannot read the manifest " + manifest_key(table));
    auto manifest = parse_manifest(*text);
    if (!manifest) return manifest.error();
    if (manifest->month != o.month)
        return make_error(ErrorCode::kUnprocessable,
                          fmt::format("the manifest is for {}, not {}", manifest->month, o.month));
    if (manifest->from != bound_of(o.month) || manifest->to != bound_of(add_months(o.month, 1)))
        return make_error(ErrorCode::kUnprocessable, "the manifest's bounds are not the month's");
    auto live = db->query(q::kArchiveColumns, {std::string("conversation_message")});
    if (!live) return live.error();
    std::string column_list;
    for (const auto& c : manifest->columns) {
        bool found = false;
        for (size_t i = 0; i < live->size(); ++i) found = found || live->text(i, "name") == c.name;
        if (!found)
            return make_error(
                ErrorCode::kUnprocessable,
                fmt::format("the archive has a column {} that conversation_message no longer has; "
                            "restore it by hand (docs/partitions.md)",
                            c.name));
        column_list += (column_list.empty() ? "" : ", ") + db->quote_identifier(c.name);
    }

    // 2. Download once, checking both SHA-256 and the row count on the way, into a private temporary file
    // that keeps the CSV itself (the month's CSV size on disk, for a while): the load then needs no second
    // gunzip.
    TempFile temp;
    {
        std::string dir =
            !o.temp_dir.empty() ? o.temp_dir : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
        std::string pattern = dir + "/ywctl-restore-XXXXXX";
        int fd = ::mkstemp(pattern.data());
        if (fd < 0)
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("cannot create a temporary file in {}", dir));
        ::close(fd);
        temp.path = pattern;
    }
    say(fmt::format("{}: download s3://{}/{} and check it against the manifest", o.month, s3.config().bucket,
                    manifest->object_key));
    {
        std::ofstream file(temp.path, std::ios::binary | std::ios::trunc);
        auto got = read_object(s3, manifest->object_key, [&](std::string_view chunk) -> Status {
            file.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            if (!file)
                return make_error(ErrorCode::kUnavailable, "cannot write " + temp.path + " (disk full?)");
            return {};
        });
        auto refuse = [&](const std::string& why) {
            return make_error(ErrorCode::kUnprocessable,
                              "the object fails its check, nothing loaded: " + why);
        };
        if (!got) {
            if (got.error().code == ErrorCode::kUnprocessable) return refuse(got.error().message);
            return with_context(got.error(), "download refused, nothing loaded");
        }
        if (std::string diff = differences(*got, *manifest); !diff.empty()) return refuse(diff);
        out.object_bytes = got->gzip_bytes;
    }

    // 3. Create, load, check, attach: one transaction.
    const std::string quoted = db->quote_identifier(out.table);
    const std::string check = db->quote_identifier(out.table + "_bounds");
    const std::string from = db->quote_literal(manifest->from), to = db->quote_literal(manifest->to);
    auto fail = [&](const Error& e) -> Error {
        (void)db->query(q::kRollback);
        return e;
    };
    if (auto r = db->query(q::kBegin); !r) return r.error();
    say(fmt::format("{}: create {} from conversation_message's definition and COPY the rows in", o.month,
                    out.table));
    if (auto r = db->simple_query("restore.create", fmt::format(fmt::runtime(q::kRestoreCreateSql), quoted));
        !r)
        return fail(r.error());
    std::ifstream file(temp.path, std::ios::binary);
    auto loaded =
        db->copy_in("restore.copy_in", fmt::format(fmt::runtime(q::kRestoreCopyInSql), quoted, column_list),
                    [&](std::string& chunk) -> Result<bool> {
                        chunk.resize(256 * 1024);
                        file.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                        chunk.resize(static_cast<size_t>(std::max<std::streamsize>(0, file.gcount())));
                        if (file.bad())
                            return make_error(ErrorCode::kUnavailable, "cannot read " + temp.path);
                        return !chunk.empty();
                    });
    if (!loaded) return fail(with_context(loaded.error(), "COPY FROM"));
    if (*loaded != manifest->rows)
        return fail(
            make_error(ErrorCode::kUnprocessable,
                       fmt::format("COPY loaded {} rows, the manifest says {}", *loaded, manifest->rows)));
    out.rows = *loaded;
    if (o.attach) {
        // The CHECK constraint proves the bounds while only this new table is locked; ATTACH then skips its
        // scan.
        say(fmt::format("{}: attach {} as a partition (validated by a CHECK constraint first)", o.month,
                        out.table));
        for (const char* sql : {q::kRestoreCheckSql, q::kRestoreAttachSql, q::kRestoreDropCheckSql}) {
            auto r =
                db->simple_query("restore.attach", fmt::format(fmt::runtime(sql), quoted, check, from, to));
            if (!r) return fail(r.error());
        }
    } else {
        say(fmt::format("{}: build conversation_message's indexes on {}", o.month, out.table));
        auto defs = db->query(q::kRestoreIndexDefs, {out.table});
        if (!defs) return fail(defs.error());
        for (size_t i = 0; i < defs->size(); ++i)
            if (auto r = db->simple_query("restore.index", defs->text(i, "sql")); !r) return fail(r.error());
        if (auto r = db->simple_query("restore.read_only",
                                      fmt::format(fmt::runtime(q::kRestoreReadOnlySql), quoted));
            !r)
            return fail(r.error());
    }
    if (auto r = db->query(q::kArchiveRestored, {o.month, out.table,
                                                 fmt::format("{} rows into {}{}", out.rows, out.table,
                                                             o.attach ? ", attached" : ", read-only")});
        !r)
        return fail(r.error());
    if (auto r = db->query(q::kCommit); !r) return fail(r.error());
    (void)db->simple_query("restore.analyze", fmt::format(fmt::runtime(q::kRestoreAnalyzeSql), quoted));
    out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return out;
}

}  // namespace yw::archive
