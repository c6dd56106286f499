// The S3 client's settings from the configuration (S3_ENDPOINT, S3_BUCKET, AWS_*).
#pragma once

#include "common/config.hpp"
#include "common/error.hpp"
#include "s3/client.hpp"

namespace yw::s3 {

// kUnavailable naming what is missing when no bucket is configured; AWS's regional endpoint when S3_ENDPOINT
// is not set.
Result<Config> config_from(const yw::Config& config);

}  // namespace yw::s3
