// Helpers of the runbook command tests (replicas, pool, emergency): run ywctl against the binary's topology,
// read its --json answer, find a check by name, and a TCP port that accepts connections but never answers.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/topology_fixture.hpp"

namespace yw::test {

// ywctl --config <the topology's cluster.env> ARGS…, with extra environment (which overrides the file).
inline RunResult ywctl(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::vector<std::string> all{"--config", Topology::get().env_file().string()};
    all.insert(all.end(), args.begin(), args.end());
    return run_built("ywctl", all, env, std::chrono::seconds(300));
}

// The last line of the output that is a JSON object (stderr is interleaved: plans and progress).
inline boost::json::object json_of(const RunResult& r) {
    std::stringstream ss(r.output);
    boost::json::object last;
    for (std::string line; std::getline(ss, line);) {
        if (line.empty() || line[0] != '{') continue;
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        if (!ec && v.is_object()) last = v.as_object();
    }
    return last;
}

// The "status" of the check called `name` in a CheckReport's JSON; "" when there is no such check.
inline std::string check_status(const boost::json::object& report, const std::string& name) {
    if (!report.contains("checks")) return "";
    for (const auto& c : report.at("checks").as_array()) {
        if (c.at("name").as_string() == name) return std::string(c.at("status").as_string());
    }
    return "";
}

// The report's "next_steps". A report without the array fails the calling test (an empty list is a claim:
// "nothing to do"; a missing key is a report whose shape changed).
inline std::vector<std::string> next_steps(const boost::json::object& report) {
    std::vector<std::string> out;
    const auto* steps = report.if_contains("next_steps");
    EXPECT_TRUE(steps && steps->is_array()) << "no next_steps array in " << boost::json::serialize(report);
    if (!steps || !steps->is_array()) return out;
    for (const auto& s : steps->as_array()) out.emplace_back(s.as_string());
    return out;
}

inline bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
    for (const auto& l : lines) {
        if (l.find(needle) != std::string::npos) return true;
    }
    return false;
}

// A listening socket nobody accepts on: the kernel completes the TCP handshake, then nothing ever answers, as
// with a hung host. Closed with the object.
class SilentPort {
  public:
    SilentPort() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0)
            throw std::runtime_error("cannot listen");
        socklen_t len = sizeof addr;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~SilentPort() { close(fd_); }
    SilentPort(const SilentPort&) = delete;
    SilentPort& operator=(const SilentPort&) = delete;
    int port() const { return port_; }
    std::string url() const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/ywmessaging";
    }

  private:
    int fd_ = -1;
    int port_ = 0;
};

// DATABASE_ADMIN_URLS of the topology with one node's DSN replaced.
inline std::string admin_urls_with(const std::string& node, const std::string& url) {
    auto c = Topology::get().connections();
    std::vector<std::pair<std::string, std::string>> nodes{
        {"primary", c.primary}, {"replica-1", c.replica1}, {"replica-2", c.replica2}};
    std::string out = "DATABASE_ADMIN_URLS=";
    for (size_t i = 0; i < nodes.size(); ++i) {
        out += (i ? "," : "") + nodes[i].first + "=" + (nodes[i].first == node ? url : nodes[i].second);
    }
    return out;
}

inline constexpr pg::Query kPauseReplay{"test.pause_replay", "SELECT pg_wal_replay_pause()"};
inline constexpr pg::Query kResumeReplay{"test.resume_replay", "SELECT pg_wal_replay_resume()"};

// Pauses WAL replay on a replica and resumes it when it goes, even when an assertion returned early: the
// other tests of this binary need replicas that replay.
class PausedReplay {
  public:
    explicit PausedReplay(std::string node) : node_(std::move(node)) {
        auto conn = Topology::get().superuser(node_);
        paused_ = conn.query(kPauseReplay).ok();
    }
    ~PausedReplay() { resume(); }
    PausedReplay(const PausedReplay&) = delete;
    PausedReplay& operator=(const PausedReplay&) = delete;

    bool paused() const { return paused_; }
    bool resume() {
        if (!paused_) return true;
        auto conn = Topology::get().superuser(node_);
        paused_ = !conn.query(kResumeReplay).ok();
        return !paused_;
    }

  private:
    std::string node_;
    bool paused_ = false;
};

}  // namespace yw::test
