// The JSON writer behind yw::to_json and append_json_string.
#include "common/json.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace yw {

// One pass over the value into one string: strings escaped as Boost.JSON escapes them, doubles in their
// shortest plain form. (Calling boost::json::serialize per key and scalar cost a serializer and a string
// each: most of a 50-message page's CPU.)

void append_json_string(std::string_view s, std::string& out) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    size_t plain = 0;  // start of the run of characters copied as they are
    for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + plain, i - plain);
        plain = i + 1;
        out += '\\';
        switch (c) {
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '\b':
                out += 'b';
                break;
            case '\f':
                out += 'f';
                break;
            case '\n':
                out += 'n';
                break;
            case '\r':
                out += 'r';
                break;
            case '\t':
                out += 't';
                break;
            default:
                out += "u00";
                out += kHex[c >> 4];
                out += kHex[c & 0xf];
        }
    }
    out.append(s.data() + plain, s.size() - plain);
    out += '"';
}

namespace {

template <typename Int>
void write_int(Int n, std::string& out) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, end);
}

void write(const boost::json::value& v, std::string& out) {
    switch (v.kind()) {
        case boost::json::kind::null:
            out += "null";
            return;
        case boost::json::kind::bool_:
            out += v.get_bool() ? "true" : "false";
            return;
        case boost::json::kind::int64:
            write_int(v.get_int64(), out);
            return;
        case boost::json::kind::uint64:
            write_int(v.get_uint64(), out);
            return;
        case boost::json::kind::double_: {
            double d = v.get_double();
            // JSON has no NaN or infinity; null is what a reader can handle.
            if (std::isfinite(d)) {
                fmt::format_to(std::back_inserter(out), "{}", d);
            } else {
                out += "null";
            }
            return;
        }
        case boost::json::kind::string:
            append_json_string(v.get_string(), out);
            return;
        case boost::json::kind::object: {
            out += '{';
            bool first = true;
            for (const auto& kv : v.get_object()) {
                if (!first) out += ',';
                first = false;
                append_json_string(kv.key(), out);
                out += ':';
                write(kv.value(), out);
            }
            out += '}';
            return;
        }
        case boost::json::kind::array: {
            out += '[';
            bool first = true;
            for (const auto& item : v.get_array()) {
                if (!first) out += ',';
                first = false;
                write(item, out);
            }
            out += ']';
            return;
        }
    }
}

}  // namespace

std::string to_json(const boost::json::value& value) {
    std::string out;
    out.reserve(256);
    write(value, out);
    return out;
}

}  // namespace yw
