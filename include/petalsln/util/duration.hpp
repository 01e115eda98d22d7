#pragma once
/// @file duration.hpp
/// The one duration type that std::chrono does not name: seconds with a fraction, used for
/// measured latencies and estimates (configured timeouts are std::chrono::milliseconds,
/// lifetimes and expiries std::chrono::seconds, measured times std::chrono::microseconds).

#include <chrono>

namespace petalsln {

/// A span of time in seconds with a fractional part (a latency estimate, time per token).
using FractionalSeconds = std::chrono::duration<double>;

}  // namespace petalsln
