// Uses the installed C++ API through the umbrella header, and the C ABI beside it.
#include <petalsln.h>

#include <cstdio>
#include <cstring>
#include <petalsln/petalsln.hpp>

int main(int argc, char** argv) {
  std::printf("version %s\n", pln_version());
  if (std::strcmp(petalsln::kVersion, pln_version()) != 0) return 1;
  const petalsln::PayoutSplit split = petalsln::PayoutSplitter({0, 0}).split(1000, {{"a", 1}, {"b", 3}});
  std::printf("split a=%llu\n", static_cast<unsigned long long>(split.payees.at(0).amount_msat));
  if (argc > 1) {
    auto model = petalsln::LocalModel::open(argv[1], {}, {}, /*load_blocks=*/false);
    std::printf("tokens %zu\n", model->encode_prompt("The quick brown fox", true).size());
  }
  return split.payees.at(0).amount_msat == 250 ? 0 : 1;
}
