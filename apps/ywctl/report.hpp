// Rendering of the ops layer's Reports in ywctl, and the setup every runbook command shares.
#pragma once

#include <chrono>
#include <optional>

#include "commands.hpp"
#include "ops/check.hpp"
#include "output.hpp"

namespace ywctl {

// The ops layer's Reports (src/ops/check.hpp) are rendered with ywctl's CheckReport.
CheckReport to_check_report(const yw::ops::Report& report);

// Prints the report (table or --json) and returns its Nagios exit code.
int print_report(const yw::ops::Report& report, bool json);

// An error's exit code: the operator's mistake (a bad argument, a conflict, something not found: 64) or a
// check that failed, a server that cannot be reached (2).
int exit_for(yw::ErrorCode code);

// The configuration, or nullopt after printing why (the caller exits 78).
std::optional<yw::Config> config_or_report(const Globals& g);

// The nodes of DATABASE_ADMIN_URLS, or nullopt after printing why.
std::optional<std::vector<yw::NodeEndpoint>> admin_nodes_or_report(const Globals& g,
                                                                   const yw::Config& config);

// The connect timeout every runbook command uses for each node (--timeout).
inline constexpr int kDefaultConnectTimeoutS = 3;
void add_timeout_option(CLI::App* command, int& seconds);

// An action's plan with its warnings last, as confirm() and --dry-run show it.
std::vector<std::string> plan_with_warnings(std::vector<std::string> steps,
                                            const std::vector<std::string>& warnings);
// --dry-run: prints the plan (or {"dry_run":true,"plan":[…], …facts}) and returns exit 0.
int print_dry_run(const std::vector<std::string>& plan, bool json, boost::json::object facts);

}  // namespace ywctl
