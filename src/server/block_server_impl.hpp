#pragma once
// The contributor server's insides, shared by the files that implement it: block_server.cpp
// (construction, records, payment, chunked compute), block_server_unary.cpp (Info, Forward)
// and inference_call.cpp (the Inference stream). Private to the rpc layer.

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "petalsln/model/model_config.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/swarm/model_fingerprint.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/status.hpp"
#include "rpc/tensor_codec.hpp"
#include "server/admission.hpp"
#include "server/fair_scheduler.hpp"
#include "server/step_batcher.hpp"

namespace petalsln {

/// Every method takes its request as raw bytes (see raw_message.hpp).
using RawBlocksService = v1::Blocks::WithRawCallbackMethod_Info<
    v1::Blocks::WithRawCallbackMethod_Forward<v1::Blocks::WithRawCallbackMethod_Inference<v1::Blocks::Service>>>;

/// Block-rows (blocks × batch × positions) computed in one scheduled job: small enough that a
/// decode step of another peer never waits long behind a huge prefill (about one decode step
/// of a 30-block server), large enough to keep the matrix products efficient.
constexpr std::int64_t kBlockRowsPerChunk = 1024;
/// Threads for work that may wait on the wallet or the credit store (opening, paying).
constexpr int kControlThreads = 4;

namespace rpc {

/// Everything a BlockServer is: its blocks, limits, schedulers and gRPC methods.
/// BlockServer::Impl is this type (block_server.hpp keeps the name private).
struct BlockService : public RawBlocksService {
  BlockServerOptions options;
  NodeIdentity identity;
  ModelConfig config;
  ModelFingerprint fingerprint{};
  std::string model_name;
  std::unique_ptr<BlockStack> stack;
  double throughput = 0;
  double batch_throughput = 0;     // measured with batch_sessions sessions (0: not measured)
  std::uint32_t batch_sessions = 0;
  std::int64_t max_length = 0;
  int bound_port = 0;
  std::unique_ptr<Admission> admission;
  std::unique_ptr<grpc::Server> server;

  std::mutex reaper_mu;
  bool stopping = false;
  std::condition_variable reaper_cv;
  std::thread reaper;
  // Last members: destroyed first, so every queued job runs while what it uses is alive.
  std::unique_ptr<FairScheduler> control;
  std::unique_ptr<StepBatcher> compute;  // the compute thread: steps of many sessions batched

  BlockService(BlockServerOptions o, NodeIdentity id) : options(std::move(o)), identity(std::move(id)) {}

  TensorLimits limits(std::int64_t max_batch) const { return {config.hidden_size, max_batch, max_length}; }

  ServerRecord make_record() const;

  // The range check runs on the wire's unsigned values, before anything narrows them.
  grpc::Status check_range(std::uint32_t begin, std::uint32_t end) const {
    const auto own_begin = static_cast<std::uint32_t>(options.block_begin), own_end = static_cast<std::uint32_t>(options.block_end);
    if (begin >= end || begin < own_begin || end > own_end) {
      return refused(grpc::StatusCode::INVALID_ARGUMENT, "block range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                                             ") is not a non-empty part of this server's blocks [" +
                                                             std::to_string(own_begin) + ", " + std::to_string(own_end) + ")");
    }
    return grpc::Status::OK;
  }

  // Ends a call with UNAUTHENTICATED and a challenge in `www-authenticate` (the gRPC form of
  // an L402 402), or with the reason no challenge can be issued now.
  grpc::Status payment_required(grpc::ServerContextBase* context, const std::string& peer, std::uint32_t begin, std::uint32_t end,
                                const std::string& why, std::uint64_t min_block_tokens = 0);
  // Checks a call's token; on success fills @p token_id and @p remaining.
  grpc::Status admit_payment(grpc::ServerContextBase* context, const std::string& peer, std::uint32_t begin, std::uint32_t end,
                             std::string* token_id, std::uint64_t* remaining);
  // A challenge for an in-band payment_required reply; "" with @p status set when none can be issued.
  std::string in_band_challenge(const std::string& peer, std::uint32_t begin, std::uint32_t end, std::uint64_t min_block_tokens,
                                grpc::Status* status);

  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request, grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Inference(grpc::CallbackServerContext* context) override;

  // Decodes a Forward's tensor, charges it, and reserves and allocates its temporary cache.
  grpc::Status admit_forward(grpc::ServerContextBase& context, const std::string& peer, const v1::ForwardRequest& request,
                             Admission::Ticket& ticket, at::Tensor* hidden, std::unique_ptr<KVCache>* cache);
  // Runs @p hidden through @p cache in chunks of kBlockRowsPerChunk block-rows on the compute thread
  // (each chunk batched with other sessions' waiting steps), then calls @p done with the output (or
  // the failure) and the compute time charged to it. @p cancelled is polled before each chunk.
  void compute_chunked(const std::string& peer, at::Tensor hidden, KVCache* cache, std::function<bool()> cancelled,
                       std::function<void(grpc::Status, at::Tensor, std::int64_t micros)> done);

  // Calls Admission::expire_overdue every 100 ms until stopping.
  void reap() {
    std::unique_lock<std::mutex> lock(reaper_mu);
    while (!stopping) {
      reaper_cv.wait_for(lock, std::chrono::milliseconds(100));
      lock.unlock();
      admission->expire_overdue(std::chrono::steady_clock::now());
      lock.lock();
    }
  }
};

}  // namespace rpc
}  // namespace petalsln
