// A load through the messaging API that keeps every acknowledged write, and the check of those writes.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "ops/http_client.hpp"

namespace yw::ops {

// The load, and the check of its acknowledged writes on a primary afterwards, are what the failover drill
// (RB-4) and the chaos suite (tests/chaos) both need to say "not one acknowledged write was lost".

// POST `path` with `body`; the API must answer 201 with a string `field` ("id", or "api_key" for a key).
Result<std::string> api_create(const HttpTarget& api, const std::string& path,
                               const boost::json::object& body,
                               const std::map<std::string, std::string>& headers,
                               const std::string& field = "id");

// What one load thread works with: its key, and a user and conversation of that key's tenant.
struct LoadClient {
    std::string key;
    std::string user;
    std::string conversation;
};

// Makes `tenants` tenants (enterprise keys, one user each) with `conversations` conversations each; one
// LoadClient per conversation. Separate tenants keep each key under its rate limit when the load is large.
Result<std::vector<LoadClient>> make_load_clients(const HttpTarget& api, const std::string& admin_token,
                                                  const std::string& label, int tenants, int conversations);

struct LoadOptions {
    // Reads between two writes of a client: 0 writes only (the drill). Reads cycle through GET user,
    // GET conversation and GET its latest messages.
    int reads_per_write = 0;
    // Least time between the starts of one client's requests (0: the next as soon as the answer came), so a
    // load stays under its keys' rate limit and a failure is not a busy loop.
    std::chrono::milliseconds pace{0};
    std::chrono::milliseconds timeout{5000};  // of one request
};

// A write counts only when the API answered 201 with its id.
//
// One thread per client, until stop(). Thread-safe accessors; the counters are since start().
class ApiLoad {
  public:
    struct Ack {
        std::string id;
        std::chrono::steady_clock::time_point sent;
        std::chrono::steady_clock::time_point acked;
    };

    ApiLoad(HttpTarget api, std::vector<LoadClient> clients, LoadOptions options = {});
    ~ApiLoad() { stop(); }
    ApiLoad(const ApiLoad&) = delete;
    ApiLoad& operator=(const ApiLoad&) = delete;

    void start();
    void stop();
    // While paused the threads send nothing (a measurement that the load would disturb).
    void pause(bool paused) { paused_ = paused; }

    std::vector<Ack> acks() const;
    long long writes_attempted() const { return writes_attempted_; }
    long long writes_failed() const { return writes_failed_; }
    long long reads_attempted() const { return reads_attempted_; }
    long long reads_failed() const { return reads_failed_; }
    // The first acknowledged write that was sent after `t` (when it was acknowledged).
    std::optional<std::chrono::steady_clock::time_point> first_ack_sent_after(
        std::chrono::steady_clock::time_point t) const;
    // Why requests failed: "POST 503 unavailable", "GET 0 timeout", … with counts, most frequent first.
    std::vector<std::pair<std::string, long long>> failure_reasons() const;

  private:
    void run(size_t i);
    void failed(const std::string& method, const HttpReply& reply);

    HttpTarget api_;
    std::vector<LoadClient> clients_;
    LoadOptions options_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> paused_{false};
    std::atomic<long long> writes_attempted_{0};
    std::atomic<long long> writes_failed_{0};
    std::atomic<long long> reads_attempted_{0};
    std::atomic<long long> reads_failed_{0};
    mutable std::mutex mutex_;
    std::vector<Ack> acks_;
    std::map<std::string, long long> reasons_;
};

// How many of `acks` the primary at `url` (a superuser or app DSN, direct) does not hold; `lost` gets the
// first 20 of their ids. One query with = ANY($1) per 2000 ids.
Result<long long> count_missing_acks(const std::string& url, const std::vector<ApiLoad::Ack>& acks,
                                     std::vector<std::string>& lost);

}  // namespace yw::ops
