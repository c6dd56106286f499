// Request bodies: a JSON object with a known set of fields; every getter names the field in its error.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace yw::messaging {

// A field of a body: absent, present as null, or present with a value (PATCH needs all three).
template <typename T>
struct Field {
    bool present = false;
    bool null = false;
    T value{};

    bool has_value() const { return present && !null; }
};

class JsonBody {
  public:
    // Malformed JSON, a non-object, or a field outside `allowed` → 400 naming it.
    static Result<JsonBody> parse(std::string_view text, const std::vector<std::string_view>& allowed);

    // Lengths count Unicode code points. `length_error` is the code for a value of the right type but the
    // wrong length (messages answer 422 there, everything else 400).
    Result<Field<std::string>> string(std::string_view name, size_t min, size_t max, bool nullable = false,
                                      ErrorCode length_error = ErrorCode::kInvalidArgument) const;
    Result<Field<std::string>> one_of(std::string_view name,
                                      const std::vector<std::string_view>& values) const;
    Result<Field<bool>> boolean(std::string_view name) const;
    Result<Field<std::int64_t>> integer(std::string_view name, std::int64_t min, std::int64_t max,
                                        bool nullable = false) const;
    Result<Field<std::vector<std::string>>> strings(std::string_view name, size_t max_items,
                                                    size_t max_length) const;

    bool empty() const { return object_.empty(); }

  private:
    boost::json::object object_;
};

// Unicode code points in valid UTF-8.
size_t utf8_length(std::string_view text);

}  // namespace yw::messaging
