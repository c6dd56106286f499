// Hostile clients and the RSS sampler of the chaos suite: see hostile.hpp.
#include "hostile.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace yw::chaos {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A non-blocking socket with a connect to 127.0.0.1:port under way (or done); -1 when no socket was left.
int connect_nonblocking(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    return fd;
}

long long rss_kb(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
    }
    return 0;
}

}  // namespace

RssSampler::RssSampler(int pid) : pid_(pid) {
    thread_ = std::thread([this] {
        while (!stop_) {
            long long kb = rss_kb(pid_);
            if (kb > peak_kb_) peak_kb_ = kb;
            std::this_thread::sleep_for(50ms);
        }
    });
}

void RssSampler::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

const char* SlowClients::name(Kind kind) {
    switch (kind) {
        case Kind::kEndlessChunkSize:
            return "endless chunk-size line";
        case Kind::kHugeHeader:
            return "endless header";
        case Kind::kHugeChunkedBody:
            return "endless chunked body";
    }
    return "?";
}

SlowClients::SlowClients(int port, const std::vector<std::pair<Kind, int>>& mix, std::string target,
                         std::string key)
    : port_(port), target_(std::move(target)), key_(std::move(key)) {
    for (const auto& [kind, count] : mix)
        for (int i = 0; i < count; ++i) conns_.push_back({kind});
}

void SlowClients::start() {
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void SlowClients::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& c : conns_) close_conn(c, false);
}

SlowClients::Stats SlowClients::stats(Kind kind) const {
    const auto& c = counters_[static_cast<int>(kind)];
    return {c.connections, c.closed_by_server, c.answered_4xx, c.bytes_sent};
}

void SlowClients::open(Conn& c) {
    c.fd = connect_nonblocking(port_);
    c.head_sent = false;
    if (c.fd >= 0) ++counters_[static_cast<int>(c.kind)].connections;
}

void SlowClients::close_conn(Conn& c, bool by_server) {
    if (c.fd < 0) return;
    ::close(c.fd);
    c.fd = -1;
    if (by_server) ++counters_[static_cast<int>(c.kind)].closed_by_server;
}

void SlowClients::run() {
    const std::string auth = "X-API-Key: " + key_ + "\r\n";
    const std::string chunked_head = "POST " + target_ + " HTTP/1.1\r\nHost: chaos\r\n" + auth +
                                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string header_head = "GET " + target_ + " HTTP/1.1\r\nHost: chaos\r\n" + auth + "X-Pad: ";
    // 4 KiB per connection every 20 ms: 200 KB/s each, so a server that buffers what it cannot parse shows it
    // in its RSS within seconds.
    const std::string filler(4096, 'a');
    const std::string chunk = "1000\r\n" + std::string(4096, 'b') + "\r\n";
    char sink[4096];
    while (!stop_) {
        auto tick = Clock::now();
        for (auto& c : conns_) {
            if (c.fd < 0) open(c);
            if (c.fd < 0) continue;
            // Whatever the server says: an answer (4xx) or EOF means this connection is done.
            for (;;) {
                ssize_t n = ::recv(c.fd, sink, sizeof sink, MSG_DONTWAIT);
                if (n > 0) {
                    if (n >= 10 && std::string_view(sink, 10).starts_with("HTTP/1.1 4"))
                        ++counters_[static_cast<int>(c.kind)].answered_4xx;
                    continue;
                }
                if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN))
                    close_conn(c, true);
                break;
            }
            if (c.fd < 0) continue;
            std::string out;
            if (!c.head_sent) {
                switch (c.kind) {
                    case Kind::kEndlessChunkSize:
                        out = chunked_head + "1;x=";
                        break;
                    case Kind::kHugeHeader:
                        out = header_head;
                        break;
                    case Kind::kHugeChunkedBody:
                        out = chunked_head;
                        break;
                }
            }
            out += c.kind == Kind::kHugeChunkedBody ? chunk : filler;
            ssize_t sent = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (sent > 0) {
                counters_[static_cast<int>(c.kind)].bytes_sent += sent;
                // A head cut short is resent whole on the next connection; this one simply goes on with
                // filler, which keeps it just as unparseable.
                c.head_sent = true;
            } else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) {
                close_conn(c, true);
            }
        }
        std::this_thread::sleep_until(tick + 20ms);
    }
}

int IdleConnections::open(int port, int n, std::chrono::milliseconds timeout) {
    constexpr int kBatch = 256;
    int established = 0;
    for (int done = 0; done < n; done += kBatch) {
        std::vector<pollfd> batch;
        for (int i = done; i < std::min(n, done + kBatch); ++i) {
            int fd = connect_nonblocking(port);
            if (fd < 0) break;
            batch.push_back({fd, POLLOUT, 0});
        }
        if (batch.empty()) break;
        auto deadline = Clock::now() + timeout;
        size_t pending = batch.size();
        while (pending > 0 && Clock::now() < deadline) {
            int left = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
            if (::poll(batch.data(), batch.size(), std::max(1, left)) <= 0) break;
            pending = 0;
            for (auto& p : batch) {
                if (p.fd < 0) continue;
                if (p.revents == 0) {
                    ++pending;
                    continue;
                }
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0 && (p.revents & POLLOUT)) {
                    fds_.push_back(p.fd);
                    ++established;
                } else {
                    ::close(p.fd);
                }
                p.fd = -1;  // poll ignores negative descriptors
            }
        }
        bool short_batch = false;
        for (auto& p : batch)
            if (p.fd >= 0) {
                ::close(p.fd);
                short_batch = true;
            }
        if (short_batch || static_cast<int>(batch.size()) < std::min(kBatch, n - done)) break;
    }
    return established;
}

int IdleConnections::still_open() const {
    int open = 0;
    char c;
    for (int fd : fds_) {
        ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
    }
    return open;
}

void IdleConnections::close_all() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
}

long long raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
        ::getrlimit(RLIMIT_NOFILE, &lim);
    }
    return static_cast<long long>(lim.rlim_cur);
}

}  // namespace yw::chaos
