#include "petalsln/client/swarm_chat.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "petalsln/client/local_model.hpp"
#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/client/server_tokens.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/swarm/discovery.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

namespace petalsln {

namespace {

using ojson = nlohmann::ordered_json;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Checks the endpoints the same way parse_endpoint_list() does, so a bad entry is named.
std::vector<std::string> checked_endpoints(const std::vector<std::string>& list) {
  for (const auto& e : list) {
    if (e.find(',') != std::string::npos) throw Error(ErrorCode::invalid_argument, "endpoint \"" + e + "\" holds a comma");
  }
  return parse_endpoint_list(join(list));
}

}  // namespace

struct SwarmChat::Impl {
  std::unique_ptr<LocalModel> model;
  std::unique_ptr<Discovery> discovery;
  std::unique_ptr<BlockPipeline> pipeline;
  RemoteSequence* remote = nullptr;  // the pipeline, in swarm mode
};

SwarmChat::SwarmChat(const std::string& model_dir, SwarmChatOptions options,
                     const std::function<void(const std::string&, int, int)>& progress)
    : impl_(std::make_unique<Impl>()) {
  const int modes = int{options.local} + int{!options.initial_peers.empty()} + int{!options.peers.empty()};
  if (modes != 1) throw Error(ErrorCode::invalid_argument, "choose exactly one of local, initial peers and peers");
  if (options.budget_msat > 0 && !options.wallet) throw Error(ErrorCode::invalid_argument, "a budget needs a wallet");
  if (options.server_timeout.count() <= 0) throw Error(ErrorCode::invalid_argument, "the server timeout must be positive");
  // Check the endpoints before the (slow) model load so a typo fails at once.
  std::vector<std::string> endpoints;
  if (!options.initial_peers.empty()) endpoints = checked_endpoints(options.initial_peers);
  if (!options.peers.empty()) endpoints = checked_endpoints(options.peers);

  ComputeOptions compute;
  compute.weights = options.weights;
  impl_->model = LocalModel::open(model_dir, compute, progress, /*load_blocks=*/options.local);
  const LocalModel& model = *impl_->model;
  if (options.local) {
    impl_->pipeline = model.new_pipeline();
    return;
  }
  if (!options.peers.empty()) {
    // A server that takes seconds to answer Info is busy, not gone (30 chats starting at once
    // on two cores made the old fixed 3 s deadline drop healthy servers): wait as long as the
    // user said a server may take.
    impl_->discovery = std::make_unique<StaticDiscovery>(endpoints, options.server_timeout);
  } else {
    DhtDiscoveryOptions o;
    o.bind_address = "0.0.0.0";
    o.bootstrap_nodes = endpoints;
    auto dht = std::make_unique<DhtDiscovery>(o);
    if (!dht->wait_until_connected(options.dht_connect_timeout)) {
      throw Error(ErrorCode::io, "could not reach any DHT node in " + join(options.initial_peers));
    }
    impl_->discovery = std::move(dht);
  }
  const std::string name = options.model_name.empty() ? util::base_name(model.dir()) : options.model_name;
  const auto fingerprint = compute_model_fingerprint(model.dir());
  Discovery* discovery = impl_->discovery.get();
  CandidateLookup source = [discovery, name, fingerprint] { return discovery->lookup(name, fingerprint); };
  RemoteSequenceOptions ro;
  ro.model_name = name;
  ro.wallet = options.wallet;
  ro.budget_msat = options.budget_msat;
  ro.route.max_price_msat = options.max_price_msat;
  if (!options.token_store.empty()) ro.tokens = std::make_shared<ServerTokens>(options.token_store, name);
  ro.step_timeout = options.server_timeout;
  ro.ping_timeout = options.server_timeout;
  ro.route_timeout = options.server_timeout;
  auto remote = std::make_unique<RemoteSequence>(std::move(source), static_cast<std::uint32_t>(model.config().num_hidden_layers),
                                                 model.config().hidden_size, ro);
  // on_event may be set after construction, so look it up at each event.
  remote->on_event = [this](const RemoteEvent& e) {
    if (on_event) on_event(e.message);
  };
  impl_->remote = remote.get();
  impl_->pipeline = std::move(remote);
}

SwarmChat::~SwarmChat() = default;

const LocalModel& SwarmChat::model() const noexcept { return *impl_->model; }

bool SwarmChat::remote() const noexcept { return impl_->remote != nullptr; }

std::vector<TokenId> SwarmChat::encode_prompt(const std::string& text, bool raw) const {
  return impl_->model->encode_prompt(text, raw);
}

GenerationResult SwarmChat::generate(const std::vector<TokenId>& prompt_ids, const GenerationOptions& options,
                                     const TokenCallback& on_token) {
  if (options.max_new_tokens <= 0) return GenerationResult{};
  Generator generator(impl_->model->tokenizer(), impl_->model->head(), *impl_->pipeline);
  return generator.generate(prompt_ids, options, on_token);
}

std::vector<RouteHop> SwarmChat::route() const {
  return impl_->remote != nullptr ? impl_->remote->route() : std::vector<RouteHop>{};
}

std::uint64_t SwarmChat::spent_msat() const noexcept { return impl_->remote != nullptr ? impl_->remote->spent_msat() : 0; }

Receipt SwarmChat::receipt() const {
  if (impl_->remote == nullptr) return {};
  return Receipt{impl_->remote->route(), impl_->remote->payments(), impl_->remote->work()};
}

std::string generation_json(const std::vector<TokenId>& prompt_ids, const GenerationResult& result, const SwarmChat* chat) {
  ojson out = {{"prompt_ids", prompt_ids},
               {"new_ids", result.new_ids},
               {"text", result.text},
               {"stop_reason", to_string(result.stop_reason)}};
  // Decoded model output holds invalid UTF-8 only as U+FFFD, but never let dump() throw.
  std::string text = out.dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (chat != nullptr && chat->remote()) {
    // Both are JSON objects: splice the receipt's members in after the generation's.
    const std::string receipt = chat->receipt().to_json();
    text.pop_back();
    text += "," + receipt.substr(1);
  }
  return text;
}

}  // namespace petalsln
