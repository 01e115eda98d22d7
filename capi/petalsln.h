/* petalsln.h — the C ABI of petalsln: paid, decentralized LLM inference.
 *
 * The rules below hold for every declaration in this header; the documentation of each function
 * states only what it adds to them.
 *
 *  1. Status. Every function that can fail returns a pln_status: PLN_OK (0) or a PLN_ERR_* code.
 *     They are marked PLN_NODISCARD. After a failure, pln_last_error() says what went wrong.
 *     Functions that cannot fail (versions, names, *_default_*, *_free, *_clear) return their
 *     value, or nothing.
 *  2. Out-parameters. Results go to out-parameters, named `out` or `out_*` and placed last. They
 *     must not be NULL, and they are written only when the call returns PLN_OK (the one
 *     exception, pln_model_tokenize(), says so).
 *  3. NULL. A `const struct pln_*_params*` argument may be NULL: it means the defaults its
 *     pln_*_default_params() returns. Every other pointer argument must not be NULL unless its
 *     documentation says "may be NULL"; PLN_NONNULL marks them for the compiler, and a NULL one
 *     is still refused at run time with PLN_ERR_INVALID_ARGUMENT. A `const char*` member of a
 *     params struct may be NULL where its comment gives a meaning to NULL.
 *  4. Params. A call with several options takes a params struct: get one from its
 *     pln_*_default_params() (the defaults are written at each field), change the fields you
 *     need, pass its address.
 *  5. Ownership.
 *     - Handles (pln_model, pln_chat, pln_server, pln_wallet) are made by one function each and
 *       released by their pln_<noun>_free(), which accepts NULL.
 *     - A string returned through a `char**` is the caller's: release it with pln_string_free().
 *     - A result struct holding memory the library allocated (pln_generation, pln_l402_challenge,
 *       pln_l402_token) is released with its pln_*_clear(), which accepts NULL and a
 *       zero-initialized struct, and zeroes what it released.
 *     - A `const char*` the library hands out (through a `const char**`, or as a struct member)
 *       is borrowed: its documentation says how long it stays valid. Never free it.
 *     - Arguments (strings, arrays, params structs and the strings in them) are borrowed for the
 *       duration of the call only: the library copies what it keeps.
 *  6. Units: one type per quantity, everywhere.
 *       amounts of money ........ uint64_t millisatoshis (names end in _msat)
 *       durations ............... uint64_t milliseconds  (names end in _ms)
 *       points in time .......... uint64_t Unix seconds
 *       transformer blocks ...... uint32_t indices and counts; ranges are [begin, end)
 *       tokens .................. pln_token ids; uint32_t counts of tokens to generate
 *       block-tokens ............ uint64_t (blocks x tokens processed: what servers sell)
 *       ports ................... uint16_t (0 = any free port)
 *       lengths of arrays ....... size_t
 *       flags ................... bool
 *       hashes, preimages, keys . raw bytes (uint8_t[32]; node ids uint8_t[33]); in JSON and in
 *                                 peer ids: lower-case hex
 *  7. Text is UTF-8 and NUL-terminated.
 *  8. No C++ exception ever crosses this boundary; a failure inside the library (even running out
 *     of memory) becomes a status and a message.
 *  9. Threads. Handles are not thread-safe unless said otherwise: use one from one thread at a
 *     time. Different handles may be used from different threads at once. pln_last_error() is
 *     kept per thread.
 */
#ifndef PETALSLN_H
#define PETALSLN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PLN_API: marks the functions the shared library exports (the only symbols it exports). */
#if defined(PLN_BUILDING_LIBRARY) && (defined(__GNUC__) || defined(__clang__))
#define PLN_API __attribute__((visibility("default")))
#else
#define PLN_API
#endif

/* PLN_NONNULL(i, ...): the 1-based arguments that must not be NULL (rule 3). Empty while the
 * library itself is built, as libsecp256k1 does: with the attribute the compiler could delete
 * the run-time NULL checks that turn a wrong call into PLN_ERR_INVALID_ARGUMENT. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(PLN_BUILDING_LIBRARY)
#define PLN_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define PLN_NONNULL(...)
#endif

/* PLN_NODISCARD: the status must be looked at (rule 1). */
#if defined(__GNUC__) || defined(__clang__)
#define PLN_NODISCARD __attribute__((warn_unused_result))
#else
#define PLN_NODISCARD
#endif

/* The version of this ABI; the shared library's soname is libpetalsln.so.<PLN_ABI_VERSION>. It
 * changes whenever a function, struct or enum below changes incompatibly; compare it with
 * pln_abi_version() to detect a mismatched library at run time. */
#define PLN_ABI_VERSION 3

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Status, errors, version, strings                                                          */
/* ---------------------------------------------------------------------------------------- */

/* What a call returned. The values are stable across versions of the ABI. */
typedef enum pln_status {
  PLN_OK = 0,                   /* Success. */
  PLN_ERR_INVALID_ARGUMENT = 1, /* A NULL handle or pointer, or a value outside its domain. */
  PLN_ERR_INVALID_FORMAT = 2,   /* Malformed input data (invoice, macaroon, header, file). */
  PLN_ERR_UNSUPPORTED = 3,      /* Well-formed input that petalsln does not implement. */
  PLN_ERR_NOT_FOUND = 4,        /* A file, account, invoice, server or route that does not exist. */
  PLN_ERR_OUT_OF_RANGE = 5,     /* An id, range or budget exceeded; a buffer too small. */
  PLN_ERR_IO = 6,               /* The system, the network or a peer failed. */
  PLN_ERR_DENIED = 7,           /* A verification refused (macaroon, L402 token). */
  PLN_ERR_INTERNAL = 8          /* A bug in petalsln, or out of memory. */
} pln_status;

/* Returns the library's version, e.g. "0.1.0" (static storage). */
PLN_API const char* pln_version(void);

/* Returns the PLN_ABI_VERSION the library was built with. */
PLN_API uint32_t pln_abi_version(void);

/* Returns the message of the last failed call on this thread, "" if none failed yet. Valid until
 * the next failing call on this thread. It names what was wrong and never contains secrets
 * (keys, macaroons, preimages). */
PLN_API const char* pln_last_error(void);

/* Returns the lower-case name of @p status ("ok", "invalid_argument", ...), "unknown" for a
 * value that is not a pln_status (static storage). */
PLN_API const char* pln_status_name(pln_status status);

/* Releases a string returned through a `char**`. Accepts NULL. */
PLN_API void pln_string_free(char* str);

/* ---------------------------------------------------------------------------------------- */
/* Generation (shared by local models and swarm chats)                                       */
/* ---------------------------------------------------------------------------------------- */

/* A token id of the model's vocabulary. */
typedef int32_t pln_token;

/* How to generate one reply. */
struct pln_generate_params {
  uint32_t max_new_tokens;  /* Stop after this many new tokens (0: only tokenize). Default 128. */
  bool greedy;              /* Take the most likely token; false: sample. Default true. */
  float temperature;        /* Sampling temperature, > 0 (ignored when greedy). Default 1. */
  uint32_t top_k;           /* Keep the k most likely tokens (0 = all; ignored when greedy). Default 0. */
  float top_p;              /* Nucleus sampling, in (0, 1] (1 = off; ignored when greedy). Default 1. */
  float repetition_penalty; /* transformers' repetition penalty, > 0 (1 = off). Default 1. */
  uint64_t seed;            /* Sampling seed: the same seed gives the same tokens. Default 0. */
  bool raw;                 /* Tokenize a text prompt as is: no chat template, special tokens
                               written in it recognised. Default false. */
  bool stop_at_eos;         /* Stop at the model's end-of-sequence ids. Default true. */
};

/* Returns the defaults written at each field of pln_generate_params. */
PLN_API struct pln_generate_params pln_generate_default_params(void);

/* Receives each generated token: its id and the text it completes (@p piece, @p piece_len bytes,
 * not NUL-terminated, possibly empty while a multi-byte character is incomplete; valid only
 * during the call). Return true to go on, false to stop: the generation then ends with
 * PLN_STOP_REASON_CANCELLED. Called on the thread that called the generating function, which
 * must not be used from inside the callback. */
typedef bool (*pln_token_callback)(pln_token token, const char* piece, size_t piece_len, void* user_data);

/* Why a generation ended. */
typedef enum pln_stop_reason {
  PLN_STOP_REASON_STOP_TOKEN = 0, /* An end-of-sequence id was generated (it is in new_ids). */
  PLN_STOP_REASON_LENGTH = 1,     /* max_new_tokens, or the model's context, was reached. */
  PLN_STOP_REASON_CANCELLED = 2   /* The token callback returned false. */
} pln_stop_reason;

/* The result of one generation. Owns its arrays and text: release with pln_generation_clear(). */
struct pln_generation {
  pln_stop_reason stop_reason;
  pln_token* prompt_ids; /* The prompt as the model saw it (chat template applied unless raw;
                            NULL when empty). */
  size_t n_prompt_ids;
  pln_token* new_ids;    /* The generated ids, a final stop id included (NULL when none). */
  size_t n_new_ids;
  char* text;            /* new_ids decoded, special tokens skipped ("" when none). */
};

/* Releases what @p generation holds and zeroes it. Accepts NULL and a zeroed struct. */
PLN_API void pln_generation_clear(struct pln_generation* generation);

/* ---------------------------------------------------------------------------------------- */
/* Local model: every block in this process                                                  */
/* ---------------------------------------------------------------------------------------- */

/* A Hugging Face Llama-family model folder loaded with all its blocks. */
typedef struct pln_model pln_model;

/* How to open a local model. */
struct pln_model_params {
  uint32_t n_threads;  /* Compute threads for the whole process, at most 65536 (0 = leave as is). Default 0. */
  const char* weights; /* How the weights are kept in memory: "f32", "bf16", "f16" or "int8"
                          (weight-only int8, a float32 scale per 32 weights); products accumulate
                          in float32 in every format (NULL = "f32"). Default NULL. */
};

/* Returns the defaults written at each field of pln_model_params. */
PLN_API struct pln_model_params pln_model_default_params(void);

/* Opens the model folder @p model_dir (config.json, *.safetensors, tokenizer.json, chat
 * template) and stores a new handle in @p *out; release it with pln_model_free(). Fails with
 * PLN_ERR_NOT_FOUND, PLN_ERR_INVALID_FORMAT or PLN_ERR_UNSUPPORTED for a missing or bad folder,
 * PLN_ERR_INVALID_ARGUMENT for n_threads above 65536 or an unknown weights name (checked before
 * anything is loaded or n_threads applied; the message names the field and the allowed values,
 * e.g. `weights "fp8" is not one of f32, bf16, f16, int8`). */
PLN_API PLN_NODISCARD pln_status pln_model_open(const char* model_dir, const struct pln_model_params* params,
                                                pln_model** out) PLN_NONNULL(1, 3);

/* Releases @p model. Accepts NULL. */
PLN_API void pln_model_free(pln_model* model);

/* Encodes @p text (through the chat template as one user message, or as is when @p raw) into the
 * caller's array @p ids of @p capacity entries (@p ids may be NULL when @p capacity is 0), and
 * stores the number of ids in @p *out_n_ids. When the array is too small it fails with
 * PLN_ERR_OUT_OF_RANGE and, unlike rule 2, still stores the number needed in @p *out_n_ids:
 * call once with capacity 0 to size the array. PLN_ERR_INVALID_ARGUMENT for text that is not
 * UTF-8. */
PLN_API PLN_NODISCARD pln_status pln_model_tokenize(const pln_model* model, const char* text, bool raw,
                                                    pln_token* ids, size_t capacity, size_t* out_n_ids)
    PLN_NONNULL(1, 2, 6);

/* Generates a reply to @p prompt (see params->raw) and stores it in @p *out (release with
 * pln_generation_clear()). Each token is passed to @p callback with @p user_data as it is made
 * (@p callback may be NULL: then @p user_data is unused and may be NULL too). Fails with
 * PLN_ERR_INVALID_ARGUMENT for sampling params outside their domain. */
PLN_API PLN_NODISCARD pln_status pln_model_generate(pln_model* model, const char* prompt,
                                                    const struct pln_generate_params* params,
                                                    pln_token_callback callback, void* user_data,
                                                    struct pln_generation* out) PLN_NONNULL(1, 2, 6);

/* As pln_model_generate(), after the @p n_ids (at least 1) token ids @p ids instead of a text
 * prompt (params->raw is ignored). Fails with PLN_ERR_OUT_OF_RANGE for an id outside the
 * vocabulary or a prompt longer than the model's context. */
PLN_API PLN_NODISCARD pln_status pln_model_generate_tokens(pln_model* model, const pln_token* ids, size_t n_ids,
                                                           const struct pln_generate_params* params,
                                                           pln_token_callback callback, void* user_data,
                                                           struct pln_generation* out) PLN_NONNULL(1, 2, 7);

/* ---------------------------------------------------------------------------------------- */
/* Swarm chat: the client role, blocks on contributor servers, paid from a wallet            */
/* ---------------------------------------------------------------------------------------- */

/* A chat whose blocks run on the swarm. Route, payments and work accumulate over its life. */
typedef struct pln_chat pln_chat;

/* Where the chat finds servers and how it pays. Set exactly one of initial_peers and peers. */
struct pln_chat_params {
  const char* initial_peers;       /* DHT nodes "host:port[,host:port...]". Default NULL. */
  const char* peers;               /* Servers "host:port[,...]" used directly, no DHT. Default NULL. */
  const char* model_name;          /* Name servers announce (NULL = the folder's base name). Default NULL. */
  const char* wallet_uri;          /* Wallet paying priced servers, e.g. "devnet:FILE?account=NAME"
                                      (NULL: free servers only). Default NULL. */
  uint64_t budget_msat;            /* Most the chat may spend, fees included (needs a wallet). Default 0. */
  uint64_t max_price_msat;         /* Skip servers charging more per 1000 block-tokens
                                      (UINT64_MAX = no limit). Default UINT64_MAX. */
  uint64_t server_timeout_ms;      /* How long a server may take for one step before the chat
                                      fails over, for an Info answer, and for a route to become
                                      available. Default 30000. */
  uint64_t dht_connect_timeout_ms; /* Longest wait to reach a DHT node. Default 10000. */
  const char* weights;             /* How the weights computed in this process (the head's) are kept
                                      in memory: "f32", "bf16", "f16" or "int8" (weight-only int8,
                                      a float32 scale per 32 weights; float32 accumulation in
                                      every format). Servers compute in their own, announced
                                      format (NULL = "f32"). Default NULL. */
};

/* Returns the defaults written at each field of pln_chat_params. */
PLN_API struct pln_chat_params pln_chat_default_params(void);

/* Loads the client side of the model at @p model_dir (tokenizer, head; no blocks), joins the DHT
 * or checks the peer list, opens the wallet, and stores a new handle in @p *out (release with
 * pln_chat_free()). Nothing is planned or paid until the first generation. The defaults name no
 * servers, so @p params is needed in practice. Fails with PLN_ERR_INVALID_ARGUMENT for
 * contradictory params (none or both of initial_peers and peers, a budget without a wallet, a
 * zero timeout, a malformed "host:port") or an unknown weights name (checked before anything is
 * loaded or opened; the message names the field and the allowed values, e.g.
 * `weights "fp8" is not one of f32, bf16, f16, int8`), PLN_ERR_UNSUPPORTED for an unknown
 * wallet scheme, PLN_ERR_IO when no DHT node answers. */
PLN_API PLN_NODISCARD pln_status pln_chat_open(const char* model_dir, const struct pln_chat_params* params,
                                               pln_chat** out) PLN_NONNULL(1, 3);

/* Releases @p chat, closing its sessions and leaving the DHT. Accepts NULL. */
PLN_API void pln_chat_free(pln_chat* chat);

/* Generates a reply on the swarm as pln_model_generate() does, paying priced servers within the
 * budget; pln_chat_receipt() then shows the route, payments and work. Fails with
 * PLN_ERR_NOT_FOUND when no route covers the blocks, PLN_ERR_OUT_OF_RANGE when paying would
 * exceed the budget, PLN_ERR_INVALID_ARGUMENT when a server is priced and the chat has no
 * wallet, PLN_ERR_IO when the swarm fails beyond failover. */
PLN_API PLN_NODISCARD pln_status pln_chat_generate(pln_chat* chat, const char* prompt,
                                                   const struct pln_generate_params* params,
                                                   pln_token_callback callback, void* user_data,
                                                   struct pln_generation* out) PLN_NONNULL(1, 2, 6);

/* Stores the receipt so far in @p *out_json (release with pln_string_free()): one JSON object
 * {"route": [{"peer", "endpoint", "blocks": [a, b], "weights"}], "payments": [{"peer", "amount_msat",
 * "fee_msat", "payment_hash", "preimage"}], "work": [{"peer", "blocks": [a, b], "block_tokens",
 * "lightning_address" (null when none)}]}, peers, hashes and preimages in hex, payments in the
 * order made. */
PLN_API PLN_NODISCARD pln_status pln_chat_receipt(const pln_chat* chat, char** out_json) PLN_NONNULL(1, 2);

/* Stores the millisatoshis paid so far in this chat, fees included, in @p *out_msat. */
PLN_API PLN_NODISCARD pln_status pln_chat_spent_msat(const pln_chat* chat, uint64_t* out_msat) PLN_NONNULL(1, 2);

/* ---------------------------------------------------------------------------------------- */
/* Contributor server                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* A running contributor server (or a DHT-only bootstrap node). */
typedef struct pln_server pln_server;

/* What a server serves, where, to whom and at what price. */
struct pln_server_params {
  bool dht_only;                  /* Run only a DHT bootstrap node (no model). Default false. */
  const char* model_name;         /* Announced name (NULL = the folder's base name). Default NULL. */
  uint32_t block_begin;           /* Serve blocks [block_begin, block_end). Default 0. */
  uint32_t block_end;             /* 0: serve the num_blocks the swarm covers least. Default 0. */
  uint32_t num_blocks;            /* With block_end 0. Default 0. */
  const char* host;               /* Address to listen on and announce (NULL = "127.0.0.1"). Default "127.0.0.1". */
  uint16_t port;                  /* gRPC port. Default 0. */
  uint16_t dht_port;              /* DHT UDP port. Default 0. */
  const char* initial_peers;      /* DHT nodes "host:port[,...]" (NULL: start a new swarm). Default NULL. */
  const char* identity_file;      /* secp256k1 key file, created 0600 (NULL = an ephemeral key). Default NULL. */
  const char* public_name;        /* Name shown to clients (NULL = none). Default NULL. */
  const char* lightning_address;  /* Announced payout address (NULL = none). Default NULL. */
  double throughput;              /* Block-tokens per second to announce (0 = measure). Default 0. */
  uint32_t max_sessions;          /* Concurrent inference sessions in total. Default 16. */
  uint32_t max_sessions_per_peer; /* Sessions one address may hold (0 = 3/4 of max_sessions, at least 1). Default 0. */
  uint32_t max_streams_per_peer;  /* Calls in progress from one address (0 = max_sessions_per_peer + 8). Default 0. */
  uint32_t max_unpaid_per_peer;   /* Unpaid payment challenges one address may hold (priced servers). Default 4. */
  uint64_t open_timeout_ms;       /* A stream must open its session this soon after it starts. Default 10000. */
  uint64_t idle_timeout_ms;       /* An open session idle this long is closed. Default 300000. */
  uint64_t cache_mb;              /* KV-cache budget over all sessions, MiB. Default 512. */
  uint32_t max_batch;             /* Largest batch in one request. Default 8. */
  uint32_t max_length;            /* Longest session in tokens (0 = the model's context). Default 0. */
  uint64_t price_msat;            /* Price per 1000 block-tokens (0 = free, no paywall). Default 0. */
  const char* wallet_uri;         /* Wallet issuing invoices (required when priced). Default NULL. */
  const char* paywall_store;      /* Credit ledger, created 0600 (NULL = identity_file + ".paywall.db"). Default NULL. */
  uint64_t credit_block_tokens;   /* Block-tokens sold per invoice. Default 20000. */
  const char* weights;            /* How the served blocks' weights are kept in memory, announced
                                     and measured with: "f32", "bf16", "f16" or "int8" (weight-only
                                     int8, a float32 scale per 32 weights; float32 accumulation in
                                     every format) (NULL = "f32"; unused with dht_only). Default NULL. */
};

/* Returns the defaults written at each field of pln_server_params. */
PLN_API struct pln_server_params pln_server_default_params(void);

/* Starts a server for the model at @p model_dir (may be NULL with dht_only): joins the DHT, loads
 * the blocks, binds the port, opens the paywall, announces itself, and stores a new handle in
 * @p *out (release with pln_server_free()). It serves on background threads until stopped. The
 * defaults name no blocks, so @p params is needed in practice. Fails with
 * PLN_ERR_INVALID_ARGUMENT for contradictory params (no blocks, a range outside the model, a
 * price without a wallet or store, a zero or too large limit or timeout) or an unknown weights
 * name (checked before anything starts; the message names the field and the allowed values,
 * e.g. `weights "fp8" is not one of f32, bf16, f16, int8`), PLN_ERR_NOT_FOUND for
 * a missing model, PLN_ERR_IO when no initial peer answers or a port cannot be bound. */
PLN_API PLN_NODISCARD pln_status pln_server_start(const char* model_dir, const struct pln_server_params* params,
                                                  pln_server** out) PLN_NONNULL(3);

/* Where a server is and what it serves. The strings are borrowed from the server handle and
 * stay valid until it is freed. */
struct pln_server_info {
  const char* endpoint;    /* "host:port" of the gRPC service ("" for a DHT-only node). */
  const char* peer_id;     /* The peer id, 64 hex digits ("" for a DHT-only node). */
  const char* dht_address; /* "host:port" of its DHT node: what others pass as initial peers. */
  uint32_t block_begin;    /* The blocks served, [block_begin, block_end) (0, 0 for DHT-only). */
  uint32_t block_end;
  const char* weights;     /* The weight format announced: "f32", "bf16", "f16" or "int8" ("" for
                              a DHT-only node). */
  uint64_t weight_bytes_per_block; /* Bytes of weights held per served block, as announced (0 for a
                                      DHT-only node). */
};

/* Stores where @p server is and what it serves in @p *out. */
PLN_API PLN_NODISCARD pln_status pln_server_get_info(const pln_server* server, struct pln_server_info* out)
    PLN_NONNULL(1, 2);

/* Withdraws the announcement, stops serving and leaves the DHT. Idempotent. Fails with
 * PLN_ERR_IO when the withdrawal could not be stored; the server is stopped all the same, and
 * the record expires on its own. */
PLN_API PLN_NODISCARD pln_status pln_server_stop(pln_server* server) PLN_NONNULL(1);

/* Stops @p server (as pln_server_stop(), ignoring a failed withdrawal) and releases it. Accepts
 * NULL. */
PLN_API void pln_server_free(pln_server* server);

/* ---------------------------------------------------------------------------------------- */
/* BOLT11 invoices                                                                           */
/* ---------------------------------------------------------------------------------------- */

/* The most feature bits pln_bolt11_invoice lists. */
#define PLN_BOLT11_MAX_FEATURES 64

/* A decoded, verified BOLT11 invoice. Holds no allocated memory. */
struct pln_bolt11_invoice {
  const char* network;           /* "mainnet", "testnet", "signet", "regtest" or "simnet" (static storage). */
  bool has_amount;               /* false: an invoice for any amount. */
  uint64_t amount_msat;          /* The amount asked for (0 when !has_amount). */
  uint64_t timestamp;            /* Creation time. */
  uint64_t expiry_ms;            /* How long it is payable after its timestamp (saturates at UINT64_MAX). */
  uint64_t expires_at;           /* timestamp + expiry (saturating). */
  uint8_t payment_hash[32];
  uint8_t payment_secret[32];
  bool has_description;          /* Exactly one of has_description and has_description_hash. */
  char description[640];         /* The 'd' field, NUL-terminated (BOLT11 caps it at 639 bytes). */
  size_t description_len;        /* Its length in bytes (it may contain NUL characters). */
  bool has_description_hash;
  uint8_t description_hash[32];  /* The 'h' field: SHA-256 of a description given elsewhere. */
  uint8_t payee[33];             /* The payee's node id (stated, or recovered from the signature). */
  uint64_t min_final_cltv_expiry; /* In Bitcoin blocks. */
  size_t n_route_hints;          /* Private routes ('r' fields) it carries. */
  size_t n_features;             /* Feature bits set; more than PLN_BOLT11_MAX_FEATURES possible. */
  uint16_t features[PLN_BOLT11_MAX_FEATURES]; /* The first of them, ascending. */
};

/* Decodes @p invoice, verifies it against every reader rule of BOLT #11, signature included,
 * and stores it in @p *out. Fails with PLN_ERR_INVALID_FORMAT naming the broken rule. */
PLN_API PLN_NODISCARD pln_status pln_bolt11_decode(const char* invoice, struct pln_bolt11_invoice* out)
    PLN_NONNULL(1, 2);

/* ---------------------------------------------------------------------------------------- */
/* Macaroons and L402                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* The terms an L402 macaroon grants: the six caveats petalsln writes. */
struct pln_l402_terms {
  const char* service;  /* "service=" (NULL = "petalsln"). Default "petalsln". */
  const char* model;    /* "model=": the model's name, no spaces. Default NULL (must be set). */
  const char* peer;     /* "peer=": the server's peer id, 64 hex digits. Default NULL (must be set). */
  uint32_t block_begin; /* "blocks=": [block_begin, block_end), begin < end. Default 0. */
  uint32_t block_end;   /* Default 0 (must be set). */
  uint64_t credit;      /* "credit=": block-tokens bought. Default 0. */
  uint64_t expires;     /* "expires=": valid while the time is before this. Default 0. */
};

/* Returns the defaults written at each field of pln_l402_terms. */
PLN_API struct pln_l402_terms pln_l402_default_terms(void);

/* What a macaroon or L402 token is presented for. */
struct pln_l402_request {
  const char* service;  /* The service asked for (NULL = "petalsln"). Default "petalsln". */
  const char* model;    /* The model the server runs. Default NULL (must be set). */
  const char* peer;     /* The server's peer id, 64 hex digits. Default NULL (must be set). */
  uint32_t block_begin; /* The blocks the request runs, [block_begin, block_end). Default 0. */
  uint32_t block_end;
  uint64_t now;         /* The time to check expiry against (0 = the current time). Default 0. */
};

/* Returns the defaults written at each field of pln_l402_request. */
PLN_API struct pln_l402_request pln_l402_default_request(void);

/* What a verified macaroon grants beyond the request's service, model and peer (which it
 * matched): the narrowest of all its caveats. */
struct pln_l402_grant {
  uint32_t block_begin; /* The blocks granted: the intersection of its "blocks=" caveats. */
  uint32_t block_end;
  uint64_t credit;      /* The lowest "credit=", in block-tokens. */
  uint64_t expires;     /* The earliest "expires=". */
};

/* Options of a new macaroon. */
struct pln_macaroon_params {
  const char* location; /* Unauthenticated location hint (NULL = none). Default NULL. */
};

/* Returns the defaults written at each field of pln_macaroon_params. */
PLN_API struct pln_macaroon_params pln_macaroon_default_params(void);

/* Mints a version-2 macaroon with the secret @p root_key (@p root_key_len > 0 bytes) whose
 * identifier binds the invoice's @p payment_hash (32 bytes; L402 identifier version 0, fresh
 * random token id) and whose caveats are @p terms, and stores it as standard base64 in
 * @p *out_macaroon (release with pln_string_free(); a bearer credential once paid). Fails with
 * PLN_ERR_INVALID_ARGUMENT for terms that cannot be written as caveats. */
PLN_API PLN_NODISCARD pln_status pln_macaroon_mint(const uint8_t* root_key, size_t root_key_len,
                                                   const uint8_t* payment_hash, const struct pln_l402_terms* terms,
                                                   const struct pln_macaroon_params* params, char** out_macaroon)
    PLN_NONNULL(1, 3, 4, 6);

/* Appends the first-party caveat @p predicate (e.g. "blocks=0-2": it can only narrow) to the
 * base64 macaroon @p macaroon and stores the new macaroon in @p *out_macaroon (release with
 * pln_string_free()). */
PLN_API PLN_NODISCARD pln_status pln_macaroon_add_caveat(const char* macaroon, const char* predicate,
                                                         char** out_macaroon) PLN_NONNULL(1, 2, 3);

/* Stores what the base64 macaroon @p macaroon says, without verifying it, in @p *out_json
 * (release with pln_string_free()): {"location", "identifier" (hex), "caveats": [...],
 * "payment_hash", "token_id"} (the last two hex, or null when the identifier is not an L402
 * identifier). */
PLN_API PLN_NODISCARD pln_status pln_macaroon_inspect(const char* macaroon, char** out_json) PLN_NONNULL(1, 2);

/* Verifies the base64 macaroon @p macaroon for @p request: its HMAC chain from @p root_key
 * (@p root_key_len > 0 bytes; compared in constant time), every caveat, all six petalsln
 * caveats present; stores what it grants in @p *out. Fails with PLN_ERR_DENIED and the reason
 * when it does not grant the request, PLN_ERR_INVALID_FORMAT when it does not parse. */
PLN_API PLN_NODISCARD pln_status pln_macaroon_verify(const char* macaroon, const uint8_t* root_key,
                                                     size_t root_key_len, const struct pln_l402_request* request,
                                                     struct pln_l402_grant* out) PLN_NONNULL(1, 2, 4, 5);

/* A parsed L402 challenge (`WWW-Authenticate: L402 macaroon="...", invoice="..."`). Owns its
 * strings: release with pln_l402_challenge_clear(). */
struct pln_l402_challenge {
  char* macaroon;            /* The macaroon, standard base64. */
  char* invoice;             /* The BOLT11 invoice to pay (not decoded: see pln_bolt11_decode()). */
  bool has_payment_hash;     /* false when the macaroon's identifier is not an L402 identifier. */
  uint8_t payment_hash[32];  /* The payment hash the macaroon's identifier binds. */
};

/* Releases what @p challenge holds and zeroes it. Accepts NULL and a zeroed struct. */
PLN_API void pln_l402_challenge_clear(struct pln_l402_challenge* challenge);

/* Parses a challenge header value (`L402 macaroon="...", invoice="..."`, or LSAT) into @p *out.
 * Fails with PLN_ERR_UNSUPPORTED for another scheme, PLN_ERR_INVALID_FORMAT for a malformed one. */
PLN_API PLN_NODISCARD pln_status pln_l402_parse_challenge(const char* header, struct pln_l402_challenge* out)
    PLN_NONNULL(1, 2);

/* A parsed L402 authorization (`Authorization: L402 <macaroon>:<preimage hex>`). Owns its
 * macaroon: release with pln_l402_token_clear(). */
struct pln_l402_token {
  char* macaroon;            /* The macaroon, standard base64. */
  uint8_t preimage[32];      /* The preimage presented. */
  bool has_payment_hash;     /* false when the macaroon's identifier is not an L402 identifier. */
  uint8_t payment_hash[32];  /* The payment hash the macaroon's identifier binds. */
  bool preimage_matches;     /* SHA-256(preimage) == payment_hash: the invoice was paid. */
};

/* Releases what @p token holds and zeroes it. Accepts NULL and a zeroed struct. */
PLN_API void pln_l402_token_clear(struct pln_l402_token* token);

/* Parses an authorization header value (`L402 <macaroon>:<preimage hex>`, or LSAT) into
 * @p *out, without verifying it. Fails with PLN_ERR_INVALID_FORMAT for a malformed one. */
PLN_API PLN_NODISCARD pln_status pln_l402_parse_token(const char* header, struct pln_l402_token* out)
    PLN_NONNULL(1, 2);

/* Verifies an authorization header value for @p request: the preimage pays the identifier's
 * payment hash, then everything pln_macaroon_verify() checks; stores what it grants in @p *out.
 * Fails as pln_macaroon_verify() does. */
PLN_API PLN_NODISCARD pln_status pln_l402_verify_token(const char* header, const uint8_t* root_key,
                                                       size_t root_key_len, const struct pln_l402_request* request,
                                                       struct pln_l402_grant* out) PLN_NONNULL(1, 2, 4, 5);

/* ---------------------------------------------------------------------------------------- */
/* Payouts                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* The operator's fee taken before a payout is split. */
struct pln_payout_params {
  uint32_t fee_basis_points; /* Proportional part in 1/10000 of the amount, 0..10000. Default 0. */
  uint64_t fee_fixed_msat;   /* Fixed part (capped at the amount). Default 0. */
};

/* Returns the defaults written at each field of pln_payout_params (no fee). */
PLN_API struct pln_payout_params pln_payout_default_params(void);

/* One payee and its weight (e.g. the block-tokens it served). */
struct pln_payout_weight {
  const char* payee; /* Non-empty key: a Lightning address, a peer id. */
  uint64_t weight;   /* Its share of the work (0: it gets nothing). */
};

/* One payee's part of a split. */
struct pln_payout_share {
  const char* payee;    /* Borrowed: the payee string of the first weight naming this payee. */
  uint64_t amount_msat; /* What it gets (may be 0). */
};

/* Splits @p amount_msat among the @p n_weights (1..100000) payees in @p weights in proportion
 * to their weights after the fee in @p params, exactly (largest remainder: the fee plus the
 * amounts make @p amount_msat). Stores one share per distinct payee, in order of first
 * appearance, in the caller's array @p out_shares, which must hold @p n_weights entries; their
 * number in @p *out_n_shares; the fee in @p *out_fee_msat. Fails with PLN_ERR_INVALID_ARGUMENT
 * for an empty payee, no positive weight or a fee above 10000 basis points. */
PLN_API PLN_NODISCARD pln_status pln_payout_split(uint64_t amount_msat, const struct pln_payout_weight* weights,
                                                  size_t n_weights, const struct pln_payout_params* params,
                                                  struct pln_payout_share* out_shares, size_t* out_n_shares,
                                                  uint64_t* out_fee_msat) PLN_NONNULL(2, 5, 6, 7);

/* ---------------------------------------------------------------------------------------- */
/* Wallets                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A Lightning wallet opened by URI. Thread-safe: any thread may use it at any time. */
typedef struct pln_wallet pln_wallet;

/* Opens the wallet named by @p uri ("devnet:FILE?account=NAME", "lnd+rest://...",
 * "cln+rest://...", "lnbits://...", "nostr+walletconnect://...") and stores a new handle in
 * @p *out (release with pln_wallet_free()). Fails with PLN_ERR_UNSUPPORTED for an unknown
 * scheme, PLN_ERR_NOT_FOUND for an unknown account or file, PLN_ERR_INVALID_ARGUMENT for a
 * malformed URI. */
PLN_API PLN_NODISCARD pln_status pln_wallet_open(const char* uri, pln_wallet** out) PLN_NONNULL(1, 2);

/* Releases @p wallet. Accepts NULL. */
PLN_API void pln_wallet_free(pln_wallet* wallet);

/* Stores the spendable balance in @p *out_msat. */
PLN_API PLN_NODISCARD pln_status pln_wallet_balance(pln_wallet* wallet, uint64_t* out_msat) PLN_NONNULL(1, 2);

/* Stores a description of the wallet that is safe to log (no keys, tokens or passwords) in
 * @p *out (release with pln_string_free()). */
PLN_API PLN_NODISCARD pln_status pln_wallet_describe(const pln_wallet* wallet, char** out) PLN_NONNULL(1, 2);

/* What invoice to create. */
struct pln_invoice_params {
  uint64_t amount_msat; /* Amount (0 = any amount). Default 0. */
  const char* memo;     /* Description (NULL = ""). Default NULL. */
  uint64_t expiry_ms;   /* How long it stays payable, > 0 (rounded up to whole seconds). Default 3600000. */
};

/* Returns the defaults written at each field of pln_invoice_params. */
PLN_API struct pln_invoice_params pln_invoice_default_params(void);

/* Creates an invoice and stores it in @p *out_bolt11 (release with pln_string_free()) and its
 * payment hash in the 32 bytes at @p out_payment_hash. */
PLN_API PLN_NODISCARD pln_status pln_wallet_create_invoice(pln_wallet* wallet, const struct pln_invoice_params* params,
                                                           char** out_bolt11, uint8_t* out_payment_hash)
    PLN_NONNULL(1, 3, 4);

/* Limits on one payment. */
struct pln_pay_params {
  uint64_t max_fee_msat; /* Refuse routes costing more in fees. Default 0. */
  uint64_t amount_msat;  /* Only for an invoice for any amount (0 = the invoice's amount). Default 0. */
  uint64_t timeout_ms;   /* Give up (reported failed or pending) after this, > 0. Default 60000. */
};

/* Returns the defaults written at each field of pln_pay_params. */
PLN_API struct pln_pay_params pln_pay_default_params(void);

/* Where a payment stands. */
typedef enum pln_payment_status {
  PLN_PAYMENT_PENDING = 0,   /* In flight when the timeout came: look it up later. */
  PLN_PAYMENT_SUCCEEDED = 1, /* Paid: the preimage is the proof. */
  PLN_PAYMENT_FAILED = 2     /* Refused or failed: nothing was paid; failure_reason says why. */
} pln_payment_status;

/* The outcome of one payment. Holds no allocated memory. */
struct pln_payment {
  pln_payment_status status;
  uint8_t payment_hash[32];
  bool has_preimage;         /* true exactly when succeeded. */
  uint8_t preimage[32];      /* The proof of payment (zeros without one). */
  uint64_t amount_msat;      /* Delivered to the payee. */
  uint64_t fee_msat;         /* Routing fees paid on top. */
  char failure_reason[256];  /* Why it failed ("" otherwise); NUL-terminated, cut to fit. */
};

/* Pays @p bolt11 within @p params and stores the outcome in @p *out. A refused payment (expired,
 * already paid, too expensive, insufficient balance) is PLN_OK with status PLN_PAYMENT_FAILED;
 * the call fails with PLN_ERR_INVALID_FORMAT for an undecodable invoice, PLN_ERR_IO when the
 * wallet cannot be reached. */
PLN_API PLN_NODISCARD pln_status pln_wallet_pay(pln_wallet* wallet, const char* bolt11,
                                                const struct pln_pay_params* params, struct pln_payment* out)
    PLN_NONNULL(1, 2, 4);

/* Where an invoice this wallet created stands. */
struct pln_invoice_status {
  uint8_t payment_hash[32];
  bool settled;              /* Paid. */
  bool expired;              /* Past its expiry and unpaid. */
  uint64_t amount_paid_msat; /* What was received (0 unless settled). */
  uint64_t settled_at;       /* When it was paid (0 unless settled). */
};

/* Looks up the invoice this wallet created with the 32-byte @p payment_hash and stores where it
 * stands in @p *out. Fails with PLN_ERR_NOT_FOUND for an unknown invoice. */
PLN_API PLN_NODISCARD pln_status pln_wallet_lookup_invoice(pln_wallet* wallet, const uint8_t* payment_hash,
                                                           struct pln_invoice_status* out) PLN_NONNULL(1, 2, 3);

/* The devnet faucet (simulated money, devnet only): creates account @p name ([a-z0-9_-], 1 to 64
 * characters) holding @p fund_msat in the devnet file @p path (created 0600 if absent), stores
 * the new account's node id in the 33 bytes at @p out_node_id and the URI that opens it with
 * pln_wallet_open() in @p *out_uri (release with pln_string_free()). Fails with
 * PLN_ERR_INVALID_ARGUMENT for a bad or taken name or more than 21 million bitcoin. */
PLN_API PLN_NODISCARD pln_status pln_devnet_create_account(const char* path, const char* name, uint64_t fund_msat,
                                                           uint8_t* out_node_id, char** out_uri)
    PLN_NONNULL(1, 2, 4, 5);

#ifdef __cplusplus
}
#endif

#endif /* PETALSLN_H */
