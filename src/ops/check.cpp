// Report helpers shared by every runbook check.
#include "ops/check.hpp"

#include <algorithm>

namespace yw::ops {

Level from_verdict(yw::Verdict verdict) {
    switch (verdict) {
        case yw::Verdict::kHealthy:
            return Level::kOk;
        case yw::Verdict::kDegraded:
            return Level::kWarning;
        case yw::Verdict::kUnhealthy:
            return Level::kCritical;
    }
    return Level::kUnknown;
}

void Report::recommend(const std::string& step) {
    if (std::find(next_steps.begin(), next_steps.end(), step) == next_steps.end()) next_steps.push_back(step);
}

}  // namespace yw::ops
