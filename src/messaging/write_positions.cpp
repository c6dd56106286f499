// WritePositions: one EVALSHA per tenant write; the reads that reach the database share MGETs.
#include "messaging/write_positions.hpp"

#include <fmt/format.h>

#include "common/hex.hpp"

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

std::uint64_t position_of(const redis::Reply& reply) {
    return reply.is_string() ? parse_hex_u64(reply.str).value_or(0) : 0;
}

}  // namespace

WritePositions::WritePositions(redis::Client& client, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds ttl)
    : client_(client),
      timeout_(timeout),
      ttl_(ttl),
      raise_(kRaiseScript),
      lookups_([this](const std::vector<std::string>& keys) { return read_positions(keys); }, 0) {}

boost::asio::awaitable<void> WritePositions::publish(const std::string& scope, std::uint64_t lsn) {
    if (!client_.connected()) co_return;
    std::vector<std::string> keys{key_of(scope)};
    std::vector<std::string> args{fmt::format("{:016X}", lsn), std::to_string(ttl_.count())};
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    (void)co_await client_.eval(raise_, std::move(keys), std::move(args), deadline);
}

boost::asio::awaitable<std::uint64_t> WritePositions::lookup(const std::string& scope) {
    if (!client_.connected()) co_return 0;  // Redis down: no round to join (read_positions checks again)
    co_return co_await lookups_.lookup(key_of(scope));
}

boost::asio::awaitable<std::vector<std::uint64_t>> WritePositions::read_positions(
    const std::vector<std::string>& keys) {
    std::vector<std::uint64_t> positions;
    if (!client_.connected()) co_return positions;  // 0 for all: reads route on this instance's writes alone
    redis::Command mget{"MGET"};
    mget.insert(mget.end(), keys.begin(), keys.end());
    auto reply = co_await client_.command(std::move(mget), std::chrono::steady_clock::now() + timeout_);
    if (!reply || !reply->is_array() || reply->elements.size() != keys.size()) co_return positions;
    positions.reserve(keys.size());
    for (const auto& element : reply->elements) positions.push_back(position_of(element));
    co_return positions;
}

void WritePositions::dump_metrics(prometheus::Writer& out) const {
    auto stats = lookups_.stats();
    out.family("yw_ryw_lookups_total", "counter",
               "Reads that looked up their tenant's last write through another instance (ryw:{tenant})");
    out.sample("yw_ryw_lookups_total", "", stats.lookups);
    out.family("yw_ryw_lookup_rounds_total", "counter",
               "Redis round trips (MGET) those lookups took: concurrent lookups share one");
    out.sample("yw_ryw_lookup_rounds_total", "", stats.rounds);
}

}  // namespace yw::messaging
