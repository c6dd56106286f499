// The status page in a real headless Chromium against the real topology: what it renders once its scripts
// ran (the overall grade, every field graded, the charts, queries, keys and partitions), a replica turning
// degraded when it is stopped, the stale banner when ywmsgd goes away, and the admin token never in a URL or
// a log. Screenshots land in build/test-artefacts/ (the README's comes from there).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "common/config.hpp"
#include "common/files.hpp"
#include "node/control.hpp"
#include "support/api_client.hpp"
#include "support/browser.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

std::filesystem::path artefact(const std::string& name) {
    auto dir = std::filesystem::path(YW_BINARY_DIR) / "test-artefacts";
    std::filesystem::create_directories(dir);
    return dir / name;
}

std::vector<std::string> server_env(int port) {
    return {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
            fmt::format("YW_HTTP_PORT={}", port),
            "YW_STATUS_SAMPLE_INTERVAL_MS=500",
            "YW_HEALTH_DETAILED_TTL_MS=500",
            "YW_LOG_FORMAT=json",
            "YW_LOG_LEVEL=info"};
}

// Traffic while the page is open, so that the charts, the slow-query table, the cache and the limited keys
// have something to show: a tenant within its limits reading and writing, and a free one over its limit.
class Traffic {
  public:
    explicit Traffic(const ApiClient& api) : api_(api) {
        tenant_ = api.make_tenant("Status Page Church");
        user_ = api.make_user(tenant_, "Ruth Adams");
        conversation_ = api.make_conversation(tenant_, user_);
        free_ = api.make_tenant("Over Its Limit", "free");
        thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
    }

  private:
    void run(const std::stop_token& stop) {
        for (int i = 0; !stop.stop_requested(); ++i) {
            if (i % 10 == 0) {
                api_.as(tenant_.key, "POST", "/v1/conversations/" + conversation_ + "/messages",
                        R"({"direction":"outbound","content":"See you Sunday"})");
            }
            api_.as(tenant_.key, "GET", "/v1/users/" + user_);
            api_.as(tenant_.key, "GET", "/v1/conversations/" + conversation_ + "/messages");
            if (i % 3 == 0) api_.as(free_.key, "GET", "/v1/users");
            std::this_thread::sleep_for(50ms);
        }
    }

    const ApiClient& api_;
    ApiTenant tenant_, free_;
    std::string user_, conversation_;
    std::jthread thread_;  // last: stopped and joined first
};

// A JS expression: the grade of the field row `field`, or "" when the page has no such row yet.
std::string grade_of(const std::string& field) {
    return fmt::format(
        R"(((document.querySelector('#fields tr[data-field="{}"]') || {{dataset: {{}}}}).dataset.grade || ""))",
        field);
}

std::string text(Browser& b, const std::string& expression) {
    auto v = b.evaluate(expression);
    if (!v) return "error: " + v.error().message;
    return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
}

// Starts what a test stopped, however it ends.
struct Restore {
    ~Restore() {
        auto s = Topology::get().local().up();
        EXPECT_TRUE(s.ok()) << s.error().message;
    }
};

TEST(StatusPage, RendersEveryGradeAStoppedReplicaAndStaleness) {
    auto launched = Browser::launch();
    ASSERT_TRUE(launched.ok()) << launched.error().message;
    auto& browser = **launched;
    int port = free_port();
    auto server = std::make_unique<Child>("ywmsgd", std::vector<std::string>{}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server->log();
    // As a load balancer does: traffic once /health says the instance is up (under ASan on a busy machine the
    // first connections to the database take a while).
    ASSERT_TRUE(wait_until(30s, [port] { return http_request(port, "GET", "/health").status == 200; }))
        << server->log();
    const std::string token = admin_token_of(Topology::get());
    ASSERT_FALSE(token.empty());
    ApiClient api(port, token);
    auto traffic = std::make_unique<Traffic>(api);

    // Without the token: the overall grade only, and the field to type it into.
    ASSERT_TRUE(browser.navigate(fmt::format("http://127.0.0.1:{}/status", port)).ok());
    ASSERT_TRUE(browser.wait_until(R"(document.getElementById("overall").dataset.grade === "healthy")", 20s))
        << text(browser, R"(document.getElementById("overall").dataset.grade)") << "\n"
        << server->log();
    EXPECT_EQ(text(browser, R"(String(document.getElementById("login").hidden))"), "false");
    EXPECT_EQ(text(browser, R"(String(document.getElementById("details").hidden))"), "true");
    // The page's own style applied under its CSP (a blocked style would leave the default white page).
    EXPECT_EQ(text(browser, "getComputedStyle(document.body).backgroundColor"), "rgb(13, 17, 23)");

    // A wrong token is refused and forgotten.
    ASSERT_TRUE(browser
                    .evaluate(R"(document.getElementById("token").value = "not-the-token";
                                 document.querySelector("#login button").click(); true)")
                    .ok());
    EXPECT_TRUE(
        browser.wait_until(R"(document.getElementById("login-note").textContent.includes("refused"))", 10s))
        << text(browser, R"(document.getElementById("login-note").textContent)");

    // Typed as a user does: every field graded.
    auto typed = browser.evaluate(fmt::format(R"(document.getElementById("token").value = {};
                                                 document.querySelector("#login button").click(); true)",
                                              json::serialize(json::value(token))));
    ASSERT_TRUE(typed.ok()) << typed.error().message;
    ASSERT_TRUE(browser.wait_until(grade_of("replicas[replica-2].lag") + R"( === "healthy")", 20s))
        << text(browser, R"(document.getElementById("fields").innerText)") << "\n"
        << server->log();
    EXPECT_EQ(text(browser, grade_of("primary.connected")), "healthy");
    EXPECT_EQ(text(browser, grade_of("replicas[replica-1].lag")), "healthy");
    EXPECT_EQ(text(browser, grade_of("waiting_clients")), "healthy");
    EXPECT_EQ(text(browser, grade_of("memory")), "healthy");
    EXPECT_EQ(text(browser, grade_of("months_ahead")), "healthy");
    EXPECT_EQ(text(browser, grade_of("primary.latency")), "info");
    EXPECT_EQ(text(browser, R"(document.getElementById("overall").textContent)"), "healthy");
    // The threshold of each row is shown beside it.
    EXPECT_NE(text(browser,
                   R"(document.querySelector('#fields tr[data-field="replicas[replica-1].lag"]').innerText)")
                  .find("5000 ms"),
              std::string::npos);
    // Four charts; after a few samples the lag chart has lines.
    EXPECT_EQ(text(browser, R"(String(document.querySelectorAll("#charts .chart svg").length))"), "4");
    EXPECT_TRUE(browser.wait_until(R"(document.querySelectorAll("#chart-lag path").length === 2)", 15s))
        << text(browser, R"(document.getElementById("charts").innerText)");
    // RB-17: this month's partition is listed with its grade; RB-8: the queries table rendered.
    EXPECT_TRUE(browser.wait_until(
        R"(document.getElementById("partitions").innerText.includes("conversation_message_"))", 5s));
    EXPECT_GE(std::stoi(text(browser, R"(String(document.querySelectorAll("#partitions tbody tr").length))")),
              3);
    EXPECT_GE(std::stoi(text(browser, R"(String(document.querySelectorAll("#queries tbody tr").length))")),
              1);
    EXPECT_GE(std::stoi(text(browser, R"(String(document.querySelectorAll("#keys tbody tr").length))")), 1);
    // The charts follow the traffic: a few refreshes later each has a line of several points (one every 500
    // ms here).
    auto points = [](const char* chart) {
        return fmt::format(
            R"((document.querySelector("#chart-{} path")?.getAttribute("d") || "").split("L").length)",
            chart);
    };
    EXPECT_TRUE(browser.wait_until(
        fmt::format("{} > 10 && {} > 10 && {} > 10", points("p95"), points("hit"), points("limited")), 20s))
        << text(browser, R"(document.getElementById("charts").innerText)");
    traffic.reset();
    ASSERT_TRUE(browser.screenshot(artefact("status-page.png")).ok());

    // A replica stopped: its row turns degraded, "not connected", and so does the overall grade.
    {
        Restore restore;
        ASSERT_TRUE(node::stop(Topology::get().local().data_dir("replica-2")).ok());
        // A refresh (5 s), the shared round (0.5 s) and its deadline (1 s), and a margin for a loaded
        // machine.
        EXPECT_TRUE(browser.wait_until(grade_of("replicas[replica-2].lag") + R"( === "degraded")", 15s))
            << text(browser, R"(document.getElementById("fields").innerText)");
        EXPECT_NE(
            text(browser,
                 R"(document.querySelector('#fields tr[data-field="replicas[replica-2].lag"]').innerText)")
                .find("not connected"),
            std::string::npos);
        EXPECT_EQ(text(browser, R"(document.getElementById("overall").dataset.grade)"), "degraded");
        EXPECT_EQ(text(browser, grade_of("replicas[replica-1].lag")), "healthy");
        ASSERT_TRUE(browser.screenshot(artefact("status-page-replica-down.png")).ok());
    }

    // The token never went into a URL, the page's storage beyond this tab, or ywmsgd's log.
    for (const auto& url : browser.requested_urls()) EXPECT_EQ(url.find(token), std::string::npos) << url;
    EXPECT_EQ(text(browser, "location.href").find(token), std::string::npos);
    EXPECT_EQ(text(browser, "String(localStorage.length)"), "0");
    EXPECT_NE(server->log().find("/status/data"), std::string::npos);  // the requests are logged…
    EXPECT_EQ(server->log().find(token), std::string::npos);           // …without the token

    // ywmsgd gone: within the stale limit (15 s) and a refresh, the page says its data is stale and stops
    // showing a grade it cannot vouch for.
    server->terminate();
    EXPECT_TRUE(browser.wait_until(R"(!document.getElementById("stale").hidden)", 30s));
    EXPECT_NE(text(browser, R"(document.getElementById("stale").textContent)").find("Stale"),
              std::string::npos);
    EXPECT_EQ(text(browser, R"(document.getElementById("overall").dataset.grade)"), "unknown");
    ASSERT_TRUE(browser.screenshot(artefact("status-page-stale.png")).ok());

    // The page ran without an error of its own.
    for (const auto& e : browser.errors()) {
        // Failed fetches once ywmsgd is gone are the point of the last step, not a page error.
        if (e.find("Failed to fetch") != std::string::npos) continue;
        ADD_FAILURE() << "page error: " << e;
    }
}

}  // namespace
}  // namespace yw::test
