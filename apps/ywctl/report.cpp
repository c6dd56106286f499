// Rendering of ops Reports and the shared setup of the runbook commands.
#include "report.hpp"

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

}  // namespace ywctl
