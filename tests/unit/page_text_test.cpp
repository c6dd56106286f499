// PageText (a page written straight into text) against the DOM path it replaces on the hot path:
// to_json(page(rendered rows)) must be the same bytes for every shape, NULLs and awkward text included.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>
#include <vector>

#include "common/json.hpp"
#include "messaging/rows.hpp"

namespace yw::messaging {
namespace {

using Cells = std::vector<std::optional<std::string>>;  // nullopt: NULL

// A result with the given columns (in a scrambled order, as a query may list them) and rows.
pg::ResultSet result(const std::vector<std::string>& columns, const std::vector<Cells>& rows) {
    PGresult* r = PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK);
    std::vector<std::string> names(columns);
    std::vector<PGresAttDesc> attrs;
    for (auto& n : names) attrs.push_back({n.data(), 0, 0, 0, 25, -1, -1});
    EXPECT_TRUE(PQsetResultAttrs(r, static_cast<int>(attrs.size()), attrs.data()));
    for (size_t i = 0; i < rows.size(); ++i) {
        for (size_t c = 0; c < columns.size(); ++c) {
            auto cell = rows[i][c];
            EXPECT_TRUE(PQsetvalue(r, static_cast<int>(i), static_cast<int>(c), cell ? cell->data() : nullptr,
                                   cell ? static_cast<int>(cell->size()) : -1));
        }
    }
    return pg::ResultSet(r);
}

std::string dom_page(const std::vector<const pg::ResultSet*>& results, Shape shape,
                     const std::string& cursor) {
    boost::json::array data;
    for (const auto* rs : results) {
        for (int i = 0; i < rs->rows(); ++i) data.push_back(render(Row(*rs, i), shape));
    }
    return to_json(page(std::move(data), cursor));
}

std::string text_page(const std::vector<const pg::ResultSet*>& results, Shape shape,
                      const std::string& cursor) {
    PageText text(shape);
    for (const auto* rs : results) text.append(*rs);
    return text.finish(cursor);
}

TEST(PageText, MessagesAreTheSameBytesAsTheRenderedPage) {
    const std::vector<std::string> cols{"created_us", "content",        "id", "conversation_id", "direction",
                                        "channel",    "delivery_status"};
    auto first = result(cols, {{"1732519800123456", "hello \"world\"\n\\ é 😀 \x01", "m1", "c1", "outbound",
                                "sms", "delivered"},
                               {"-1", "", "m2", "c1", "inbound", "mms", "queued"}});
    auto second =
        result(cols, {{"0", std::string("tab\there\x1f\x7f", 11), "m3", "c1", "inbound", "sms", "failed"}});
    auto empty = result(cols, {});
    for (const std::string cursor : {"", "abc.def"}) {
        std::vector<const pg::ResultSet*> all{&first, &empty, &second};
        EXPECT_EQ(text_page(all, kMessageShape, cursor), dom_page(all, kMessageShape, cursor));
    }
    PageText none(kMessageShape);
    EXPECT_EQ(none.size(), 0);
    EXPECT_EQ(none.finish(""), R"({"data":[],"next_cursor":null})");
    PageText three(kMessageShape);
    three.append(first);
    three.append(second);
    EXPECT_EQ(three.size(), 3);
}

TEST(PageText, NullsOfUsersAndConversationsAreNull) {
    auto users = result({"id", "name", "phone", "email", "created_us", "updated_us"},
                        {{"u1", "Ann", std::nullopt, "a@example.org", "1", std::nullopt},
                         {"u2", "", "+15550100", std::nullopt, "2", "3"}});
    std::vector<const pg::ResultSet*> u{&users};
    EXPECT_EQ(text_page(u, kUserShape, "next"), dom_page(u, kUserShape, "next"));
    auto conversations =
        result({"id", "user_id", "status", "subject", "last_message_us", "created_us", "updated_us"},
               {{"c1", "u1", "open", std::nullopt, std::nullopt, "5", "6"}});
    std::vector<const pg::ResultSet*> c{&conversations};
    EXPECT_EQ(text_page(c, kConversationShape, ""), dom_page(c, kConversationShape, ""));
}

}  // namespace
}  // namespace yw::messaging
