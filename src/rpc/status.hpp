#pragma once
// Maps petalsln errors to gRPC statuses at the service boundary, so a bad request never
// escapes a handler as an exception, and nothing internal reaches a peer: a peer's own
// mistake is named, a wallet's, store's or program's failure is logged and answered
// generically (its message may name the operator's hosts, paths or URLs).

#include <grpcpp/grpcpp.h>

#include <exception>
#include <string>

#include "petalsln/lightning/paywall.hpp"
#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln::rpc {

/// The gRPC code that describes an Error of kind @p code.
inline grpc::StatusCode status_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument:
    case ErrorCode::invalid_format: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::out_of_range: return grpc::StatusCode::OUT_OF_RANGE;
    case ErrorCode::not_found: return grpc::StatusCode::NOT_FOUND;
    case ErrorCode::unsupported: return grpc::StatusCode::UNIMPLEMENTED;
    case ErrorCode::io:
    case ErrorCode::internal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

/// A non-OK status with @p code and @p message.
inline grpc::Status refused(grpc::StatusCode code, const std::string& message) { return {code, message}; }

/// The client's `authorization` metadata, or "" when absent.
inline std::string authorization_of(const grpc::ServerContextBase* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

/// The status for the exception being handled; call only inside a catch block. Errors of kind
/// io or internal and foreign exceptions are logged and become INTERNAL "internal error".
inline grpc::Status status_of_current_exception() {
  try {
    throw;
  } catch (const ChallengeLimitReached& e) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.what()};
  } catch (const Error& e) {
    if (e.code() != ErrorCode::io && e.code() != ErrorCode::internal) return {status_code(e.code()), e.what()};
    util::log(util::LogLevel::error, std::string("request failed: ") + e.what());
  } catch (const std::bad_alloc&) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory"};
  } catch (const std::exception& e) {
    util::log(util::LogLevel::error, std::string("request failed: ") + e.what());
  } catch (...) {
    util::log(util::LogLevel::error, "request failed with an unknown exception");
  }
  return {grpc::StatusCode::INTERNAL, "internal error"};
}

/// Runs @p body and turns any exception into a status (see status_of_current_exception()).
template <typename F>
grpc::Status guard(F&& body) {
  try {
    return body();
  } catch (...) {
    return status_of_current_exception();
  }
}

}  // namespace petalsln::rpc
