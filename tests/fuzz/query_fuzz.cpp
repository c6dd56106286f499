// Query strings (src/http/query.*): any bytes → parameters or a 400; only allowed names, each once.
#include <algorithm>

#include "fuzz.hpp"
#include "http/query.hpp"

using namespace yw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<std::string_view> kAllowed{"limit", "after", "before", "status"};
    auto input = fuzz::text(data, size);
    auto params = http::query_params(input, kAllowed);
    if (!params) {
        fuzz::require(params.error().code == ErrorCode::kInvalidArgument, "a bad query is a 400");
    } else {
        for (const auto& [k, v] : *params) {
            fuzz::require(std::find(kAllowed.begin(), kAllowed.end(), k) != kAllowed.end(),
                          "only allowed names");
            fuzz::require(v.size() < input.size(), "a decoded value is shorter than the query");
        }
    }
    std::string decoded;
    if (http::percent_decode(input, decoded))
        fuzz::require(decoded.size() <= input.size(), "decoding shrinks");
    return 0;
}
