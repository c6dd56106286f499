// The failover drill (RB-4): see drill.hpp.
#include "ops/drill.hpp"

#include <fmt/format.h>

#include <thread>

#include "node/control.hpp"
#include "node/probe.hpp"
#include "ops/api_load.hpp"

namespace yw::ops {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

long long ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

Status fail(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

std::string url_of(const std::vector<NodeEndpoint>& nodes, const std::string& name) {
    for (const auto& n : nodes)
        if (n.name == name) return n.url;
    return {};
}

}  // namespace

// The write load (ops/api_load.hpp) only counts a write when the API answered 201 with the message's id;
// everything else (5xx, timeouts while the primary is gone) is a failed write that may legitimately be
// missing. Acknowledged ones may not.
DrillReport run_failover_drill(const DrillRequest& r) {
    DrillReport report;
    auto start = Clock::now();
    auto say = [&](const std::string& m) {
        if (r.progress) r.progress(m);
    };
    auto step = [&](const std::string& name, const std::function<Status(std::string&)>& body) {
        say(name);
        auto t0 = Clock::now();
        std::string detail;
        Status s = body(detail);
        report.steps.push_back(
            {name, ms_between(t0, Clock::now()), s.ok(), s.ok() ? detail : s.error().message});
        if (!s) report.error = s.error().message;
        return s.ok();
    };
    auto finish = [&] {
        report.total_ms = ms_between(start, Clock::now());
        return report;
    };

    auto api = parse_http_base(r.api);
    if (!api) {
        report.error = api.error().message;
        return finish();
    }

    // The primary now, whatever its name, and whether it replicates synchronously.
    bool was_sync = false;
    for (const auto& p : node::probe_all(r.nodes))
        if (p.role() == "primary") {
            report.old_primary = p.name;
            was_sync = !p.sync_names.empty();
        }
    if (report.old_primary.empty()) {
        report.error = "no reachable primary: the drill starts from a healthy topology";
        return finish();
    }

    std::vector<LoadClient> clients;
    if (!step("set up a tenant, a key and conversations through the API", [&](std::string& detail) -> Status {
            auto made = make_load_clients(*api, r.admin_token, "failover drill", 1, std::max(1, r.clients));
            if (!made) return made.error();
            clients = std::move(*made);
            detail = fmt::format("one tenant, {} conversation(s)", clients.size());
            return {};
        }))
        return finish();

    // Writers only, each as fast as the API answers: the drill measures writes.
    ApiLoad load(*api, clients);
    load.start();
    if (!step("write load through the API", [&](std::string& detail) -> Status {
            std::this_thread::sleep_for(r.warmup);
            auto n = load.acks().size();
            detail = fmt::format("{} writers, {} writes acknowledged before the failure", clients.size(), n);
            if (n == 0) return fail("the API acknowledged no write before the drill: is ywmsgd healthy?");
            return {};
        })) {
        load.stop();
        return finish();
    }

    const std::filesystem::path old_data = r.data_dir(report.old_primary);
    Clock::time_point stopped_at;
    if (!step(fmt::format("{} {}", r.kill ? "kill -9" : "stop", report.old_primary),
              [&](std::string& detail) -> Status {
                  detail =
                      r.kill ? "SIGKILL to the postmaster (a crash)" : "pg_ctl stop -m fast (systemctl stop)";
                  auto s = node::stop(old_data, r.kill);
                  stopped_at = Clock::now();
                  return s;
              })) {
        load.stop();
        return finish();
    }

    FailoverRequest fr;
    fr.nodes = r.nodes;
    fr.target = r.target;
    fr.sync = was_sync;
    fr.pgbouncer_admin_url = r.pgbouncer_admin_url;
    fr.pgbouncer_ini = r.pgbouncer_ini;
    fr.progress = r.progress;
    FailoverReport failover;
    std::optional<FailoverDecision> decision;
    if (!step("pre-checks (RB-2)", [&](std::string& detail) -> Status {
            auto decided = decide_failover(node::probe_all(r.nodes), r.target, false);
            if (!decided) return decided.error();
            if (!decided->allowed) return fail("failover refused: " + decided->refusal);
            decision = *decided;
            report.new_primary = decision->target;
            detail = fmt::format("promote {}", decision->target);
            return {};
        })) {
        load.stop();
        return finish();
    }
    failover = execute_failover(fr, *decision);
    for (const auto& s : failover.steps) report.steps.push_back(s);
    if (!failover.ok) {
        report.error = "failover failed: " + failover.error;
        load.stop();
        return finish();
    }
    for (const auto& p : node::probe_all(r.nodes))
        if (p.name == report.new_primary) report.sync = !p.sync_names.empty();

    if (!step("writes resume through the API", [&](std::string& detail) -> Status {
            std::optional<Clock::time_point> first;
            auto deadline = Clock::now() + 30s;
            while (!(first = load.first_ack_sent_after(stopped_at)) && Clock::now() < deadline)
                std::this_thread::sleep_for(10ms);
            if (!first) return fail("no write was acknowledged within 30 s of the failover");
            report.time_to_recover_ms = ms_between(stopped_at, *first);
            report.promote_to_write_ms = std::max(0LL, ms_between(failover.promoted_at, *first));
            report.reroute_to_write_ms = std::max(0LL, ms_between(failover.rerouted_at, *first));
            detail = fmt::format(
                "first acknowledged write {} ms after the primary stopped, {} ms after the "
                "promotion",
                report.time_to_recover_ms, report.promote_to_write_ms);
            return {};
        })) {
        load.stop();
        return finish();
    }

    RejoinRequest rr;
    rr.nodes = r.nodes;
    rr.node = report.old_primary;
    rr.data_dir = old_data;
    rr.log_file = r.log_file(report.old_primary);
    rr.progress = r.progress;
    auto rejoined = rejoin(rr);
    for (const auto& s : rejoined.steps) report.steps.push_back(s);
    report.rejoin_method = rejoined.method;
    if (!rejoined.ok) {
        report.error = "rejoin failed: " + rejoined.error;
        load.stop();
        return finish();
    }
    std::this_thread::sleep_for(r.settle);

    report.final_primary = report.new_primary;
    if (r.switch_back) {
        SwitchoverRequest sr;
        sr.nodes = r.nodes;
        sr.target = report.old_primary;
        sr.old_primary_data = r.data_dir(report.new_primary);
        sr.old_primary_log = r.log_file(report.new_primary);
        sr.pgbouncer_admin_url = r.pgbouncer_admin_url;
        sr.pgbouncer_ini = r.pgbouncer_ini;
        sr.progress = r.progress;
        auto back = switchover(sr);
        for (const auto& s : back.steps) report.steps.push_back(s);
        if (!back.ok) {
            report.error = "switchover back failed: " + back.error;
            load.stop();
            return finish();
        }
        report.final_primary = report.old_primary;
        std::this_thread::sleep_for(r.settle);
    }
    load.stop();

    step("verify every acknowledged write on " + report.final_primary, [&](std::string& detail) -> Status {
        auto acks = load.acks();
        report.writes_attempted = load.writes_attempted();
        report.writes_acknowledged = static_cast<long long>(acks.size());
        report.writes_failed = load.writes_failed();
        auto missing = count_missing_acks(url_of(r.nodes, report.final_primary), acks, report.lost_ids);
        if (!missing) return missing.error();
        report.writes_lost = *missing;
        detail = fmt::format("{} acknowledged, {} missing ({} not acknowledged)", acks.size(), *missing,
                             report.writes_failed);
        return {};
    });
    report.ok = report.error.empty();
    return finish();
}

}  // namespace yw::ops
