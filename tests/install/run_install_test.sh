#!/usr/bin/env bash
# usage: run_install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER PYTHON
# Fails (non-zero) at the first step that does not work.
set -euo pipefail
build=$1 source=$2 cc=$3 python=$4
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/petalsln-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
# Sanitizer builds (tests/install/CMakeLists.txt): flags for the consumers, and the ASan
# runtime to preload into python3, which is not instrumented.
consumer_flags=${PETALSLN_CONSUMER_FLAGS:-}
py_preload=${PETALSLN_ASAN_RUNTIME:-}

echo "== cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
abi=$(sed -n 's/^#define PLN_ABI_VERSION \([0-9]*\)$/\1/p' "$source/capi/petalsln.h")
for f in include/petalsln.h include/petalsln/petalsln.hpp include/petalsln/client/swarm_chat.hpp \
         lib/libpetalsln.so "lib/libpetalsln.so.$abi" lib/pkgconfig/petalsln.pc lib/cmake/petalsln/petalslnConfig.cmake \
         bin/petalsln-chat bin/petalsln-server bin/petalsln-wallet; do
  [[ -e $prefix/$f ]] || { echo "missing after install: $f"; exit 1; }
done
# The umbrella header includes every public header, each under its layer's folder.
for h in "$prefix"/include/petalsln/*/*.hpp; do
  h=${h#"$prefix/include/"}
  grep -q "\"$h\"" "$prefix/include/petalsln/petalsln.hpp" \
    || { echo "include/petalsln/petalsln.hpp does not include $h"; exit 1; }
done
# The installed headers include only installed ones: nothing of the source tree's private folders.
if grep -rn '#include "' "$prefix/include" | grep -v '#include "petalsln/'; then
  echo "an installed header includes a private one"; exit 1
fi

echo "== C consumer, through pkg-config only"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --modversion petalsln) == "$(sed -n 's/^project(petalsln VERSION \([0-9.]*\).*/\1/p' "$source/CMakeLists.txt")" ]]
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
# shellcheck disable=SC2086  # the sanitizer flags are several words on purpose
"$cc" -std=c11 -Wall -Wextra -Werror $consumer_flags "$here/consumer_c/main.c" -o "$work/c_consumer" $(pkg-config --cflags --libs petalsln)
LD_LIBRARY_PATH=$prefix/lib "$work/c_consumer" "$source/tests/fixtures/tiny-llama3" | tee "$work/c.out"
grep -q "^version " "$work/c.out"

echo "== C++ consumer, through find_package(petalsln)"
cmake -S "$here/consumer_cpp" -B "$work/cpp" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="$consumer_flags" -DCMAKE_EXE_LINKER_FLAGS="$consumer_flags" > "$work/cpp-configure.log" \
  || { cat "$work/cpp-configure.log"; exit 1; }
cmake --build "$work/cpp" > "$work/cpp-build.log" || { cat "$work/cpp-build.log"; exit 1; }
LD_LIBRARY_PATH=$prefix/lib "$work/cpp/consumer" "$source/tests/fixtures/tiny-llama3" | tee "$work/cpp.out"
diff <(grep '^version' "$work/c.out") <(grep '^version' "$work/cpp.out")

echo "== Python, the installed library through the system loader (no PETALSLN_LIBRARY)"
env -u PETALSLN_LIBRARY LD_PRELOAD="$py_preload" LD_LIBRARY_PATH="$prefix/lib" PYTHONPATH="$source/bindings/python" "$python" -c '
import petalsln
assert petalsln.library_version() == petalsln.__version__, (petalsln.library_version(), petalsln.__version__)
print("python", petalsln.__version__, petalsln.split_payout(10, {"a": 1, "b": 1}))
'
# Without the library anywhere the loader looks, the error says how to point at it.
if env -u PETALSLN_LIBRARY LD_PRELOAD="$py_preload" LD_LIBRARY_PATH= PYTHONPATH="$source/bindings/python" "$python" -c 'import petalsln; petalsln.library_version()' 2> "$work/py.err"; then
  # A system-wide installation may legitimately be found; then there is nothing to check.
  echo "(a petalsln library is installed system-wide)"
else
  grep -q PETALSLN_LIBRARY "$work/py.err"
fi

echo "== pip install bindings/python (its build backend needs no download)"
"$python" -m pip install --quiet --no-deps --disable-pip-version-check --target "$work/site" "$source/bindings/python"
env -u PETALSLN_LIBRARY LD_PRELOAD="$py_preload" LD_LIBRARY_PATH="$prefix/lib" PYTHONPATH="$work/site" "$python" -c '
import petalsln, sys
assert petalsln.__file__.startswith(sys.argv[1]), petalsln.__file__
print("pip-installed", petalsln.library_version())
' "$work/site"
echo "install test passed"
