# Compiles small C programs against petalsln.h, as a user's compiler sees it, and fails unless
# the header's attributes work: correct calls compile cleanly under -Werror, a literal NULL for
# an argument marked PLN_NONNULL is diagnosed (-Wnonnull), and an ignored pln_status is
# diagnosed (warn_unused_result).
set(dir ${WORK_DIR})
file(MAKE_DIRECTORY ${dir})
set(prologue "#include <petalsln.h>\n#include <stddef.h>\n")
file(WRITE ${dir}/good.c "${prologue}
int main(void) {
  pln_wallet* w = NULL;
  if (pln_wallet_open(\"devnet:x?account=y\", &w) != PLN_OK) return 1;
  struct pln_generation g = {0};
  pln_generation_clear(&g);
  pln_wallet_free(w);
  return 0;
}
")
file(WRITE ${dir}/null_argument.c "${prologue}
int main(void) { return pln_wallet_open(NULL, NULL) == PLN_OK; }
")
file(WRITE ${dir}/ignored_status.c "${prologue}
int main(void) { pln_wallet* w = NULL; pln_wallet_open(\"devnet:x?account=y\", &w); return 0; }
")

function(compile name out_var result_var)
  # Compiled for real: GCC reports an ignored result only after -fsyntax-only would stop.
  execute_process(COMMAND ${CC} -std=c11 -Wall -Wextra -Werror -I${INCLUDE_DIR} -c ${dir}/${name}.c -o ${dir}/${name}.o
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(${out_var} "${out}${err}" PARENT_SCOPE)
  set(${result_var} ${rc} PARENT_SCOPE)
endfunction()

compile(good out rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "correct calls do not compile cleanly against petalsln.h:\n${out}")
endif()
compile(null_argument out rc)
if(rc EQUAL 0 OR NOT out MATCHES "nonnull")
  message(FATAL_ERROR "a NULL argument marked PLN_NONNULL is not diagnosed:\n${out}")
endif()
compile(ignored_status out rc)
if(rc EQUAL 0 OR NOT out MATCHES "unused-result|warn_unused_result")
  message(FATAL_ERROR "an ignored pln_status is not diagnosed:\n${out}")
endif()
message(STATUS "PLN_NONNULL and PLN_NODISCARD are diagnosed")
