// Restores into a scratch server, and the monthly restore drill (see restore.hpp).
#include "backup/restore.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "common/files.hpp"
#include "common/time.hpp"
#include "node/control.hpp"
#include "pg/backup_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::backup {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

void say(const Progress& p, const std::string& m) {
    if (p) p(m);
}

Error refuse(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }

std::string utc_text(long long unix_s) {
    std::string t = rfc3339_from_us(unix_s * 1000000);
    return t.substr(0, 19) + "Z";
}

// 0/3000028 → 0x3000028; nullopt for anything else.
std::optional<unsigned long long> parse_lsn(const std::string& lsn) {
    static const std::regex re(R"(^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$)");
    std::smatch m;
    if (!std::regex_match(lsn, m, re)) return std::nullopt;
    return (std::stoull(m[1].str(), nullptr, 16) << 32) | std::stoull(m[2].str(), nullptr, 16);
}

int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

std::string dsn_of(int port, const std::string& db) {
    return fmt::format("host=127.0.0.1 port={} user=postgres dbname={} connect_timeout=3", port, db);
}

std::string log_tail(const fs::path& file, size_t lines) {
    std::ifstream in(file);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += all[i] + "\n";
    return out;
}

// The most telling line of a failed recovery: its FATAL, else the last line.
std::string recovery_failure(const fs::path& log) {
    std::string tail = log_tail(log, 40);
    auto at = tail.rfind("FATAL:");
    if (at != std::string::npos) return tail.substr(at, tail.find('\n', at) - at);
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    auto nl = tail.rfind('\n');
    return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

Result<std::vector<TableRows>> count_rows(pg::SyncConnection& conn) {
    auto rows = conn.query(pg::queries::kBackupRowCounts);
    if (!rows) return rows.error();
    std::vector<TableRows> out;
    for (size_t i = 0; i < rows->size(); ++i)
        out.push_back({rows->text(i, "table_name"), rows->optional_int(i, "rows").value_or(0)});
    return out;
}

}  // namespace

std::optional<RecoveryWindow> recovery_window(const RepoInfo& info, long long now) {
    for (const auto& b : info.backups)
        if (!b.error) return RecoveryWindow{b.stop, now};
    return std::nullopt;
}

Status destroy_scratch(const fs::path& dir) {
    if (fs::exists(dir / "PG_VERSION") && node::postmaster_running(dir))
        if (auto s = node::stop(dir); !s) return s;
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec)
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("cannot delete {}: {}", dir.string(), ec.message()));
    return {};
}

Result<RestoreResult> restore_to(const PgBackRest& engine, const RestoreRequest& req) {
    const auto started = Clock::now();
    RestoreResult out;
    // Everything that can be refused is refused before anything is written.
    if (req.target_time && req.target_lsn) return refuse("give --target-time or --target-lsn, not both");
    if (!req.set.empty() && !valid_label(req.set))
        return refuse(fmt::format("'{}' is not a backup label (see ywctl backup list)", req.set));
    std::error_code ec;
    fs::path dir = fs::absolute(req.dir, ec).lexically_normal();
    if (ec || dir.empty()) return refuse("bad --to directory");
    if (dir.filename().empty()) dir = dir.parent_path();
    if (fs::exists(dir)) {
        if (!fs::is_directory(dir))
            return refuse(fmt::format("{} exists and is not a directory", dir.string()));
        if (!fs::is_empty(dir, ec))
            return refuse(fmt::format("{} is not empty: a restore goes into an empty or new directory only",
                                      dir.string()));
    } else if (!fs::is_directory(dir.parent_path())) {
        return refuse(fmt::format("{} does not exist", dir.parent_path().string()));
    }
    say(req.progress, "read the repository");
    auto info = engine.info();
    if (!info) return info.error();
    const long long now = unix_us_now() / 1000000;
    auto window = recovery_window(*info, now);
    if (!window) return make_error(ErrorCode::kNotFound, "the repository holds no usable backup to restore");
    std::string range = fmt::format("{} … {} (UTC; from the oldest usable backup's end to now)",
                                    utc_text(window->from), utc_text(window->to));
    std::vector<std::string> args = {"--pg1-path=" + dir.string(), "--archive-mode=off"};
    if (req.target_time) {
        auto us = parse_rfc3339(*req.target_time);
        if (!us)
            return refuse(
                fmt::format("--target-time '{}' is not an RFC 3339 time with an offset, e.g. "
                            "2026-12-01T22:50:00Z",
                            *req.target_time));
        long long t = *us / 1000000;
        if (t < window->from || t > window->to)
            return refuse(
                fmt::format("--target-time {} is outside what can be recovered: {}", utc_text(t), range));
        // pgBackRest picks the backup set by this time and hands it to PostgreSQL as recovery_target_time:
        // "YYYY-MM-DD HH:MM:SS.ffffff+00", the form both parse, in UTC.
        std::string text = rfc3339_from_us(*us);
        text[10] = ' ';
        text.back() = '+';
        text += "00";
        args.insert(args.end(), {"--type=time", "--target=" + text, "--target-action=promote"});
    } else if (req.target_lsn) {
        auto lsn = parse_lsn(*req.target_lsn);
        if (!lsn)
            return refuse(fmt::format("--target-lsn '{}' is not an LSN like 0/3000028", *req.target_lsn));
        const BackupSet* oldest = nullptr;
        for (const auto& b : info->backups)
            if (!b.error && !oldest) oldest = &b;
        auto low = parse_lsn(oldest->lsn_stop);
        if (low && *lsn < *low)
            return refuse(fmt::format("--target-lsn {} is before the oldest usable backup ended ({}): {}",
                                      *req.target_lsn, oldest->lsn_stop, range));
        args.insert(args.end(), {"--type=lsn", "--target=" + *req.target_lsn, "--target-action=promote"});
    }
    if (!req.set.empty()) {
        bool known = false;
        for (const auto& b : info->backups) known = known || (b.label == req.set && !b.error);
        if (!known)
            return refuse(fmt::format("no usable backup labelled {} (see ywctl backup list)", req.set));
        args.push_back("--set=" + req.set);
    }
    int port = req.port ? req.port : free_port();
    if (port <= 0) return make_error(ErrorCode::kUnavailable, "no free port for the restored server");
    if (port_in_use(port)) return refuse(fmt::format("port {} is in use; choose another --port", port));

    fs::create_directories(dir, ec);
    if (ec)
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("cannot create {}: {}", dir.string(), ec.message()));
    fs::permissions(dir, fs::perms::owner_all, ec);
    node::give_to_service_user(dir);
    say(req.progress, fmt::format("pgbackrest restore into {}", dir.string()));
    auto t0 = Clock::now();
    args.push_back("restore");
    if (auto s = engine.run_checked(args, std::chrono::hours(12)); !s) return s.error();
    out.restore_ms = ms_since(t0);

    // A scratch copy: its own port, loopback only, no replication settings of the node it came from, and it
    // never archives into the repository it came from.
    std::ofstream conf(dir / "postgresql.auto.conf", std::ios::app);
    conf << fmt::format(
        "\n# --- ywctl backup restore: a scratch copy, not part of any topology ---\n"
        "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
        "primary_conninfo = ''\nprimary_slot_name = ''\nsynchronous_standby_names = ''\n"
        "archive_mode = off\narchive_command = ''\nhot_standby = on\n",
        port);
    conf.close();
    if (!conf) return make_error(ErrorCode::kUnavailable, "cannot write the restored server's settings");
    fs::remove(dir / "standby.signal", ec);
    fs::create_directories(dir / "log", ec);
    node::give_to_service_user(dir);
    out.log_file = (dir / "log" / "restore.log").string();

    say(req.progress, fmt::format("start it on port {} and replay WAL{}", port,
                                  req.target_time  ? " up to " + *req.target_time
                                  : req.target_lsn ? " up to " + *req.target_lsn
                                                   : " to the end of the archive"));
    auto t1 = Clock::now();
    if (auto s = node::run_postgres_program(
            {node::pg_program("pg_ctl"), "-D", dir.string(), "-l", out.log_file, "-W", "start"}, 60s);
        !s)
        return s.error();
    // Queryable means promoted: recovery reached the target (or the archive's end) and the server writes.
    std::string last_error;
    bool promoted = false;
    const auto deadline = Clock::now() + req.recovery_limit;
    while (Clock::now() < deadline) {
        if (ms_since(t1) > 1000 && !node::postmaster_running(dir)) {
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("the restored server stopped during recovery: {} (log: {})",
                                          recovery_failure(out.log_file), out.log_file));
        }
        if (auto conn = pg::SyncConnection::open(dsn_of(port, "postgres"), 2s)) {
            auto st = conn->query(pg::queries::kBackupRecoveryState);
            if (st && !st->empty() && st->text(0, "in_recovery") == "f") {
                promoted = true;
                out.recovered_to = st->text(0, "last_replayed_xact");
                out.lsn = st->text(0, "lsn");
                break;
            }
            if (!st) last_error = st.error().message;
        } else {
            last_error = conn.error().message;
        }
        std::this_thread::sleep_for(200ms);
    }
    if (!promoted) {
        return make_error(ErrorCode::kTimeout,
                          fmt::format("recovery did not finish within {} s ({}); the server is left running "
                                      "in {}",
                                      req.recovery_limit.count(), last_error, dir.string()));
    }
    out.recovery_ms = ms_since(t1);
    out.total_ms = ms_since(started);
    out.dir = dir;
    out.port = port;
    out.dsn = dsn_of(port, "ywmessaging");
    auto conn = pg::SyncConnection::open(out.dsn, 5s);
    if (!conn) return conn.error();
    auto counts = count_rows(*conn);
    if (!counts) return counts.error();
    out.counts = std::move(*counts);
    if (!req.keep_running)
        if (auto s = node::stop(dir); !s) return s.error();
    return out;
}

DrillResult run_restore_drill(const PgBackRest& engine, const DrillRequest& req) {
    DrillResult d;
    auto fail = [&d](std::string e) {
        d.ok = false;
        d.error = std::move(e);
        return d;
    };
    auto primary = pg::SyncConnection::open(req.primary_dsn, 5s);
    if (!primary) return fail("the primary: " + primary.error().message);
    auto info = engine.info();
    if (!info) return fail(info.error().message);
    const BackupSet* newest = nullptr;
    for (const auto& b : info->backups)
        if (!b.error) newest = &b;
    if (!newest) return fail("the repository holds no usable backup: run `ywctl backup run` first");
    d.backup_label = newest->label;
    d.backup_age_s = unix_us_now() / 1000000 - newest->stop;

    // The drill's point: everything committed before it is in archived WAL once the segment is switched.
    auto pos = primary->query(pg::queries::kBackupPrimaryPosition);
    if (!pos || pos->empty())
        return fail("the primary's position: " + (pos ? "no answer" : pos.error().message));
    d.primary_at = pos->text(0, "at");
    d.closed_range_end = d.primary_at;
    std::string primary_lsn = pos->text(0, "lsn");
    auto before = primary->query(pg::queries::kBackupMessageChecksum, {d.closed_range_end});
    if (!before || before->empty())
        return fail("the primary's messages: " + (before ? "" : before.error().message));
    d.primary_messages = before->optional_int(0, "rows").value_or(0);
    d.primary_checksum = before->text(0, "checksum");
    auto primary_counts = count_rows(*primary);
    if (!primary_counts) return fail(primary_counts.error().message);
    say(req.progress, "switch WAL on the primary and wait until the segment is archived");
    auto sw = primary->query(pg::queries::kBackupSwitchWal);
    if (!sw || sw->empty()) return fail("pg_switch_wal: " + (sw ? "" : sw.error().message));
    std::string segment = sw->text(0, "segment");
    bool archived = wait_until(60s, [&] {
        auto last = primary->query(pg::queries::kBackupLastArchived);
        return last && !last->empty() && last->text(0, "wal") >= segment;
    });
    if (!archived)
        return fail(
            fmt::format("WAL segment {} was not archived within 60 s: see `ywctl backup check`", segment));

    std::error_code ec;
    fs::path root = req.scratch_root.empty() ? fs::temp_directory_path(ec) : req.scratch_root;
    std::string tmpl = (root / "ywctl-drill-XXXXXX").string();
    if (!mkdtemp(tmpl.data()))
        return fail(fmt::format("cannot create a scratch directory in {}", root.string()));
    fs::path dir = tmpl;
    RestoreRequest rr;
    rr.dir = dir / "data";
    rr.progress = req.progress;
    node::give_to_service_user(dir);
    auto restored = restore_to(engine, rr);
    auto cleanup = [&] {
        if (!req.keep) (void)destroy_scratch(dir);
    };
    if (!restored) {
        cleanup();
        return fail("restore: " + restored.error().message);
    }
    d.restore = *restored;
    d.rto_ms = restored->total_ms;
    d.recovered_to = restored->recovered_to;
    Result<pg::Rows> after = make_error(ErrorCode::kUnavailable, "not read"), diff = after;
    if (auto copy = pg::SyncConnection::open(restored->dsn, 5s)) {
        after = copy->query(pg::queries::kBackupMessageChecksum, {d.closed_range_end});
        diff = copy->query(pg::queries::kBackupLsnDiff, {primary_lsn, restored->lsn});
    } else {
        after = copy.error();
    }
    if (!after || after->empty() || !diff || diff->empty()) {
        cleanup();
        return fail("reading the restored server: " +
                    (after ? diff ? std::string("no answer") : diff.error().message : after.error().message));
    }
    d.restored_messages = after->optional_int(0, "rows").value_or(0);
    d.restored_checksum = after->text(0, "checksum");
    d.rpo_bytes = diff->optional_int(0, "bytes").value_or(0);
    for (const auto& p : *primary_counts) {
        long long restored_rows = -1;
        for (const auto& r : restored->counts)
            if (r.table == p.table) restored_rows = r.rows;
        d.tables.push_back({p.table, {p.rows, restored_rows}});
    }
    cleanup();
    d.ok = d.primary_messages == d.restored_messages && d.primary_checksum == d.restored_checksum;
    if (!d.ok)
        d.error = fmt::format("messages created before {} differ: {} rows on the primary, {} restored",
                              d.closed_range_end, d.primary_messages, d.restored_messages);
    return d;
}

}  // namespace yw::backup
