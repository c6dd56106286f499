// WritePositions: one EVALSHA per tenant write, one GET per tenant read that reaches the database.
#include "messaging/write_positions.hpp"

#include <fmt/format.h>

#include <charconv>

namespace yw::messaging {
namespace {

// Raise, never lower: another instance may have published a later write of the same tenant.
constexpr const char* kRaiseScript = R"lua(
local current = redis.call('GET', KEYS[1])
if current and current >= ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
)lua";

std::string key_of(const std::string& scope) { return "ryw:" + scope; }

}  // namespace

WritePositions::WritePositions(redis::Client& client, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds ttl)
    : client_(client), timeout_(timeout), ttl_(ttl), raise_(kRaiseScript) {}

boost::asio::awaitable<void> WritePositions::publish(const std::string& scope, std::uint64_t lsn) {
    if (!client_.connected()) co_return;
    std::vector<std::string> keys{key_of(scope)};
    std::vector<std::string> args{fmt::format("{:016X}", lsn), std::to_string(ttl_.count())};
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    (void)co_await client_.eval(raise_, std::move(keys), std::move(args), deadline);
}

boost::asio::awaitable<std::uint64_t> WritePositions::lookup(const std::string& scope) {
    if (!client_.connected()) co_return 0;
    redis::Command get{"GET", key_of(scope)};
    auto reply = co_await client_.command(std::move(get), std::chrono::steady_clock::now() + timeout_);
    if (!reply || !reply->is_string()) co_return 0;
    std::uint64_t lsn = 0;
    const std::string& s = reply->str;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), lsn, 16);
    co_return ec == std::errc{} && ptr == s.data() + s.size() ? lsn : 0;
}

}  // namespace yw::messaging
