// ywctl's output conventions: a readable table with ✓/✗ or --json, and Nagios exit codes for checks.
#pragma once

#include <boost/json/object.hpp>
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

// Checks: every runbook check is a list of rows judged against its threshold; the worst row is the exit code.
enum class Level { kOk = 0, kWarning = 1, kCritical = 2, kUnknown = 3 };
const char* level_name(Level level);  // "ok", "warning", "critical", "unknown"
Level worst(Level a, Level b);        // critical > warning > unknown > ok, as Nagios ranks them

struct CheckRow {
    std::string name;  // "replica-1 replay lag"
    Level level = Level::kOk;
    std::string value;      // "12 ms"
    std::string threshold;  // "< 1000 ms"
    std::string detail;     // anything a human needs: the error text, the advice
};

struct CheckReport {
    std::string title;  // "Replication (RB-1)"
    std::vector<CheckRow> rows;
    boost::json::object data;             // the raw facts, for --json
    std::vector<std::string> next_steps;  // recommended commands, printed after the table

    void add(CheckRow row) { rows.push_back(std::move(row)); }
    Level level() const;  // the worst row; kOk when empty
    int exit_code() const { return static_cast<int>(level()); }
    // A table (✓ for ok, ✗ otherwise, with the level) and the next steps; or, with --json,
    // {"title","status","checks":[{"name","status","value","threshold","detail"}],"data","next_steps"}.
    void print(bool json) const;
};

// Actions show their plan, then need --yes or a "yes" typed on a terminal. Without --yes and without a TTY on
// stdin they refuse (prints why, returns false): cron must never act by accident.
bool confirm(const std::vector<std::string>& plan, bool yes, bool json);

}  // namespace ywctl
