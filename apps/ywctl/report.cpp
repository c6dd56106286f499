// Rendering of ops Reports and the shared setup of the runbook commands.
#include "report.hpp"

#include <iostream>

namespace ywctl {

CheckReport to_check_report(const yw::ops::Report& report) {
    CheckReport out;
    out.title = report.title;
    out.data = report.data;
    out.next_steps = report.next_steps;
    for (const auto& f : report.findings) {
        out.add({f.name, static_cast<Level>(static_cast<int>(f.level)), f.value, f.threshold, f.detail});
    }
    return out;
}

int print_report(const yw::ops::Report& report, bool json) {
    CheckReport out = to_check_report(report);
    out.print(json);
    return out.exit_code();
}

std::optional<yw::Config> config_or_report(const Globals& g) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return std::nullopt;
    }
    return std::move(config.value());
}

std::optional<std::vector<yw::NodeEndpoint>> admin_nodes_or_report(const Globals& g,
                                                                   const yw::Config& config) {
    if (config.admin_urls.empty()) {
        print_error(g.json, "DATABASE_ADMIN_URLS is not set (superuser DSNs of the nodes, by name)");
        return std::nullopt;
    }
    return config.admin_urls;
}

void add_timeout_option(CLI::App* command, int& seconds) {
    command->add_option("--timeout", seconds, "Connect (and query) timeout per server, seconds")
        ->check(CLI::Range(1, 60))
        ->capture_default_str();
}

std::vector<std::string> plan_with_warnings(std::vector<std::string> steps,
                                            const std::vector<std::string>& warnings) {
    for (const auto& w : warnings) steps.push_back("WARNING: " + w);
    return steps;
}

int print_dry_run(const std::vector<std::string>& plan, bool json, boost::json::object facts) {
    if (json) {
        boost::json::array out;
        for (const auto& s : plan) out.push_back(boost::json::string(s));
        facts["dry_run"] = true;
        facts["plan"] = std::move(out);
        print_json(facts);
    } else {
        std::cout << "Plan (dry run, nothing done):\n";
        for (size_t i = 0; i < plan.size(); ++i) std::cout << "  " << i + 1 << ". " << plan[i] << "\n";
    }
    return kOk;
}

int exit_for(yw::ErrorCode code) {
    switch (code) {
        case yw::ErrorCode::kInvalidArgument:
        case yw::ErrorCode::kConflict:
        case yw::ErrorCode::kNotFound:
            return kUsage;
        default:
            return kCritical;
    }
}

}  // namespace ywctl
