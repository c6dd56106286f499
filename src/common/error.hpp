// Expected outcomes (validation, not found, unavailable, …) as values: one Error type for every layer.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace yw {

enum class ErrorCode {
    kInvalidArgument,  // the caller sent something malformed or out of range
    kUnprocessable,    // well-formed, but a value breaks a business rule (message content length)
    kUnauthenticated,  // missing or wrong credentials
    kForbidden,        // credentials are fine but the action is not allowed
    kNotFound,         // the thing does not exist (or belongs to another tenant)
    kConflict,         // the request clashes with the current state
    kRateLimited,      // too many requests for this key
    kUnavailable,      // a dependency (database, Redis) cannot be reached right now
    kTimeout,          // a deadline passed
    kInternal,         // a bug or an unexpected failure
};

std::string_view to_string(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::kInternal;
    std::string message;
    int retry_after_s = 0;  // > 0: when a retry may succeed (Retry-After); 0: the status's default
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// Result<T>: either a value or an Error. std::expected arrives with C++23; this is the small part we need.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

  private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace yw
