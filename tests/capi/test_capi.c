/* The C ABI from C: every function, the rules stated at the top of petalsln.h (NULL params mean
 * the defaults; out-parameters written only on success; every struct result), the error paths
 * with their messages (NULL handles and pointers, values outside their domain, bad inputs), and
 * the use cases end to end — local greedy generation against the fixtures' reference tokens,
 * cancellation, a paid swarm chat on loopback servers started through the ABI, invoices,
 * macaroons and L402 headers, payouts, devnet wallets, and the weight formats (bf16 and int8
 * local models answering, an int8 server announcing less memory per block than an f32 one).
 *
 * Plain C11 with its own small checking macros: it compiles against petalsln.h alone, as a
 * user's program would. Fixtures come from PETALSLN_FIXTURES_DIR and the demo model from
 * PETALSLN_DEMO_MODEL_DIR (compile definitions; the environment variables PETALSLN_FIXTURES and
 * PETALSLN_DEMO_MODEL override them). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petalsln.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    ++checks;                                                                         \
    if (!(cond)) {                                                                    \
      ++failures;                                                                     \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, \
              #cond, pln_last_error());                                               \
    }                                                                                 \
  } while (0)

/* Checks that a call returns @p expected and, on failure, leaves a non-empty message. */
#define CHECK_STATUS(call, expected)                                                               \
  do {                                                                                             \
    pln_status status_ = (call);                                                                   \
    ++checks;                                                                                      \
    if (status_ != (expected)) {                                                                   \
      ++failures;                                                                                  \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s; last error: %s\n", __FILE__, __LINE__, \
              #call, pln_status_name(status_), pln_status_name(expected), pln_last_error());       \
    } else if (status_ != PLN_OK && pln_last_error()[0] == '\0') {                                 \
      ++failures;                                                                                  \
      fprintf(stderr, "%s:%d: %s failed without a message\n", __FILE__, __LINE__, #call);         \
    }                                                                                              \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, PLN_OK)

/* Checks that the last error mentions @p text. */
#define CHECK_MESSAGE(text) CHECK(strstr(pln_last_error(), (text)) != NULL)

/* The header marks pointer arguments PLN_NONNULL, so a literal NULL is (rightly) a compile-time
 * warning. The run-time checks behind them are tested with this NULL, which the compiler cannot
 * see through. */
static void* volatile null_pointer = NULL;
#define NUL_ ((void*)null_pointer)

static char tmpdir[256];

static void path_in_tmp(char* out, size_t cap, const char* name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

/* Writes @p n bytes as lower-case hex into @p out (2n + 1 bytes). */
static void to_hex(const uint8_t* bytes, size_t n, char* out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

static bool all_zero(const void* p, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

/* Returns the unsigned integer value of "key" in a JSON text, or UINT64_MAX if absent. */
static uint64_t json_u64(const char* json, const char* key) {
  char pattern[128];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char* p = json != NULL ? strstr(json, pattern) : NULL;
  if (p == NULL) return UINT64_MAX;
  return strtoull(p + strlen(pattern), NULL, 10);
}

/* ---- status, version, strings, release functions ---- */

static void test_basics(void) {
  CHECK(strlen(pln_version()) > 0);
  CHECK(pln_abi_version() == PLN_ABI_VERSION);
  CHECK(PLN_ABI_VERSION == 3);
  CHECK(strcmp(pln_status_name(PLN_OK), "ok") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_DENIED), "denied") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_INVALID_ARGUMENT), "invalid_argument") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_INVALID_FORMAT), "invalid_format") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_UNSUPPORTED), "unsupported") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_NOT_FOUND), "not_found") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_OUT_OF_RANGE), "out_of_range") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_IO), "io") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_INTERNAL), "internal") == 0);
  CHECK(strcmp(pln_status_name((pln_status)12345), "unknown") == 0);
  /* Every release function accepts NULL, and every clear function a zeroed struct. */
  pln_string_free(NULL);
  pln_model_free(NULL);
  pln_chat_free(NULL);
  pln_server_free(NULL);
  pln_wallet_free(NULL);
  pln_generation_clear(NULL);
  pln_l402_challenge_clear(NULL);
  pln_l402_token_clear(NULL);
  struct pln_generation g = {0};
  pln_generation_clear(&g);
  struct pln_l402_challenge c = {0};
  pln_l402_challenge_clear(&c);
  struct pln_l402_token t = {0};
  pln_l402_token_clear(&t);
  /* The message is per thread, names the argument, and is replaced by the next failure. */
  struct pln_bolt11_invoice inv;
  CHECK_STATUS(pln_bolt11_decode(NUL_, &inv), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("invoice must not be NULL");
  CHECK_STATUS(pln_bolt11_decode("lnbc1", NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out must not be NULL");
}

/* Every *_default_* returns the defaults written in the header. */
static void test_defaults(void) {
  struct pln_generate_params gp = pln_generate_default_params();
  CHECK(gp.max_new_tokens == 128 && gp.greedy && gp.temperature == 1.0f && gp.top_k == 0 && gp.top_p == 1.0f &&
        gp.repetition_penalty == 1.0f && gp.seed == 0 && !gp.raw && gp.stop_at_eos);
  struct pln_model_params mp = pln_model_default_params();
  CHECK(mp.n_threads == 0 && mp.weights == NULL);
  struct pln_chat_params cp = pln_chat_default_params();
  CHECK(cp.initial_peers == NULL && cp.peers == NULL && cp.model_name == NULL && cp.wallet_uri == NULL &&
        cp.budget_msat == 0 && cp.max_price_msat == UINT64_MAX && cp.server_timeout_ms == 30000 &&
        cp.dht_connect_timeout_ms == 10000 && cp.weights == NULL);
  struct pln_server_params sp = pln_server_default_params();
  CHECK(!sp.dht_only && sp.model_name == NULL && sp.block_begin == 0 && sp.block_end == 0 && sp.num_blocks == 0 &&
        strcmp(sp.host, "127.0.0.1") == 0 && sp.port == 0 && sp.dht_port == 0 && sp.initial_peers == NULL &&
        sp.identity_file == NULL && sp.public_name == NULL && sp.lightning_address == NULL && sp.throughput == 0.0);
  CHECK(sp.max_sessions == 16 && sp.max_sessions_per_peer == 0 && sp.max_streams_per_peer == 0 &&
        sp.max_unpaid_per_peer == 4 && sp.open_timeout_ms == 10000 && sp.idle_timeout_ms == 300000 &&
        sp.cache_mb == 512 && sp.max_batch == 8 && sp.max_length == 0 && sp.price_msat == 0 && sp.wallet_uri == NULL &&
        sp.paywall_store == NULL && sp.credit_block_tokens == 20000 && sp.weights == NULL);
  struct pln_l402_terms terms = pln_l402_default_terms();
  CHECK(strcmp(terms.service, "petalsln") == 0 && terms.model == NULL && terms.peer == NULL && terms.block_begin == 0 &&
        terms.block_end == 0 && terms.credit == 0 && terms.expires == 0);
  struct pln_l402_request req = pln_l402_default_request();
  CHECK(strcmp(req.service, "petalsln") == 0 && req.model == NULL && req.peer == NULL && req.block_begin == 0 &&
        req.block_end == 0 && req.now == 0);
  struct pln_macaroon_params macp = pln_macaroon_default_params();
  CHECK(macp.location == NULL);
  struct pln_payout_params pp = pln_payout_default_params();
  CHECK(pp.fee_basis_points == 0 && pp.fee_fixed_msat == 0);
  struct pln_invoice_params ip = pln_invoice_default_params();
  CHECK(ip.amount_msat == 0 && ip.memo == NULL && ip.expiry_ms == 3600000);
  struct pln_pay_params pay = pln_pay_default_params();
  CHECK(pay.max_fee_msat == 0 && pay.amount_msat == 0 && pay.timeout_ms == 60000);
}

/* ---- local model ---- */

/* Reference: tests/fixtures/tiny-llama3/reference.json, greedy[0] (transformers' tokens). */
static const pln_token kPromptIds[] = {56, 277, 225, 85, 89, 77, 392, 299, 379, 91, 82, 284, 83, 92};
static const pln_token kGreedyNew[] = {344, 315, 499, 255, 338, 287, 162, 279, 156, 170,
                                       163, 308, 493, 326, 14,  287, 15,  137, 413, 30};
#define N_PROMPT (sizeof kPromptIds / sizeof kPromptIds[0])
#define N_GREEDY (sizeof kGreedyNew / sizeof kGreedyNew[0])

struct collected {
  pln_token ids[256];
  size_t n;
  size_t stop_after; /* 0 = never stop */
  char text[4096];
  size_t text_len;
};

static bool collect(pln_token id, const char* piece, size_t len, void* user) {
  struct collected* c = (struct collected*)user;
  if (c->n < 256) c->ids[c->n] = id;
  c->n++;
  if (c->text_len + len < sizeof c->text) {
    memcpy(c->text + c->text_len, piece, len);
    c->text_len += len;
    c->text[c->text_len] = '\0';
  }
  return c->stop_after == 0 || c->n < c->stop_after;
}

static bool same_ids(const pln_token* a, size_t n_a, const pln_token* b, size_t n_b) {
  return n_a == n_b && (n_a == 0 || memcmp(a, b, n_a * sizeof *a) == 0);
}

static void test_tokenize(pln_model* model) {
  pln_token ids[64];
  size_t n = 0;
  /* Too small reports the size needed, the one exception to "written only on success". */
  CHECK_STATUS(pln_model_tokenize(model, "The quick brown fox", true, ids, 3, &n), PLN_ERR_OUT_OF_RANGE);
  CHECK(n == N_PROMPT);
  CHECK_MESSAGE("14 ids");
  n = 0;
  CHECK_STATUS(pln_model_tokenize(model, "The quick brown fox", true, NULL, 0, &n), PLN_ERR_OUT_OF_RANGE);
  CHECK(n == N_PROMPT);
  CHECK_OK(pln_model_tokenize(model, "The quick brown fox", true, ids, 64, &n));
  CHECK(same_ids(ids, n, kPromptIds, N_PROMPT));
  /* Through the chat template: more ids than the raw text. */
  size_t templated = 0;
  CHECK_STATUS(pln_model_tokenize(model, "The quick brown fox", false, NULL, 0, &templated), PLN_ERR_OUT_OF_RANGE);
  CHECK(templated > N_PROMPT);
  CHECK_STATUS(pln_model_tokenize(NUL_, "x", true, ids, 64, &n), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("model must not be NULL");
  CHECK_STATUS(pln_model_tokenize(model, NUL_, true, ids, 64, &n), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("text must not be NULL");
  CHECK_STATUS(pln_model_tokenize(model, "x", true, NULL, 64, &n), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("ids must not be NULL when capacity");
  CHECK_STATUS(pln_model_tokenize(model, "x", true, ids, 64, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out_n_ids must not be NULL");
  CHECK_STATUS(pln_model_tokenize(model, "bad \xff utf-8", true, ids, 64, &n), PLN_ERR_INVALID_ARGUMENT);
}

static void test_generate(pln_model* model) {
  /* Greedy generation reproduces transformers' tokens, streamed and in the result struct. */
  struct pln_generate_params gp = pln_generate_default_params();
  gp.max_new_tokens = (uint32_t)N_GREEDY;
  struct collected c = {0};
  struct pln_generation g = {0};
  CHECK_OK(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, &gp, collect, &c, &g));
  CHECK(same_ids(c.ids, c.n, kGreedyNew, N_GREEDY));
  CHECK(same_ids(g.new_ids, g.n_new_ids, kGreedyNew, N_GREEDY));
  CHECK(same_ids(g.prompt_ids, g.n_prompt_ids, kPromptIds, N_PROMPT));
  CHECK(g.stop_reason == PLN_STOP_REASON_LENGTH);
  CHECK(g.text != NULL && strcmp(g.text, c.text) == 0); /* the pieces make the text */
  pln_generation_clear(&g);
  CHECK(g.text == NULL && g.new_ids == NULL && g.prompt_ids == NULL && g.n_new_ids == 0 && g.n_prompt_ids == 0);

  /* The same from the text prompt, without a callback. */
  gp.raw = true;
  CHECK_OK(pln_model_generate(model, "The quick brown fox", &gp, NULL, NULL, &g));
  CHECK(same_ids(g.prompt_ids, g.n_prompt_ids, kPromptIds, N_PROMPT));
  CHECK(same_ids(g.new_ids, g.n_new_ids, kGreedyNew, N_GREEDY));
  pln_generation_clear(&g);

  /* Returning false from the callback stops at once. */
  struct collected stop = {0};
  stop.stop_after = 3;
  CHECK_OK(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, &gp, collect, &stop, &g));
  CHECK(stop.n == 3);
  CHECK(g.stop_reason == PLN_STOP_REASON_CANCELLED);
  CHECK(same_ids(g.new_ids, g.n_new_ids, kGreedyNew, 3));
  pln_generation_clear(&g);

  /* max_new_tokens 0 only tokenizes: no ids, an empty text. */
  gp.max_new_tokens = 0;
  CHECK_OK(pln_model_generate(model, "The quick brown fox", &gp, NULL, NULL, &g));
  CHECK(g.n_new_ids == 0 && g.new_ids == NULL && g.text != NULL && g.text[0] == '\0' && g.n_prompt_ids == N_PROMPT);
  pln_generation_clear(&g);

  /* NULL params mean the defaults: the chat template, greedy, up to 128 tokens, stop at EOS. */
  struct collected defaults = {0};
  CHECK_OK(pln_model_generate(model, "The quick brown fox", NULL, collect, &defaults, &g));
  CHECK(g.n_prompt_ids > N_PROMPT); /* templated */
  CHECK(g.n_new_ids >= 1 && g.n_new_ids <= 128 && g.n_new_ids == defaults.n);
  CHECK(g.stop_reason == (g.n_new_ids == 128 ? PLN_STOP_REASON_LENGTH : PLN_STOP_REASON_STOP_TOKEN));
  pln_generation_clear(&g);
}

static void test_generate_errors(pln_model* model) {
  struct pln_generation g = {0};
  struct pln_generate_params bad = pln_generate_default_params();
  bad.greedy = false;
  bad.temperature = 0.0f;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("temperature");
  bad = pln_generate_default_params();
  bad.top_p = 1.5f;
  bad.greedy = false;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("top_p");
  bad = pln_generate_default_params();
  bad.repetition_penalty = -1.0f;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  bad = pln_generate_default_params();
  bad.top_k = UINT32_MAX;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("top_k");
  const pln_token out_of_vocab[] = {1, 512};
  CHECK_STATUS(pln_model_generate_tokens(model, out_of_vocab, 2, NULL, NULL, NULL, &g), PLN_ERR_OUT_OF_RANGE);
  const pln_token negative[] = {-5};
  CHECK_STATUS(pln_model_generate_tokens(model, negative, 1, NULL, NULL, NULL, &g), PLN_ERR_OUT_OF_RANGE);
  CHECK_STATUS(pln_model_generate_tokens(model, kPromptIds, 0, NULL, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("at least one id");
  CHECK_STATUS(pln_model_generate_tokens(model, NUL_, 3, NULL, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_generate_tokens(NUL_, kPromptIds, N_PROMPT, NULL, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, NULL, NULL, NULL, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out must not be NULL");
  CHECK_STATUS(pln_model_generate(NUL_, "x", NULL, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("model must not be NULL");
  CHECK_STATUS(pln_model_generate(model, NUL_, NULL, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("prompt must not be NULL");
  CHECK_STATUS(pln_model_generate(model, "x", NULL, NULL, NULL, NUL_), PLN_ERR_INVALID_ARGUMENT);
  /* Nothing was written by any failure, and the model still works. */
  CHECK(all_zero(&g, sizeof g));
  struct collected again = {0};
  struct pln_generate_params gp = pln_generate_default_params();
  gp.max_new_tokens = 2;
  CHECK_OK(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, &gp, collect, &again, &g));
  CHECK(again.n == 2 && again.ids[0] == 344 && again.ids[1] == 315);
  pln_generation_clear(&g);
}

static void test_model(const char* fixtures) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tiny-llama3", fixtures);
  pln_model* model = NULL;
  struct pln_model_params mp = pln_model_default_params();
  CHECK_STATUS(pln_model_open(NUL_, &mp, &model), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("model_dir must not be NULL");
  CHECK_STATUS(pln_model_open(dir, &mp, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out must not be NULL");
  CHECK_STATUS(pln_model_open("/nonexistent/model", NULL, &model), PLN_ERR_NOT_FOUND);
  CHECK_MESSAGE("/nonexistent/model");
  CHECK(model == NULL);
  mp.n_threads = 70000;
  CHECK_STATUS(pln_model_open(dir, &mp, &model), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("n_threads");
  CHECK(model == NULL);
  mp.n_threads = 1;
  mp.weights = "fp8";
  CHECK_STATUS(pln_model_open(dir, &mp, &model), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("weights \"fp8\" is not one of f32, bf16, f16, int8");
  CHECK(model == NULL);
  mp.weights = "F32"; /* names are exact */
  CHECK_STATUS(pln_model_open(dir, &mp, &model), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("weights \"F32\"");
  CHECK(model == NULL);
  mp.weights = NULL;
  mp.n_threads = 1;
  CHECK_OK(pln_model_open(dir, &mp, &model));
  if (model == NULL) return;
  test_tokenize(model);
  test_generate(model);
  test_generate_errors(model);
  pln_model_free(model);
  /* NULL params: the defaults. */
  model = NULL;
  CHECK_OK(pln_model_open(dir, NULL, &model));
  pln_model_free(model);
}

/* The demo model (trained, wide margins) answers exactly as in float32 in every compact format:
 * the first question of examples/demo-model/reference.json. */
static void test_model_weights(const char* demo) {
  static const char* const formats[] = {"bf16", "int8"};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; ++i) {
    struct pln_model_params mp = pln_model_default_params();
    mp.weights = formats[i];
    pln_model* model = NULL;
    CHECK_OK(pln_model_open(demo, &mp, &model));
    if (model == NULL) continue;
    struct pln_generate_params gp = pln_generate_default_params();
    gp.max_new_tokens = 64;
    struct pln_generation g = {0};
    CHECK_OK(pln_model_generate(model, "What is 17 + 25?", &gp, NULL, NULL, &g));
    if (g.text == NULL || strcmp(g.text, "17 + 25 = 42.") != 0) {
      fprintf(stderr, "the demo model in %s answered \"%s\"\n", formats[i], g.text != NULL ? g.text : "(null)");
    }
    CHECK(g.text != NULL && strcmp(g.text, "17 + 25 = 42.") == 0);
    CHECK(g.stop_reason == PLN_STOP_REASON_STOP_TOKEN);
    pln_generation_clear(&g);
    pln_model_free(model);
  }
}

/* ---- BOLT11 ---- */

/* BOLT #11's "donation of any amount" example. */
static const char kDonation[] =
    "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";

static void test_bolt11(void) {
  struct pln_bolt11_invoice inv;
  memset(&inv, 0xAB, sizeof inv);
  CHECK_OK(pln_bolt11_decode(kDonation, &inv));
  char hex[67];
  CHECK(strcmp(inv.network, "mainnet") == 0);
  CHECK(!inv.has_amount && inv.amount_msat == 0);
  CHECK(inv.timestamp == 1496314658);
  CHECK(inv.expiry_ms == 3600000 && inv.expires_at == 1496314658 + 3600);
  to_hex(inv.payment_hash, 32, hex);
  CHECK(strcmp(hex, "0001020304050607080900010203040506070809000102030405060708090102") == 0);
  to_hex(inv.payee, 33, hex);
  CHECK(strcmp(hex, "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad") == 0);
  CHECK(inv.has_description && strcmp(inv.description, "Please consider supporting this project") == 0);
  CHECK(inv.description_len == strlen("Please consider supporting this project"));
  CHECK(!inv.has_description_hash && all_zero(inv.description_hash, 32));
  CHECK(inv.min_final_cltv_expiry == 18);
  CHECK(inv.n_route_hints == 0);
  /* Features 8 and 14 (var_onion_optin, payment_secret), as the example's '9' field says. */
  CHECK(inv.n_features == 2 && inv.features[0] == 8 && inv.features[1] == 14);

  /* One flipped character breaks the checksum: nothing is written. */
  char broken[1024];
  snprintf(broken, sizeof broken, "%s", kDonation);
  broken[40] = broken[40] == 'q' ? 'p' : 'q';
  struct pln_bolt11_invoice untouched = {0};
  CHECK_STATUS(pln_bolt11_decode(broken, &untouched), PLN_ERR_INVALID_FORMAT);
  CHECK_MESSAGE("checksum");
  CHECK(all_zero(&untouched, sizeof untouched));
  CHECK_STATUS(pln_bolt11_decode("lnxy1pvjluez", &untouched), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_bolt11_decode("", &untouched), PLN_ERR_INVALID_FORMAT);
  CHECK(all_zero(&untouched, sizeof untouched));
}

/* ---- macaroons ---- */

static const uint8_t kMacKey[] = {1, 2, 3, 4, 5, 6, 7, 8};
static const char kPeer[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const uint8_t kHash[32] = {0xff, [31] = 0x01};

static struct pln_l402_terms test_terms(void) {
  struct pln_l402_terms t = pln_l402_default_terms();
  t.model = "m";
  t.peer = kPeer;
  t.block_begin = 2;
  t.block_end = 6;
  t.credit = 500;
  t.expires = 2000000000;
  return t;
}

static struct pln_l402_request test_request(void) {
  struct pln_l402_request r = pln_l402_default_request();
  r.model = "m";
  r.peer = kPeer;
  r.block_begin = 2;
  r.block_end = 6;
  r.now = 1900000000;
  return r;
}

static void test_macaroon_refusals(const char* mac) {
  struct pln_l402_request req = test_request();
  struct pln_l402_grant grant = {0};
  static const uint8_t other[] = {9, 9, 9};
  CHECK_STATUS(pln_macaroon_verify(mac, other, sizeof other, &req, &grant), PLN_ERR_DENIED);
  req.model = "other";
  CHECK_STATUS(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_DENIED);
  CHECK_MESSAGE("model");
  req = test_request();
  req.block_end = 7;
  CHECK_STATUS(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_DENIED);
  req = test_request();
  req.now = 2000000001;
  CHECK_STATUS(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_DENIED);
  CHECK_MESSAGE("expire");
  req.now = UINT64_MAX;
  CHECK_STATUS(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("request->now");
  CHECK(all_zero(&grant, sizeof grant));
}

static void test_macaroon_attenuation(const char* mac) {
  struct pln_l402_request req = test_request();
  struct pln_l402_grant grant;
  char* narrowed = NULL;
  CHECK_OK(pln_macaroon_add_caveat(mac, "blocks=2-4", &narrowed));
  if (narrowed == NULL) return;
  CHECK_STATUS(pln_macaroon_verify(narrowed, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_DENIED);
  req.block_end = 4;
  CHECK_OK(pln_macaroon_verify(narrowed, kMacKey, sizeof kMacKey, &req, &grant));
  CHECK(grant.block_begin == 2 && grant.block_end == 4);
  char* credit = NULL;
  CHECK_OK(pln_macaroon_add_caveat(narrowed, "credit=10", &credit));
  CHECK_OK(pln_macaroon_verify(credit, kMacKey, sizeof kMacKey, &req, &grant));
  CHECK(grant.credit == 10);
  pln_string_free(credit);
  char* unknown = NULL;
  CHECK_OK(pln_macaroon_add_caveat(narrowed, "admin=true", &unknown));
  CHECK_STATUS(pln_macaroon_verify(unknown, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_DENIED);
  pln_string_free(unknown);
  pln_string_free(narrowed);
  char* out = NULL;
  CHECK_STATUS(pln_macaroon_add_caveat(mac, "", &out), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_add_caveat("%%%", "a=b", &out), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_macaroon_add_caveat(NUL_, "a=b", &out), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_add_caveat(mac, NUL_, &out), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("predicate must not be NULL");
  CHECK_STATUS(pln_macaroon_add_caveat(mac, "a=b", NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(out == NULL);
}

static void test_macaroon_bad_mints(void) {
  char* m = NULL;
  struct pln_l402_terms bad = test_terms();
  CHECK_STATUS(pln_macaroon_mint(kMacKey, 0, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("root_key_len");
  CHECK_STATUS(pln_macaroon_mint(NUL_, sizeof kMacKey, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, NUL_, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("payment_hash must not be NULL");
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, NUL_, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("terms must not be NULL");
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &bad, NULL, NUL_), PLN_ERR_INVALID_ARGUMENT);
  bad.peer = "not hex";
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  bad = test_terms();
  bad.block_end = 2;
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  bad = test_terms();
  bad.model = "has space";
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  bad = test_terms();
  bad.expires = UINT64_MAX;
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("terms->expires");
  /* The default terms name no model or peer: refused, not minted. */
  bad = pln_l402_default_terms();
  CHECK_STATUS(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &bad, NULL, &m), PLN_ERR_INVALID_ARGUMENT);
  CHECK(m == NULL);
}

static void test_macaroon(void) {
  struct pln_l402_terms terms = test_terms();
  struct pln_macaroon_params params = pln_macaroon_default_params();
  params.location = "petalsln-test";
  char* mac = NULL;
  CHECK_OK(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &terms, &params, &mac));
  if (mac == NULL) return;

  char* json = NULL;
  CHECK_OK(pln_macaroon_inspect(mac, &json));
  CHECK(json != NULL && strstr(json, "\"caveats\":[\"service=petalsln\",\"model=m\",\"peer=0123456789abcdef") != NULL);
  CHECK(json != NULL && strstr(json, "\"blocks=2-6\",\"credit=500\",\"expires=2000000000\"]") != NULL);
  CHECK(json != NULL && strstr(json, "\"payment_hash\":\"ff00000000000000000000000000000000000000000000000000000000000001\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"location\":\"petalsln-test\"") != NULL);
  pln_string_free(json);
  CHECK_STATUS(pln_macaroon_inspect("not a macaroon", &json), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_macaroon_inspect(NUL_, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_inspect(mac, NUL_), PLN_ERR_INVALID_ARGUMENT);

  /* NULL params: no location. */
  char* plain = NULL;
  CHECK_OK(pln_macaroon_mint(kMacKey, sizeof kMacKey, kHash, &terms, NULL, &plain));
  json = NULL;
  CHECK_OK(pln_macaroon_inspect(plain, &json));
  CHECK(json != NULL && strstr(json, "\"location\":\"\"") != NULL);
  pln_string_free(json);
  pln_string_free(plain);

  struct pln_l402_request req = test_request();
  struct pln_l402_grant grant = {0};
  CHECK_OK(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, &req, &grant));
  CHECK(grant.block_begin == 2 && grant.block_end == 6 && grant.credit == 500 && grant.expires == 2000000000);
  test_macaroon_refusals(mac);
  test_macaroon_attenuation(mac);
  CHECK_STATUS(pln_macaroon_verify("AgEEbm9wZQ", kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_macaroon_verify(NUL_, kMacKey, sizeof kMacKey, &req, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_verify(mac, NUL_, sizeof kMacKey, &req, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, NUL_, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("request must not be NULL");
  CHECK_STATUS(pln_macaroon_verify(mac, kMacKey, sizeof kMacKey, &req, NUL_), PLN_ERR_INVALID_ARGUMENT);
  test_macaroon_bad_mints();
  pln_string_free(mac);
}

/* ---- payouts ---- */

static uint64_t sum_shares(const struct pln_payout_share* shares, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += shares[i].amount_msat;
  return sum;
}

static void test_payout_errors(void) {
  struct pln_payout_weight w[] = {{"alice@example.com", 1}, {"bob@example.com", 2}};
  struct pln_payout_share shares[4];
  size_t n = 0;
  uint64_t fee = 0;
  struct pln_payout_params too_much = pln_payout_default_params();
  too_much.fee_basis_points = 10001;
  CHECK_STATUS(pln_payout_split(1000, w, 2, &too_much, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(1000, w, 0, NULL, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  struct pln_payout_weight empty[] = {{"", 1}};
  CHECK_STATUS(pln_payout_split(1000, empty, 1, NULL, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  struct pln_payout_weight null_name[] = {{NULL, 1}};
  CHECK_STATUS(pln_payout_split(1000, null_name, 1, NULL, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("weights[0].payee must not be NULL");
  struct pln_payout_weight zero[] = {{"a", 0}};
  CHECK_STATUS(pln_payout_split(1000, zero, 1, NULL, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(1000, w, 100001, NULL, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(1000, NUL_, 2, NULL, shares, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(1000, w, 2, NULL, NUL_, &n, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out_shares must not be NULL");
  CHECK_STATUS(pln_payout_split(1000, w, 2, NULL, shares, NUL_, &fee), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(1000, w, 2, NULL, shares, &n, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(n == 0 && fee == 0);
}

static void test_payout(void) {
  struct pln_payout_params params = pln_payout_default_params();
  params.fee_basis_points = 100; /* 1% */
  struct pln_payout_weight w[] = {{"alice@example.com", 1}, {"bob@example.com", 2}};
  struct pln_payout_share shares[4];
  size_t n = 0;
  uint64_t fee = 0;
  CHECK_OK(pln_payout_split(1000, w, 2, &params, shares, &n, &fee));
  CHECK(fee == 10 && n == 2);
  /* The payee strings are the caller's own, borrowed back. */
  CHECK(shares[0].payee == w[0].payee && shares[0].amount_msat == 330);
  CHECK(shares[1].payee == w[1].payee && shares[1].amount_msat == 660);

  /* Exact with remainders and a fixed fee; a payee named twice is merged, first name kept. */
  struct pln_payout_weight thirds[] = {{"a", 1}, {"b", 1}, {"c", 1}, {"a", 0}};
  params.fee_basis_points = 250;
  params.fee_fixed_msat = 1;
  for (uint64_t amount = 1; amount < 2000; amount += 97) {
    CHECK_OK(pln_payout_split(amount, thirds, 4, &params, shares, &n, &fee));
    CHECK(n == 3 && shares[0].payee == thirds[0].payee);
    CHECK(fee + sum_shares(shares, n) == amount);
  }
  /* NULL params: no fee. */
  CHECK_OK(pln_payout_split(100, thirds, 3, NULL, shares, &n, &fee));
  CHECK(fee == 0 && n == 3 && sum_shares(shares, n) == 100);
  test_payout_errors();
}

/* ---- wallets, and L402 headers around a paid invoice ---- */

/* A devnet with a funded client and a shop; their URIs are written to the two buffers. */
static void make_devnet(const char* devnet, char* client_uri, size_t client_cap, char* shop_uri, size_t shop_cap) {
  uint8_t node_id[33];
  char* uri = NULL;
  CHECK_OK(pln_devnet_create_account(devnet, "client", 1000000000, node_id, &uri));
  CHECK(uri != NULL && strstr(uri, "account=client") != NULL && strncmp(uri, "devnet:", 7) == 0);
  CHECK(node_id[0] == 2 || node_id[0] == 3); /* a compressed public key */
  snprintf(client_uri, client_cap, "%s", uri != NULL ? uri : "");
  pln_string_free(uri);
  uri = NULL;
  CHECK_OK(pln_devnet_create_account(devnet, "shop", 0, node_id, &uri));
  snprintf(shop_uri, shop_cap, "%s", uri != NULL ? uri : "");
  pln_string_free(uri);
  uri = NULL;
  CHECK_STATUS(pln_devnet_create_account(devnet, "shop", 0, node_id, &uri), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(devnet, "Bad Name!", 0, node_id, &uri), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(NUL_, "x", 0, node_id, &uri), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(devnet, NUL_, 0, node_id, &uri), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(devnet, "x", 0, NUL_, &uri), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out_node_id must not be NULL");
  CHECK_STATUS(pln_devnet_create_account(devnet, "x", 0, node_id, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(uri == NULL);
}

static void test_wallet_open(const char* devnet, const char* uri) {
  pln_wallet* w = NULL;
  CHECK_STATUS(pln_wallet_open("nosuchscheme:whatever", &w), PLN_ERR_UNSUPPORTED);
  CHECK_MESSAGE("nosuchscheme");
  CHECK_STATUS(pln_wallet_open("devnet:", &w), PLN_ERR_INVALID_ARGUMENT);
  char missing[700];
  snprintf(missing, sizeof missing, "devnet:%s?account=nobody", devnet);
  CHECK_STATUS(pln_wallet_open(missing, &w), PLN_ERR_NOT_FOUND);
  CHECK_STATUS(pln_wallet_open(NUL_, &w), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("uri must not be NULL");
  CHECK_STATUS(pln_wallet_open(uri, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(w == NULL);
}

static void test_invoice(pln_wallet* shop, char* bolt11, size_t cap, uint8_t hash[32]) {
  struct pln_invoice_params ip = pln_invoice_default_params();
  ip.amount_msat = 21000;
  ip.memo = "two coffees";
  ip.expiry_ms = 1500; /* rounded up to 2 s */
  char* invoice = NULL;
  CHECK_OK(pln_wallet_create_invoice(shop, &ip, &invoice, hash));
  struct pln_bolt11_invoice decoded;
  CHECK_OK(pln_bolt11_decode(invoice, &decoded));
  CHECK(decoded.expiry_ms == 2000);
  pln_string_free(invoice);
  /* The one the tests pay: the defaults but an amount. */
  ip = pln_invoice_default_params();
  ip.amount_msat = 21000;
  ip.memo = "two coffees";
  invoice = NULL;
  CHECK_OK(pln_wallet_create_invoice(shop, &ip, &invoice, hash));
  CHECK(invoice != NULL && strncmp(invoice, "lnbcrt", 6) == 0);
  snprintf(bolt11, cap, "%s", invoice != NULL ? invoice : "");
  pln_string_free(invoice);
  CHECK_OK(pln_bolt11_decode(bolt11, &decoded));
  CHECK(decoded.has_amount && decoded.amount_msat == 21000 && strcmp(decoded.network, "regtest") == 0);
  CHECK(strcmp(decoded.description, "two coffees") == 0 && decoded.expiry_ms == 3600000);
  CHECK(memcmp(decoded.payment_hash, hash, 32) == 0);

  /* NULL params: an invoice for any amount, an hour, no memo. */
  uint8_t any_hash[32];
  CHECK_OK(pln_wallet_create_invoice(shop, NULL, &invoice, any_hash));
  CHECK_OK(pln_bolt11_decode(invoice, &decoded));
  CHECK(!decoded.has_amount && decoded.expiry_ms == 3600000 && decoded.description_len == 0);
  pln_string_free(invoice);
  invoice = NULL;
  ip.expiry_ms = 0;
  CHECK_STATUS(pln_wallet_create_invoice(shop, &ip, &invoice, any_hash), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("expiry_ms");
  CHECK_STATUS(pln_wallet_create_invoice(NUL_, NULL, &invoice, any_hash), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_create_invoice(shop, NULL, NUL_, any_hash), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_create_invoice(shop, NULL, &invoice, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("out_payment_hash must not be NULL");
  CHECK(invoice == NULL);
}

static void test_lookup(pln_wallet* shop, const uint8_t hash[32], bool settled) {
  struct pln_invoice_status st;
  memset(&st, 0xAB, sizeof st);
  CHECK_OK(pln_wallet_lookup_invoice(shop, hash, &st));
  CHECK(memcmp(st.payment_hash, hash, 32) == 0 && st.settled == settled && !st.expired);
  CHECK(st.amount_paid_msat == (settled ? 21000u : 0u) && (st.settled_at != 0) == settled);
  static const uint8_t unknown[32] = {0};
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, unknown, &st), PLN_ERR_NOT_FOUND);
  CHECK_STATUS(pln_wallet_lookup_invoice(NUL_, hash, &st), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, NUL_, &st), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("payment_hash must not be NULL");
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, hash, NUL_), PLN_ERR_INVALID_ARGUMENT);
}

/* Pays @p bolt11 from @p client and stores the preimage. */
static void test_pay(pln_wallet* client, const char* bolt11, const uint8_t hash[32], uint8_t preimage[32]) {
  struct pln_payment p;
  memset(&p, 0xAB, sizeof p);
  CHECK_OK(pln_wallet_pay(client, bolt11, NULL, &p)); /* NULL params: the defaults */
  CHECK(p.status == PLN_PAYMENT_SUCCEEDED && p.has_preimage && p.amount_msat == 21000 && p.fee_msat == 0);
  CHECK(memcmp(p.payment_hash, hash, 32) == 0 && p.failure_reason[0] == '\0');
  memcpy(preimage, p.preimage, 32);
  /* Paying twice is a refused payment with a reason, not an error. */
  struct pln_pay_params params = pln_pay_default_params();
  params.timeout_ms = 30000;
  CHECK_OK(pln_wallet_pay(client, bolt11, &params, &p));
  CHECK(p.status == PLN_PAYMENT_FAILED && !p.has_preimage && all_zero(p.preimage, 32));
  CHECK(strlen(p.failure_reason) > 0 && strlen(p.failure_reason) < sizeof p.failure_reason);
  /* An amount is refused for an invoice that has one. */
  params.amount_msat = 5;
  CHECK_OK(pln_wallet_pay(client, bolt11, &params, &p));
  CHECK(p.status == PLN_PAYMENT_FAILED);
  params = pln_pay_default_params();
  params.timeout_ms = 0;
  CHECK_STATUS(pln_wallet_pay(client, bolt11, &params, &p), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("timeout_ms");
  CHECK_STATUS(pln_wallet_pay(client, "lnbcrt1garbage", NULL, &p), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_wallet_pay(NUL_, bolt11, NULL, &p), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_pay(client, NUL_, NULL, &p), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_pay(client, bolt11, NULL, NUL_), PLN_ERR_INVALID_ARGUMENT);
}

static void test_challenge(const char* mac, const char* bolt11, const uint8_t hash[32]) {
  char header[8192];
  snprintf(header, sizeof header, "L402 macaroon=\"%s\", invoice=\"%s\"", mac, bolt11);
  struct pln_l402_challenge c = {0};
  CHECK_OK(pln_l402_parse_challenge(header, &c));
  CHECK(c.macaroon != NULL && strcmp(c.macaroon, mac) == 0);
  CHECK(c.invoice != NULL && strcmp(c.invoice, bolt11) == 0);
  CHECK(c.has_payment_hash && memcmp(c.payment_hash, hash, 32) == 0);
  pln_l402_challenge_clear(&c);
  CHECK(c.macaroon == NULL && c.invoice == NULL && !c.has_payment_hash);
  CHECK_STATUS(pln_l402_parse_challenge("L402 invoice=\"lnbcrt1\"", &c), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_l402_parse_challenge("Basic realm=x", &c), PLN_ERR_UNSUPPORTED);
  CHECK_STATUS(pln_l402_parse_challenge(NUL_, &c), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("header must not be NULL");
  CHECK_STATUS(pln_l402_parse_challenge(header, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(all_zero(&c, sizeof c));
}

static void test_token(const char* header, const char* mac, const uint8_t hash[32], const uint8_t preimage[32]) {
  struct pln_l402_token t = {0};
  CHECK_OK(pln_l402_parse_token(header, &t));
  CHECK(t.macaroon != NULL && strcmp(t.macaroon, mac) == 0);
  CHECK(memcmp(t.preimage, preimage, 32) == 0 && t.has_payment_hash && memcmp(t.payment_hash, hash, 32) == 0);
  CHECK(t.preimage_matches); /* the wallet's preimage pays the invoice's hash */
  pln_l402_token_clear(&t);
  CHECK(t.macaroon == NULL && !t.preimage_matches);
  CHECK_STATUS(pln_l402_parse_token("L402 notbase64!:00", &t), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_l402_parse_token(NUL_, &t), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_l402_parse_token(header, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(all_zero(&t, sizeof t));
}

static void test_verify_token(const char* header, const char* mac, const char* preimage_hex, const uint8_t* key,
                              size_t key_len) {
  struct pln_l402_request req = pln_l402_default_request(); /* now: the current time */
  req.model = "tiny";
  req.peer = kPeer;
  req.block_begin = 1;
  req.block_end = 3;
  struct pln_l402_grant grant = {0};
  CHECK_OK(pln_l402_verify_token(header, key, key_len, &req, &grant));
  CHECK(grant.credit == 1000 && grant.block_begin == 0 && grant.block_end == 4 && grant.expires == 4000000000u);
  /* A wrong preimage (one hex digit flipped) is denied, not an error of format. */
  char wrong[8192];
  snprintf(wrong, sizeof wrong, "L402 %s:%s", mac, preimage_hex);
  char* last = wrong + strlen(wrong) - 1;
  *last = *last == '0' ? '1' : '0';
  CHECK_STATUS(pln_l402_verify_token(wrong, key, key_len, &req, &grant), PLN_ERR_DENIED);
  CHECK_STATUS(pln_l402_verify_token(header, (const uint8_t*)"other key", 9, &req, &grant), PLN_ERR_DENIED);
  /* The reason never carries the root key or the macaroon. */
  CHECK(strstr(pln_last_error(), "root key only") == NULL && strstr(pln_last_error(), mac) == NULL);
  CHECK_STATUS(pln_l402_verify_token(header, key, 0, &req, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_l402_verify_token(header, NUL_, 4, &req, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_l402_verify_token(header, key, key_len, NUL_, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_l402_verify_token(header, key, key_len, &req, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_l402_verify_token(NUL_, key, key_len, &req, &grant), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_l402_verify_token("L402 x", key, key_len, &req, &grant), PLN_ERR_INVALID_FORMAT);
}

/* The L402 flow around a paid invoice: challenge, token, verification. */
static void test_l402(const char* bolt11, const uint8_t hash[32], const uint8_t preimage[32]) {
  static const uint8_t root_key[] = "a root key only the server knows";
  struct pln_l402_terms terms = pln_l402_default_terms();
  terms.model = "tiny";
  terms.peer = kPeer;
  terms.block_begin = 0;
  terms.block_end = 4;
  terms.credit = 1000;
  terms.expires = 4000000000u;
  char* mac = NULL;
  CHECK_OK(pln_macaroon_mint(root_key, sizeof root_key - 1, hash, &terms, NULL, &mac));
  if (mac == NULL) return;
  test_challenge(mac, bolt11, hash);
  char preimage_hex[65];
  to_hex(preimage, 32, preimage_hex);
  char header[8192];
  snprintf(header, sizeof header, "LSAT %s:%s", mac, preimage_hex);
  test_token(header, mac, hash, preimage);
  test_verify_token(header, mac, preimage_hex, root_key, sizeof root_key - 1);
  pln_string_free(mac);
}

static void test_wallet(const char* devnet) {
  char client_uri[700], shop_uri[700];
  make_devnet(devnet, client_uri, sizeof client_uri, shop_uri, sizeof shop_uri);
  test_wallet_open(devnet, client_uri);
  pln_wallet* client = NULL;
  pln_wallet* shop = NULL;
  CHECK_OK(pln_wallet_open(client_uri, &client));
  CHECK_OK(pln_wallet_open(shop_uri, &shop));
  if (client == NULL || shop == NULL) {
    pln_wallet_free(client);
    pln_wallet_free(shop);
    return;
  }
  uint64_t balance = 0;
  CHECK_OK(pln_wallet_balance(client, &balance));
  CHECK(balance == 1000000000);
  CHECK_STATUS(pln_wallet_balance(NUL_, &balance), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_balance(client, NUL_), PLN_ERR_INVALID_ARGUMENT);
  char* desc = NULL;
  CHECK_OK(pln_wallet_describe(shop, &desc));
  CHECK(desc != NULL && strstr(desc, "account=shop") != NULL);
  pln_string_free(desc);
  CHECK_STATUS(pln_wallet_describe(NUL_, &desc), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_describe(shop, NUL_), PLN_ERR_INVALID_ARGUMENT);

  char bolt11[2048];
  uint8_t hash[32], preimage[32];
  test_invoice(shop, bolt11, sizeof bolt11, hash);
  test_lookup(shop, hash, false);
  test_pay(client, bolt11, hash, preimage);
  CHECK_OK(pln_wallet_balance(client, &balance));
  CHECK(balance == 1000000000 - 21000);
  test_lookup(shop, hash, true);
  test_l402(bolt11, hash, preimage);
  pln_wallet_free(client);
  pln_wallet_free(shop);
}

/* ---- servers and a paid swarm chat ---- */

static void test_server_errors(const char* model) {
  pln_server* bad = NULL;
  struct pln_server_params p = pln_server_default_params();
  p.block_end = 3;
  CHECK_STATUS(pln_server_start(NULL, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("model_dir must not be NULL");
  CHECK_STATUS(pln_server_start(model, NULL, &bad), PLN_ERR_INVALID_ARGUMENT); /* the defaults name no blocks */
  CHECK_STATUS(pln_server_start(model, &p, NUL_), PLN_ERR_INVALID_ARGUMENT);
  p.block_begin = 2;
  p.block_end = 9;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("6 blocks");
  p.block_begin = 3;
  p.block_end = 3;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  p.block_begin = 0;
  p.block_end = UINT32_MAX;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("block_end");
  p.block_end = 3;
  p.price_msat = 1000;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("wallet");
  p.price_msat = 0;
  p.open_timeout_ms = 0;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("open_timeout_ms must be above 0");
  p.open_timeout_ms = 10000;
  p.idle_timeout_ms = UINT64_MAX;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("idle_timeout_ms");
  p.idle_timeout_ms = 300000;
  p.max_sessions_per_peer = UINT32_MAX;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("max_sessions_per_peer");
  p.max_sessions_per_peer = 0;
  p.initial_peers = "no-port-here";
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  p.initial_peers = NULL;
  CHECK_STATUS(pln_server_start("/nonexistent/model", &p, &bad), PLN_ERR_NOT_FOUND);
  /* An unknown format is refused before anything starts, even before the missing folder. */
  p.weights = "fp8";
  CHECK_STATUS(pln_server_start("/nonexistent/model", &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("weights \"fp8\" is not one of f32, bf16, f16, int8");
  CHECK(bad == NULL);
}

static void test_chat_errors(const char* model, const char* dht) {
  pln_chat* chat = NULL;
  CHECK_STATUS(pln_chat_open(model, NULL, &chat), PLN_ERR_INVALID_ARGUMENT); /* the defaults name no servers */
  struct pln_chat_params cp = pln_chat_default_params();
  cp.peers = "127.0.0.1:1";
  cp.initial_peers = dht;
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT); /* both */
  cp.initial_peers = NULL;
  cp.budget_msat = 1000;
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT); /* budget without wallet */
  CHECK_MESSAGE("wallet");
  cp.budget_msat = 0;
  cp.peers = "127.0.0.1";
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  cp.peers = "127.0.0.1:1";
  cp.server_timeout_ms = 0;
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("server_timeout_ms must be above 0");
  cp.server_timeout_ms = 30000;
  cp.dht_connect_timeout_ms = 0;
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("dht_connect_timeout_ms");
  cp.dht_connect_timeout_ms = 10000;
  cp.wallet_uri = "nosuch:wallet";
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_UNSUPPORTED);
  /* An unknown format is refused before the wallet is opened. */
  cp.weights = "fp8";
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("weights \"fp8\" is not one of f32, bf16, f16, int8");
  cp.weights = NULL;
  cp.wallet_uri = NULL;
  CHECK_STATUS(pln_chat_open(NUL_, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_open(model, &cp, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK(chat == NULL);
}

/* Starts server @p i of two, serving blocks [3i, 3i + 3) for 1000 msat per 1000 block-tokens. */
static pln_server* start_priced_server(const char* model, const char* devnet, const char* dht, int i) {
  char uri[700], paywall[600], name[32];
  uint8_t node_id[33];
  char* account_uri = NULL;
  snprintf(name, sizeof name, "server%d", i);
  CHECK_OK(pln_devnet_create_account(devnet, name, 0, node_id, &account_uri));
  snprintf(uri, sizeof uri, "%s", account_uri != NULL ? account_uri : "");
  pln_string_free(account_uri);
  snprintf(name, sizeof name, "paywall%d.db", i);
  path_in_tmp(paywall, sizeof paywall, name);
  struct pln_server_params q = pln_server_default_params();
  q.block_begin = 3 * (uint32_t)i;
  q.block_end = 3 * (uint32_t)i + 3;
  q.initial_peers = dht;
  q.price_msat = 1000;
  q.credit_block_tokens = 200;
  q.wallet_uri = uri;
  q.paywall_store = paywall;
  q.lightning_address = "op@example.com";
  /* The admission limits pass through (the server tests cover what they do). */
  q.max_sessions_per_peer = 2;
  q.max_streams_per_peer = 4;
  q.max_unpaid_per_peer = 2;
  q.open_timeout_ms = 5000;
  q.idle_timeout_ms = 60000;
  pln_server* server = NULL;
  CHECK_OK(pln_server_start(model, &q, &server));
  return server;
}

static void check_server_info(pln_server* const servers[2], char* peers, size_t cap) {
  struct pln_server_info info[2];
  memset(info, 0, sizeof info);
  for (int i = 0; i < 2; ++i) {
    CHECK_OK(pln_server_get_info(servers[i], &info[i]));
    CHECK(info[i].block_begin == 3 * (uint32_t)i && info[i].block_end == 3 * (uint32_t)i + 3);
    CHECK(info[i].peer_id != NULL && strlen(info[i].peer_id) == 64);
    CHECK(info[i].endpoint != NULL && strncmp(info[i].endpoint, "127.0.0.1:", 10) == 0);
    CHECK(info[i].dht_address != NULL && strncmp(info[i].dht_address, "127.0.0.1:", 10) == 0);
    CHECK(info[i].weights != NULL && strcmp(info[i].weights, "f32") == 0);
    CHECK(info[i].weight_bytes_per_block > 0);
  }
  snprintf(peers, cap, "%s,%s", info[0].endpoint != NULL ? info[0].endpoint : "",
           info[1].endpoint != NULL ? info[1].endpoint : "");
  struct pln_server_info unused;
  CHECK_STATUS(pln_server_get_info(NUL_, &unused), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("server must not be NULL");
  CHECK_STATUS(pln_server_get_info(servers[0], NUL_), PLN_ERR_INVALID_ARGUMENT);
}

/* A server keeping its weights in int8 announces so, and less than half the bytes per block of
 * @p f32 serving the same blocks (a byte and a 32nd of a float32 scale per weight, not four
 * bytes). It starts a swarm of its own, so the chats of the other tests never route through it. */
static void test_int8_server(const char* model, pln_server* f32) {
  struct pln_server_params p = pln_server_default_params();
  p.block_begin = 0;
  p.block_end = 3;
  p.weights = "int8";
  pln_server* int8 = NULL;
  CHECK_OK(pln_server_start(model, &p, &int8));
  if (int8 == NULL) return;
  struct pln_server_info small = {0}, large = {0};
  CHECK_OK(pln_server_get_info(int8, &small));
  CHECK_OK(pln_server_get_info(f32, &large));
  CHECK(small.weights != NULL && strcmp(small.weights, "int8") == 0);
  CHECK(large.block_begin == small.block_begin && large.block_end == small.block_end);
  CHECK(small.weight_bytes_per_block > 0 && small.weight_bytes_per_block * 2 < large.weight_bytes_per_block);
  pln_server_free(int8);
}

static uint64_t balance_of(const char* devnet, const char* account) {
  char uri[700];
  snprintf(uri, sizeof uri, "devnet:%s?account=%s", devnet, account);
  pln_wallet* w = NULL;
  uint64_t balance = UINT64_MAX;
  CHECK_OK(pln_wallet_open(uri, &w));
  if (w != NULL) CHECK_OK(pln_wallet_balance(w, &balance));
  pln_wallet_free(w);
  return balance;
}

/* Without a wallet, priced servers are refused when generating. The chat's own weights (the
 * head's) may be kept in another format than the servers'. */
static void test_unpaid_chat(const char* model, const char* peers) {
  struct pln_chat_params cp = pln_chat_default_params();
  cp.peers = peers;
  cp.weights = "bf16";
  pln_chat* chat = NULL;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  if (chat == NULL) return;
  struct pln_generate_params gp = pln_generate_default_params();
  gp.raw = true;
  gp.max_new_tokens = 4;
  struct pln_generation g = {0};
  CHECK(pln_chat_generate(chat, "The quick brown fox", &gp, NULL, NULL, &g) != PLN_OK);
  CHECK_MESSAGE("wallet");
  CHECK(all_zero(&g, sizeof g));
  pln_chat_free(chat);
}

static void check_receipt(pln_chat* chat, uint64_t spent) {
  char* receipt = NULL;
  CHECK_OK(pln_chat_receipt(chat, &receipt));
  CHECK(receipt != NULL && strncmp(receipt, "{\"route\":[{\"peer\":", 18) == 0);
  CHECK(receipt != NULL && strstr(receipt, "\"blocks\":[0,3]") != NULL && strstr(receipt, "\"blocks\":[3,6]") != NULL);
  CHECK(receipt != NULL && strstr(receipt, "\"payments\":[{\"peer\":") != NULL);
  CHECK(receipt != NULL && strstr(receipt, "\"lightning_address\":\"op@example.com\"") != NULL);
  /* The payments add up to what the chat reports spent. */
  uint64_t sum = 0;
  const char* p = receipt != NULL ? strstr(receipt, "\"payments\":") : NULL;
  while (p != NULL && (p = strstr(p, "\"amount_msat\":")) != NULL) {
    sum += json_u64(p, "amount_msat") + json_u64(p, "fee_msat");
    p += 1;
  }
  CHECK(sum == spent);
  pln_string_free(receipt);
  CHECK_STATUS(pln_chat_receipt(NUL_, &receipt), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_receipt(chat, NUL_), PLN_ERR_INVALID_ARGUMENT);
}

/* A paid chat through the DHT: the same tokens as locally, a receipt, and the money moved. */
static void test_paid_chat(const char* model, const char* devnet, const char* dht, const char* client_uri) {
  struct pln_chat_params cp = pln_chat_default_params();
  cp.initial_peers = dht;
  cp.wallet_uri = client_uri;
  cp.budget_msat = 50000;
  pln_chat* chat = NULL;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  if (chat == NULL) return;
  struct pln_generate_params gp = pln_generate_default_params();
  gp.raw = true;
  gp.max_new_tokens = (uint32_t)N_GREEDY;
  struct collected c = {0};
  struct pln_generation g = {0};
  CHECK_OK(pln_chat_generate(chat, "The quick brown fox", &gp, collect, &c, &g));
  CHECK(same_ids(c.ids, c.n, kGreedyNew, N_GREEDY));
  CHECK(same_ids(g.new_ids, g.n_new_ids, kGreedyNew, N_GREEDY) && g.stop_reason == PLN_STOP_REASON_LENGTH);
  CHECK(same_ids(g.prompt_ids, g.n_prompt_ids, kPromptIds, N_PROMPT) && g.text != NULL && strcmp(g.text, c.text) == 0);
  pln_generation_clear(&g);
  uint64_t spent = 0;
  CHECK_OK(pln_chat_spent_msat(chat, &spent));
  /* 200 block-tokens at 1000 msat per 1000 = 200 msat per invoice, at least one per server. */
  CHECK(spent >= 400 && spent <= 50000);
  check_receipt(chat, spent);
  CHECK_STATUS(pln_chat_spent_msat(NUL_, &spent), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_spent_msat(chat, NUL_), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_generate(NUL_, "x", &gp, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("chat must not be NULL");
  CHECK_STATUS(pln_chat_generate(chat, NUL_, &gp, NULL, NULL, &g), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_generate(chat, "x", &gp, NULL, NULL, NUL_), PLN_ERR_INVALID_ARGUMENT);
  pln_chat_free(chat);
  /* What the client spent is what the servers received. */
  const uint64_t s0 = balance_of(devnet, "server0");
  const uint64_t s1 = balance_of(devnet, "server1");
  CHECK(balance_of(devnet, "swarmclient") == 100000000 - spent);
  CHECK(s0 + s1 == spent && s0 > 0 && s1 > 0);
}

/* A budget smaller than one invoice stops before paying. */
static void test_budget(const char* model, const char* dht, const char* client_uri) {
  struct pln_chat_params cp = pln_chat_default_params();
  cp.initial_peers = dht;
  cp.wallet_uri = client_uri;
  cp.budget_msat = 100;
  pln_chat* chat = NULL;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  if (chat == NULL) return;
  struct pln_generation g = {0};
  struct pln_generate_params gp = pln_generate_default_params();
  gp.raw = true;
  CHECK_STATUS(pln_chat_generate(chat, "The quick brown fox", &gp, NULL, NULL, &g), PLN_ERR_OUT_OF_RANGE);
  CHECK_MESSAGE("budget");
  uint64_t spent = 1;
  CHECK_OK(pln_chat_spent_msat(chat, &spent));
  CHECK(spent == 0);
  pln_chat_free(chat);
}

static void test_swarm(const char* fixtures, const char* devnet) {
  char model[512];
  snprintf(model, sizeof model, "%s/tiny-llama3", fixtures);
  struct pln_server_params sp = pln_server_default_params();
  sp.dht_only = true;
  pln_server* bootstrap = NULL;
  CHECK_OK(pln_server_start(NULL, &sp, &bootstrap));
  if (bootstrap == NULL) return;
  struct pln_server_info info = {0};
  CHECK_OK(pln_server_get_info(bootstrap, &info));
  CHECK(info.endpoint != NULL && info.endpoint[0] == '\0' && info.peer_id != NULL && info.peer_id[0] == '\0');
  CHECK(info.block_begin == 0 && info.block_end == 0);
  CHECK(info.weights != NULL && info.weights[0] == '\0' && info.weight_bytes_per_block == 0);
  const char* dht = info.dht_address; /* borrowed from bootstrap until it is freed */
  CHECK(dht != NULL && strncmp(dht, "127.0.0.1:", 10) == 0);
  test_server_errors(model);
  test_chat_errors(model, dht);

  pln_server* servers[2] = {start_priced_server(model, devnet, dht, 0), start_priced_server(model, devnet, dht, 1)};
  if (servers[0] != NULL && servers[1] != NULL) {
    char peers[256];
    check_server_info(servers, peers, sizeof peers);
    test_int8_server(model, servers[0]);
    test_unpaid_chat(model, peers);
    char client_uri[700];
    uint8_t node_id[33];
    char* uri = NULL;
    CHECK_OK(pln_devnet_create_account(devnet, "swarmclient", 100000000, node_id, &uri));
    snprintf(client_uri, sizeof client_uri, "%s", uri != NULL ? uri : "");
    pln_string_free(uri);
    test_paid_chat(model, devnet, dht, client_uri);
    test_budget(model, dht, client_uri);

    CHECK_OK(pln_server_stop(servers[1]));
    CHECK_OK(pln_server_stop(servers[1])); /* idempotent */
    CHECK_STATUS(pln_server_stop(NUL_), PLN_ERR_INVALID_ARGUMENT);
    /* Blocks 3-6 are gone now: a chat finds no route. */
    struct pln_chat_params cp = pln_chat_default_params();
    cp.initial_peers = dht;
    cp.wallet_uri = client_uri;
    cp.budget_msat = 50000;
    pln_chat* chat = NULL;
    CHECK_OK(pln_chat_open(model, &cp, &chat));
    struct pln_generation g = {0};
    if (chat != NULL) CHECK_STATUS(pln_chat_generate(chat, "The quick brown fox", NULL, NULL, NULL, &g), PLN_ERR_NOT_FOUND);
    pln_chat_free(chat);
  }
  pln_server_free(servers[0]);
  pln_server_free(servers[1]);
  pln_server_free(bootstrap);
}

int main(void) {
  const char* fixtures = getenv("PETALSLN_FIXTURES");
  if (fixtures == NULL) fixtures = PETALSLN_FIXTURES_DIR;
  const char* demo = getenv("PETALSLN_DEMO_MODEL");
  if (demo == NULL) demo = PETALSLN_DEMO_MODEL_DIR;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/petalsln-capi-XXXXXX");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  char devnet[512];
  path_in_tmp(devnet, sizeof devnet, "devnet.db");
  test_basics();
  test_defaults();
  test_bolt11();
  test_macaroon();
  test_payout();
  test_wallet(devnet);
  test_model(fixtures);
  test_model_weights(demo);
  test_swarm(fixtures, devnet);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
