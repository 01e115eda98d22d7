/* The C ABI from C: every function, its error paths (NULL handles and pointers, invalid
 * params, bad inputs), and the use cases end to end — local greedy generation against the
 * fixtures' reference tokens, cancellation, a paid swarm chat on loopback servers started
 * through the ABI, invoices, macaroons and L402 headers, payouts, devnet wallets.
 *
 * Plain C11 with its own small checking macros: it compiles against petalsln.h alone, as a
 * user's program would. Fixtures come from PETALSLN_FIXTURES_DIR (a compile definition). */
#define _GNU_SOURCE
#include <stdarg.h>
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
    int status_ = (call);                                                                          \
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

static char tmpdir[256];

static void path_in_tmp(char* out, size_t cap, const char* name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

/* Copies the string value of "key" in a flat JSON object into @p out; returns 0 if absent. */
static int json_string(const char* json, const char* key, char* out, size_t cap) {
  char pattern[128];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char* p = json != NULL ? strstr(json, pattern) : NULL;
  if (p == NULL) return 0;
  p += strlen(pattern);
  size_t n = 0;
  while (p[n] != '\0' && p[n] != '"' && n + 1 < cap) {
    out[n] = p[n];
    ++n;
  }
  out[n] = '\0';
  return 1;
}

/* Returns the unsigned integer value of "key", or UINT64_MAX if absent. */
static uint64_t json_u64(const char* json, const char* key) {
  char pattern[128];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char* p = json != NULL ? strstr(json, pattern) : NULL;
  if (p == NULL) return UINT64_MAX;
  return strtoull(p + strlen(pattern), NULL, 10);
}

/* ---- status, version, strings ---- */

static void test_basics(void) {
  CHECK(strcmp(pln_version(), "0.1.0") == 0 || strlen(pln_version()) > 0);
  CHECK(pln_abi_version() == PLN_ABI_VERSION);
  CHECK(strcmp(pln_status_name(PLN_OK), "ok") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_DENIED), "denied") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_INVALID_ARGUMENT), "invalid_argument") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_INVALID_FORMAT), "invalid_format") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_UNSUPPORTED), "unsupported") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_NOT_FOUND), "not_found") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_OUT_OF_RANGE), "out_of_range") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_IO), "io") == 0);
  CHECK(strcmp(pln_status_name(PLN_ERR_INTERNAL), "internal") == 0);
  CHECK(strcmp(pln_status_name(12345), "unknown") == 0);
  pln_string_free(NULL);
  pln_model_free(NULL);
  pln_chat_free(NULL);
  pln_server_free(NULL);
  pln_wallet_free(NULL);
  /* The message is per thread and replaced by the next failure. */
  CHECK_STATUS(pln_bolt11_decode(NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("invoice must not be NULL");
}

/* ---- local model ---- */

/* Reference: tests/fixtures/tiny-llama3/reference.json, greedy[0] (transformers' tokens). */
static const int32_t kPromptIds[] = {56, 277, 225, 85, 89, 77, 392, 299, 379, 91, 82, 284, 83, 92};
static const int32_t kGreedyNew[] = {344, 315, 499, 255, 338, 287, 162, 279, 156, 170,
                                     163, 308, 493, 326, 14,  287, 15,  137, 413, 30};
#define N_PROMPT (sizeof kPromptIds / sizeof kPromptIds[0])
#define N_GREEDY (sizeof kGreedyNew / sizeof kGreedyNew[0])

struct collected {
  int32_t ids[256];
  size_t n;
  size_t stop_after; /* 0 = never stop */
  size_t text_bytes;
};

static int collect(int32_t id, const char* piece, size_t len, void* user) {
  struct collected* c = (struct collected*)user;
  if (c->n < 256) c->ids[c->n] = id;
  c->n++;
  c->text_bytes += len;
  (void)piece;
  return c->stop_after != 0 && c->n >= c->stop_after;
}

static void test_model(const char* fixtures) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tiny-llama3", fixtures);
  pln_model* model = NULL;
  struct pln_model_params mp = pln_model_default_params();
  CHECK(mp.n_threads == 0);

  CHECK_STATUS(pln_model_open(NULL, &mp, &model), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_open(dir, &mp, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_open("/nonexistent/model", NULL, &model), PLN_ERR_NOT_FOUND);
  CHECK(model == NULL);
  mp.n_threads = -1;
  CHECK_STATUS(pln_model_open(dir, &mp, &model), PLN_ERR_INVALID_ARGUMENT);
  mp.n_threads = 1;
  CHECK_OK(pln_model_open(dir, &mp, &model));
  if (model == NULL) return;

  /* Tokenize into a caller buffer: too small reports the size needed. */
  int32_t ids[64];
  size_t n = 0;
  CHECK_STATUS(pln_model_tokenize(model, "The quick brown fox", 1, ids, 3, &n), PLN_ERR_OUT_OF_RANGE);
  CHECK(n == N_PROMPT);
  CHECK_STATUS(pln_model_tokenize(model, "The quick brown fox", 1, NULL, 0, &n), PLN_ERR_OUT_OF_RANGE);
  CHECK(n == N_PROMPT);
  CHECK_OK(pln_model_tokenize(model, "The quick brown fox", 1, ids, 64, &n));
  CHECK(n == N_PROMPT && memcmp(ids, kPromptIds, sizeof kPromptIds) == 0);
  CHECK_STATUS(pln_model_tokenize(NULL, "x", 1, ids, 64, &n), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_tokenize(model, NULL, 1, ids, 64, &n), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_tokenize(model, "x", 1, NULL, 64, &n), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_tokenize(model, "x", 1, ids, 64, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_tokenize(model, "bad \xff utf-8", 1, ids, 64, &n), PLN_ERR_INVALID_ARGUMENT);

  /* Greedy generation reproduces transformers' tokens, streamed and in the JSON. */
  struct pln_generate_params gp = pln_generate_default_params();
  CHECK(gp.greedy == 1 && gp.max_new_tokens == 128 && gp.stop_at_eos == 1 && gp.top_p == 1.0f);
  gp.max_new_tokens = (int64_t)N_GREEDY;
  struct collected c = {0};
  char* json = NULL;
  CHECK_OK(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, &gp, collect, &c, &json));
  CHECK(c.n == N_GREEDY && memcmp(c.ids, kGreedyNew, sizeof kGreedyNew) == 0);
  CHECK(json != NULL && strstr(json, "\"new_ids\":[344,315,499,255,338,287,162,279,156,170,163,308,493,326,14,287,15,137,413,30]") != NULL);
  CHECK(json != NULL && strstr(json, "\"stop_reason\":\"length\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"route\"") == NULL); /* no receipt for a local model */
  pln_string_free(json);

  /* The same from the text prompt; no callback, no JSON wanted. */
  gp.raw = 1;
  CHECK_OK(pln_model_generate(model, "The quick brown fox", &gp, NULL, NULL, NULL));
  json = NULL;
  CHECK_OK(pln_model_generate(model, "The quick brown fox", &gp, NULL, NULL, &json));
  CHECK(json != NULL && strstr(json, "\"prompt_ids\":[56,277,225,85,89,77,392,299,379,91,82,284,83,92]") != NULL);
  CHECK(json != NULL && strstr(json, "\"new_ids\":[344,315,499") != NULL);
  pln_string_free(json);

  /* Cancelling from the callback stops at once. */
  struct collected stop = {0};
  stop.stop_after = 3;
  json = NULL;
  CHECK_OK(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, &gp, collect, &stop, &json));
  CHECK(stop.n == 3);
  CHECK(json != NULL && strstr(json, "\"stop_reason\":\"cancelled\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"new_ids\":[344,315,499]") != NULL);
  pln_string_free(json);

  /* max_new_tokens 0 only tokenizes. */
  gp.max_new_tokens = 0;
  json = NULL;
  CHECK_OK(pln_model_generate(model, "The quick brown fox", &gp, NULL, NULL, &json));
  CHECK(json != NULL && strstr(json, "\"new_ids\":[]") != NULL);
  pln_string_free(json);

  /* Bad inputs. */
  struct pln_generate_params bad = pln_generate_default_params();
  bad.max_new_tokens = -1;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  bad = pln_generate_default_params();
  bad.greedy = 0;
  bad.temperature = 0.0f;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("temperature");
  bad = pln_generate_default_params();
  bad.top_p = 1.5f;
  bad.greedy = 0;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  bad = pln_generate_default_params();
  bad.repetition_penalty = -1.0f;
  CHECK_STATUS(pln_model_generate(model, "x", &bad, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  const int32_t out_of_vocab[] = {1, 512};
  CHECK_STATUS(pln_model_generate_tokens(model, out_of_vocab, 2, NULL, NULL, NULL, NULL), PLN_ERR_OUT_OF_RANGE);
  const int32_t negative[] = {-5};
  CHECK_STATUS(pln_model_generate_tokens(model, negative, 1, NULL, NULL, NULL, NULL), PLN_ERR_OUT_OF_RANGE);
  CHECK_STATUS(pln_model_generate_tokens(model, kPromptIds, 0, NULL, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_generate_tokens(model, NULL, 3, NULL, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_generate_tokens(NULL, kPromptIds, N_PROMPT, NULL, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_generate(NULL, "x", NULL, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_model_generate(model, NULL, NULL, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  /* The model still works after every failure. */
  struct collected again = {0};
  gp.max_new_tokens = 2;
  CHECK_OK(pln_model_generate_tokens(model, kPromptIds, N_PROMPT, &gp, collect, &again, NULL));
  CHECK(again.n == 2 && again.ids[0] == 344 && again.ids[1] == 315);
  pln_model_free(model);
}

/* ---- wallets ---- */

static void test_wallet(char* devnet, size_t devnet_cap) {
  path_in_tmp(devnet, devnet_cap, "devnet.db");
  char* json = NULL;
  CHECK_OK(pln_devnet_create_account(devnet, "client", 1000000000, &json));
  CHECK(json != NULL && json_u64(json, "balance_msat") == 1000000000);
  char uri[600];
  CHECK(json_string(json, "uri", uri, sizeof uri) && strstr(uri, "account=client") != NULL);
  pln_string_free(json);
  CHECK_OK(pln_devnet_create_account(devnet, "shop", 0, NULL));
  CHECK_STATUS(pln_devnet_create_account(devnet, "shop", 0, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(devnet, "Bad Name!", 0, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(NULL, "x", 0, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_devnet_create_account(devnet, NULL, 0, NULL), PLN_ERR_INVALID_ARGUMENT);

  pln_wallet* w = NULL;
  CHECK_STATUS(pln_wallet_open("nosuchscheme:whatever", NULL, &w), PLN_ERR_UNSUPPORTED);
  CHECK_STATUS(pln_wallet_open("devnet:", NULL, &w), PLN_ERR_INVALID_ARGUMENT);
  char missing[700];
  snprintf(missing, sizeof missing, "devnet:%s?account=nobody", devnet);
  CHECK_STATUS(pln_wallet_open(missing, NULL, &w), PLN_ERR_NOT_FOUND);
  CHECK_STATUS(pln_wallet_open(NULL, NULL, &w), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_open(uri, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  struct pln_wallet_params wp = pln_wallet_default_params();
  CHECK(wp.pay_timeout_s == 60);
  wp.pay_timeout_s = 0;
  CHECK_STATUS(pln_wallet_open(uri, &wp, &w), PLN_ERR_INVALID_ARGUMENT);
  CHECK(w == NULL);
  wp.pay_timeout_s = 30;

  pln_wallet* client = NULL;
  pln_wallet* shop = NULL;
  CHECK_OK(pln_wallet_open(uri, &wp, &client));
  char shop_uri[700];
  snprintf(shop_uri, sizeof shop_uri, "devnet:%s?account=shop", devnet);
  CHECK_OK(pln_wallet_open(shop_uri, NULL, &shop));
  if (client == NULL || shop == NULL) return;

  uint64_t balance = 0;
  CHECK_OK(pln_wallet_balance(client, &balance));
  CHECK(balance == 1000000000);
  CHECK_STATUS(pln_wallet_balance(NULL, &balance), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_balance(client, NULL), PLN_ERR_INVALID_ARGUMENT);
  char* desc = NULL;
  CHECK_OK(pln_wallet_describe(shop, &desc));
  CHECK(desc != NULL && strstr(desc, "account=shop") != NULL);
  pln_string_free(desc);
  CHECK_STATUS(pln_wallet_describe(NULL, &desc), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_describe(shop, NULL), PLN_ERR_INVALID_ARGUMENT);

  struct pln_invoice_params ip = pln_invoice_default_params();
  CHECK(ip.amount_msat == 0 && ip.expiry_s == 3600);
  ip.amount_msat = 21000;
  ip.memo = "two coffees";
  json = NULL;
  CHECK_OK(pln_wallet_create_invoice(shop, &ip, &json));
  char bolt11[2048], hash[80];
  CHECK(json_string(json, "bolt11", bolt11, sizeof bolt11) && strncmp(bolt11, "lnbcrt", 6) == 0);
  CHECK(json_string(json, "payment_hash", hash, sizeof hash) && strlen(hash) == 64);
  pln_string_free(json);
  ip.expiry_s = 0;
  CHECK_STATUS(pln_wallet_create_invoice(shop, &ip, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_create_invoice(NULL, &ip, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_create_invoice(shop, NULL, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_create_invoice(shop, &ip, NULL), PLN_ERR_INVALID_ARGUMENT);

  /* The invoice decodes. */
  json = NULL;
  CHECK_OK(pln_bolt11_decode(bolt11, &json));
  CHECK(json_u64(json, "amount_msat") == 21000);
  CHECK(json != NULL && strstr(json, "\"network\":\"regtest\"") != NULL && strstr(json, "\"description\":\"two coffees\"") != NULL);
  pln_string_free(json);

  json = NULL;
  CHECK_OK(pln_wallet_lookup_invoice(shop, hash, &json));
  CHECK(json != NULL && strstr(json, "\"settled\":false") != NULL);
  pln_string_free(json);
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, "00", &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, "0000000000000000000000000000000000000000000000000000000000000000", &json),
               PLN_ERR_NOT_FOUND);
  CHECK_STATUS(pln_wallet_lookup_invoice(NULL, hash, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, NULL, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_lookup_invoice(shop, hash, NULL), PLN_ERR_INVALID_ARGUMENT);

  json = NULL;
  CHECK_OK(pln_wallet_pay(client, bolt11, 0, 0, &json));
  CHECK(json != NULL && strstr(json, "\"status\":\"succeeded\"") != NULL && json_u64(json, "amount_msat") == 21000);
  char preimage[80];
  CHECK(json_string(json, "preimage", preimage, sizeof preimage) && strlen(preimage) == 64);
  pln_string_free(json);
  /* Paying twice is a refused payment, not an error. */
  json = NULL;
  CHECK_OK(pln_wallet_pay(client, bolt11, 0, 0, &json));
  CHECK(json != NULL && strstr(json, "\"status\":\"failed\"") != NULL && strstr(json, "\"preimage\":null") != NULL);
  pln_string_free(json);
  CHECK_STATUS(pln_wallet_pay(client, "lnbcrt1garbage", 0, 0, &json), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_wallet_pay(NULL, bolt11, 0, 0, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_pay(client, NULL, 0, 0, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_wallet_pay(client, bolt11, 0, 0, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_OK(pln_wallet_balance(client, &balance));
  CHECK(balance == 1000000000 - 21000);
  json = NULL;
  CHECK_OK(pln_wallet_lookup_invoice(shop, hash, &json));
  CHECK(json != NULL && strstr(json, "\"settled\":true") != NULL && json_u64(json, "amount_paid_msat") == 21000);
  pln_string_free(json);

  /* L402 headers around this paid invoice. */
  static const uint8_t root_key[] = "a root key only the server knows";
  struct pln_macaroon_params mp = pln_macaroon_default_params();
  mp.root_key = root_key;
  mp.root_key_len = sizeof root_key - 1;
  mp.payment_hash_hex = hash;
  mp.terms.model = "tiny";
  mp.terms.peer = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  mp.terms.block_begin = 0;
  mp.terms.block_end = 4;
  mp.terms.credit = 1000;
  mp.terms.expires = 4000000000;
  char* mac = NULL;
  CHECK_OK(pln_macaroon_mint(&mp, &mac));
  if (mac != NULL) {
    char header[8192];
    snprintf(header, sizeof header, "L402 macaroon=\"%s\", invoice=\"%s\"", mac, bolt11);
    json = NULL;
    CHECK_OK(pln_l402_parse_challenge(header, &json));
    char got[80];
    CHECK(json_string(json, "payment_hash", got, sizeof got) && strcmp(got, hash) == 0);
    CHECK(json != NULL && strstr(json, bolt11) != NULL);
    pln_string_free(json);
    CHECK_STATUS(pln_l402_parse_challenge("L402 invoice=\"lnbcrt1\"", &json), PLN_ERR_INVALID_FORMAT);
    CHECK_STATUS(pln_l402_parse_challenge("Basic realm=x", &json), PLN_ERR_UNSUPPORTED);
    CHECK_STATUS(pln_l402_parse_challenge(NULL, &json), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_l402_parse_challenge(header, NULL), PLN_ERR_INVALID_ARGUMENT);

    snprintf(header, sizeof header, "LSAT %s:%s", mac, preimage);
    json = NULL;
    CHECK_OK(pln_l402_parse_token(header, &json));
    CHECK(json != NULL && strstr(json, "\"preimage_matches\":true") != NULL);
    pln_string_free(json);
    CHECK_STATUS(pln_l402_parse_token("L402 notbase64!:00", &json), PLN_ERR_INVALID_FORMAT);
    CHECK_STATUS(pln_l402_parse_token(NULL, &json), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_l402_parse_token(header, NULL), PLN_ERR_INVALID_ARGUMENT);

    struct pln_l402_terms req = pln_l402_default_terms();
    CHECK(strcmp(req.service, "petalsln") == 0);
    req.model = "tiny";
    req.peer = mp.terms.peer;
    req.block_begin = 1;
    req.block_end = 3;
    json = NULL;
    CHECK_OK(pln_l402_verify_token(header, root_key, sizeof root_key - 1, &req, &json));
    CHECK(json != NULL && json_u64(json, "credit") == 1000);
    pln_string_free(json);
    CHECK_OK(pln_l402_verify_token(header, root_key, sizeof root_key - 1, &req, NULL));
    /* A wrong preimage (flip one hex digit) is denied, not an error of format. */
    char wrong[8192];
    snprintf(wrong, sizeof wrong, "L402 %s:%s", mac, preimage);
    char* last = wrong + strlen(wrong) - 1;
    *last = *last == '0' ? '1' : '0';
    CHECK_STATUS(pln_l402_verify_token(wrong, root_key, sizeof root_key - 1, &req, NULL), PLN_ERR_DENIED);
    CHECK_STATUS(pln_l402_verify_token(header, (const uint8_t*)"other key", 9, &req, NULL), PLN_ERR_DENIED);
    CHECK_STATUS(pln_l402_verify_token(header, root_key, 0, &req, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_l402_verify_token(header, NULL, 4, &req, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_l402_verify_token(header, root_key, sizeof root_key - 1, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_l402_verify_token(NULL, root_key, sizeof root_key - 1, &req, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_l402_verify_token("L402 x", root_key, sizeof root_key - 1, &req, NULL), PLN_ERR_INVALID_FORMAT);
    /* The reason never carries the root key or the macaroon. */
    CHECK(strstr(pln_last_error(), "root key only") == NULL);
    pln_string_free(mac);
  }
  pln_wallet_free(client);
  pln_wallet_free(shop);
}

/* ---- macaroons ---- */

static void test_macaroon(void) {
  static const uint8_t key[] = {1, 2, 3, 4, 5, 6, 7, 8};
  const char* peer = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  struct pln_macaroon_params p = pln_macaroon_default_params();
  CHECK(p.root_key == NULL && strcmp(p.terms.service, "petalsln") == 0);
  p.root_key = key;
  p.root_key_len = sizeof key;
  p.payment_hash_hex = "ff00000000000000000000000000000000000000000000000000000000000001";
  p.location = "petalsln-test";
  p.terms.model = "m";
  p.terms.peer = peer;
  p.terms.block_begin = 2;
  p.terms.block_end = 6;
  p.terms.credit = 500;
  p.terms.expires = 2000000000;
  char* mac = NULL;
  CHECK_OK(pln_macaroon_mint(&p, &mac));
  if (mac == NULL) return;

  char* json = NULL;
  CHECK_OK(pln_macaroon_inspect(mac, &json));
  CHECK(json != NULL && strstr(json, "\"caveats\":[\"service=petalsln\",\"model=m\",\"peer=0123456789abcdef") != NULL);
  CHECK(json != NULL && strstr(json, "\"blocks=2-6\",\"credit=500\",\"expires=2000000000\"]") != NULL);
  CHECK(json != NULL && strstr(json, "\"payment_hash\":\"ff00000000000000000000000000000000000000000000000000000000000001\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"location\":\"petalsln-test\"") != NULL);
  pln_string_free(json);

  struct pln_l402_terms req = pln_l402_default_terms();
  req.model = "m";
  req.peer = peer;
  req.block_begin = 2;
  req.block_end = 6;
  req.expires = 1900000000; /* "now" */
  json = NULL;
  CHECK_OK(pln_macaroon_verify(mac, key, sizeof key, &req, &json));
  CHECK(json != NULL && strstr(json, "\"blocks\":[2,6]") != NULL && json_u64(json, "credit") == 500);
  pln_string_free(json);

  /* Refusals: wrong key, other model, outside the range, expired. */
  static const uint8_t other[] = {9, 9, 9};
  CHECK_STATUS(pln_macaroon_verify(mac, other, sizeof other, &req, NULL), PLN_ERR_DENIED);
  req.model = "other";
  CHECK_STATUS(pln_macaroon_verify(mac, key, sizeof key, &req, NULL), PLN_ERR_DENIED);
  CHECK_MESSAGE("model");
  req.model = "m";
  req.block_end = 7;
  CHECK_STATUS(pln_macaroon_verify(mac, key, sizeof key, &req, NULL), PLN_ERR_DENIED);
  req.block_end = 6;
  req.expires = 2000000001;
  CHECK_STATUS(pln_macaroon_verify(mac, key, sizeof key, &req, NULL), PLN_ERR_DENIED);
  req.expires = -1;
  CHECK_STATUS(pln_macaroon_verify(mac, key, sizeof key, &req, NULL), PLN_ERR_INVALID_ARGUMENT);
  req.expires = 1900000000;

  /* Attenuation narrows: the holder limits the token to blocks 2-4. */
  char* narrowed = NULL;
  CHECK_OK(pln_macaroon_add_caveat(mac, "blocks=2-4", &narrowed));
  if (narrowed != NULL) {
    CHECK_STATUS(pln_macaroon_verify(narrowed, key, sizeof key, &req, NULL), PLN_ERR_DENIED);
    req.block_end = 4;
    CHECK_OK(pln_macaroon_verify(narrowed, key, sizeof key, &req, NULL));
    req.block_end = 6;
    char* unknown = NULL;
    CHECK_OK(pln_macaroon_add_caveat(narrowed, "admin=true", &unknown));
    req.block_end = 4;
    CHECK_STATUS(pln_macaroon_verify(unknown, key, sizeof key, &req, NULL), PLN_ERR_DENIED);
    req.block_end = 6;
    pln_string_free(unknown);
    pln_string_free(narrowed);
  }
  CHECK_STATUS(pln_macaroon_add_caveat(mac, "", &narrowed), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_add_caveat("%%%", "a=b", &narrowed), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_macaroon_add_caveat(NULL, "a=b", &narrowed), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_add_caveat(mac, NULL, &narrowed), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_add_caveat(mac, "a=b", NULL), PLN_ERR_INVALID_ARGUMENT);

  /* Malformed macaroons and params. */
  CHECK_STATUS(pln_macaroon_verify("AgEEbm9wZQ", key, sizeof key, &req, NULL), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_macaroon_verify(NULL, key, sizeof key, &req, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_verify(mac, NULL, sizeof key, &req, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_verify(mac, key, sizeof key, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_inspect("not a macaroon", &json), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_macaroon_inspect(NULL, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_inspect(mac, NULL), PLN_ERR_INVALID_ARGUMENT);
  char* m2 = NULL;
  struct pln_macaroon_params bad = p;
  bad.payment_hash_hex = "abc";
  CHECK_STATUS(pln_macaroon_mint(&bad, &m2), PLN_ERR_INVALID_ARGUMENT);
  bad = p;
  bad.root_key_len = 0;
  CHECK_STATUS(pln_macaroon_mint(&bad, &m2), PLN_ERR_INVALID_ARGUMENT);
  bad = p;
  bad.terms.peer = "not hex";
  CHECK_STATUS(pln_macaroon_mint(&bad, &m2), PLN_ERR_INVALID_ARGUMENT);
  bad = p;
  bad.terms.block_end = 2;
  CHECK_STATUS(pln_macaroon_mint(&bad, &m2), PLN_ERR_INVALID_ARGUMENT);
  bad = p;
  bad.terms.model = "has space";
  CHECK_STATUS(pln_macaroon_mint(&bad, &m2), PLN_ERR_INVALID_ARGUMENT);
  bad = p;
  bad.payment_hash_hex = NULL;
  CHECK_STATUS(pln_macaroon_mint(&bad, &m2), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_mint(NULL, &m2), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_macaroon_mint(&p, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK(m2 == NULL);
  pln_string_free(mac);
}

/* ---- BOLT11 ---- */

static void test_bolt11(void) {
  /* BOLT #11's "donation of any amount" example. */
  const char* inv =
      "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";
  char* json = NULL;
  CHECK_OK(pln_bolt11_decode(inv, &json));
  CHECK(json != NULL && strstr(json, "\"network\":\"mainnet\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"amount_msat\":null") != NULL);
  CHECK(json_u64(json, "timestamp") == 1496314658);
  CHECK(json != NULL && strstr(json, "\"payment_hash\":\"0001020304050607080900010203040506070809000102030405060708090102\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"payee\":\"03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"description\":\"Please consider supporting this project\"") != NULL);
  CHECK(json != NULL && strstr(json, "\"signature_valid\":true") != NULL);
  pln_string_free(json);

  /* One flipped character breaks the checksum; a flipped amount breaks the signature. */
  char broken[1024];
  snprintf(broken, sizeof broken, "%s", inv);
  broken[40] = broken[40] == 'q' ? 'p' : 'q';
  CHECK_STATUS(pln_bolt11_decode(broken, &json), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_bolt11_decode("lnxy1pvjluez", &json), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_bolt11_decode("", &json), PLN_ERR_INVALID_FORMAT);
  CHECK_STATUS(pln_bolt11_decode(inv, NULL), PLN_ERR_INVALID_ARGUMENT);
}

/* ---- payouts ---- */

static void test_payout(void) {
  struct pln_payout_fee fee = {100, 0}; /* 1% */
  struct pln_payout_weight w[] = {{"alice@example.com", 1}, {"bob@example.com", 2}};
  char* json = NULL;
  CHECK_OK(pln_payout_split(&fee, 1000, w, 2, &json));
  CHECK(json != NULL && strstr(json, "\"fee_msat\":10") != NULL);
  CHECK(json != NULL && strstr(json, "{\"payee\":\"alice@example.com\",\"amount_msat\":330}") != NULL);
  CHECK(json != NULL && strstr(json, "{\"payee\":\"bob@example.com\",\"amount_msat\":660}") != NULL);
  pln_string_free(json);

  /* Exact with remainders: 100 msat in thirds, no fee. */
  struct pln_payout_weight thirds[] = {{"a", 1}, {"b", 1}, {"c", 1}};
  json = NULL;
  CHECK_OK(pln_payout_split(NULL, 100, thirds, 3, &json));
  CHECK(json != NULL && strstr(json, "\"fee_msat\":0") != NULL);
  if (json != NULL) {
    uint64_t sum = 0;
    const char* p = json;
    while ((p = strstr(p, "\"amount_msat\":")) != NULL) {
      p += strlen("\"amount_msat\":");
      sum += strtoull(p, NULL, 10);
    }
    CHECK(sum == 100);
  }
  pln_string_free(json);

  struct pln_payout_fee too_much = {10001, 0};
  CHECK_STATUS(pln_payout_split(&too_much, 1000, w, 2, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(&fee, 1000, w, 0, &json), PLN_ERR_INVALID_ARGUMENT);
  struct pln_payout_weight empty[] = {{"", 1}};
  CHECK_STATUS(pln_payout_split(&fee, 1000, empty, 1, &json), PLN_ERR_INVALID_ARGUMENT);
  struct pln_payout_weight null_name[] = {{NULL, 1}};
  CHECK_STATUS(pln_payout_split(&fee, 1000, null_name, 1, &json), PLN_ERR_INVALID_ARGUMENT);
  struct pln_payout_weight zero[] = {{"a", 0}};
  CHECK_STATUS(pln_payout_split(&fee, 1000, zero, 1, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(&fee, 1000, NULL, 2, &json), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_payout_split(&fee, 1000, w, 2, NULL), PLN_ERR_INVALID_ARGUMENT);
}

/* ---- servers and a paid swarm chat ---- */

static void test_swarm(const char* fixtures, const char* devnet) {
  char model[512];
  snprintf(model, sizeof model, "%s/tiny-llama3", fixtures);

  struct pln_server_params sp = pln_server_default_params();
  CHECK(sp.max_sessions == 16 && sp.cache_mb == 512 && sp.credit_block_tokens == 20000 && strcmp(sp.host, "127.0.0.1") == 0);
  pln_server* bootstrap = NULL;
  sp.dht_only = 1;
  CHECK_OK(pln_server_start(NULL, &sp, &bootstrap));
  if (bootstrap == NULL) return;
  const char* dht = NULL;
  const char* s = NULL;
  CHECK_OK(pln_server_dht_address(bootstrap, &dht));
  CHECK(dht != NULL && strncmp(dht, "127.0.0.1:", 10) == 0);
  CHECK_OK(pln_server_endpoint(bootstrap, &s));
  CHECK(s != NULL && s[0] == '\0');

  /* Server errors. */
  pln_server* bad = NULL;
  struct pln_server_params p = pln_server_default_params();
  p.block_end = 3;
  CHECK_STATUS(pln_server_start(NULL, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_start(model, NULL, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_start(model, &p, NULL), PLN_ERR_INVALID_ARGUMENT);
  p.block_begin = 2;
  p.block_end = 9;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("6 blocks");
  p.block_begin = 3;
  p.block_end = 3;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  p.block_begin = 0;
  p.block_end = 3;
  p.price_msat = 1000;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  CHECK_MESSAGE("wallet");
  p.price_msat = 0;
  p.port = 70000;
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  p.port = 0;
  p.initial_peers = "no-port-here";
  CHECK_STATUS(pln_server_start(model, &p, &bad), PLN_ERR_INVALID_ARGUMENT);
  p.initial_peers = NULL;
  CHECK_STATUS(pln_server_start("/nonexistent/model", &p, &bad), PLN_ERR_NOT_FOUND);
  CHECK(bad == NULL);

  /* Two priced servers covering blocks 0-3 and 3-6, paid through the devnet. */
  char uri[700], paywall[600];
  CHECK_OK(pln_devnet_create_account(devnet, "server0", 0, NULL));
  CHECK_OK(pln_devnet_create_account(devnet, "server1", 0, NULL));
  pln_server* servers[2] = {NULL, NULL};
  for (int i = 0; i < 2; ++i) {
    struct pln_server_params q = pln_server_default_params();
    q.block_begin = 3 * i;
    q.block_end = 3 * i + 3;
    q.initial_peers = dht;
    q.price_msat = 1000;
    q.credit_block_tokens = 200;
    snprintf(uri, sizeof uri, "devnet:%s?account=server%d", devnet, i);
    q.wallet_uri = uri;
    char name[32];
    snprintf(name, sizeof name, "paywall%d.db", i);
    path_in_tmp(paywall, sizeof paywall, name);
    q.paywall_store = paywall;
    q.lightning_address = "op@example.com";
    CHECK_OK(pln_server_start(model, &q, &servers[i]));
  }
  if (servers[0] == NULL || servers[1] == NULL) {
    pln_server_free(servers[0]);
    pln_server_free(servers[1]);
    pln_server_free(bootstrap);
    return;
  }
  int32_t b = -1, e = -1;
  CHECK_OK(pln_server_blocks(servers[1], &b, &e));
  CHECK(b == 3 && e == 6);
  const char* peer = NULL;
  CHECK_OK(pln_server_peer_id(servers[0], &peer));
  CHECK(peer != NULL && strlen(peer) == 64);
  const char* ep0 = NULL;
  const char* ep1 = NULL;
  CHECK_OK(pln_server_endpoint(servers[0], &ep0));
  CHECK_OK(pln_server_endpoint(servers[1], &ep1));
  CHECK_STATUS(pln_server_endpoint(NULL, &s), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_endpoint(servers[0], NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_peer_id(NULL, &s), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_peer_id(servers[0], NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_dht_address(NULL, &s), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_dht_address(servers[0], NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_blocks(NULL, &b, &e), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_blocks(servers[0], NULL, &e), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_server_blocks(servers[0], &b, NULL), PLN_ERR_INVALID_ARGUMENT);

  /* Chat errors. */
  pln_chat* chat = NULL;
  struct pln_chat_params cp = pln_chat_default_params();
  CHECK(cp.max_price_msat == -1 && cp.step_timeout_s == 30 && cp.budget_msat == 0);
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT); /* no peers at all */
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
  cp.step_timeout_s = 0;
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  cp.step_timeout_s = 30;
  cp.max_price_msat = -2;
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  cp.max_price_msat = -1;
  cp.wallet_uri = "nosuch:wallet";
  CHECK_STATUS(pln_chat_open(model, &cp, &chat), PLN_ERR_UNSUPPORTED);
  cp.wallet_uri = NULL;
  CHECK_STATUS(pln_chat_open(NULL, &cp, &chat), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_open(model, NULL, &chat), PLN_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(pln_chat_open(model, &cp, NULL), PLN_ERR_INVALID_ARGUMENT);
  CHECK(chat == NULL);

  /* Without a wallet, priced servers are refused when generating. */
  char peers[256];
  snprintf(peers, sizeof peers, "%s,%s", ep0, ep1);
  cp = pln_chat_default_params();
  cp.peers = peers;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  struct pln_generate_params gp = pln_generate_default_params();
  gp.raw = 1;
  gp.max_new_tokens = (int64_t)N_GREEDY;
  if (chat != NULL) {
    int status = pln_chat_generate(chat, "The quick brown fox", &gp, NULL, NULL, NULL);
    CHECK(status != PLN_OK);
    CHECK_MESSAGE("wallet");
    pln_chat_free(chat);
    chat = NULL;
  }

  /* A paid chat through the DHT: the same tokens as locally, and a receipt. */
  char client_uri[700];
  CHECK_OK(pln_devnet_create_account(devnet, "swarmclient", 100000000, NULL));
  snprintf(client_uri, sizeof client_uri, "devnet:%s?account=swarmclient", devnet);
  cp = pln_chat_default_params();
  cp.initial_peers = dht;
  cp.wallet_uri = client_uri;
  cp.budget_msat = 50000;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  if (chat != NULL) {
    struct collected c = {0};
    char* json = NULL;
    CHECK_OK(pln_chat_generate(chat, "The quick brown fox", &gp, collect, &c, &json));
    CHECK(c.n == N_GREEDY && memcmp(c.ids, kGreedyNew, sizeof kGreedyNew) == 0);
    CHECK(json != NULL && strstr(json, "\"new_ids\":[344,315,499,255") != NULL);
    CHECK(json != NULL && strstr(json, "\"route\":[{\"peer\":") != NULL);
    CHECK(json != NULL && strstr(json, "\"blocks\":[0,3]") != NULL && strstr(json, "\"blocks\":[3,6]") != NULL);
    CHECK(json != NULL && strstr(json, "\"payments\":[{\"peer\":") != NULL);
    CHECK(json != NULL && strstr(json, "\"lightning_address\":\"op@example.com\"") != NULL);
    pln_string_free(json);
    uint64_t spent = 0;
    CHECK_OK(pln_chat_spent_msat(chat, &spent));
    /* 200 block-tokens at 1000 msat per 1000 = 200 msat per invoice, at least one per server. */
    CHECK(spent >= 400 && spent <= 50000);
    char* receipt = NULL;
    CHECK_OK(pln_chat_receipt(chat, &receipt));
    CHECK(receipt != NULL && strncmp(receipt, "{\"route\":", 9) == 0 && strstr(receipt, "\"work\":[") != NULL);
    pln_string_free(receipt);
    CHECK_STATUS(pln_chat_receipt(NULL, &receipt), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_chat_receipt(chat, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_chat_spent_msat(NULL, &spent), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_chat_spent_msat(chat, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_chat_generate(NULL, "x", &gp, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pln_chat_generate(chat, NULL, &gp, NULL, NULL, NULL), PLN_ERR_INVALID_ARGUMENT);

    /* What the client spent is what the servers received. */
    pln_wallet* w = NULL;
    uint64_t client_balance = 0, s0 = 0, s1 = 0;
    CHECK_OK(pln_wallet_open(client_uri, NULL, &w));
    CHECK_OK(pln_wallet_balance(w, &client_balance));
    pln_wallet_free(w);
    snprintf(uri, sizeof uri, "devnet:%s?account=server0", devnet);
    CHECK_OK(pln_wallet_open(uri, NULL, &w));
    CHECK_OK(pln_wallet_balance(w, &s0));
    pln_wallet_free(w);
    snprintf(uri, sizeof uri, "devnet:%s?account=server1", devnet);
    CHECK_OK(pln_wallet_open(uri, NULL, &w));
    CHECK_OK(pln_wallet_balance(w, &s1));
    pln_wallet_free(w);
    CHECK(client_balance == 100000000 - spent);
    CHECK(s0 + s1 == spent && s0 > 0 && s1 > 0);
    pln_chat_free(chat);
    chat = NULL;
  }

  /* A budget smaller than one invoice stops before paying. */
  cp.budget_msat = 100;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  if (chat != NULL) {
    CHECK_STATUS(pln_chat_generate(chat, "The quick brown fox", &gp, NULL, NULL, NULL), PLN_ERR_OUT_OF_RANGE);
    CHECK_MESSAGE("budget");
    uint64_t spent = 1;
    CHECK_OK(pln_chat_spent_msat(chat, &spent));
    CHECK(spent == 0);
    pln_chat_free(chat);
    chat = NULL;
  }

  CHECK_OK(pln_server_stop(servers[1]));
  CHECK_OK(pln_server_stop(servers[1])); /* idempotent */
  CHECK_STATUS(pln_server_stop(NULL), PLN_ERR_INVALID_ARGUMENT);
  /* Blocks 3-6 are gone now: a free chat finds no route. */
  cp = pln_chat_default_params();
  cp.initial_peers = dht;
  cp.wallet_uri = client_uri;
  cp.budget_msat = 50000;
  CHECK_OK(pln_chat_open(model, &cp, &chat));
  if (chat != NULL) {
    CHECK_STATUS(pln_chat_generate(chat, "The quick brown fox", &gp, NULL, NULL, NULL), PLN_ERR_NOT_FOUND);
    pln_chat_free(chat);
  }
  pln_server_free(servers[0]);
  pln_server_free(servers[1]);
  pln_server_free(bootstrap);
}

int main(void) {
  const char* fixtures = getenv("PETALSLN_FIXTURES");
  if (fixtures == NULL) fixtures = PETALSLN_FIXTURES_DIR;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/petalsln-capi-XXXXXX");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  char devnet[512];
  test_basics();
  test_bolt11();
  test_macaroon();
  test_payout();
  test_wallet(devnet, sizeof devnet);
  test_model(fixtures);
  test_swarm(fixtures, devnet);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
