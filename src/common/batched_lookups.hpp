// Batched lookups: concurrent lookups share round trips, and none is answered by a round sent before it
// asked.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace yw {

// For values another process may change at any moment, where a caller must see at least what was there when
// it asked (read-your-writes across instances: the tenant's last write position in Redis). SingleFlight would
// hand a caller the answer of a load that started before it asked; this never does: a lookup joins the next
// round, never one already sent.
//
// One round is out at a time. A lookup that finds none out sends its own at once; those that arrive while one
// is out wait for it to come back and then go together, each key once, in one call of `load` (one MGET
// instead of a GET per request). Under load a round carries what arrived during the previous one; alone, a
// lookup costs one round trip, as before. No coroutine of its own runs a round: the caller that opens a round
// sends it, and when a round comes back the first waiter of the next one is woken to send that.
//
// Thread-safe: callers may run on any thread of the io_context; a waiter resumes on its own executor.
template <typename Value>
class BatchedLookups {
  public:
    // Answers keys[i] at [i]. A shorter answer, or a throw, gives `fallback` for the keys it lacks.
    using Load =
        std::function<boost::asio::awaitable<std::vector<Value>>(const std::vector<std::string>& keys)>;

    BatchedLookups(Load load, Value fallback) : load_(std::move(load)), fallback_(std::move(fallback)) {}

    boost::asio::awaitable<Value> lookup(std::string key) {
        std::shared_ptr<Round> round;
        size_t slot = 0;
        bool send_now = false;
        {
            std::lock_guard lock(mutex_);
            if (!out_) {
                out_ = true;
                round = std::make_shared<Round>();
                send_now = true;
            } else {
                if (!next_) next_ = std::make_shared<Round>();
                round = next_;
            }
            slot = round->add(std::move(key));
            ++stats_.lookups;
        }
        if (!send_now) {
            std::optional<Value> answer = co_await wait(round, slot);
            if (answer) co_return std::move(*answer);
            // nullopt: the round before came back and this caller was picked to send this one.
        }
        co_return co_await send(std::move(round), slot);
    }

    struct Stats {
        // Calls of load, and the lookups they answered (rounds ≤ lookups; the gap is what batching saved).
        unsigned long long rounds = 0;
        unsigned long long lookups = 0;
    };
    Stats stats() const {
        std::lock_guard lock(mutex_);
        return stats_;
    }

  private:
    // The handler gets the answer, or nullopt: "send this round".
    using Handler = boost::asio::any_completion_handler<void(std::optional<Value>)>;
    struct Waiter {
        boost::asio::any_io_executor executor;  // the waiting coroutine's
        Handler handler;
        size_t slot = 0;

        Waiter(boost::asio::any_io_executor e, Handler h, size_t s)
            : executor(std::move(e)), handler(std::move(h)), slot(s) {}
        // Move-constructed only. Boost 1.81's any_completion_handler move assignment passes its argument on
        // as an lvalue, which the converting constructor wraps instead of taking: a handler owned twice. So
        // no assignment (no vector::erase, which shifts by assigning), and never a copy.
        Waiter(Waiter&&) noexcept = default;
        Waiter& operator=(Waiter&&) = delete;
        Waiter(const Waiter&) = delete;
        Waiter& operator=(const Waiter&) = delete;
    };

    struct Round {
        // Fixed once the round is sent (it is then neither next_ nor joinable).
        std::vector<std::string> keys;
        std::unordered_map<std::string, size_t> slots;
        std::vector<Waiter> waiters;
        std::optional<std::vector<Value>> answers;  // set when it came back
        bool needs_sender = false;                  // picked to go while none of its callers had parked yet

        size_t add(std::string key) {
            auto [it, fresh] = slots.try_emplace(key, keys.size());
            if (fresh) keys.push_back(std::move(key));
            return it->second;
        }
    };

    // Posted to the waiter's own executor: never run inline in the sender's call stack.
    static void deliver(Waiter waiter, std::optional<Value> value) {
        boost::asio::post(waiter.executor, [h = std::move(waiter.handler), v = std::move(value)]() mutable {
            std::move(h)(std::move(v));
        });
    }

    boost::asio::awaitable<std::optional<Value>> wait(std::shared_ptr<Round> round, size_t slot) {
        // The initiation runs once this coroutine is suspended: by then the round may have come back, or may
        // have been picked to go with nobody parked to send it. Decide under the lock.
        auto initiation = [this, round, slot](auto handler) {
            boost::asio::any_io_executor executor = boost::asio::get_associated_executor(handler);
            Waiter waiter{std::move(executor), Handler(std::move(handler)), slot};
            std::unique_lock lock(mutex_);
            if (round->answers) {
                Value value = (*round->answers)[slot];
                lock.unlock();
                deliver(std::move(waiter), std::move(value));
            } else if (round->needs_sender) {
                round->needs_sender = false;
                lock.unlock();
                deliver(std::move(waiter), std::nullopt);
            } else {
                round->waiters.push_back(std::move(waiter));
            }
        };
        co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                       void(std::optional<Value>)>(
            initiation, boost::asio::use_awaitable);
    }

    boost::asio::awaitable<Value> send(std::shared_ptr<Round> round, size_t slot) {
        std::vector<Value> answers;
        try {
            answers = co_await load_(round->keys);
        } catch (const std::exception&) {
            answers.clear();  // every waiter must be answered: the fallback for all
        }
        answers.resize(round->keys.size(), fallback_);

        std::vector<Waiter> waiters;
        std::optional<Waiter> next_sender;
        {
            std::lock_guard lock(mutex_);
            round->answers = answers;
            waiters.swap(round->waiters);
            ++stats_.rounds;
            if (next_) {
                std::shared_ptr<Round> next = std::move(next_);
                next_.reset();  // closed: whoever asks from now on opens the round after it
                if (next->waiters.empty()) {
                    next->needs_sender = true;
                } else {
                    next_sender.emplace(std::move(next->waiters.back()));  // any of them will do
                    next->waiters.pop_back();
                }
            } else {
                out_ = false;
            }
        }
        for (auto& waiter : waiters) {
            size_t s = waiter.slot;
            deliver(std::move(waiter), answers[s]);
        }
        if (next_sender) deliver(std::move(*next_sender), std::nullopt);
        co_return std::move(answers[slot]);
    }

    Load load_;
    Value fallback_;
    mutable std::mutex mutex_;
    bool out_ = false;             // a round is out (or picked to go)
    std::shared_ptr<Round> next_;  // the round collecting lookups while one is out
    Stats stats_;
};

}  // namespace yw
