/* A C program that knows petalsln only through pkg-config: prints the version, then uses the
 * library (a payout split, and the tokenizer of the model folder given as argument). */
#include <petalsln.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (pln_abi_version() != PLN_ABI_VERSION) return 1;
  printf("version %s\n", pln_version());
  struct pln_payout_weight w[] = {{"a", 1}, {"b", 3}};
  char* json = NULL;
  if (pln_payout_split(NULL, 1000, w, 2, &json) != PLN_OK) {
    fprintf(stderr, "split: %s\n", pln_last_error());
    return 1;
  }
  printf("split %s\n", json);
  int ok = strstr(json, "\"amount_msat\":750") != NULL;
  pln_string_free(json);
  if (argc > 1) {
    pln_model* model = NULL;
    if (pln_model_open(argv[1], NULL, &model) != PLN_OK) {
      fprintf(stderr, "open: %s\n", pln_last_error());
      return 1;
    }
    int32_t ids[32];
    size_t n = 0;
    int status = pln_model_tokenize(model, "The quick brown fox", 1, ids, 32, &n);
    printf("tokens %zu\n", n);
    ok = ok && status == PLN_OK && n == 14 && ids[0] == 56;
    pln_model_free(model);
  }
  return ok ? 0 : 1;
}
