// Intent → pool, and the one place where every statement's duration is measured.
#include "pg/cluster.hpp"

#include "pg/monitor.hpp"

namespace yw::pg {
namespace asio = boost::asio;

Cluster::Cluster(ClusterOptions options, QueryMonitor* monitor)
    : options_(std::move(options)), monitor_(monitor), primary_(std::make_unique<Pool>(options_.primary)) {}

Pool& Cluster::pool_for(Intent) { return *primary_; }

asio::awaitable<Result<ResultSet>> Cluster::exec(Intent intent, const Query& query, Params params) {
    co_return co_await exec(intent, query, std::move(params),
                            std::chrono::steady_clock::now() + options_.query_timeout);
}

asio::awaitable<Result<ResultSet>> Cluster::exec(Intent intent, const Query& query, Params params,
                                                 Deadline deadline) {
    deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.query_timeout);
    auto started = std::chrono::steady_clock::now();
    auto result = co_await pool_for(intent).exec(query, std::move(params), deadline);
    if (monitor_) monitor_->record(query.name, std::chrono::steady_clock::now() - started, result.ok());
    co_return result;
}

void Cluster::close() { primary_->close(); }

std::vector<Cluster::NamedStats> Cluster::pool_stats() const {
    return {{primary_->options().name, primary_->stats()}};
}

}  // namespace yw::pg
