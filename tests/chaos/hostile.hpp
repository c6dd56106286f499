// The hostile clients of the chaos suite (tests/chaos/chaos.cpp): sockets that misbehave on purpose, driven
// by hand with non-blocking I/O because no HTTP client library will send a chunk-size line that never ends.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace yw::chaos {

// Peak resident memory of a process, sampled from /proc/<pid>/status every 50 ms: VmHWM cannot be reset
// between phases, so the high-water mark of one phase has to be watched.
class RssSampler {
  public:
    explicit RssSampler(int pid);
    ~RssSampler() { stop(); }
    RssSampler(const RssSampler&) = delete;
    RssSampler& operator=(const RssSampler&) = delete;
    void stop();
    long long peak_kb() const { return peak_kb_; }

  private:
    int pid_;
    std::atomic<bool> stop_{false};
    std::atomic<long long> peak_kb_{0};
    std::thread thread_;
};

// Connections that each keep sending a request that never completes, reconnecting whenever the server closes
// one, until stop().
class SlowClients {
  public:
    enum class Kind {
        kEndlessChunkSize,  // Transfer-Encoding: chunked, then a chunk-size line ("1;x=aaaa…") with no CRLF
        kHugeHeader,        // a header line that grows past any header limit
        kHugeChunkedBody,   // well-formed 8 KiB chunks, forever: past any body limit
    };
    static constexpr int kKinds = 3;
    static const char* name(Kind kind);
    struct Stats {
        long long connections = 0;       // opened, reconnections included
        long long closed_by_server = 0;  // EOF or reset while we were still sending
        long long answered_4xx = 0;      // the server answered (413, 431, 400) before closing
        long long bytes_sent = 0;
    };

    // `count` connections of each kind to 127.0.0.1:port; `target` (a POST route) and `key` make the requests
    // look real.
    SlowClients(int port, const std::vector<std::pair<Kind, int>>& mix, std::string target, std::string key);
    ~SlowClients() { stop(); }
    SlowClients(const SlowClients&) = delete;
    SlowClients& operator=(const SlowClients&) = delete;
    void start();
    void stop();
    Stats stats(Kind kind) const;

  private:
    struct Conn {
        Kind kind;
        int fd = -1;
        bool head_sent = false;
    };
    void run();
    void open(Conn& c);
    void close_conn(Conn& c, bool by_server);

    int port_;
    std::string target_;
    std::string key_;
    std::vector<Conn> conns_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    struct Counters {
        std::atomic<long long> connections{0}, closed_by_server{0}, answered_4xx{0}, bytes_sent{0};
    };
    Counters counters_[kKinds];
};

// Many TCP connections to 127.0.0.1:port that never send a byte.
class IdleConnections {
  public:
    ~IdleConnections() { close_all(); }
    IdleConnections() = default;
    IdleConnections(const IdleConnections&) = delete;
    IdleConnections& operator=(const IdleConnections&) = delete;

    // Opens up to `n` (in batches, each connect bounded by `timeout`); returns how many were established.
    int open(int port, int n, std::chrono::milliseconds timeout);
    // How many of them the server has not closed (no EOF or reset seen).
    int still_open() const;
    void close_all();

  private:
    std::vector<int> fds_;
};

// The most descriptors this process may open: the soft RLIMIT_NOFILE raised to the hard limit (children
// started afterwards, ywmsgd among them, inherit it).
long long raise_fd_limit();

}  // namespace yw::chaos
