/* A C program that knows petalsln only through pkg-config and the installed petalsln.h: prints
 * the version, then uses the library (a payout split, and the tokenizer of the model folder
 * given as argument). */
#include <petalsln.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (pln_abi_version() != PLN_ABI_VERSION) return 1;
  printf("version %s\n", pln_version());
  const struct pln_payout_weight w[] = {{"a", 1}, {"b", 3}};
  struct pln_payout_share shares[2];
  size_t n_shares = 0;
  uint64_t fee_msat = 0;
  if (pln_payout_split(1000, w, 2, NULL, shares, &n_shares, &fee_msat) != PLN_OK) {
    fprintf(stderr, "split: %s\n", pln_last_error());
    return 1;
  }
  printf("split %s=%llu %s=%llu\n", shares[0].payee, (unsigned long long)shares[0].amount_msat, shares[1].payee,
         (unsigned long long)shares[1].amount_msat);
  bool ok = n_shares == 2 && fee_msat == 0 && shares[1].amount_msat == 750;
  if (argc > 1) {
    pln_model* model = NULL;
    if (pln_model_open(argv[1], NULL, &model) != PLN_OK) {
      fprintf(stderr, "open: %s\n", pln_last_error());
      return 1;
    }
    pln_token ids[32];
    size_t n = 0;
    const pln_status status = pln_model_tokenize(model, "The quick brown fox", true, ids, 32, &n);
    printf("tokens %zu\n", n);
    ok = ok && status == PLN_OK && n == 14 && ids[0] == 56;
    pln_model_free(model);
  }
  return ok ? 0 : 1;
}
