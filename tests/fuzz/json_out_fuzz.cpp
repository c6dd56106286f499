// The response serializer (src/common/json.*): for any JSON value, to_json writes what Boost.JSON's
// serializer writes, except doubles (plain shortest form, read back to the same value); any bytes as a string
// value are escaped the same way too.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "common/json.hpp"
#include "fuzz.hpp"

using namespace yw;

namespace {

bool has_double(const boost::json::value& v) {
    if (v.is_double()) return true;
    if (v.is_array()) {
        for (const auto& item : v.get_array())
            if (has_double(item)) return true;
    }
    if (v.is_object()) {
        for (const auto& kv : v.get_object())
            if (has_double(kv.value())) return true;
    }
    return false;
}

// Equal as a reader sees them: 150.0 written as 150 reads back as an integer of the same value.
// A double too large for its type (1e999 parses to infinity) is written as null.
bool same(const boost::json::value& a, const boost::json::value& b) {
    if (a.is_double() && !std::isfinite(a.get_double())) return b.is_null();
    if (a.is_number() && b.is_number()) {
        if (!a.is_double() && !b.is_double()) return a == b;
        // Boost.JSON 1.81 parses doubles to within an ulp or so, not exactly: allow a few.
        double x = a.to_number<double>(), y = b.to_number<double>();
        return x == y || std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
    }
    if (a.kind() != b.kind()) return false;
    if (a.is_array()) {
        const auto &x = a.get_array(), &y = b.get_array();
        if (x.size() != y.size()) return false;
        for (size_t i = 0; i < x.size(); ++i)
            if (!same(x[i], y[i])) return false;
        return true;
    }
    if (a.is_object()) {
        const auto &x = a.get_object(), &y = b.get_object();
        if (x.size() != y.size()) return false;
        for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
            if (i->key() != j->key() || !same(i->value(), j->value())) return false;
        return true;
    }
    return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto input = fuzz::text(data, size);
    boost::json::value as_string = boost::json::string(input);
    fuzz::require(to_json(as_string) == boost::json::serialize(as_string),
                  "strings escaped as Boost.JSON does");
    boost::json::object keyed;
    keyed[input] = input;
    fuzz::require(to_json(keyed) == boost::json::serialize(keyed), "keys escaped as Boost.JSON does");

    boost::system::error_code ec;
    auto parsed = boost::json::parse(input, ec);
    if (ec) return 0;
    auto text = to_json(parsed);
    if (!has_double(parsed)) {
        fuzz::require(text == boost::json::serialize(parsed), "same text as Boost.JSON without doubles");
    } else {
        boost::system::error_code back_ec;
        auto back = boost::json::parse(text, back_ec);
        fuzz::require(!back_ec, "to_json writes valid JSON");
        fuzz::require(same(parsed, back), "doubles read back to the same values");
    }
    return 0;
}
