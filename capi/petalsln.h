/* petalsln.h — the C ABI of petalsln: paid, decentralized LLM inference.
 *
 * Conventions (the same for every function below):
 *   - Objects are opaque handles (pln_model, pln_chat, pln_server, pln_wallet). Each is made
 *     by one creator (pln_<noun>_open/_start) that takes a pln_<noun>_params struct — get one
 *     from pln_<noun>_default_params() and change the fields you need — and is destroyed by
 *     exactly one pln_<noun>_free(), which accepts NULL.
 *   - Every call that can fail returns an int status: PLN_OK (0) or one of the PLN_ERR_*
 *     codes. The message describing the failure is in pln_last_error(), kept per thread.
 *   - Strings are UTF-8 and NUL-terminated. A string the library returns through a `char**`
 *     out-parameter is owned by the caller and must be released with pln_string_free(). A
 *     `const char*` it returns (through `const char**`) is owned by the handle it came from and
 *     stays valid until that handle is freed. Out-parameters are written only on PLN_OK.
 *   - Structured results (receipts, decoded invoices, payout splits) are JSON objects: their
 *     members are documented at each function and in docs/C_API.md.
 *   - No C++ exception ever crosses this boundary; a failure inside the library (even running
 *     out of memory) becomes a status and a message.
 *   - Handles are not thread-safe unless said otherwise: use one from one thread at a time.
 *     Different handles may be used from different threads at once.
 */
#ifndef PETALSLN_H
#define PETALSLN_H

#include <stddef.h>
#include <stdint.h>

#if defined(PLN_BUILDING_LIBRARY) && (defined(__GNUC__) || defined(__clang__))
#define PLN_API __attribute__((visibility("default")))
#else
#define PLN_API
#endif

/* The version of this ABI. It changes whenever a function, struct or enum below changes
 * incompatibly; compare it with pln_abi_version() to detect a mismatched library at run time. */
#define PLN_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Status, errors, version, strings                                                          */
/* ---------------------------------------------------------------------------------------- */

/* What a call returned. The values are stable across versions of the same ABI. */
enum pln_status {
  PLN_OK = 0,                   /* Success. */
  PLN_ERR_INVALID_ARGUMENT = 1, /* A NULL handle or pointer, or a value outside its domain. */
  PLN_ERR_INVALID_FORMAT = 2,   /* Malformed input data (invoice, macaroon, header, file). */
  PLN_ERR_UNSUPPORTED = 3,      /* Well-formed input that petalsln does not implement. */
  PLN_ERR_NOT_FOUND = 4,        /* A file, account, server or route that does not exist. */
  PLN_ERR_OUT_OF_RANGE = 5,     /* An id, range or budget exceeded; a buffer too small. */
  PLN_ERR_IO = 6,               /* The system, the network or a peer failed. */
  PLN_ERR_DENIED = 7,           /* A verification refused (macaroon, L402 token). */
  PLN_ERR_INTERNAL = 8          /* A bug in petalsln, or out of memory. */
};

/* Returns the library's version, e.g. "0.1.0". Static storage; never NULL. */
PLN_API const char* pln_version(void);

/* Returns the PLN_ABI_VERSION the library was built with. */
PLN_API int pln_abi_version(void);

/* Returns the message of the last failed call on this thread ("" if none failed yet). Owned
 * by the library; valid until the next failing call on this thread. Never contains secrets
 * (keys, macaroons, preimages of unpaid invoices). */
PLN_API const char* pln_last_error(void);

/* Returns the name of @p status ("ok", "invalid_argument", ...; "unknown" for other values).
 * Static storage; never NULL. */
PLN_API const char* pln_status_name(int status);

/* Releases a string returned through a `char**` out-parameter. Accepts NULL. */
PLN_API void pln_string_free(char* str);

/* ---------------------------------------------------------------------------------------- */
/* Generation (shared by local models and swarm chats)                                       */
/* ---------------------------------------------------------------------------------------- */

/* How to generate one reply. Greedy decoding unless greedy is 0. */
struct pln_generate_params {
  int64_t max_new_tokens;     /* Stop after this many new tokens (0: only tokenize). Default 128. */
  int32_t greedy;             /* 1: take the most likely token; 0: sample. Default 1. */
  float temperature;          /* Sampling temperature (> 0). Default 1. */
  int32_t top_k;              /* Keep the k most likely tokens (0 = all). Default 0. */
  float top_p;                /* Nucleus sampling, in (0, 1] (1 = off). Default 1. */
  float repetition_penalty;   /* transformers' repetition penalty (> 0, 1 = off). Default 1. */
  uint64_t seed;              /* Sampling seed (same seed, same tokens). Default 0. */
  int32_t raw;                /* 1: tokenize the prompt as is (no chat template; special tokens in it recognised). Default 0. */
  int32_t stop_at_eos;        /* 1: stop at the model's end-of-sequence ids. Default 1. */
};

/* Returns the defaults documented at each field of pln_generate_params. */
PLN_API struct pln_generate_params pln_generate_default_params(void);

/* Receives each generated token: its id and the text it completes (@p piece, @p piece_len
 * bytes, not NUL-terminated in general and possibly empty while a multi-byte character is
 * incomplete; valid only during the call). Return 0 to go on, non-zero to stop: generation then
 * ends with stop_reason "cancelled". Called on the thread that called generate. */
typedef int (*pln_token_callback)(int32_t token_id, const char* piece, size_t piece_len, void* user_data);

/* ---------------------------------------------------------------------------------------- */
/* Local model: every block in this process                                                  */
/* ---------------------------------------------------------------------------------------- */

/* A Hugging Face Llama-family model folder loaded with all its blocks. */
typedef struct pln_model pln_model;

/* How to open a local model. */
struct pln_model_params {
  int32_t n_threads; /* Compute threads for the whole process (0 = leave as is). Default 0. */
};

/* Returns the defaults documented at each field of pln_model_params. */
PLN_API struct pln_model_params pln_model_default_params(void);

/* Opens the model folder @p model_dir (config.json, *.safetensors, tokenizer.json, chat
 * template) with @p params (NULL = defaults) and stores a new handle in @p *out, to be released
 * with pln_model_free(). Fails with PLN_ERR_NOT_FOUND / PLN_ERR_INVALID_FORMAT /
 * PLN_ERR_UNSUPPORTED for a missing or bad folder. */
PLN_API int pln_model_open(const char* model_dir, const struct pln_model_params* params, pln_model** out);

/* Releases @p model. Accepts NULL. */
PLN_API void pln_model_free(pln_model* model);

/* Encodes @p text (through the chat template as one user message, or as is when @p raw is
 * non-zero) into the caller's buffer @p ids of @p capacity entries, and stores the number of
 * ids in @p *n_ids. When the buffer is too small, fails with PLN_ERR_OUT_OF_RANGE and still
 * stores the needed count in @p *n_ids (@p ids may be NULL when @p capacity is 0). */
PLN_API int pln_model_tokenize(const pln_model* model, const char* text, int32_t raw, int32_t* ids, size_t capacity,
                               size_t* n_ids);

/* Generates a reply to @p prompt (see params->raw), streaming tokens to @p callback (may be
 * NULL) with @p user_data, and stores the result in @p *out_json (free with pln_string_free;
 * may be NULL if not wanted): {"prompt_ids": [...], "new_ids": [...], "text": "...",
 * "stop_reason": "stop_token"|"length"|"cancelled"} — the JSON petalsln-chat --json prints. */
PLN_API int pln_model_generate(pln_model* model, const char* prompt, const struct pln_generate_params* params,
                               pln_token_callback callback, void* user_data, char** out_json);

/* As pln_model_generate(), after the @p n_ids token ids @p ids instead of a text prompt
 * (params->raw is ignored). Fails with PLN_ERR_OUT_OF_RANGE for an id outside the vocabulary. */
PLN_API int pln_model_generate_tokens(pln_model* model, const int32_t* ids, size_t n_ids,
                                      const struct pln_generate_params* params, pln_token_callback callback,
                                      void* user_data, char** out_json);

/* ---------------------------------------------------------------------------------------- */
/* Swarm chat: the client role, blocks on contributor servers, paid from a wallet            */
/* ---------------------------------------------------------------------------------------- */

/* A chat whose blocks run on the swarm. Route, payments and work accumulate over its life. */
typedef struct pln_chat pln_chat;

/* Where the chat finds servers and how it pays. Set exactly one of initial_peers and peers. */
struct pln_chat_params {
  const char* initial_peers;   /* DHT nodes "host:port[,host:port...]". Default NULL. */
  const char* peers;           /* Servers "host:port[,...]" used directly, no DHT. Default NULL. */
  const char* model_name;      /* Name servers announce (NULL = the folder's base name). */
  const char* wallet_uri;      /* Wallet paying priced servers, e.g. "devnet:FILE?account=NAME"
                                  (NULL: free servers only). Default NULL. */
  uint64_t budget_msat;        /* Most the chat may spend, fees included (needs a wallet). Default 0. */
  int64_t max_price_msat;      /* Skip servers charging more per 1000 block-tokens (-1 = no limit). Default -1. */
  double step_timeout_s;       /* Seconds a server may take per step before failover. Default 30. */
};

/* Returns the defaults documented at each field of pln_chat_params. */
PLN_API struct pln_chat_params pln_chat_default_params(void);

/* Loads the client side of the model at @p model_dir (tokenizer, head; no blocks) with @p params
 * (required: it names the servers), joins the
 * DHT or checks the peer list, opens the wallet, and stores a new handle in @p *out (release
 * with pln_chat_free). Nothing is planned or paid until the first generate. Fails with
 * PLN_ERR_INVALID_ARGUMENT for contradictory params, PLN_ERR_IO when no DHT node answers. */
PLN_API int pln_chat_open(const char* model_dir, const struct pln_chat_params* params, pln_chat** out);

/* Releases @p chat (closing its sessions and leaving the DHT). Accepts NULL. */
PLN_API void pln_chat_free(pln_chat* chat);

/* Generates a reply on the swarm as pln_model_generate() does, paying priced servers within
 * the budget. @p *out_json (caller frees) holds the generation's members followed by the
 * receipt's: "route": [{"peer", "endpoint", "blocks": [a, b]}], "payments": [{"peer",
 * "amount_msat", "fee_msat", "payment_hash", "preimage"}], "work": [{"peer", "blocks",
 * "block_tokens", "lightning_address"}]. Fails with PLN_ERR_NOT_FOUND when no route covers the
 * blocks, PLN_ERR_OUT_OF_RANGE when paying would exceed the budget, PLN_ERR_IO when the swarm
 * fails beyond failover. */
PLN_API int pln_chat_generate(pln_chat* chat, const char* prompt, const struct pln_generate_params* params,
                              pln_token_callback callback, void* user_data, char** out_json);

/* Stores the receipt so far, {"route", "payments", "work"}, in @p *out_json (caller frees). */
PLN_API int pln_chat_receipt(const pln_chat* chat, char** out_json);

/* Stores the millisatoshis paid so far in this chat, fees included, in @p *out_msat. */
PLN_API int pln_chat_spent_msat(const pln_chat* chat, uint64_t* out_msat);

/* ---------------------------------------------------------------------------------------- */
/* Contributor server                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* A running contributor server (or a DHT-only bootstrap node). */
typedef struct pln_server pln_server;

/* What a server serves, where and at what price. */
struct pln_server_params {
  int32_t dht_only;             /* 1: run only a DHT bootstrap node. Default 0. */
  const char* model_name;       /* Announced name (NULL = the folder's base name). */
  int32_t block_begin;          /* Serve blocks [block_begin, block_end). Default 0. */
  int32_t block_end;            /* 0: serve the num_blocks the swarm covers least. Default 0. */
  int32_t num_blocks;           /* With block_end 0. Default 0. */
  const char* host;             /* Address to listen on and announce. Default "127.0.0.1". */
  int32_t port;                 /* gRPC port (0 = any). Default 0. */
  int32_t dht_port;             /* DHT UDP port (0 = any). Default 0. */
  const char* initial_peers;    /* DHT nodes "host:port[,...]" (NULL: start a new swarm). */
  const char* identity_file;    /* secp256k1 key file, created 0600 (NULL = ephemeral key). */
  const char* public_name;      /* Name shown to clients. Default NULL. */
  const char* lightning_address;/* Announced payout address. Default NULL. */
  double throughput;            /* Block-tokens/s to announce (0 = measure). Default 0. */
  int32_t max_sessions;         /* Concurrent sessions. Default 16. */
  int64_t cache_mb;             /* KV-cache budget, MiB. Default 512. */
  int32_t max_batch;            /* Largest batch per request. Default 8. */
  int32_t max_length;           /* Longest session in tokens (0 = the model's). Default 0. */
  uint64_t price_msat;          /* Price per 1000 block-tokens (0 = free). Default 0. */
  const char* wallet_uri;       /* Wallet issuing invoices (required when priced). Default NULL. */
  const char* paywall_store;    /* Credit ledger, created 0600 (NULL = identity_file + ".paywall.db"). */
  uint64_t credit_block_tokens; /* Block-tokens sold per invoice. Default 20000. */
};

/* Returns the defaults documented at each field of pln_server_params. */
PLN_API struct pln_server_params pln_server_default_params(void);

/* Starts a server for the model at @p model_dir (NULL for a DHT-only node) with @p params
 * (required: it names the blocks): joins the DHT,
 * loads the blocks, binds the port, opens the paywall, announces itself, and stores a new
 * handle in @p *out (release with pln_server_free). It serves on background threads until
 * stopped. */
PLN_API int pln_server_start(const char* model_dir, const struct pln_server_params* params, pln_server** out);

/* Stores "host:port" of the gRPC service ("" for a DHT-only node) in @p *out (owned by @p server). */
PLN_API int pln_server_endpoint(const pln_server* server, const char** out);

/* Stores the peer id, 64 hex digits ("" for a DHT-only node), in @p *out (owned by @p server). */
PLN_API int pln_server_peer_id(const pln_server* server, const char** out);

/* Stores "host:port" of the server's DHT node in @p *out (owned by @p server): what others pass
 * as initial peers. */
PLN_API int pln_server_dht_address(const pln_server* server, const char** out);

/* Stores the blocks served, [*out_begin, *out_end), in the two out-parameters. */
PLN_API int pln_server_blocks(const pln_server* server, int32_t* out_begin, int32_t* out_end);

/* Withdraws the announcement, stops serving and leaves the DHT. Idempotent. Fails with
 * PLN_ERR_IO (the server is stopped all the same) when the withdrawal could not be stored: the
 * record then expires on its own. */
PLN_API int pln_server_stop(pln_server* server);

/* Stops (as pln_server_stop) and releases @p server. Accepts NULL. */
PLN_API void pln_server_free(pln_server* server);

/* ---------------------------------------------------------------------------------------- */
/* BOLT11 invoices                                                                           */
/* ---------------------------------------------------------------------------------------- */

/* Decodes @p invoice and verifies it against every reader rule of BOLT #11, signature
 * included, and stores in @p *out_json (caller frees): {"network", "amount_msat" (null when
 * any amount), "timestamp", "expiry", "expires_at", "payment_hash", "payment_secret",
 * "description" (or null), "description_hash" (or null), "payee", "min_final_cltv_expiry",
 * "features": [...], "route_hints": n, "signature_valid": true}. Fails with
 * PLN_ERR_INVALID_FORMAT naming the broken rule, PLN_ERR_UNSUPPORTED for an unknown network. */
PLN_API int pln_bolt11_decode(const char* invoice, char** out_json);

/* ---------------------------------------------------------------------------------------- */
/* Macaroons and L402                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* The terms an L402 macaroon grants (its caveats) or a request asks for. */
struct pln_l402_terms {
  const char* service;     /* "service=" (default "petalsln"). */
  const char* model;       /* "model=": the model's name. */
  const char* peer;        /* "peer=": the server's peer id, 64 hex digits. */
  uint32_t block_begin;    /* "blocks=": [block_begin, block_end). */
  uint32_t block_end;
  uint64_t credit;         /* "credit=": block-tokens bought (ignored in a request). */
  int64_t expires;         /* "expires=": unix seconds (in a request: the current time, 0 = now). */
};

/* What to mint: an L402 macaroon for one invoice's payment hash. */
struct pln_macaroon_params {
  const uint8_t* root_key;       /* The minter's secret root key (any length > 0). Default NULL. */
  size_t root_key_len;
  const char* payment_hash_hex;  /* 64 hex digits: the invoice's payment hash. Default NULL. */
  const char* location;          /* Unauthenticated location hint (NULL = none). */
  struct pln_l402_terms terms;   /* The caveats. Default: service "petalsln", all else empty/0. */
};

/* Returns the defaults documented at each field of pln_macaroon_params. */
PLN_API struct pln_macaroon_params pln_macaroon_default_params(void);

/* Returns request terms with service "petalsln" and every other field empty/0. */
PLN_API struct pln_l402_terms pln_l402_default_terms(void);

/* Mints a version-2 macaroon whose identifier binds params->payment_hash_hex (L402 identifier
 * version 0, fresh random token id) and whose caveats are params->terms, and stores it as
 * standard base64 in @p *out_base64 (caller frees; it is a bearer credential once paid). */
PLN_API int pln_macaroon_mint(const struct pln_macaroon_params* params, char** out_base64);

/* Appends the first-party caveat @p predicate (e.g. "blocks=0-2": narrowing only) to the
 * base64 macaroon @p macaroon and stores the new macaroon in @p *out_base64 (caller frees). */
PLN_API int pln_macaroon_add_caveat(const char* macaroon, const char* predicate, char** out_base64);

/* Stores what a base64 macaroon says, without verifying it, in @p *out_json (caller frees):
 * {"location", "identifier" (hex), "caveats": [...], "payment_hash", "token_id"} (the last two
 * null when the identifier is not an L402 identifier). */
PLN_API int pln_macaroon_inspect(const char* macaroon, char** out_json);

/* Verifies the base64 macaroon @p macaroon for @p request: its HMAC chain from @p root_key
 * (constant-time), every caveat, all six petalsln caveats present. On success stores the
 * effective (narrowest) terms in @p *out_granted_json if not NULL: {"service", "model", "peer",
 * "blocks": [a, b], "credit", "expires"}. Fails with PLN_ERR_DENIED and the reason when the
 * macaroon does not grant the request, PLN_ERR_INVALID_FORMAT when it does not parse. */
PLN_API int pln_macaroon_verify(const char* macaroon, const uint8_t* root_key, size_t root_key_len,
                                const struct pln_l402_terms* request, char** out_granted_json);

/* Parses a challenge header value (`L402 macaroon="...", invoice="..."`, or LSAT) and stores
 * {"macaroon" (base64), "invoice", "payment_hash"} in @p *out_json (caller frees). */
PLN_API int pln_l402_parse_challenge(const char* header, char** out_json);

/* Parses an authorization header value (`L402 <macaroon>:<preimage hex>`, or LSAT) and stores
 * {"macaroon", "preimage", "payment_hash", "preimage_matches"} in @p *out_json (caller frees). */
PLN_API int pln_l402_parse_token(const char* header, char** out_json);

/* Verifies an authorization header for @p request: the preimage pays the identifier's payment
 * hash, then everything pln_macaroon_verify() checks. Same results as pln_macaroon_verify(). */
PLN_API int pln_l402_verify_token(const char* header, const uint8_t* root_key, size_t root_key_len,
                                  const struct pln_l402_terms* request, char** out_granted_json);

/* ---------------------------------------------------------------------------------------- */
/* Payouts                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* The operator's fee taken before a payout is split. */
struct pln_payout_fee {
  uint32_t basis_points; /* Proportional part in 1/10000 (0..10000). */
  uint64_t fixed_msat;   /* Fixed part in msat (capped at the amount). */
};

/* One payee and its weight (e.g. the block-tokens it served). */
struct pln_payout_weight {
  const char* payee;     /* Non-empty key: a Lightning address, a peer id. */
  uint64_t weight;
};

/* Splits @p amount_msat among the @p n_weights payees in proportion to their weights after
 * @p fee (NULL = no fee), exactly (largest remainder: fee + the amounts == amount_msat), and
 * stores {"fee_msat", "payees": [{"payee", "amount_msat"}]} in @p *out_json (caller frees); a
 * payee named twice is merged. Fails with PLN_ERR_INVALID_ARGUMENT for no payees, an empty
 * name, no positive weight or a fee above 10000 basis points. */
PLN_API int pln_payout_split(const struct pln_payout_fee* fee, uint64_t amount_msat,
                             const struct pln_payout_weight* weights, size_t n_weights, char** out_json);

/* ---------------------------------------------------------------------------------------- */
/* Wallets                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A Lightning wallet opened by URI. Thread-safe. */
typedef struct pln_wallet pln_wallet;

/* How a wallet handle behaves. */
struct pln_wallet_params {
  uint32_t pay_timeout_s;  /* Longest a payment may take before it is reported failed or pending. Default 60. */
};

/* Returns the defaults documented at each field of pln_wallet_params. */
PLN_API struct pln_wallet_params pln_wallet_default_params(void);

/* Opens the wallet named by @p uri (e.g. "devnet:FILE?account=NAME"; other schemes as
 * open_wallet() supports) with @p params (NULL = defaults) and stores a new handle in @p *out
 * (release with pln_wallet_free). Fails with PLN_ERR_UNSUPPORTED for an unknown scheme,
 * PLN_ERR_NOT_FOUND for an unknown account, PLN_ERR_INVALID_ARGUMENT for a malformed URI. */
PLN_API int pln_wallet_open(const char* uri, const struct pln_wallet_params* params, pln_wallet** out);

/* Releases @p wallet. Accepts NULL. */
PLN_API void pln_wallet_free(pln_wallet* wallet);

/* Stores the spendable balance in millisatoshis in @p *out_msat. */
PLN_API int pln_wallet_balance(pln_wallet* wallet, uint64_t* out_msat);

/* Stores a description of the wallet that is safe to log in @p *out (caller frees). */
PLN_API int pln_wallet_describe(const pln_wallet* wallet, char** out);

/* What invoice to create. */
struct pln_invoice_params {
  uint64_t amount_msat;  /* Amount (0 = any amount). Default 0. */
  const char* memo;      /* Description. Default "". */
  uint64_t expiry_s;     /* Seconds until it expires. Default 3600. */
};

/* Returns the defaults documented at each field of pln_invoice_params. */
PLN_API struct pln_invoice_params pln_invoice_default_params(void);

/* Creates an invoice and stores {"bolt11", "payment_hash"} in @p *out_json (caller frees). */
PLN_API int pln_wallet_create_invoice(pln_wallet* wallet, const struct pln_invoice_params* params, char** out_json);

/* Pays @p bolt11 (paying at most @p max_fee_msat in fees; @p amount_msat only for an
 * amount-less invoice, else 0) and stores {"payment_hash", "status": "succeeded"|"failed"|
 * "pending", "preimage" (null unless succeeded), "amount_msat", "fee_msat", "failure_reason"}
 * in @p *out_json (caller frees). A refused payment is PLN_OK with status "failed". */
PLN_API int pln_wallet_pay(pln_wallet* wallet, const char* bolt11, uint64_t max_fee_msat, uint64_t amount_msat,
                           char** out_json);

/* Looks up an invoice this wallet created by its payment hash (64 hex digits) and stores
 * {"payment_hash", "settled", "expired", "amount_paid_msat", "settled_at"} in @p *out_json.
 * Fails with PLN_ERR_NOT_FOUND for an unknown invoice. */
PLN_API int pln_wallet_lookup_invoice(pln_wallet* wallet, const char* payment_hash_hex, char** out_json);

/* The devnet faucet: creates account @p name holding @p fund_msat in the devnet file @p path
 * (created 0600 if absent) and stores {"name", "node_id", "balance_msat", "uri"} in
 * @p *out_json (caller frees; may be NULL). Simulated money: devnet only. */
PLN_API int pln_devnet_create_account(const char* path, const char* name, uint64_t fund_msat, char** out_json);

#ifdef __cplusplus
}
#endif

#endif /* PETALSLN_H */
