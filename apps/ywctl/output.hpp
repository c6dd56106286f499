// ywctl's output conventions: a readable table with ✓/✗ or --json, and Nagios exit codes for checks.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

namespace ywctl {

// Nagios plugin exit codes, so cron and monitoring can run every check; plus sysexits for the rest.
enum Exit : int {
    kOk = 0,
    kWarning = 1,
    kCritical = 2,
    kUnknown = 3,
    kUsage = 64,   // EX_USAGE: unknown subcommand, flag or bad value
    kConfig = 78,  // EX_CONFIG: invalid configuration
};

struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

// Columns padded to their widest cell (counting UTF-8 characters, so ✓ lines up).
std::string render(const Table& table);

const char* mark(bool ok);  // "✓" or "✗"

void print_json(const boost::json::value& value);
// An error for a human (stderr) or, with --json, as {"error": …} on stdout.
void print_error(bool json, const std::string& message);

}  // namespace ywctl
