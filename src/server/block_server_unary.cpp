// The contributor server's unary methods: Info (who it is, as a ping) and Forward (stateless
// computation over a temporary cache).

#include <torch/torch.h>

#include "rpc/raw_message.hpp"
#include "rpc/status.hpp"
#include "server/block_server_impl.hpp"
#include "util/clock.hpp"

namespace petalsln {

grpc::ServerUnaryReactor* rpc::BlockService::Info(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) {
  auto* reactor = context->DefaultReactor();
  v1::InfoRequest parsed;
  if (!rpc::parse_raw(*request, &parsed)) {
    reactor->Finish(rpc::refused(grpc::StatusCode::INVALID_ARGUMENT, "the request is not a valid InfoRequest message"));
    return reactor;
  }
  reactor->Finish(rpc::guard([&] {
    v1::InfoResponse info;
    if (!info.mutable_record()->ParseFromString(make_record().sign(identity))) throw Error(ErrorCode::internal, "cannot encode record");
    info.set_server_time(util::unix_seconds());
    info.set_active_sessions(static_cast<std::uint32_t>(admission->sessions()));
    info.set_max_sessions(static_cast<std::uint32_t>(options.max_sessions));
    rpc::serialize_raw(info, response);
    return grpc::Status::OK;
  }));
  return reactor;
}

namespace {

// What one Forward call holds while it waits for its turns on the compute thread.
struct ForwardCall {
  grpc::CallbackServerContext* context = nullptr;
  grpc::ServerUnaryReactor* reactor = nullptr;
  grpc::ByteBuffer* response = nullptr;
  rpc::Admission::Ticket ticket;
  v1::ForwardRequest request;
  std::unique_ptr<KVCache> cache;

  // Gives back everything the call holds, then answers: a client that saw the answer and
  // asks the server at once finds the budget already free.
  void finish(const grpc::Status& status) {
    cache.reset();
    ticket = rpc::Admission::Ticket();
    reactor->Finish(status);
  }
};

}  // namespace

grpc::ServerUnaryReactor* rpc::BlockService::Forward(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  auto* reactor = context->DefaultReactor();
  auto call = std::make_shared<ForwardCall>();
  call->context = context;
  call->reactor = reactor;
  call->response = response;
  const std::string peer = rpc::peer_address_key(context->peer());
  if (auto refusal = admission->admit(peer, {}, rpc::Admission::Clock::time_point::max(), &call->ticket); !refusal.empty()) {
    call->finish(rpc::refused(grpc::StatusCode::RESOURCE_EXHAUSTED, refusal));
    return reactor;
  }
  if (!rpc::parse_raw(*request, &call->request)) {
    call->finish(rpc::refused(grpc::StatusCode::INVALID_ARGUMENT, "the request is not a valid ForwardRequest message"));
    return reactor;
  }
  if (auto s = check_range(call->request.block_begin(), call->request.block_end()); !s.ok()) {
    call->finish(s);
    return reactor;
  }
  // Decoding, payment and the cache reservation may wait on the store or the wallet: not on
  // gRPC's callback thread.
  control->submit(peer, [this, call, peer] {
    at::Tensor hidden;
    const grpc::Status admitted = rpc::guard([&] { return admit_forward(*call->context, peer, call->request, call->ticket, &hidden, &call->cache); });
    if (!admitted.ok()) return call->finish(admitted);
    compute_chunked(
        peer, hidden, call->cache.get(), [call] { return call->context->IsCancelled(); },
        [call](grpc::Status status, at::Tensor out, std::int64_t) {
          if (status.ok()) {
            status = rpc::guard([&] {
              v1::ForwardResponse reply;
              rpc::encode_tensor(out, call->request.hidden().dtype(), reply.mutable_hidden());
              rpc::serialize_raw(reply, call->response);
              return grpc::Status::OK;
            });
          }
          call->finish(status);
        });
  });
  return reactor;
}

grpc::Status rpc::BlockService::admit_forward(grpc::ServerContextBase& context, const std::string& peer, const v1::ForwardRequest& request,
                                              rpc::Admission::Ticket& ticket, at::Tensor* hidden, std::unique_ptr<KVCache>* cache) {
  *hidden = rpc::decode_tensor(request.hidden(), limits(options.max_batch));
  const std::uint32_t begin = request.block_begin(), end = request.block_end();  // checked by check_range
  const auto rows = static_cast<std::uint64_t>(hidden->size(0) * hidden->size(1));
  // The budget is reserved before the credit is debited, so a call refused for the budget
  // costs its client nothing; the cache itself is allocated only once the call is paid.
  const int blocks = static_cast<int>(end - begin);
  if (auto refusal = ticket.reserve_cache(stack->cache_bytes(hidden->size(0), hidden->size(1), blocks)); !refusal.empty()) {
    return rpc::refused(grpc::StatusCode::RESOURCE_EXHAUSTED, refusal);
  }
  if (options.paywall) {
    std::string token;
    std::uint64_t remaining = 0;
    if (auto s = admit_payment(&context, peer, begin, end, &token, &remaining); !s.ok()) return s;
    const std::uint64_t cost = (end - begin) * rows;
    if (!options.paywall->debit(token, cost, &remaining)) {
      return payment_required(&context, peer, begin, end,
                              "the token has " + std::to_string(remaining) + " block-tokens left, the call needs " + std::to_string(cost), cost);
    }
  }
  *cache = std::make_unique<KVCache>(stack->new_cache(hidden->size(0), hidden->size(1), static_cast<int>(begin), static_cast<int>(end)));
  return grpc::Status::OK;
}

}  // namespace petalsln
