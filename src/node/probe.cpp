// Blocking node probes for ywctl: kTopologyProbe read by the router's own parser, then kNodeSettings.
#include "node/probe.hpp"

#include <future>

#include "pg/queries.hpp"
#include "pg/replication_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::node {

NodeProbe probe(const NodeEndpoint& node, std::chrono::milliseconds timeout) {
    NodeProbe p;
    p.name = node.name;
    p.url = node.url;
    auto connect_timeout =
        std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(timeout));
    auto conn = pg::SyncConnection::open(node.url, connect_timeout, timeout);
    if (!conn) {
        p.error = conn.error().message;
        return p;
    }
    auto rows = conn->query(pg::queries::kTopologyProbe);
    if (!rows || rows->size() != 1) {
        p.error = rows ? "no row from the topology probe" : rows.error().message;
        return p;
    }
    const auto& row = rows->rows[0];
    pg::read_topology_probe(p, [&](int col) -> std::optional<std::string_view> {
        if (col < 0 || static_cast<size_t>(col) >= row.size() || !row[col]) return std::nullopt;
        return std::string_view(*row[col]);
    });
    auto settings = conn->query(pg::queries::kNodeSettings);
    if (!settings || settings->size() != 1) {
        p.reachable = false;
        p.error = settings ? "no row from the node settings query" : settings.error().message;
        return p;
    }
    p.version = settings->text(0, "version");
    p.receiver_status = settings->text(0, "receiver_status");
    p.sync_names = settings->text(0, "sync_names");
    p.primary_conninfo = settings->text(0, "primary_conninfo");
    return p;
}

std::vector<NodeProbe> probe_all(const std::vector<NodeEndpoint>& nodes, std::chrono::milliseconds timeout) {
    std::vector<std::future<NodeProbe>> pending;
    for (const auto& n : nodes)
        pending.push_back(std::async(std::launch::async, [&n, timeout] { return probe(n, timeout); }));
    std::vector<NodeProbe> out;
    for (auto& f : pending) out.push_back(f.get());
    return out;
}

}  // namespace yw::node
