// JSON body validation with field-naming errors; never echoes the input back.
#include "messaging/json_body.hpp"

#include <fmt/format.h>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <string>
#include <vector>

namespace yw::messaging {
namespace {

Error bad(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }

// PostgreSQL text cannot hold U+0000; storing what precedes it would lose the rest without a word.
std::string no_nul(std::string_view name) {
    return fmt::format("{} must not contain the NUL character (\\u0000)", name);
}

// Marks `f` present/null; the value to read, or null when absent or JSON null (an error where null is not
// allowed).
template <typename T>
Result<const boost::json::value*> locate(const boost::json::object& object, std::string_view name,
                                         bool nullable, Field<T>& f) {
    const boost::json::value* v = object.if_contains(name);
    if (!v) return v;
    f.present = true;
    if (!v->is_null()) return v;
    if (!nullable) return bad(fmt::format("{} must not be null", name));
    f.null = true;
    return static_cast<const boost::json::value*>(nullptr);
}

// Boost.JSON (1.81) keeps the last of two equal keys without a word, so a body could say one thing to a
// reader and another to us. This SAX pass only collects each object's keys and stops at the first repeat.
class DuplicateKeyFinder {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    bool duplicate = false;

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }
    bool on_array_begin(boost::system::error_code&) { return true; }
    bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
    bool on_object_begin(boost::system::error_code&) {
        objects_.emplace_back();
        return true;
    }
    bool on_object_end(std::size_t, boost::system::error_code&) {
        objects_.pop_back();
        return true;
    }
    bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
    bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
    bool on_key_part(boost::json::string_view part, std::size_t, boost::system::error_code&) {
        key_.append(part.data(), part.size());
        return true;
    }
    bool on_key(boost::json::string_view last, std::size_t, boost::system::error_code& ec) {
        key_.append(last.data(), last.size());
        auto& keys = objects_.back();
        for (const auto& seen : keys) {
            if (seen == key_) {
                duplicate = true;
                ec = boost::json::error::syntax;  // stop here; `duplicate` says why
                return false;
            }
        }
        keys.push_back(std::move(key_));
        key_.clear();
        return true;
    }
    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_double(double, boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_bool(bool, boost::system::error_code&) { return true; }
    bool on_null(boost::system::error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

  private:
    std::vector<std::vector<std::string>> objects_;  // the keys of each open object, innermost last
    std::string key_;
};

// True when some object of `text` (valid JSON or not) repeats a key before the text's first error.
bool repeats_a_key(std::string_view text, const boost::json::parse_options& options) {
    boost::json::basic_parser<DuplicateKeyFinder> parser(options);
    boost::system::error_code ec;
    parser.write_some(false, text.data(), text.size(), ec);
    return parser.handler().duplicate;
}

}  // namespace

size_t utf8_length(std::string_view text) {
    size_t n = 0;
    for (unsigned char c : text) n += (c & 0xC0) != 0x80;
    return n;
}

Result<JsonBody> JsonBody::parse(std::string_view text, const std::vector<std::string_view>& allowed) {
    boost::system::error_code ec;
    boost::json::parse_options options;
    options.max_depth = 16;
    auto value = boost::json::parse(text, ec, {}, options);
    if (ec) return bad(text.empty() ? "a JSON object body is required" : "the body is not valid JSON");
    if (repeats_a_key(text, options)) return bad("the body repeats a field name");
    if (!value.is_object()) return bad("the body must be a JSON object");
    JsonBody body;
    body.object_ = std::move(value.as_object());
    for (const auto& kv : body.object_) {
        bool known = false;
        for (auto name : allowed) known = known || kv.key() == name;
        if (!known) {
            // The name is echoed only when it is short and printable, so the error cannot carry an attack.
            std::string_view key = kv.key();
            bool printable = key.size() <= 40;
            for (char c : key) printable = printable && c >= 0x20 && c < 0x7f;
            return bad(printable ? fmt::format("unknown field '{}'", key) : std::string("unknown field"));
        }
    }
    return body;
}

Result<Field<std::string>> JsonBody::string(std::string_view name, size_t min, size_t max, bool nullable,
                                            ErrorCode length_error) const {
    Field<std::string> f;
    auto located = locate(object_, name, nullable, f);
    if (!located) return located.error();
    const boost::json::value* v = *located;
    if (!v) return f;
    if (!v->is_string()) return bad(fmt::format("{} must be a string", name));
    f.value = std::string(v->as_string());
    if (f.value.find('\0') != std::string::npos) return bad(no_nul(name));
    size_t n = utf8_length(f.value);
    if (n < min || n > max) {
        std::string rule = min == max ? fmt::format("exactly {}", min)
                           : min == 0 ? fmt::format("at most {}", max)
                                      : fmt::format("{} to {}", min, max);
        return make_error(length_error, fmt::format("{} must be {} characters, got {}", name, rule, n));
    }
    return f;
}

Result<Field<std::string>> JsonBody::one_of(std::string_view name,
                                            const std::vector<std::string_view>& values) const {
    auto f = string(name, 1, 64);
    if (!f || !f->present) return f;
    for (auto v : values) {
        if (f->value == v) return f;
    }
    std::string list;
    for (auto v : values) list += (list.empty() ? "" : ", ") + std::string(v);
    return bad(fmt::format("{} must be one of {}", name, list));
}

Result<Field<bool>> JsonBody::boolean(std::string_view name) const {
    Field<bool> f;
    auto located = locate(object_, name, false, f);
    if (!located) return located.error();
    const boost::json::value* v = *located;
    if (!v) return f;
    if (!v->is_bool()) return bad(fmt::format("{} must be true or false", name));
    f.value = v->as_bool();
    return f;
}

Result<Field<std::int64_t>> JsonBody::integer(std::string_view name, std::int64_t min, std::int64_t max,
                                              bool nullable) const {
    Field<std::int64_t> f;
    auto located = locate(object_, name, nullable, f);
    if (!located) return located.error();
    const boost::json::value* v = *located;
    if (!v) return f;
    if (v->is_int64()) {
        f.value = v->as_int64();
    } else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(max)) {
        f.value = static_cast<std::int64_t>(v->as_uint64());
    } else {
        return bad(fmt::format("{} must be an integer from {} to {}", name, min, max));
    }
    if (f.value < min || f.value > max)
        return bad(fmt::format("{} must be an integer from {} to {}", name, min, max));
    return f;
}

Result<Field<std::vector<std::string>>> JsonBody::strings(std::string_view name, size_t max_items,
                                                          size_t max_length) const {
    Field<std::vector<std::string>> f;
    auto located = locate(object_, name, false, f);
    if (!located) return located.error();
    const boost::json::value* v = *located;
    if (!v) return f;
    if (!v->is_array()) return bad(fmt::format("{} must be an array of strings", name));
    if (v->as_array().size() > max_items)
        return bad(fmt::format("{} holds at most {} items", name, max_items));
    for (const auto& item : v->as_array()) {
        if (!item.is_string() || item.as_string().size() > max_length) {
            return bad(
                fmt::format("{} must be an array of strings of at most {} characters", name, max_length));
        }
        if (item.as_string().find('\0') != boost::json::string::npos) return bad(no_nul(name));
        f.value.emplace_back(item.as_string());
    }
    return f;
}

}  // namespace yw::messaging
