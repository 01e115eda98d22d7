#pragma once
// Maps petalsln errors to gRPC statuses at the service boundary, so a bad request never
// escapes a handler as an exception (which would abort the server).

#include <grpcpp/grpcpp.h>

#include <exception>
#include <string>

#include "petalsln/error.hpp"
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

/// Runs @p body and turns any exception into a status.
template <typename F>
grpc::Status guard(F&& body) {
  try {
    return body();
  } catch (const Error& e) {
    return {status_code(e.code()), e.what()};
  } catch (const std::bad_alloc&) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory"};
  } catch (const std::exception& e) {
    util::log(util::LogLevel::error, std::string("request failed: ") + e.what());
    return {grpc::StatusCode::INTERNAL, "internal error"};
  }
}

}  // namespace petalsln::rpc
