// The async PostgreSQL connection against the real topology: named prepared statements on a direct
// connection, and what happens when a transaction pooler (PgBouncer 1.18) sits in between after all — the
// statement goes missing or its name is taken on the server session PgBouncer picked, and the connection must
// go on with unnamed statements without failing a query.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>

#include "pg/connection.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr pg::Query kEcho{"test.echo", "SELECT $1::int8 * 2 AS twice"};
constexpr pg::Query kMyStatements{"test.my_statements",
                                  "SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM "
                                  "pg_prepared_statements"};

constexpr pg::Query kTerminateAppSessions{
    "test.terminate_app_sessions",
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app_user'"};

pg::Deadline soon() { return std::chrono::steady_clock::now() + 10s; }

// Runs `body` on a fresh io_context to completion.
void run(std::function<asio::awaitable<void>(asio::io_context&)> body) {
    asio::io_context io;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await body(io);
            done = true;
        },
        asio::detached);
    io.run_for(60s);
    ASSERT_TRUE(done) << "the coroutine did not finish";
}

asio::awaitable<std::unique_ptr<pg::Connection>> open(asio::io_context& io, const std::string& url,
                                                      bool prepare) {
    auto conn = co_await pg::Connection::connect(io.get_executor(), url, soon());
    EXPECT_TRUE(conn.ok()) << (conn ? "" : conn.error().message);
    if (!conn) co_return nullptr;
    (*conn)->use_prepared_statements(prepare);
    co_return std::move(*conn);
}

// The answer of kEcho for `n`, or -1 with the error reported.
asio::awaitable<long> echo(pg::Connection& conn, long n) {
    pg::Params params{std::to_string(n)};
    auto r = co_await conn.exec(kEcho, std::move(params), soon());
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    if (!r || r->rows() != 1) co_return -1;
    co_return std::stol(std::string(r->get(0, 0)));
}

TEST(PgConnection, DirectConnectionPreparesEachStatementOnceAndKeepsUsingIt) {
    run([](asio::io_context& io) -> asio::awaitable<void> {
        auto conn = co_await open(io, Topology::get().connections().app_primary, true);
        if (!conn) co_return;
        // Past PostgreSQL's five custom plans: the generic plan must give the same answers.
        for (long i = 0; i < 10; ++i) EXPECT_EQ(co_await echo(*conn, i), 2 * i);
        const pg::Params none;
        auto names = co_await conn->exec(kMyStatements, none, soon());
        EXPECT_TRUE(names.ok());
        if (names) {
            EXPECT_EQ(names->get(0, 0), pg::statement_name(kEcho) + "," + pg::statement_name(kMyStatements));
        }
        EXPECT_TRUE(conn->uses_prepared_statements());
        // A failing statement (bad input) is an error of that query alone, not a reason to stop preparing.
        pg::Params bad{"not a number"};
        auto failed = co_await conn->exec(kEcho, std::move(bad), soon());
        EXPECT_FALSE(failed.ok());
        EXPECT_TRUE(conn->uses_prepared_statements());
        EXPECT_EQ(co_await echo(*conn, 21), 42);
    });
}

TEST(PgConnection, StatementNamesCarryAHashOfTheirSql) {
    constexpr pg::Query kEchoV2{"test.echo", "SELECT $1::int8 * 3 AS twice"};
    EXPECT_TRUE(pg::statement_name(kEcho).starts_with("test.echo/"));
    EXPECT_EQ(pg::statement_name(kEcho).size(), std::string("test.echo/").size() + 8);
    EXPECT_NE(pg::statement_name(kEcho), pg::statement_name(kEchoV2));  // another version, another statement
    EXPECT_EQ(pg::statement_name(kEcho), pg::statement_name(kEcho));
}

TEST(PgConnection, AStatementLostBehindPgBouncerFallsBackToUnnamedWithoutFailingTheQuery) {
    run([](asio::io_context& io) -> asio::awaitable<void> {
        auto conn = co_await open(io, Topology::get().connections().pgbouncer, true);
        if (!conn) co_return;
        EXPECT_EQ(co_await echo(*conn, 1), 2);  // prepared on the server session PgBouncer lent
        // Every server session PgBouncer holds for app_user goes; the client connection stays, and the next
        // transaction gets a new server session that has never seen the statement.
        auto su = Topology::get().superuser("primary");
        auto killed = su.query(kTerminateAppSessions);
        EXPECT_TRUE(killed.ok());
        asio::steady_timer settle(io, 500ms);  // PgBouncer sees its idle server sockets close
        co_await settle.async_wait(asio::use_awaitable);
        long answer = -1;
        for (int i = 0; i < 20 && answer != 4; ++i) {  // PgBouncer may first lend a session it has not
            pg::Params params{"2"};                    // yet seen die: that one is a lost connection
            auto r = co_await conn->exec(kEcho, std::move(params), soon());
            if (r && r->rows() == 1) answer = std::stol(std::string(r->get(0, 0)));
            if (conn->broken()) break;
        }
        EXPECT_EQ(answer, 4);
        EXPECT_FALSE(conn->uses_prepared_statements());
        for (long i = 0; i < 5; ++i) EXPECT_EQ(co_await echo(*conn, i), 2 * i);
    });
}

TEST(PgConnection, TwoClientsPreparingTheSameNameThroughPgBouncerBothGetAnswers) {
    run([](asio::io_context& io) -> asio::awaitable<void> {
        auto a = co_await open(io, Topology::get().connections().pgbouncer, true);
        auto b = co_await open(io, Topology::get().connections().pgbouncer, true);
        if (!a || !b) co_return;
        // PgBouncer lends its most recently used server session first, so b's prepare meets the statement a
        // left on it (42P05), and later each client's statement is missing where the other prepared (26000).
        for (long i = 0; i < 40; ++i) {
            EXPECT_EQ(co_await echo(i % 2 ? *a : *b, i), 2 * i) << i;
        }
        EXPECT_FALSE(a->broken());
        EXPECT_FALSE(b->broken());
        EXPECT_FALSE(a->uses_prepared_statements() && b->uses_prepared_statements());
    });
}

}  // namespace
}  // namespace yw::test
