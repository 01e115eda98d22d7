#pragma once
// A non-owning reference to a callable: the pre-tokenizer hands each word to BPE through
// one of these, without std::function's possible allocation.

#include <type_traits>
#include <utility>

namespace petalsln::text {

template <typename Signature>
class FunctionRef;

/// Refers to a callable that must outlive this object (pass temporaries only as arguments).
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): used like a lambda
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::add_pointer_t<std::remove_reference_t<F>>>(object))(std::forward<Args>(args)...);
        }) {}

  /// Invokes the referenced callable.
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace petalsln::text
