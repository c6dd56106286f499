// Blocking hiredis: connect with a timeout, AUTH, SELECT, and replies converted to redis::Reply.
#include "ops/redis_sync.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace yw::ops {
namespace {

redis::Reply convert(const redisReply* r) {
    redis::Reply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = redis::Reply::Type::kString;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = redis::Reply::Type::kStatus;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = redis::Reply::Type::kError;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = redis::Reply::Type::kInteger;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = redis::Reply::Type::kArray;
            for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
            break;
        default:
            out.type = redis::Reply::Type::kNil;
    }
    return out;
}

}  // namespace

Result<SyncRedis> SyncRedis::open(const std::string& url, std::chrono::milliseconds timeout) {
    auto endpoint = redis::parse_redis_url(url);
    if (!endpoint) return endpoint.error();
    std::string address = fmt::format("{}:{}/{}", endpoint->host, endpoint->port, endpoint->db);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    redisContext* c = redisConnectWithTimeout(endpoint->host.c_str(), endpoint->port, tv);
    if (!c || c->err) {
        std::string why = c ? c->errstr : "out of memory";
        if (c) redisFree(c);
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("cannot connect to Redis at {}: {}", address, why));
    }
    redisSetTimeout(c, tv);
    SyncRedis conn(c, address);
    if (!endpoint->password.empty()) {
        auto auth = conn.command({"AUTH", endpoint->password});
        if (!auth) return auth.error();
        if (auth->is_error()) return make_error(ErrorCode::kUnavailable, "Redis refused AUTH: " + auth->str);
    }
    if (endpoint->db != 0) {
        auto select = conn.command({"SELECT", std::to_string(endpoint->db)});
        if (!select) return select.error();
        if (select->is_error())
            return make_error(ErrorCode::kUnavailable, "Redis refused SELECT: " + select->str);
    }
    return conn;
}

SyncRedis::SyncRedis(SyncRedis&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)), address_(std::move(other.address_)) {}

SyncRedis::~SyncRedis() {
    if (context_) redisFree(context_);
}

Result<redis::Reply> SyncRedis::command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (!reply) {
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("Redis at {} failed: {}", address_, context_->errstr));
    }
    redis::Reply out = convert(reply);
    freeReplyObject(reply);
    return out;
}

}  // namespace yw::ops
