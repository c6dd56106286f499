// A serializer that delegates everything but doubles to Boost.JSON.
#include "common/json.hpp"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <cmath>

namespace yw {
namespace {

void write(const boost::json::value& v, std::string& out) {
    switch (v.kind()) {
        case boost::json::kind::double_: {
            double d = v.get_double();
            // JSON has no NaN or infinity; null is what a reader can handle.
            out += std::isfinite(d) ? fmt::format("{}", d) : std::string("null");
            return;
        }
        case boost::json::kind::object: {
            out += '{';
            bool first = true;
            for (const auto& kv : v.get_object()) {
                if (!first) out += ',';
                first = false;
                out += boost::json::serialize(boost::json::string_view(kv.key()));
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
        default:
            out += boost::json::serialize(v);
    }
}

}  // namespace

std::string to_json(const boost::json::value& value) {
    std::string out;
    write(value, out);
    return out;
}

}  // namespace yw
