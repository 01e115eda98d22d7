#!/usr/bin/env bash
# Builds petalsln and prints every benchmark table. Results are recorded by hand in
# docs/BENCHMARKS.md with the machine, command and date.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh -DPETALSLN_BUILD_BENCH=ON >/dev/null
build=${PETALSLN_BUILD_DIR:-build}
# libgomp threads spin after each parallel region; with gRPC handler threads also running
# libtorch that steals the cores from the decoding thread (measured: local decode 8.6 vs 14.2
# tokens/s). Passive waiting is what a server wants anyway.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
model=$build/bench-models/smollm2-135m
if [ ! -f "$model/config.json" ]; then
  mkdir -p "$(dirname "$model")"
  "$build/examples/tools/petalsln-random-checkpoint" --out "$model" --preset smollm2-135m --shard-mb 200 \
    --tokenizer-from examples/demo-model >/dev/null
fi
echo "## Local engine: random SmolLM2-135M-shaped checkpoint"
"$build/bench/model/petalsln-bench-model" --model "$model" --prompt-tokens 128 --decode-tokens 64 --runs 5
if [ -x bench/tokenizer/run.sh ]; then
  echo
  echo "## Tokenizer"
  bash bench/tokenizer/run.sh
fi
echo
echo "## Swarm: 3 servers on loopback vs local, same checkpoint"
"$build/bench/swarm/petalsln-bench-swarm" --model "$model" --decode-tokens 64 --runs 5
echo
echo "## Concurrent sessions on one server: aggregate decode tok/s, batched vs each step alone"
echo "(draw both tables with scripts/plot_sessions.py)"
"$build/bench/server/petalsln-bench-sessions" --model "$model"
"$build/bench/server/petalsln-bench-sessions" --model examples/demo-model --decode-tokens 128
echo
echo "## Transport floor: one hop with no petalsln code (raw TCP, gRPC), server busy 0/5/20 ms"
"$build/bench/transport/petalsln-bench-transport"
echo
echo "## L402 token verification"
"$build/bench/lightning/petalsln-bench-l402"
echo
echo "## Gateway: petalsln-gateway's SSE and WebSocket streams vs SwarmChat direct (demo model, 3 servers)"
python3 bench/gateway/bench_gateway.py --build "$build"
