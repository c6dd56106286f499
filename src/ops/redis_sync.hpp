// A blocking Redis connection for ywctl (hiredis' synchronous API).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "redis/client.hpp"

struct redisContext;

namespace yw::ops {

// One command at a time, with a timeout. The server uses the async client (redis/client.hpp); a CLI waiting
// for its one answer needs nothing more.
class SyncRedis {
  public:
    // Connects to REDIS_URL (redis://[:password@]host:port[/db]), authenticates and selects the database.
    static Result<SyncRedis> open(const std::string& url,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
    SyncRedis(SyncRedis&& other) noexcept;
    SyncRedis& operator=(SyncRedis&&) = delete;
    SyncRedis(const SyncRedis&) = delete;
    ~SyncRedis();

    // Transport failures are kUnavailable; a Redis error reply is a Reply of type kError.
    Result<redis::Reply> command(const std::vector<std::string>& args);

    const std::string& address() const { return address_; }  // host:port/db, no password: for messages

  private:
    SyncRedis(redisContext* context, std::string address) : context_(context), address_(std::move(address)) {}
    redisContext* context_ = nullptr;
    std::string address_;
};

}  // namespace yw::ops
