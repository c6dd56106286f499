// Topology discovery: the probe loop and the rules (see topology.hpp).
#include "pg/topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <limits>

#include "common/logging.hpp"
#include "common/time.hpp"
#include "pg/queries.hpp"

namespace yw::pg {
namespace asio = boost::asio;

std::optional<std::uint64_t> parse_lsn(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
        text.size() - slash - 1 > 8) {
        return std::nullopt;
    }
    std::uint32_t hi = 0, lo = 0;
    auto parse = [](std::string_view part, std::uint32_t& out) {
        auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out, 16);
        return ec == std::errc{} && ptr == part.data() + part.size();
    };
    if (!parse(text.substr(0, slash), hi) || !parse(text.substr(slash + 1), lo)) return std::nullopt;
    return (std::uint64_t{hi} << 32) | lo;
}

std::string format_lsn(std::uint64_t lsn) {
    return fmt::format("{:X}/{:X}", static_cast<std::uint32_t>(lsn >> 32), static_cast<std::uint32_t>(lsn));
}

std::string NodeProbe::role() const {
    if (!reachable) return "down";
    return in_recovery ? "replica" : "primary";
}

std::uint64_t NodeProbe::received() const { return (in_recovery ? receive_lsn : current_lsn).value_or(0); }

std::uint64_t NodeProbe::replayed() const { return (in_recovery ? replay_lsn : current_lsn).value_or(0); }

void read_topology_probe(NodeProbe& probe, const std::function<std::optional<std::string_view>(int)>& cell) {
    auto lsn = [&](int col) -> std::optional<std::uint64_t> {
        auto text = cell(col);
        return text ? parse_lsn(*text) : std::nullopt;
    };
    probe.reachable = true;
    probe.in_recovery = cell(0) == "t";
    probe.current_lsn = lsn(1);
    probe.receive_lsn = lsn(2);
    probe.replay_lsn = lsn(3);
    std::int64_t age = 0;
    if (auto text = cell(4); text && parse_int64(*text, age)) probe.replay_age_ms = age;
    if (auto text = cell(5)) std::from_chars(text->data(), text->data() + text->size(), probe.timeline, 16);
    probe.replay_paused = cell(6) == "t";
}

std::string_view to_string(Role role) {
    switch (role) {
        case Role::kUnknown:
            return "unknown";
        case Role::kPrimary:
            return "primary";
        case Role::kReplica:
            return "replica";
        case Role::kFenced:
            return "fenced";
    }
    return "unknown";
}

// --- rules ---

// The rules decide roles, fencing and lag from one round of answers.
TopologyRules::TopologyRules(std::vector<std::string> names, std::chrono::milliseconds max_lag)
    : names_(std::move(names)), max_lag_(max_lag), last_roles_(names_.size(), Role::kUnknown) {}

Snapshot TopologyRules::initial() const {
    Snapshot s;
    int guess = 0;
    for (size_t i = 0; i < names_.size(); ++i) {
        if (names_[i] == "primary") guess = static_cast<int>(i);
    }
    for (size_t i = 0; i < names_.size(); ++i) {
        NodeState n;
        n.name = names_[i];
        bool is_primary = static_cast<int>(i) == guess;
        n.role = is_primary ? Role::kPrimary : Role::kReplica;
        n.healthy = is_primary;  // replicas take reads only once a probe has seen them fresh
        n.error = is_primary ? "" : "not probed yet";
        s.nodes.push_back(std::move(n));
    }
    s.primary = names_.empty() ? -1 : guess;
    return s;
}

std::int64_t TopologyRules::behind_for_ms(std::uint64_t replay_lsn,
                                          std::chrono::steady_clock::time_point now) const {
    for (const auto& sample : history_) {
        if (sample.lsn > replay_lsn) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(now - sample.at).count();
        }
    }
    return 0;
}

Snapshot TopologyRules::assess(const std::vector<NodeProbe>& probes,
                               const std::optional<NodeProbe>& pgbouncer,
                               std::chrono::steady_clock::time_point now) {
    Snapshot s;
    s.round = ++round_;
    s.taken = std::chrono::system_clock::now();
    const int n = static_cast<int>(names_.size());

    // The primary: a writable node on the newest timeline ever seen, not fenced; the current one when it
    // still qualifies (no flapping between equals), else the one furthest ahead.
    for (int i = 0; i < n; ++i) {
        if (probes[i].reachable && !probes[i].in_recovery)
            max_timeline_ = std::max(max_timeline_, probes[i].timeline);
        if (probes[i].reachable && probes[i].in_recovery) fenced_.erase(i);  // rejoined as a replica
    }
    auto qualifies = [&](int i) {
        return i >= 0 && probes[i].reachable && !probes[i].in_recovery &&
               probes[i].timeline == max_timeline_ && !fenced_.contains(i);
    };
    int chosen = qualifies(primary_) ? primary_ : -1;
    for (int i = 0; i < n && chosen < 0; ++i) {
        if (!qualifies(i)) continue;
        for (int j = i + 1; j < n; ++j) {
            if (qualifies(j) && probes[j].current_lsn > probes[i].current_lsn) i = j;  // the furthest ahead
        }
        chosen = i;
    }
    if (chosen >= 0 && primary_ >= 0 && chosen != primary_) {
        // Replaced: should the old primary come back writable, it must not take traffic.
        fenced_.insert(primary_);
        log::warn("primary changed", {{"from", names_[primary_]}, {"to", names_[chosen]}});
        history_.clear();  // LSNs of the old timeline say nothing about the new one
    }
    if (chosen >= 0) {
        primary_ = chosen;
    } else if (primary_ >= 0 && probes[primary_].reachable) {
        // Answered but no longer qualifies (in recovery, or fenced by a newer timeline elsewhere).
        primary_ = -1;
    }
    // (An unreachable primary keeps its place: writes fail fast until it answers or another is promoted.)
    for (int i = 0; i < n; ++i) {
        if (i != primary_ && probes[i].reachable && !probes[i].in_recovery && !fenced_.contains(i)) {
            fenced_.insert(i);
            log::error(
                "a writable node is not the primary: fenced (no traffic) until an operator rejoins it",
                {{"node", names_[i]}, {"timeline", probes[i].timeline}, {"primary_timeline", max_timeline_}});
        }
    }

    const NodeProbe* primary_probe =
        primary_ >= 0 && probes[primary_].reachable ? &probes[primary_] : nullptr;
    if (primary_probe &&
        (history_.empty() || history_.back().lsn != primary_probe->current_lsn.value_or(0))) {
        history_.push_back({now, primary_probe->current_lsn.value_or(0)});
        while (history_.size() > 1024) history_.pop_front();
    }
    const std::uint64_t primary_lsn = history_.empty() ? 0 : history_.back().lsn;

    for (int i = 0; i < n; ++i) {
        const NodeProbe& p = probes[i];
        NodeState node;
        node.name = names_[i];
        node.healthy = p.reachable;
        node.error = p.error;
        node.timeline = p.timeline;
        if (!p.reachable) {
            node.role = last_roles_[i] == Role::kPrimary && i != primary_ ? Role::kFenced : last_roles_[i];
            if (node.role == Role::kFenced)
                node.error = "fenced (replaced as the primary), and down: " + p.error;
        } else if (fenced_.contains(i)) {
            node.role = Role::kFenced;
            node.lsn = p.current_lsn.value_or(0);
            node.error = fmt::format(
                "writable but not the primary (timeline {}, the primary's {}): fenced until "
                "rejoined as a replica",
                p.timeline, max_timeline_);
        } else if (i == primary_) {
            node.role = Role::kPrimary;
            node.lsn = p.current_lsn.value_or(0);
        } else {
            node.role = Role::kReplica;
            node.lsn = p.replay_lsn.value_or(0);
            node.receive_lsn = p.receive_lsn.value_or(0);
            node.replay_paused = p.replay_paused;
            // LSNs first: a replica that has replayed everything is not behind, however old its last commit.
            if (node.lsn < primary_lsn) {
                std::int64_t since_history = behind_for_ms(node.lsn, now);
                node.lag_ms =
                    p.replay_age_ms ? std::min<std::int64_t>(*p.replay_age_ms, since_history) : since_history;
                node.lag_ms = std::max<std::int64_t>(node.lag_ms, 0);
            }
            node.readable = !p.replay_paused && node.lag_ms <= max_lag_.count();
            if (p.replay_paused) {
                node.error = "WAL replay is paused";
            } else if (!node.readable) {
                node.error =
                    fmt::format("{} ms behind the primary (limit {} ms)", node.lag_ms, max_lag_.count());
            }
        }
        if (p.reachable) last_roles_[i] = node.role;
        s.nodes.push_back(std::move(node));
    }
    s.primary = primary_;
    if (primary_ >= 0 && !probes[primary_].reachable) s.nodes[primary_].role = Role::kPrimary;

    if (pgbouncer) {
        s.pgbouncer_configured = true;
        const NodeProbe& b = *pgbouncer;
        if (!b.reachable) {
            s.pgbouncer_ok = false;
            s.pgbouncer_error = "PgBouncer: " + b.error;
        } else if (b.in_recovery) {
            s.pgbouncer_ok = false;
            s.pgbouncer_error = "PgBouncer leads to a node in recovery, not to the primary";
        } else if (!primary_probe || b.timeline != primary_probe->timeline) {
            s.pgbouncer_ok = false;
            s.pgbouncer_error = fmt::format(
                "PgBouncer leads to a writable node on timeline {}, not to the primary{}", b.timeline,
                primary_probe ? fmt::format(" (timeline {})", primary_probe->timeline) : std::string());
        }
    }
    return s;
}

// --- the probe loop ---

// The probe loop: concurrent per-node probes, each on its own connection.
struct TopologyMonitor::Prober {
    std::string name;
    std::string url;
    std::unique_ptr<Connection> conn;

    asio::awaitable<NodeProbe> probe(Deadline deadline) {
        NodeProbe r;
        r.name = name;
        if (conn && conn->broken()) conn.reset();
        if (!conn) {
            auto opened = co_await Connection::connect(co_await asio::this_coro::executor, url, deadline);
            if (!opened) {
                r.error = opened.error().message;
                co_return r;
            }
            conn = std::move(opened.value());
        }
        auto rows = co_await conn->exec(queries::kTopologyProbe, {}, deadline);
        if (!rows) {
            if (conn->broken()) conn.reset();
            r.error = rows.error().message;
            co_return r;
        }
        if (rows->rows() != 1) {
            r.error = "unexpected probe answer";
            co_return r;
        }
        read_topology_probe(r, [&](int col) -> std::optional<std::string_view> {
            if (rows->is_null(0, col)) return std::nullopt;
            return rows->get(0, col);
        });
        co_return r;
    }
};

TopologyMonitor::TopologyMonitor(TopologyOptions options)
    : options_(std::move(options)), rules_(names_of(options_.nodes), options_.max_lag) {
    for (const auto& n : options_.nodes)
        probers_.push_back(std::make_unique<Prober>(Prober{n.name, n.url, {}}));
    if (!options_.pgbouncer_url.empty()) {
        probers_.push_back(std::make_unique<Prober>(Prober{"pgbouncer", options_.pgbouncer_url, {}}));
    }
    Snapshot first = rules_.initial();
    first.pgbouncer_configured = !options_.pgbouncer_url.empty();
    snapshot_.store(std::make_shared<const Snapshot>(std::move(first)));
}

TopologyMonitor::~TopologyMonitor() = default;

void TopologyMonitor::publish(Snapshot next) {
    auto previous = snapshot();
    for (size_t i = 0; i < next.nodes.size() && i < previous->nodes.size(); ++i) {
        const NodeState& a = previous->nodes[i];
        const NodeState& b = next.nodes[i];
        if (a.healthy != b.healthy || a.role != b.role || a.readable != b.readable) {
            log::info("node changed", {{"node", b.name},
                                       {"role", std::string(to_string(b.role))},
                                       {"healthy", b.healthy},
                                       {"readable", b.readable},
                                       {"lag_ms", b.lag_ms},
                                       {"detail", b.error}});
        }
    }
    if (previous->pgbouncer_ok != next.pgbouncer_ok) {
        if (next.pgbouncer_ok) {
            log::info("PgBouncer leads to the primary again");
        } else {
            log::warn("writes bypass PgBouncer", {{"reason", next.pgbouncer_error}});
        }
    }
    snapshot_.store(std::make_shared<const Snapshot>(std::move(next)), std::memory_order_release);
}

asio::awaitable<void> TopologyMonitor::probe_round() {
    auto executor = co_await asio::this_coro::executor;
    const auto started = std::chrono::steady_clock::now();
    const Deadline deadline = started + options_.timeout;
    const size_t count = probers_.size();
    struct Round {
        explicit Round(asio::any_io_executor ex, size_t n) : done(std::move(ex)), results(n), remaining(n) {}
        asio::steady_timer done;
        std::vector<NodeProbe> results;
        size_t remaining;
    };
    auto round = std::make_shared<Round>(executor, count);
    // Probes respect the deadline themselves; the timer's own bound is a safety net.
    round->done.expires_at(deadline + std::chrono::milliseconds(200));
    for (size_t i = 0; i < count; ++i) {
        asio::co_spawn(
            executor,
            [this, i, deadline, round]() -> asio::awaitable<void> {
                round->results[i] = co_await probers_[i]->probe(deadline);
                if (--round->remaining == 0) round->done.cancel();
            },
            asio::detached);
    }
    boost::system::error_code ec;
    if (round->remaining > 0) co_await round->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    for (size_t i = 0; i < count; ++i) {
        if (round->remaining > 0 && !round->results[i].reachable && round->results[i].error.empty())
            round->results[i].error = "probe timed out";
    }
    std::optional<NodeProbe> pgbouncer;
    std::vector<NodeProbe> nodes(round->results.begin(), round->results.begin() + options_.nodes.size());
    if (!options_.pgbouncer_url.empty()) pgbouncer = round->results.back();
    publish(rules_.assess(nodes, pgbouncer, std::chrono::steady_clock::now()));
}

asio::awaitable<void> TopologyMonitor::loop() {
    while (!stopping_) {
        co_await probe_round();
        if (stopping_) break;
        timer_->expires_after(options_.interval);
        boost::system::error_code ec;
        co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void TopologyMonitor::start(asio::any_io_executor executor) {
    auto strand = asio::make_strand(executor);  // one round at a time; probes interleave on it
    timer_ = std::make_unique<asio::steady_timer>(strand);
    asio::co_spawn(strand, loop(), asio::detached);
}

void TopologyMonitor::stop() {
    stopping_ = true;
    timer_.reset();
    for (auto& p : probers_) p->conn.reset();
}

}  // namespace yw::pg
