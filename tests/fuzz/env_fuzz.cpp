// Configuration (src/common/config.*): any env-file text → variables or an error naming the line; any
// variables → a Config or a list of problems, never a crash.
#include "common/config.hpp"
#include "fuzz.hpp"

using namespace yw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto env = parse_env_text(fuzz::text(data, size), "fuzz.env");
    if (!env) {
        fuzz::require(env.error().code == ErrorCode::kInvalidArgument, "a bad file is invalid input");
        return 0;
    }
    auto config = parse_config(*env);
    if (!config) fuzz::require(!config.error().message.empty(), "a refused configuration says why");
    return 0;
}
