// `ywctl index create` and `ywctl index check`: see index_build.hpp.
#include "ops/index_build.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <thread>

#include "pg/ops_queries.hpp"

namespace yw::ops {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\n");
    if (b == std::string::npos) return {};
    size_t e = s.find_last_not_of(" \t\n");
    return s.substr(b, e - b + 1);
}

bool lock_timed_out(const std::string& message) { return message.find("lock timeout") != std::string::npos; }

// How long a failed build's cleanup keeps retrying a drop that waits on other transactions.
constexpr auto kCleanupPatience = 60s;

// Drops `index` (CONCURRENTLY when it is a plain index) from a fresh connection, retrying while a lock is
// not granted within lock_timeout: the transactions a build waited for may still be running.
Status drop_left_over(const std::string& dsn, const std::string& index, bool concurrently,
                      std::chrono::milliseconds lock_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + kCleanupPatience;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
        auto conn = pg::SyncConnection::open(dsn);
        if (!conn) {
            last = conn.error().message;
            std::this_thread::sleep_for(500ms);
            continue;
        }
        if (auto r = conn->simple_query(
                "index.cleanup_setup",
                fmt::format("SET lock_timeout = {}",
                            std::max(100LL, static_cast<long long>(lock_timeout.count()))));
            !r)
            return r.error();
        const std::string sql = fmt::format("DROP INDEX {}IF EXISTS {}", concurrently ? "CONCURRENTLY " : "",
                                            conn->quote_identifier(index));
        auto r = conn->query(pg::Query{"index.cleanup_drop", sql});
        if (r) return {};
        last = r.error().message;
        if (!lock_timed_out(last)) return r.error();
        std::this_thread::sleep_for(500ms);
    }
    return make_error(ErrorCode::kTimeout, fmt::format("could not drop {} within {} s: {}", index,
                                                       kCleanupPatience.count(), last));
}

}  // namespace

Result<std::pair<std::string, std::vector<std::string>>> parse_index_target(const std::string& text) {
    size_t open = text.find('(');
    size_t close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open ||
        trim(text.substr(close + 1)) != "")
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("'{}': expected TABLE(COLUMN, …), e.g. conversation_message(conversation_id)", text));
    std::string table = trim(text.substr(0, open));
    if (table.empty()) return make_error(ErrorCode::kInvalidArgument, "no table before '('");
    std::vector<std::string> columns;
    std::string inner = text.substr(open + 1, close - open - 1);
    size_t start = 0;
    while (true) {
        size_t comma = inner.find(',', start);
        std::string col =
            trim(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (col.empty())
            return make_error(ErrorCode::kInvalidArgument, "an empty column name in '" + text + "'");
        columns.push_back(col);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return std::make_pair(table, columns);
}

Result<IndexPlan> plan_build(pg::SyncConnection& conn, const BuildOptions& o) {
    if (o.name.empty()) return make_error(ErrorCode::kInvalidArgument, "the index needs a name");
    if (o.name.size() > 63)
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' is longer than PostgreSQL's 63 bytes", o.name));
    if (o.columns.empty())
        return make_error(ErrorCode::kInvalidArgument, "the index needs at least one column");
    auto info = table_info(conn, o.table);
    if (!info) return info.error();
    if (info->root != info->name)
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("'{}' is a partition of {}: index the parent table", o.table, info->root));
    for (const auto& c : o.columns) {
        if (!info->columns.count(c))
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{} has no column '{}'", info->root, c));
    }
    auto taken = conn.query(pg::queries::kIndexRelationExists, {o.name});
    if (!taken) return taken.error();
    if (taken->text(0, "exists") == "t") {
        auto valid = conn.query(pg::queries::kIndexIsValid, {o.name});
        if (valid && !valid->empty() && valid->text(0, "valid") == "f")
            return make_error(
                ErrorCode::kInvalidArgument,
                fmt::format("an INVALID index '{}' exists (a build that did not finish): DROP INDEX "
                            "CONCURRENTLY {}; then run this again",
                            o.name, o.name));
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("a relation named '{}' exists already", o.name));
    }
    auto plan = index_plan(o.name, info->root, info->partitions, o.columns, o.where,
                           [&](const std::string& id) { return conn.quote_identifier(id); });
    for (const auto& step : plan.steps) {
        if (step.index == o.name && !plan.parent_statement.empty())
            return make_error(ErrorCode::kInvalidArgument,
                              "a partition's index would take the parent index's name");
        auto child = conn.query(pg::queries::kIndexRelationExists, {step.index});
        if (!child) return child.error();
        if (step.index != o.name && child->text(0, "exists") == "t")
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("a relation named '{}' (the index of {}) exists already",
                                          step.index, step.partition));
    }
    return plan;
}

BuildReport build_index(const std::string& dsn, const BuildOptions& o, const IndexPlan& plan,
                        const std::function<void(const BuildProgress&)>& progress,
                        const std::atomic<bool>& cancel) {
    BuildReport report;
    const auto started = std::chrono::steady_clock::now();
    auto finish = [&] {
        report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return report;
    };
    auto conn = pg::SyncConnection::open(dsn);
    if (!conn) {
        report.error = "cannot connect: " + conn.error().message;
        return finish();
    }
    if (auto r = conn->simple_query(
            "index.build_setup",
            fmt::format("SET lock_timeout = {}; SET statement_timeout = 0", o.lock_timeout.count()));
        !r) {
        report.error = r.error().message;
        return finish();
    }
    auto pid_rows = conn->query(pg::queries::kBackendPid);
    if (!pid_rows) {
        report.error = pid_rows.error().message;
        return finish();
    }
    const std::string pid = pid_rows->text(0, "pid");

    // The monitor: progress, and the cancel request sent to the builder's backend.
    std::mutex mutex;
    BuildProgress now;
    std::atomic<bool> done{false};
    std::unique_ptr<PGcancel, decltype(&PQfreeCancel)> canceller(PQgetCancel(conn->raw()), &PQfreeCancel);
    std::thread monitor([&] {
        auto mon = pg::SyncConnection::open(dsn);
        bool cancelled = false;
        while (!done.load()) {
            if (cancel.load() && !cancelled && canceller) {
                char err[256];
                PQcancel(canceller.get(), err, sizeof err);
                cancelled = true;
            }
            if (mon) {
                auto rows = mon->query(pg::queries::kIndexProgress, {pid});
                if (rows && !rows->empty() && progress) {
                    BuildProgress p;
                    {
                        std::lock_guard lock(mutex);
                        p = now;
                    }
                    p.phase = rows->text(0, "phase");
                    p.blocks_total = rows->optional_int(0, "blocks_total").value_or(0);
                    p.blocks_done = rows->optional_int(0, "blocks_done").value_or(0);
                    p.tuples_total = rows->optional_int(0, "tuples_total").value_or(0);
                    p.tuples_done = rows->optional_int(0, "tuples_done").value_or(0);
                    progress(p);
                }
            }
            std::this_thread::sleep_for(200ms);
        }
    });

    // The DDL goes through the extended protocol: one statement per call, so a --where predicate cannot carry
    // a second statement.
    bool parent_made = false;
    std::string building;  // the index whose build is running (to drop when it stops half-way)
    std::string failure;
    if (!plan.parent_statement.empty()) {
        auto r = conn->query(pg::Query{"index.create_parent", plan.parent_statement});
        if (r) {
            parent_made = true;
        } else {
            failure = r.error().message;
        }
    }
    for (size_t i = 0; failure.empty() && i < plan.steps.size(); ++i) {
        const auto& step = plan.steps[i];
        {
            std::lock_guard lock(mutex);
            now = BuildProgress{i + 1, plan.steps.size(), step.partition, "", 0, 0, 0, 0};
        }
        if (cancel.load()) {
            failure = "interrupted";
            break;
        }
        building = step.index;
        auto r = conn->query(pg::Query{"index.create_concurrently", step.create});
        if (!r) {
            failure = r.error().message;
            break;
        }
        building.clear();
        if (!step.attach.empty()) {
            auto a = conn->query(pg::Query{"index.attach", step.attach});
            if (!a) {
                failure = a.error().message;
                building = step.index;  // built but not attached: it goes too
                break;
            }
        }
        report.built.push_back(step.index);
    }
    done.store(true);
    monitor.join();
    if (failure.empty()) {
        if (parent_made) report.built.push_back(o.name);
        report.ok = true;
        return finish();
    }
    report.interrupted = cancel.load();
    report.error = report.interrupted ? "interrupted (" + failure + ")" : failure;
    report.built.clear();
    // What it left: the index being built (INVALID, or valid but not attached), and the parent's index with
    // the partitions' indexes attached to it. A plain table's index is the one being built.
    std::vector<std::string> cleanup_errors;
    if (!building.empty()) {
        if (auto s = drop_left_over(dsn, building, true, o.lock_timeout); s) {
            report.dropped.push_back(building);
        } else {
            cleanup_errors.push_back(s.error().message);
        }
    }
    if (parent_made) {
        if (auto s = drop_left_over(dsn, o.name, false, o.lock_timeout); s) {
            report.dropped.push_back(o.name);
        } else {
            cleanup_errors.push_back(s.error().message);
        }
    }
    report.cleanup_error = fmt::format("{}", fmt::join(cleanup_errors, "; "));
    return finish();
}

// --- signals ---

namespace {
std::atomic<bool> g_interrupted{false};
struct sigaction g_old_int, g_old_term;
extern "C" void on_interrupt(int) { g_interrupted.store(true); }
}  // namespace

InterruptGuard::InterruptGuard() {
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
}

const std::atomic<bool>& InterruptGuard::flag() const { return g_interrupted; }

// --- check ---

Result<std::vector<IndexFinding>> check_indexes(std::vector<pg::SyncConnection*> nodes) {
    if (nodes.empty() || !nodes[0]) return make_error(ErrorCode::kInvalidArgument, "no primary to read");
    auto inventory = nodes[0]->query(pg::queries::kIndexInventory);
    if (!inventory) return inventory.error();
    struct Index {
        std::string name, table, identity, parent, kind;
        bool valid = true, enforces = false;
        long long bytes = 0, scans = 0;
    };
    std::map<std::string, Index> all;
    for (size_t i = 0; i < inventory->size(); ++i) {
        Index x;
        x.name = inventory->text(i, "name");
        x.table = inventory->text(i, "table_name");
        x.valid = inventory->text(i, "valid") == "t";
        x.enforces = inventory->text(i, "enforces") == "t";
        x.bytes = inventory->optional_int(i, "bytes").value_or(0);
        x.scans = inventory->optional_int(i, "scans").value_or(0);
        x.kind = inventory->text(i, "kind");
        x.identity = inventory->text(i, "identity");
        x.parent = inventory->text(i, "parent");
        all[x.name] = std::move(x);
    }
    // Scans on the other nodes (their statistics are their own).
    for (size_t n = 1; n < nodes.size(); ++n) {
        if (!nodes[n]) continue;
        auto rows = nodes[n]->query(pg::queries::kIndexInventory);
        if (!rows) continue;
        for (size_t i = 0; i < rows->size(); ++i) {
            auto it = all.find(rows->text(i, "name"));
            if (it != all.end()) it->second.scans += rows->optional_int(i, "scans").value_or(0);
        }
    }
    // Each index's top-level index: itself, or the partitioned index it is attached to (through levels).
    std::map<std::string, std::string> top;
    for (const auto& [name, x] : all) {
        std::string at = name;
        for (int depth = 0; depth < 8; ++depth) {
            auto it = all.find(at);
            if (it == all.end() || it->second.parent.empty() || !all.count(it->second.parent)) break;
            at = it->second.parent;
        }
        top[name] = at;
    }
    struct Group {
        long long bytes = 0, scans = 0;
        int partitions = 0;
    };
    std::map<std::string, Group> groups;
    for (const auto& [name, x] : all) {
        auto& g = groups[top[name]];
        g.bytes += x.bytes;
        g.scans += x.scans;
        if (top[name] != name) ++g.partitions;
    }
    std::vector<IndexFinding> out;
    for (const auto& [name, x] : all) {
        if (!x.valid) {
            IndexFinding f{"invalid", name, x.table, x.bytes, 0, x.scans, ""};
            if (x.kind == "I") {
                f.bytes = groups[name].bytes;
                f.partitions = groups[name].partitions;
                f.detail = "a partitioned index not every partition has: no read uses it";
            } else {
                f.detail =
                    "left by a CREATE INDEX CONCURRENTLY that did not finish: writes maintain it, no read "
                    "uses it; DROP INDEX CONCURRENTLY it";
            }
            out.push_back(std::move(f));
        }
    }
    // Duplicates: top-level indexes of the same table, keys, operator classes, expressions and predicate.
    std::map<std::string, std::vector<const Index*>> by_identity;
    for (const auto& [name, x] : all)
        if (top[name] == name && x.valid) by_identity[x.identity].push_back(&x);
    for (auto& [identity, list] : by_identity) {
        if (list.size() < 2) continue;
        // Keep the one that enforces something (else the first by name); the others are duplicates.
        std::stable_sort(list.begin(), list.end(),
                         [](const Index* a, const Index* b) { return a->enforces && !b->enforces; });
        for (size_t i = 1; i < list.size(); ++i) {
            const auto& g = groups[list[i]->name];
            out.push_back({"duplicate", list[i]->name, list[i]->table, g.bytes, g.partitions, g.scans,
                           fmt::format("the same as {}", list[0]->name)});
        }
    }
    for (const auto& [name, x] : all) {
        if (top[name] != name || x.enforces || !x.valid) continue;
        const auto& g = groups[name];
        if (g.scans > 0) continue;
        out.push_back({"unused", name, x.table, g.bytes, g.partitions, 0,
                       fmt::format("no scan on {} node(s) since their statistics were reset", nodes.size())});
    }
    return out;
}

json::object to_json(const IndexFinding& f) {
    return {{"kind", f.kind},    {"index", f.index},           {"table", f.table},
            {"bytes", f.bytes},  {"partitions", f.partitions}, {"scans", f.scans},
            {"detail", f.detail}};
}

}  // namespace yw::ops
