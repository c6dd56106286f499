// Topology discovery for the router (pg::Cluster).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "pg/connection.hpp"

namespace yw::pg {

// Which node is the primary, which replicas are fresh enough to read from, and whether PgBouncer still points
// at the primary. A background task (TopologyMonitor) probes every node on its own connection; the pure rules
// (TopologyRules) turn one round of probes into an immutable Snapshot that request paths read without a lock
// (an atomic shared_ptr swap).

// A WAL position ("16/B374D848") as a number; nullopt for anything else.
std::optional<std::uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(std::uint64_t lsn);

enum class Role {
    kUnknown,  // never answered
    kPrimary,  // writable, and the one writes go to
    kReplica,  // in recovery
    kFenced,   // writable but not the primary (an old primary that came back): no traffic at all
};
std::string_view to_string(Role role);

// What one node answered (or why it did not), read from queries::kTopologyProbe: the one record of a node's
// state, for the router's probe rounds and for ywctl's node probes (node::probe, which adds the settings only
// a superuser may read). An LSN the node does not have is nullopt (a primary has no replay position).
struct NodeProbe {
    std::string name;
    std::string url;  // the DSN it was probed at (may hold a password: never printed)
    bool reachable = false;
    std::string error;  // why it did not answer
    bool in_recovery = false;
    std::optional<std::uint64_t> current_lsn;  // writable nodes: pg_current_wal_lsn()
    std::optional<std::uint64_t> receive_lsn;  // standbys: WAL received and flushed
    std::optional<std::uint64_t> replay_lsn;   // standbys: WAL replayed
    std::optional<long long> replay_age_ms;    // standbys: now − the last replayed commit's timestamp
    std::uint32_t timeline = 0;                // writable nodes: the timeline of their current WAL
    bool replay_paused = false;
    // From queries::kNodeSettings (superuser only): empty in the router's rounds.
    std::string version;
    std::string receiver_status;   // pg_stat_wal_receiver.status ("streaming"); "" when there is none
    std::string sync_names;        // synchronous_standby_names
    std::string primary_conninfo;  // a standby's upstream

    // "primary", "replica" or "down".
    std::string role() const;
    // WAL received (a primary: its write position) and replayed, 0 when unknown: what failover compares.
    std::uint64_t received() const;
    std::uint64_t replayed() const;
};

// Fills `probe` from kTopologyProbe's one row; `cell(i)` is column i's text, nullopt for NULL.
void read_topology_probe(NodeProbe& probe, const std::function<std::optional<std::string_view>(int)>& cell);

struct NodeState {
    std::string name;
    Role role = Role::kUnknown;
    bool healthy = false;     // answered the last probe
    bool readable = false;    // a replica that may serve reads: healthy, not paused, lag within bounds
    std::int64_t lag_ms = 0;  // replicas: how far behind the primary, in time
    std::uint64_t lsn = 0;    // primary: current write position; replica: replayed position
    std::uint64_t receive_lsn = 0;
    std::uint32_t timeline = 0;
    bool replay_paused = false;
    std::string error;  // why it is unhealthy or fenced
};

struct Snapshot {
    std::vector<NodeState> nodes;       // in configuration order: "primary", then the replicas
    int primary = -1;                   // index of the node writes go to; -1: none writable right now
    bool pgbouncer_configured = false;  // DATABASE_URL differs from the primary's direct DSN
    bool pgbouncer_ok = true;           // …and leads to the current primary
    std::string pgbouncer_error;
    std::uint64_t round = 0;  // 0: no probe round finished yet (the configuration's guess)
    std::chrono::system_clock::time_point taken{};

    const NodeState* primary_node() const { return primary >= 0 ? &nodes[primary] : nullptr; }
};

// The rules that turn probe rounds into snapshots: pure apart from the state they carry between rounds
// (the primary's LSN history for lag, the highest timeline seen, fenced nodes). Unit-tested.
class TopologyRules {
  public:
    TopologyRules(std::vector<std::string> names, std::chrono::milliseconds max_lag);

    // The snapshot before any probe: the node named "primary" (else the first) is assumed writable.
    Snapshot initial() const;

    // One round: `probes` in the order of the names; `pgbouncer` when PgBouncer is probed.
    Snapshot assess(const std::vector<NodeProbe>& probes, const std::optional<NodeProbe>& pgbouncer,
                    std::chrono::steady_clock::time_point now);

  private:
    // How long ago the primary first wrote past `replay_lsn` (0 when it has not), from the LSN history.
    std::int64_t behind_for_ms(std::uint64_t replay_lsn, std::chrono::steady_clock::time_point now) const;

    std::vector<std::string> names_;
    std::chrono::milliseconds max_lag_;
    std::uint64_t round_ = 0;
    int primary_ = -1;
    std::uint32_t max_timeline_ = 0;
    std::set<int> fenced_;
    std::vector<Role> last_roles_;
    struct Sample {
        std::chrono::steady_clock::time_point at;
        std::uint64_t lsn;
    };
    std::deque<Sample> history_;  // the primary's LSN by probe round, oldest first
};

struct TopologyOptions {
    std::vector<NodeEndpoint> nodes;  // direct DSNs: "primary", "replica-1", …
    std::string pgbouncer_url;        // DATABASE_URL when it is not a node's DSN; empty otherwise
    std::chrono::milliseconds interval{1000};
    std::chrono::milliseconds timeout{500};
    std::chrono::milliseconds max_lag{1000};
};

// Probes the nodes every interval in the background and publishes snapshots.
class TopologyMonitor {
  public:
    explicit TopologyMonitor(TopologyOptions options);
    ~TopologyMonitor();
    TopologyMonitor(const TopologyMonitor&) = delete;
    TopologyMonitor& operator=(const TopologyMonitor&) = delete;

    // Starts the probe loop on `executor`; the first round runs at once.
    void start(boost::asio::any_io_executor executor);
    // Stops the loop and drops its connections (shutdown, before the io_context goes).
    void stop();

    // The latest snapshot; never null. Lock-free for readers.
    std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(std::memory_order_acquire); }
    const TopologyOptions& options() const { return options_; }

    // Runs one probe round now and publishes it (tests, and the loop itself).
    boost::asio::awaitable<void> probe_round();

  private:
    struct Prober;
    boost::asio::awaitable<void> loop();
    void publish(Snapshot next);

    const TopologyOptions options_;
    TopologyRules rules_;                           // used by the probe loop only (one round at a time)
    std::vector<std::unique_ptr<Prober>> probers_;  // nodes, then PgBouncer when probed
    std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    std::atomic<bool> stopping_{false};
};

}  // namespace yw::pg
