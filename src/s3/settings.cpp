// The S3 client's settings from the configuration (see settings.hpp).
#include "s3/settings.hpp"

#include <fmt/format.h>

namespace yw::s3 {

Result<Config> config_from(const yw::Config& config) {
    if (!config.s3.configured())
        return make_error(ErrorCode::kUnavailable,
                          "no object storage configured: set S3_BUCKET, AWS_REGION, AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY (and S3_ENDPOINT for a server other than AWS S3); the local "
                          "topology writes them into cluster.env");
    Config c;
    c.endpoint = config.s3.endpoint.empty() ? fmt::format("https://s3.{}.amazonaws.com", config.s3.region)
                                            : config.s3.endpoint;
    c.bucket = config.s3.bucket;
    c.region = config.s3.region;
    c.access_key_id = config.s3.access_key_id;
    c.secret_access_key = config.s3.secret_access_key;
    return c;
}

}  // namespace yw::s3
