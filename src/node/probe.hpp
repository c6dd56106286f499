// ywctl's blocking probe of PostgreSQL nodes, as the superuser.
#pragma once

#include <chrono>
#include <vector>

#include "common/config.hpp"
#include "pg/topology.hpp"

namespace yw::node {

// A probe runs the router's probe query and reads the settings only a superuser may read, into the one node
// record (pg::NodeProbe).
using pg::NodeProbe;

// One node; every query is bounded by `timeout` too, so a node that accepts connections but hangs cannot hang
// the caller. An unreachable node is a NodeProbe with reachable false and the reason in `error`.
NodeProbe probe(const NodeEndpoint& node, std::chrono::milliseconds timeout = std::chrono::seconds(2));
// Every node at once (one thread each), answers in the nodes' order.
std::vector<NodeProbe> probe_all(const std::vector<NodeEndpoint>& nodes,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace yw::node
