// Single-flight: concurrent callers of one key in this process share one load (the cache, the health probes).
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace yw {

// While a load of a key is running in this process, other callers of the same key wait for its result instead
// of starting their own — 200 concurrent misses on one key cost one database query.
//
// Thread-safe: callers may run on any thread of the io_context; a waiter resumes on its own executor.
// `Value` must be copyable (every waiter gets a copy); a load that throws gives the waiters `on_exception`.
template <typename Value>
class SingleFlight {
  public:
    using Loader = std::function<boost::asio::awaitable<Value>()>;

    explicit SingleFlight(std::function<Value(const std::exception&)> on_exception)
        : on_exception_(std::move(on_exception)) {}

    // Runs `load` unless a load of `key` is already running, in which case its result is shared. Results
    // are not kept: a caller arriving after a load finished starts a new one.
    boost::asio::awaitable<Value> run(const std::string& key, const Loader& load) {
        std::shared_ptr<Flight> flight;
        bool leader = false;
        {
            std::lock_guard lock(mutex_);
            auto& slot = flights_[key];
            if (!slot) {
                slot = std::make_shared<Flight>();
                leader = true;
            }
            flight = slot;
        }
        if (!leader) co_return co_await wait(std::move(flight));
        std::optional<Value> value;
        try {
            value.emplace(co_await load());
        } catch (const std::exception& e) {
            finish(key, flight, on_exception_(e));  // waiters must never hang
            throw;
        }
        finish(key, flight, *value);
        co_return std::move(*value);
    }

    size_t in_flight() const {
        std::lock_guard lock(mutex_);
        return flights_.size();
    }

  private:
    using Handler = boost::asio::any_completion_handler<void(Value)>;
    struct Waiter {
        boost::asio::any_io_executor executor;  // the waiting coroutine's
        Handler handler;
    };

    struct Flight {
        std::optional<Value> result;  // set once, under mutex_, when the load finished
        std::vector<Waiter> waiters;
    };

    // Posted to the waiter's own executor: never run inline in the leader's call stack.
    static void deliver(Waiter waiter, Value value) {
        boost::asio::post(waiter.executor, [h = std::move(waiter.handler), v = std::move(value)]() mutable {
            std::move(h)(std::move(v));
        });
    }

    boost::asio::awaitable<Value> wait(std::shared_ptr<Flight> flight) {
        // The initiation runs once this coroutine is suspended, so the load may have finished in between:
        // decide under the lock whether to answer at once or to park the handler for finish().
        auto initiation = [this, flight](auto handler) {
            boost::asio::any_io_executor executor = boost::asio::get_associated_executor(handler);
            Waiter waiter{std::move(executor), Handler(std::move(handler))};
            std::unique_lock lock(mutex_);
            if (flight->result) {
                Value value = *flight->result;
                lock.unlock();
                deliver(std::move(waiter), std::move(value));
                return;
            }
            flight->waiters.push_back(std::move(waiter));
        };
        co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Value)>(
            initiation, boost::asio::use_awaitable);
    }

    void finish(const std::string& key, const std::shared_ptr<Flight>& flight, const Value& value) {
        std::vector<Waiter> waiters;
        {
            std::lock_guard lock(mutex_);
            if (auto it = flights_.find(key); it != flights_.end() && it->second == flight)
                flights_.erase(it);
            flight->result = value;
            waiters.swap(flight->waiters);
        }
        for (auto& waiter : waiters) deliver(std::move(waiter), value);
    }

    std::function<Value(const std::exception&)> on_exception_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace yw
