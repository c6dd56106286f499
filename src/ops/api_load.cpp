// The API load and the acknowledged-write check: see api_load.hpp.
#include "ops/api_load.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "pg/failover_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Result<std::string> api_create(const HttpTarget& api, const std::string& path, const json::object& body,
                               const std::map<std::string, std::string>& headers, const std::string& field) {
    auto r = http_call(api, "POST", path, json::serialize(body), headers, 10s);
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

Result<std::vector<LoadClient>> make_load_clients(const HttpTarget& api, const std::string& admin_token,
                                                  const std::string& label, int tenants, int conversations) {
    const std::map<std::string, std::string> admin{{"Authorization", "Bearer " + admin_token}};
    std::vector<LoadClient> clients;
    for (int t = 0; t < std::max(1, tenants); ++t) {
        auto tenant = api_create(api, "/admin/tenants", {{"name", label}}, admin);
        if (!tenant) return tenant.error();
        auto key = api_create(api, "/admin/tenants/" + *tenant + "/api-keys",
                              {{"tier", "enterprise"}, {"name", label}}, admin, "api_key");
        if (!key) return key.error();
        const std::map<std::string, std::string> auth{{"X-API-Key", *key}};
        auto user = api_create(api, "/v1/users", {{"name", label}}, auth);
        if (!user) return user.error();
        for (int c = 0; c < std::max(1, conversations); ++c) {
            auto conversation =
                api_create(api, "/v1/conversations", {{"user_id", *user}, {"subject", label}}, auth);
            if (!conversation) return conversation.error();
            clients.push_back({*key, *user, *conversation});
        }
    }
    return clients;
}

ApiLoad::ApiLoad(HttpTarget api, std::vector<LoadClient> clients, LoadOptions options)
    : api_(std::move(api)), clients_(std::move(clients)), options_(options) {}

void ApiLoad::start() {
    stop_ = false;
    for (size_t i = 0; i < clients_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
}

void ApiLoad::stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
}

std::vector<ApiLoad::Ack> ApiLoad::acks() const {
    std::lock_guard lock(mutex_);
    return acks_;
}

std::optional<Clock::time_point> ApiLoad::first_ack_sent_after(Clock::time_point t) const {
    std::lock_guard lock(mutex_);
    std::optional<Clock::time_point> best;
    for (const auto& a : acks_)
        if (a.sent > t && (!best || a.acked < *best)) best = a.acked;
    return best;
}

std::vector<std::pair<std::string, long long>> ApiLoad::failure_reasons() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, long long>> out(reasons_.begin(), reasons_.end());
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
}

void ApiLoad::failed(const std::string& method, const HttpReply& reply) {
    // The error code of the JSON body says more than the status (503 "unavailable" vs a 503 from a proxy);
    // without an answer, the transport's reason, cut short (it may carry an address).
    std::string why;
    if (reply.status == 0) {
        why = reply.error.substr(0, 40);
    } else {
        boost::system::error_code ec;
        auto doc = json::parse(reply.body, ec);
        if (!ec && doc.is_object() && doc.as_object().contains("error") && doc.at("error").is_object() &&
            doc.at("error").as_object().contains("code") && doc.at("error").at("code").is_string())
            why = std::string(doc.at("error").at("code").as_string());
    }
    std::lock_guard lock(mutex_);
    ++reasons_[fmt::format("{} {} {}", method, reply.status, why)];
}

void ApiLoad::run(size_t i) {
    const LoadClient& client = clients_[i];
    const std::string messages = "/v1/conversations/" + client.conversation + "/messages";
    const std::string reads[] = {"/v1/users/" + client.user, "/v1/conversations/" + client.conversation,
                                 messages + "?limit=50"};
    const std::map<std::string, std::string> auth{{"X-API-Key", client.key}};
    const int cycle = options_.reads_per_write + 1;
    for (long long seq = 0; !stop_; ++seq) {
        auto started = Clock::now();
        if (paused_) {
            std::this_thread::sleep_for(10ms);
            continue;
        }
        bool ok = true;
        if (seq % cycle == 0) {
            std::string body =
                json::serialize(json::object{{"content", fmt::format("load c{} #{}", i, seq)}});
            ++writes_attempted_;
            auto r = http_call(api_, "POST", messages, body, auth, options_.timeout);
            auto acked = Clock::now();
            std::string id;
            if (r.status == 201) {
                boost::system::error_code ec;
                auto doc = json::parse(r.body, ec);
                if (!ec && doc.is_object() && doc.as_object().contains("id") && doc.at("id").is_string())
                    id = std::string(doc.at("id").as_string());
            }
            if (id.empty()) {
                ++writes_failed_;
                failed("POST", r);
                ok = false;
            } else {
                std::lock_guard lock(mutex_);
                acks_.push_back({id, started, acked});
            }
        } else {
            ++reads_attempted_;
            auto r =
                http_call(api_, "GET", reads[(seq / cycle + seq % cycle) % 3], {}, auth, options_.timeout);
            if (r.status != 200) {
                ++reads_failed_;
                failed("GET", r);
                ok = false;
            }
        }
        // An outage answers at once: do not spin on it.
        auto next = started + std::max<std::chrono::milliseconds>(options_.pace, ok ? 0ms : 20ms);
        if (Clock::now() < next) std::this_thread::sleep_until(next);
    }
}

Result<long long> count_missing_acks(const std::string& url, const std::vector<ApiLoad::Ack>& acks,
                                     std::vector<std::string>& lost) {
    auto conn = pg::SyncConnection::open(url);
    if (!conn) return conn.error();
    long long missing = 0;
    constexpr size_t kChunk = 2000;
    for (size_t at = 0; at < acks.size(); at += kChunk) {
        std::string array = "{";
        for (size_t i = at; i < std::min(acks.size(), at + kChunk); ++i)
            array += (i == at ? "" : ",") + acks[i].id;
        array += "}";
        auto present = conn->query(pg::queries::kMessagesPresent, {array});
        if (!present) return present.error();
        long long n = static_cast<long long>(std::min(acks.size(), at + kChunk) - at);
        long long gone = n - std::stoll(present->text(0, "present"));
        missing += gone;
        if (gone > 0 && lost.size() < 20) {
            auto rows = conn->query(pg::queries::kMessagesMissing, {array});
            if (!rows) return rows.error();
            for (size_t r = 0; r < rows->size() && lost.size() < 20; ++r) lost.push_back(rows->text(r, "id"));
        }
    }
    return missing;
}

}  // namespace yw::ops
