#!/usr/bin/env bash
# Sets up everything on a fresh Debian bookworm machine (as root) and runs the whole test
# suite: Debian packages, the npm packages tests cross-check against, a build, then CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-js-deps.sh
bash scripts/build.sh "$@"
(cd "${PETALSLN_BUILD_DIR:-build}" && ctest --output-on-failure -j 2 --timeout 1200)
# Every fuzz target for a few seconds under ASan/UBSan (clang build in ./build-fuzz), after
# replaying fuzz/regressions; the longer run is scripts/fuzz.sh --seconds 300.
bash scripts/fuzz.sh --seconds 5
