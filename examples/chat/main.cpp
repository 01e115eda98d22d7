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



#include <chrono>
#include <thread>
#include <cstdio>
#include <iostream>
#include <string>

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

const char* kUsage = R"(usage: petalsln-chat --model DIR (--local | --initial-peers LIST | --peers LIST) [options]

Chat with a Llama-family model in Hugging Face format (config.json, *.safetensors,
tokenizer.json, chat template). The client always runs the tokenizer, embeddings, LM head
and sampler; the transformer blocks run here or on the swarm.

Where the blocks run (exactly one):
  --local                  every block in this process
  --initial-peers LIST     the swarm, found through the DHT via HOST:PORT[,...]
  --peers LIST             the servers at HOST:PORT[,...] (no DHT)

Model:
  --model DIR              model folder (required; in swarm mode only the head is loaded)
  --model-name NAME        swarm model name (default: the folder's base name)
  --timeout S              seconds to wait for servers (default 30): for one step before
                           failover, and for a route while the servers it needs are
                           unreachable, slow or full (retried with backoff until then)

Payment (swarm mode; priced servers answer with L402 challenges):
  --wallet URI             wallet to pay from, e.g. devnet:FILE?account=NAME
  --budget-sats N          most this chat may spend, fees included (default 0: free servers only)
  --max-price-msat N       skip servers charging more per 1000 block-tokens

What to say:
  --prompt TEXT            one message; without it, read messages from stdin (interactive)
  --raw                    tokenize TEXT as is: no chat template and no special tokens added,
                           special tokens written in TEXT (e.g. <|im_end|>) recognised
  --max-new-tokens N       stop after N new tokens (default 128; 0 = tokenize only)

How to pick tokens (greedy unless a sampling option is given):
  --greedy                 always take the most likely token
  --repetition-penalty R   penalise tokens already in the context (R > 0, 1 = off)
  --temperature T          sample with temperature T > 0
  --top-k K                sample among the K most likely tokens (0 = all)
  --top-p P                sample from the smallest set with probability >= P (0 < P <= 1)
  --seed S                 seed for sampling (same seed, same output)

Output:
  --json                   print {"prompt_ids", "new_ids", "text", "stop_reason"} (and in
                           swarm mode the receipt: "route", "payments", "work") and exit
                           (needs --prompt)
  --threads N              compute threads (default: every hardware thread)
  -h, --help               show this help
)";

SamplingParams sampling_from(const cli::Args& args) {
  SamplingParams p;
  const bool sampling = args.has("temperature") || args.has("top-k") || args.has("top-p") || args.has("seed");
  if (sampling && args.has("greedy")) {
    throw cli::UsageError("--greedy cannot be combined with --temperature/--top-k/--top-p/--seed");
  }
  p.greedy = !sampling;
  p.temperature = static_cast<float>(args.number("temperature", 1.0));
  p.top_k = static_cast<int>(args.integer("top-k", 0, 0, 1 << 30));
  p.top_p = static_cast<float>(args.number("top-p", 1.0));
  p.repetition_penalty = static_cast<float>(args.number("repetition-penalty", 1.0));
  p.seed = static_cast<std::uint64_t>(args.integer("seed", 0, 0, INT64_MAX));
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

// Where the blocks run and how they are paid for, from the command line.
SwarmChatOptions chat_options(const cli::Args& args) {
  SwarmChatOptions o;
  o.local = args.has("local");
  if (args.has("peers")) o.peers = parse_endpoint_list(args.str("peers"));
  if (args.has("initial-peers")) o.initial_peers = parse_endpoint_list(args.str("initial-peers"));
  o.model_name = args.str("model-name");
  if (args.has("wallet")) o.wallet = std::shared_ptr<Wallet>(open_wallet(args.str("wallet")));
  o.budget_msat = static_cast<std::uint64_t>(args.integer("budget-sats", 0, 0, 21000000LL * 100000000LL)) * 1000;
  if (o.budget_msat > 0 && !o.wallet) throw cli::UsageError("--budget-sats needs --wallet");
  if (args.has("max-price-msat")) o.max_price_msat = static_cast<std::uint64_t>(args.integer("max-price-msat", 0, 0, INT64_MAX));
  o.step_timeout_s = args.number("timeout", 30);
  if (o.step_timeout_s <= 0) throw cli::UsageError("--timeout must be positive");
  return o;
}

// The endpoint lists are split by SwarmChat; split them here too so that a malformed list is
// a usage error (exit 2), as it always was.
void check_endpoint_lists(const cli::Args& args) {
  for (const char* name : {"peers", "initial-peers"}) {
    if (!args.has(name)) continue;
    try {
      parse_endpoint_list(args.str(name));
    } catch (const Error& e) {
      throw cli::UsageError(std::string("--") + name + ": " + e.what());
    }
  }
}

void show_route(const SwarmChat& chat) {
  std::fprintf(stderr, "[swarm] generating on:");
  for (const auto& hop : chat.route()) {
    std::fprintf(stderr, " %s (blocks %u-%u, peer %s…)", hop.endpoint.c_str(), hop.begin, hop.end - 1,
                 util::to_hex(hop.peer_id.data(), 4).c_str());
  }
  std::fputc('\n', stderr);
}

int run_json(SwarmChat& chat, const cli::Args& args, const GenerationOptions& options) {
  const auto prompt_ids = chat.encode_prompt(args.required("prompt"), args.has("raw"));
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

int run_interactive(SwarmChat& chat, const cli::Args& args, const GenerationOptions& options) {
  const bool raw = args.has("raw");
  chat.on_event = [](const std::string& message) { std::fprintf(stderr, "[swarm] %s\n", message.c_str()); };
  const LocalModel& model = chat.model();
  std::fprintf(stderr, "petalsln-chat: %s, %lld blocks %s%s\n", model.dir().c_str(),
               static_cast<long long>(model.config().num_hidden_layers), chat.remote() ? "on the swarm" : "in this process",
               raw ? ", raw prompts" : "");
  if (args.has("prompt")) {
    stream_reply(chat, chat.encode_prompt(args.str("prompt"), raw), options);
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
  cli::Args args;
  args.option("model").flag("local").option("initial-peers").option("peers").option("model-name").option("timeout");
  args.option("wallet").option("budget-sats").option("max-price-msat");
  args.option("prompt").flag("raw").option("max-new-tokens").flag("greedy");
  args.option("repetition-penalty").option("temperature").option("top-k").option("top-p").option("seed");
  args.flag("json").option("threads").flag("help");
  return cli::run_main("petalsln-chat", [&] {
    if (!cli::parse_without_operands(args, argc, argv, kUsage)) return 0;
    const std::string dir = args.required("model");
    const int modes = int{args.has("local")} + int{args.has("initial-peers")} + int{args.has("peers")};
    if (modes != 1) throw cli::UsageError("choose exactly one of --local, --initial-peers and --peers");
    if (args.has("json") && !args.has("prompt")) throw cli::UsageError("--json needs --prompt");
    GenerationOptions options;
    options.max_new_tokens = args.integer("max-new-tokens", 128, 0, 1 << 20);
    options.sampling = sampling_from(args);

    petalsln::set_compute_threads(static_cast<int>(args.integer("threads", std::max(1u, std::thread::hardware_concurrency()), 1, 1024)));
    const bool json = args.has("json");
    check_endpoint_lists(args);
    SwarmChat chat(dir, chat_options(args), json ? LoadProgress{} : progress_printer());
    options.stop_ids = chat.model().stop_ids();
    return json ? run_json(chat, args, options) : run_interactive(chat, args, options);
  });
}
