// What a runbook check finds, before any rendering.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "common/verdict.hpp"

namespace yw::ops {

// Nagios levels, in the numeric order of their exit codes.
enum class Level {
    kOk = 0,        // within the runbook's threshold
    kWarning = 1,   // RB-23 "degraded": look at it soon
    kCritical = 2,  // RB-23 "unhealthy": page someone
    kUnknown = 3,   // the fact could not be measured
};

// RB-23's verdict words as Nagios levels.
Level from_verdict(yw::Verdict verdict);

struct Finding {
    std::string name;  // "replica-1 replay lag"
    Level level = Level::kOk;
    std::string value;      // "12 ms"
    std::string threshold;  // "< 1000 ms"
    std::string detail;     // the error text, the advice
};

// A Report: rows judged against thresholds, the raw facts and the recommended next commands. ywctl renders a
// Report as a ✓/✗ table or JSON with Nagios exit codes.
struct Report {
    std::string title;
    std::vector<Finding> findings;
    boost::json::object data;             // the raw facts, for --json
    std::vector<std::string> next_steps;  // recommended commands, most useful first

    void add(Finding f) { findings.push_back(std::move(f)); }
    void recommend(const std::string& step);  // once: a step already listed is not repeated
};

}  // namespace yw::ops
