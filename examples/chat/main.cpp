// petalsln-chat: talk to a model, the client role. The blocks run either in this process
// (--local) or on contributor servers found through the DHT (--initial-peers) or a static
// list (--peers); the tokenizer, embeddings, LM head and sampling always run here.
//
//   petalsln-chat --model DIR --local --prompt TEXT [--raw] --max-new-tokens N --greedy --json
//   petalsln-chat --model DIR --initial-peers 127.0.0.1:31337 --prompt TEXT --json
//
// With --json it prints one JSON object and exits; without it, it streams the reply (and,
// with no --prompt, keeps a conversation going on stdin).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "common/cli.hpp"
#include "petalsln/client/generator.hpp"
#include "petalsln/client/local_model.hpp"
#include "petalsln/client/swarm_chat.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

using namespace petalsln;

namespace {

// The command line, as parsed: one field per flag (unset optionals were not given).
struct ChatFlags {
  std::string model_dir;
  std::string model_name;
  bool local = false;
  std::optional<std::string> initial_peers;
  std::optional<std::string> peers;
  double timeout_s = 30;
  std::optional<std::string> wallet;
  std::int64_t budget_sats = 0;
  std::optional<std::int64_t> max_price_msat;
  std::optional<std::string> token_store;  // unset: default_token_store(); "": in memory
  bool no_token_store = false;
  std::optional<std::string> prompt;
  bool raw = false;
  std::int64_t max_new_tokens = 128;
  bool greedy = false;
  double repetition_penalty = 1.0;
  std::optional<double> temperature;
  std::optional<std::int64_t> top_k;
  std::optional<double> top_p;
  std::optional<std::int64_t> seed;
  bool json = false;
  std::string dtype;  // "": f32
  std::string quant;  // "": none
  std::int64_t threads = std::max(1u, std::thread::hardware_concurrency());
};

// A CLI11 check that an endpoint list splits (SwarmChat splits it again), so that a malformed
// list is a usage error (exit 2), as it always was.
CLI::Validator endpoint_list() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          parse_endpoint_list(text);
        } catch (const Error& e) {
          return e.what();
        }
        return {};
      },
      "", "endpoint_list");
}

void declare_placement(CLI::App& app, ChatFlags& f) {
  const std::string group = "Where the blocks run (exactly one)";
  cli::add_flag(app, "--local", f.local, "every block in this process")->group(group);
  app.add_option("--initial-peers", f.initial_peers, "the swarm, found through the DHT via HOST:PORT[,...]")
      ->option_text("LIST")->check(endpoint_list())->group(group);
  app.add_option("--peers", f.peers, "the servers at HOST:PORT[,...] (no DHT)")
      ->option_text("LIST")->check(endpoint_list())->group(group);
}

void declare_model(CLI::App& app, ChatFlags& f) {
  const std::string group = "Model";
  app.add_option("--model", f.model_dir, "model folder (required; in swarm mode only the head is loaded)")
      ->option_text("DIR")->required()->group(group);
  app.add_option("--model-name", f.model_name, "swarm model name (default: the folder's base name)")
      ->option_text("NAME")->group(group);
  app.add_option("--timeout", f.timeout_s,
                 "seconds to wait for servers (default 30): for one step before\n"
                 "failover, and for a route while the servers it needs are\n"
                 "unreachable, slow or full (retried with backoff until then)")
      ->option_text("S")->check(cli::number_in())->group(group);
  // The weights computed here: every block's with --local, the head's in either mode.
  cli::add_weight_format_options(app, f.dtype, f.quant, group);
}

void declare_payment(CLI::App& app, ChatFlags& f) {
  const std::string group = "Payment (swarm mode; priced servers answer with L402 challenges)";
  app.add_option("--wallet", f.wallet, "wallet to pay from, e.g. devnet:FILE?account=NAME")->option_text("URI")->group(group);
  app.add_option("--budget-sats", f.budget_sats, "most this chat may spend, fees included (default 0: free servers only)")
      ->option_text("N")->transform(cli::integer_in(0, 21000000LL * 100000000LL))->group(group);
  app.add_option("--max-price-msat", f.max_price_msat, "skip servers charging more per 1000 block-tokens")
      ->option_text("N")->transform(cli::integer_in(0, INT64_MAX))->group(group);
  app.add_option("--token-store", f.token_store,
                 "keep the servers' L402 tokens in FILE (0600), so credit bought\n"
                 "and not used serves the next run (default with --wallet:\n"
                 "$XDG_DATA_HOME/petalsln/server-tokens.sqlite, else\n"
                 "~/.local/share/petalsln/...; '' keeps them in memory)")
      ->option_text("FILE")->group(group);
  cli::add_flag(app, "--no-token-store", f.no_token_store, "keep the tokens in memory only (bought again next run)")->group(group);
}

void declare_prompt(CLI::App& app, ChatFlags& f) {
  const std::string group = "What to say";
  app.add_option("--prompt", f.prompt, "one message; without it, read messages from stdin (interactive)")
      ->option_text("TEXT")->group(group);
  cli::add_flag(app, "--raw", f.raw,
                "tokenize TEXT as is: no chat template and no special tokens added,\n"
                "special tokens written in TEXT (e.g. <|im_end|>) recognised")->group(group);
  app.add_option("--max-new-tokens", f.max_new_tokens, "stop after N new tokens (default 128; 0 = tokenize only)")
      ->option_text("N")->transform(cli::integer_in(0, 1 << 20))->group(group);
}

void declare_sampling(CLI::App& app, ChatFlags& f) {
  const std::string group = "How to pick tokens (greedy unless a sampling option is given)";
  cli::add_flag(app, "--greedy", f.greedy, "always take the most likely token")->group(group);
  app.add_option("--repetition-penalty", f.repetition_penalty, "penalise tokens already in the context (R > 0, 1 = off)")
      ->option_text("R")->check(cli::number_in())->group(group);
  app.add_option("--temperature", f.temperature, "sample with temperature T > 0")
      ->option_text("T")->check(cli::number_in())->group(group);
  app.add_option("--top-k", f.top_k, "sample among the K most likely tokens (0 = all)")
      ->option_text("K")->transform(cli::integer_in(0, 1 << 30))->group(group);
  app.add_option("--top-p", f.top_p, "sample from the smallest set with probability >= P (0 < P <= 1)")
      ->option_text("P")->check(cli::number_in())->group(group);
  app.add_option("--seed", f.seed, "seed for sampling (same seed, same output)")
      ->option_text("S")->transform(cli::integer_in(0, INT64_MAX))->group(group);
}

void declare_output(CLI::App& app, ChatFlags& f) {
  const std::string group = "Output";
  cli::add_flag(app, "--json", f.json,
                "print {\"prompt_ids\", \"new_ids\", \"text\", \"stop_reason\"} (and in\n"
                "swarm mode the receipt: \"route\", \"payments\", \"work\") and exit\n"
                "(needs --prompt)")->group(group);
  app.add_option("--threads", f.threads, "compute threads (default: every hardware thread)")
      ->option_text("N")->transform(cli::integer_in(1, 1024))->group(group);
  cli::add_help_flag(app, group);
}

// Declares every flag of petalsln-chat on @p app, bound to the fields of @p f.
void declare_flags(CLI::App& app, ChatFlags& f) {
  cli::configure(app, "petalsln-chat --model DIR (--local | --initial-peers LIST | --peers LIST) [options]");
  declare_placement(app, f);
  declare_model(app, f);
  declare_payment(app, f);
  declare_prompt(app, f);
  declare_sampling(app, f);
  declare_output(app, f);
}

// What the flags may not say together, beyond what each says alone.
void check_combinations(const ChatFlags& f) {
  const int modes = int{f.local} + int{f.initial_peers.has_value()} + int{f.peers.has_value()};
  if (modes != 1) throw cli::UsageError("choose exactly one of --local, --initial-peers and --peers");
  if (f.json && !f.prompt) throw cli::UsageError("--json needs --prompt");
  if (f.budget_sats > 0 && !f.wallet) throw cli::UsageError("--budget-sats needs --wallet");
  if (f.local && f.token_store && !f.token_store->empty()) throw cli::UsageError("--token-store is for swarm mode");
  if (f.no_token_store && f.token_store) throw cli::UsageError("--no-token-store contradicts --token-store");
  if (!(f.timeout_s > 0)) throw cli::UsageError("--timeout must be positive");
  if (f.timeout_s > 1e9) throw cli::UsageError("--timeout must be at most 1e9 seconds");
}

SamplingParams sampling_from(const ChatFlags& f) {
  SamplingParams p;
  const bool sampling = f.temperature || f.top_k || f.top_p || f.seed;
  if (sampling && f.greedy) {
    throw cli::UsageError("--greedy cannot be combined with --temperature/--top-k/--top-p/--seed");
  }
  p.greedy = !sampling;
  p.temperature = static_cast<float>(f.temperature.value_or(1.0));
  p.top_k = static_cast<int>(f.top_k.value_or(0));
  p.top_p = static_cast<float>(f.top_p.value_or(1.0));
  p.repetition_penalty = static_cast<float>(f.repetition_penalty);
  p.seed = static_cast<std::uint64_t>(f.seed.value_or(0));
  try {
    p.validate();
  } catch (const Error& e) {
    throw cli::UsageError(e.what());
  }
  return p;
}

// Shows "loading blocks 3/8" on one terminal line while the model loads.
LoadProgress progress_printer() {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  return [tty](const std::string& stage, int done, int total) {
    if (!tty && done != total) return;
    std::fprintf(stderr, "%sloading %s %d/%d%s", tty ? "\r\033[K" : "", stage.c_str(), done, total, tty ? "" : "\n");
    if (tty && stage == "blocks" && done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

// The token store used when --token-store is not given: the user's data folder (XDG base
// directories), or none ("") when neither XDG_DATA_HOME (absolute) nor HOME is set.
std::string default_token_store() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/petalsln/server-tokens.sqlite";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.local/share/petalsln/server-tokens.sqlite";
  return {};
}

// The token store the flags choose: only a chat that can buy (swarm mode with a wallet) keeps
// one by default.
std::string token_store_of(const ChatFlags& f) {
  if (f.no_token_store || f.local) return {};
  if (f.token_store) return *f.token_store;
  return f.wallet ? default_token_store() : std::string();
}

// Where the blocks run and how they are paid for, from the command line.
SwarmChatOptions chat_options(const ChatFlags& f) {
  SwarmChatOptions o;
  o.local = f.local;
  o.weights = cli::weight_format(f.dtype, f.quant);
  if (f.peers) o.peers = parse_endpoint_list(*f.peers);
  if (f.initial_peers) o.initial_peers = parse_endpoint_list(*f.initial_peers);
  o.model_name = f.model_name;
  if (f.wallet) o.wallet = std::shared_ptr<Wallet>(open_wallet(*f.wallet));
  o.budget_msat = static_cast<std::uint64_t>(f.budget_sats) * 1000;
  if (f.max_price_msat) o.max_price_msat = static_cast<std::uint64_t>(*f.max_price_msat);
  o.token_store = token_store_of(f);
  o.server_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(f.timeout_s * 1000));
  return o;
}

void show_route(const SwarmChat& chat) {
  std::fprintf(stderr, "[swarm] generating on:");
  for (const auto& hop : chat.route()) {
    std::fprintf(stderr, " %s (blocks %u-%u, %s weights, peer %s…)", hop.endpoint.c_str(), hop.begin, hop.end - 1,
                 hop.weights.c_str(), util::to_hex(hop.peer_id.data(), 4).c_str());
  }
  std::fputc('\n', stderr);
}

int run_json(SwarmChat& chat, const ChatFlags& f, const GenerationOptions& options) {
  const auto prompt_ids = chat.encode_prompt(*f.prompt, f.raw);
  const GenerationResult result = chat.generate(prompt_ids, options);
  std::cout << generation_json(prompt_ids, result, &chat) << std::endl;
  return 0;
}

// Streams one reply; returns its text.
std::string stream_reply(SwarmChat& chat, const std::vector<TokenId>& prompt_ids, const GenerationOptions& options) {
  bool route_shown = false;
  const std::uint64_t spent_before = chat.spent_msat();
  const auto t0 = std::chrono::steady_clock::now();
  auto result = chat.generate(prompt_ids, options, [&](TokenId, const std::string& piece) {
    if (chat.remote() && !route_shown) {
      show_route(chat);
      route_shown = true;
    }
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (chat.spent_msat() > 0) {
    // Credit is bought ahead in blocks, so a reply can cost nothing (credit left over) or more
    // than its own work (credit for the next ones).
    std::fprintf(stderr, "\n[swarm] this reply cost %llu msat; %llu msat paid in this chat",
                 static_cast<unsigned long long>(chat.spent_msat() - spent_before),
                 static_cast<unsigned long long>(chat.spent_msat()));
  }
  std::fprintf(stderr, "\n[%zu tokens in %.2f s, %.1f tokens/s, stopped: %s]\n", result.new_ids.size(), secs,
               static_cast<double>(result.new_ids.size()) / std::max(secs, 1e-9), to_string(result.stop_reason));
  return result.text;
}

int run_interactive(SwarmChat& chat, const ChatFlags& f, const GenerationOptions& options) {
  const bool raw = f.raw;
  chat.on_event = [](const std::string& message) { std::fprintf(stderr, "[swarm] %s\n", message.c_str()); };
  const LocalModel& model = chat.model();
  std::fprintf(stderr, "petalsln-chat: %s, %lld blocks %s%s\n", model.dir().c_str(),
               static_cast<long long>(model.config().num_hidden_layers), chat.remote() ? "on the swarm" : "in this process",
               raw ? ", raw prompts" : "");
  if (f.prompt) {
    stream_reply(chat, chat.encode_prompt(*f.prompt, raw), options);
    return 0;
  }
  std::fprintf(stderr, "Type a message and press Enter (Ctrl-D to quit).\n");
  std::vector<ChatMessage> history;
  std::string line;
  while (true) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    try {
      if (raw) {
        stream_reply(chat, chat.encode_prompt(line, true), options);
        continue;
      }
      history.push_back({"user", line});
      const auto reply = stream_reply(chat, model.encode_chat(history), options);
      history.push_back({"assistant", reply});
    } catch (const Error& e) {
      if (!history.empty() && history.back().role == "user") history.pop_back();
      std::fprintf(stderr, "error: %s\n", e.what());
    }
  }
  std::fputc('\n', stderr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Chat with a Llama-family model in Hugging Face format (config.json, *.safetensors,\n"
      "tokenizer.json, chat template). The client always runs the tokenizer, embeddings, LM head\n"
      "and sampler; the transformer blocks run here or on the swarm.",
      "petalsln-chat"};
  ChatFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-chat", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    check_combinations(flags);
    GenerationOptions options;
    options.max_new_tokens = flags.max_new_tokens;
    options.sampling = sampling_from(flags);
    petalsln::set_compute_threads(static_cast<int>(flags.threads));
    SwarmChat chat(flags.model_dir, chat_options(flags), flags.json ? LoadProgress{} : progress_printer());
    options.stop_ids = chat.model().stop_ids();
    return flags.json ? run_json(chat, flags, options) : run_interactive(chat, flags, options);
  });
}
