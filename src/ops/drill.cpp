// The failover drill (RB-4): see drill.hpp. The load writers only count a write when the API answered 201
// with the message's id; everything else (5xx, timeouts while the primary is gone) is a failed write that
// may legitimately be missing. Acknowledged ones may not.
#include "ops/drill.hpp"

#include <fmt/format.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <thread>

#include "ops/http_client.hpp"
#include "pg/failover_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

long long ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

Status fail(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

// The API calls the drill's setup makes; each must answer 201 with an "id" (or the field asked for).
Result<std::string> create(const HttpTarget& api, const std::string& path, const json::object& body,
                           const std::map<std::string, std::string>& auth, const std::string& field = "id") {
    auto r = http_call(api, "POST", path, json::serialize(body), auth, 10s);
    if (r.status != 201) {
        return make_error(ErrorCode::kUnavailable, fmt::format("POST {} answered {}: {}", path, r.status,
                                                               r.status ? r.body : r.error));
    }
    boost::system::error_code ec;
    auto doc = json::parse(r.body, ec);
    if (ec || !doc.is_object() || !doc.as_object().contains(field) || !doc.at(field).is_string())
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("POST {}: no \"{}\" in {}", path, field, r.body));
    return std::string(doc.at(field).as_string());
}

// Concurrent writers through the API. Every acknowledged message keeps its id, when its request was sent and
// when the 201 came back.
class WriteLoad {
  public:
    struct Ack {
        std::string id;
        Clock::time_point sent;
        Clock::time_point acked;
    };

    WriteLoad(HttpTarget api, std::string key, std::vector<std::string> conversations)
        : api_(std::move(api)), key_(std::move(key)), conversations_(std::move(conversations)) {}
    ~WriteLoad() { stop(); }

    void start() {
        for (size_t i = 0; i < conversations_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
    }
    void stop() {
        stop_ = true;
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
    std::vector<Ack> acks() const {
        std::lock_guard lock(mutex_);
        return acks_;
    }
    long long attempted() const { return attempted_; }
    long long failed() const { return failed_; }
    // The first acknowledged write that was sent after `t`.
    std::optional<Clock::time_point> first_ack_sent_after(Clock::time_point t) const {
        std::lock_guard lock(mutex_);
        std::optional<Clock::time_point> best;
        for (const auto& a : acks_)
            if (a.sent > t && (!best || a.acked < *best)) best = a.acked;
        return best;
    }

  private:
    void run(size_t i) {
        const std::string path = "/v1/conversations/" + conversations_[i] + "/messages";
        const std::map<std::string, std::string> auth{{"X-API-Key", key_}};
        for (long long seq = 0; !stop_; ++seq) {
            std::string body =
                json::serialize(json::object{{"content", fmt::format("drill w{} #{}", i, seq)}});
            ++attempted_;
            auto sent = Clock::now();
            auto r = http_call(api_, "POST", path, body, auth, 5s);
            auto acked = Clock::now();
            std::string id;
            if (r.status == 201) {
                boost::system::error_code ec;
                auto doc = json::parse(r.body, ec);
                if (!ec && doc.is_object() && doc.as_object().contains("id") && doc.at("id").is_string())
                    id = std::string(doc.at("id").as_string());
            }
            if (id.empty()) {
                ++failed_;
                std::this_thread::sleep_for(20ms);  // the outage: do not spin
                continue;
            }
            std::lock_guard lock(mutex_);
            acks_.push_back({id, sent, acked});
        }
    }

    HttpTarget api_;
    std::string key_;
    std::vector<std::string> conversations_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<long long> attempted_{0};
    std::atomic<long long> failed_{0};
    mutable std::mutex mutex_;
    std::vector<Ack> acks_;
};

// Which acknowledged ids the primary at `url` does not hold.
Result<std::vector<std::string>> missing_ids(const std::string& url, const std::vector<WriteLoad::Ack>& acks,
                                             long long& missing) {
    auto conn = pg::SyncConnection::open(url);
    if (!conn) return conn.error();
    missing = 0;
    std::vector<std::string> sample;
    constexpr size_t kChunk = 2000;
    for (size_t at = 0; at < acks.size(); at += kChunk) {
        std::string array = "{";
        for (size_t i = at; i < std::min(acks.size(), at + kChunk); ++i)
            array += (i == at ? "" : ",") + acks[i].id;
        array += "}";
        auto present = conn->query(pg::queries::kMessagesPresent, {array});
        if (!present) return present.error();
        long long n = std::min(acks.size(), at + kChunk) - at;
        long long gone = n - std::stoll(present->text(0, "present"));
        missing += gone;
        if (gone > 0 && sample.size() < 20) {
            auto rows = conn->query(pg::queries::kMessagesMissing, {array});
            if (!rows) return rows.error();
            for (size_t i = 0; i < rows->size() && sample.size() < 20; ++i)
                sample.push_back(rows->text(i, "id"));
        }
    }
    return sample;
}

std::string url_of(const std::vector<NodeEndpoint>& nodes, const std::string& name) {
    for (const auto& n : nodes)
        if (n.name == name) return n.url;
    return {};
}

}  // namespace

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
    for (const auto& p : probe_nodes(r.nodes))
        if (p.role() == "primary") {
            report.old_primary = p.name;
            was_sync = !p.sync_names.empty();
        }
    if (report.old_primary.empty()) {
        report.error = "no reachable primary: the drill starts from a healthy topology";
        return finish();
    }

    std::string key;
    std::vector<std::string> conversations;
    if (!step("set up a tenant, a key and conversations through the API", [&](std::string& detail) -> Status {
            std::map<std::string, std::string> admin{{"Authorization", "Bearer " + r.admin_token}};
            auto tenant = create(*api, "/admin/tenants", {{"name", "failover drill"}}, admin);
            if (!tenant) return tenant.error();
            auto k = create(*api, "/admin/tenants/" + *tenant + "/api-keys",
                            {{"tier", "enterprise"}, {"name", "failover drill"}}, admin, "api_key");
            if (!k) return k.error();
            key = *k;
            std::map<std::string, std::string> auth{{"X-API-Key", key}};
            auto user = create(*api, "/v1/users", {{"name", "Failover Drill"}}, auth);
            if (!user) return user.error();
            for (int i = 0; i < std::max(1, r.clients); ++i) {
                auto c = create(*api, "/v1/conversations",
                                {{"user_id", *user}, {"subject", "failover drill"}}, auth);
                if (!c) return c.error();
                conversations.push_back(*c);
            }
            detail = fmt::format("tenant {}, {} conversation(s)", *tenant, conversations.size());
            return {};
        }))
        return finish();

    WriteLoad load(*api, key, conversations);
    load.start();
    if (!step("write load through the API", [&](std::string& detail) -> Status {
            std::this_thread::sleep_for(r.warmup);
            auto n = load.acks().size();
            detail =
                fmt::format("{} writers, {} writes acknowledged before the failure", conversations.size(), n);
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
                  auto s = stop_node(old_data, r.kill);
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
            auto decided = decide_failover(probe_nodes(r.nodes), r.target, false);
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
    for (const auto& p : probe_nodes(r.nodes))
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
        report.writes_attempted = load.attempted();
        report.writes_acknowledged = static_cast<long long>(acks.size());
        report.writes_failed = load.failed();
        long long missing = 0;
        auto sample = missing_ids(url_of(r.nodes, report.final_primary), acks, missing);
        if (!sample) return sample.error();
        report.writes_lost = missing;
        report.lost_ids = *sample;
        detail = fmt::format("{} acknowledged, {} missing ({} not acknowledged)", acks.size(), missing,
                             report.writes_failed);
        return {};
    });
    report.ok = report.error.empty();
    return finish();
}

}  // namespace yw::ops
