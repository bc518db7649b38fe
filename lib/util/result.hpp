// Errors as values (ccache's tl::expected style, C++20 without std::expected).
// The library returns Result<T> for failures it expects; it never prints and never exits.
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace facecat {

struct Error {
  std::string message;
  int code = 1;  // an exit code from core/exit_codes.hpp when the error ends a program
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  T value_or(T other) const { return ok() ? value() : std::move(other); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

inline Error make_error(std::string msg, int code = 1) { return Error{std::move(msg), code}; }

}  // namespace facecat

// Propagate an error from a Result-returning expression.
#define FACECAT_TRY(expr)                          \
  do {                                             \
    auto facecat_try_r_ = (expr);                  \
    if (!facecat_try_r_) return facecat_try_r_.error(); \
  } while (0)
