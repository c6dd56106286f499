// Rendering the API's resources from result rows.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pg/result_set.hpp"
#include "pg/row.hpp"

namespace yw::messaging {

using pg::parse_text_array;
using pg::Row;
using pg::text_array;

// "" / NULL → JSON null; else the text.
boost::json::value nullable_text(const Row& r, std::string_view column);
// A Unix-microseconds column as RFC 3339, or null.
boost::json::value timestamp(const Row& r, std::string_view column);

// A resource's JSON shape: which column gives which field, and how. One table per resource renders it both as
// a boost::json object (one resource) and straight into text (a page of them, the hot path: no DOM).
enum class FieldKind {
    kText,          // a string
    kNullableText,  // a string or null
    kTimestamp,     // a Unix-microseconds column as RFC 3339, or null
};
struct ShapeField {
    std::string_view name;    // in the JSON
    std::string_view column;  // in the result
    FieldKind kind;
};
using Shape = std::span<const ShapeField>;
extern const Shape kUserShape;
extern const Shape kConversationShape;
extern const Shape kMessageShape;

boost::json::object render(const Row& r, Shape shape);
boost::json::object user_json(const Row& r);
boost::json::object conversation_json(const Row& r);
boost::json::object message_json(const Row& r);

// A page as text: {"data":[rows of the shape…],"next_cursor":cursor or null}, the same JSON as
// to_json(page(…)) of the rendered rows; columns are looked up once per result.
class PageText {
  public:
    explicit PageText(Shape shape);
    void append(const pg::ResultSet& rows);  // every row, in order
    int size() const { return size_; }
    std::string finish(const std::string& next_cursor);  // once, last

  private:
    Shape shape_;
    std::string out_;
    std::vector<int> cols_;
    int size_ = 0;
};
boost::json::object api_key_json(const Row& r);
boost::json::object tenant_json(const Row& r);

// {"data": [...], "next_cursor": cursor or null}
boost::json::object page(boost::json::array data, const std::string& next_cursor);

}  // namespace yw::messaging
