#!/usr/bin/env bash
# The main job: sets up everything on a fresh Debian bookworm machine (as root), builds
# petalsln, starts a local swarm (a DHT bootstrap node and three contributor servers that
# split the bundled demo model's 8 blocks 3 + 3 + 2), chats through it, and stops everything.
#
# The demo model (examples/demo-model) is a 3.3M-parameter Llama trained only to answer
# two-digit arithmetic, the capitals of 32 countries, and a few facts about Lightning, L402
# and petalsln. Anything else gets an answer to one of those questions instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "building petalsln (the first build takes a few minutes)..."
bash scripts/build.sh >/dev/null
bin=${PETALSLN_BUILD_DIR:-build}/examples
model=examples/demo-model
work=$(mktemp -d)
pids=()

stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_all EXIT

# Starts a server in the background and waits for its "ready ..." line.
start() {
  local name=$1
  shift
  "$bin/server/petalsln-server" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 300); do
    if grep -q '^ready ' "$work/$name.out"; then
      printf '  %-10s %s\n' "$name" "$(cat "$work/$name.out")"
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$work/$name.err" >&2
  exit 1
}

cat <<'TXT'

== petalsln demo: a local swarm serving the bundled demo model ==
The demo model is tiny (3.3M parameters, 8 blocks). It really answers two-digit addition
and subtraction, multiplication up to 12 x 12, the capitals of 32 countries, and a few
questions about Lightning, L402, macaroons and petalsln. Ask it anything else and it will
answer one of those questions instead: it is a demonstration, not an assistant.

Starting a DHT bootstrap node and three contributor servers on 127.0.0.1:
TXT
start bootstrap --dht-only
dht=$(sed -n 's/.* dht=\([^ ]*\).*/\1/p' "$work/bootstrap.out")
start server-a --model "$model" --blocks 0:3 --initial-peers "$dht" --identity "$work/a.key" --public-name alice
start server-b --model "$model" --blocks 3:6 --initial-peers "$dht" --identity "$work/b.key" --public-name bob
start server-c --model "$model" --blocks 6:8 --initial-peers "$dht" --identity "$work/c.key" --public-name carol

for question in "What is 17 + 25?" "Capital of Kenya?" "What is L402?"; do
  printf '\nyou> %s\n' "$question"
  "$bin/chat/petalsln-chat" --model "$model" --initial-peers "$dht" --greedy --max-new-tokens 64 \
    --prompt "$question" 2>&1 | grep -v -E '^(loading|petalsln-chat: )'
done
printf '\nStopping the swarm...\n'
stop_all
trap - EXIT
echo "done. For an interactive chat, start servers as above and run:"
echo "  $bin/chat/petalsln-chat --model $model --initial-peers HOST:PORT"
