#!/usr/bin/env bash
# The main job: sets up everything on a fresh Debian bookworm machine (as root), builds
# petalsln, starts a local paid swarm (a DHT bootstrap node and three contributor servers that
# split the bundled demo model's 8 blocks 3 + 3 + 2, each behind an L402 paywall), chats
# through it paying from a wallet, shows what it cost and what each server earned, and stops
# everything. The money is the devnet's: a simulated Lightning network in one SQLite file,
# with real BOLT11 invoices and real preimages but no real bitcoin.
#
# The demo model (examples/demo-model) is a 3.3M-parameter Llama trained only to answer
# two-digit arithmetic, the capitals of 32 countries, and a few facts about Lightning, L402
# and petalsln. Anything else gets an answer to one of those questions instead.
#
# Then a priced gateway (petalsln-gateway) in front of the same swarm shows one paid exchange
# (the 402 and its price, the payment, the streamed answer, the credit left) through its
# HTTP API, as a client program would see it (OpenAI's /v1/chat/completions, streamed), and
# the split of what the user paid among the servers by their work: the message's receipt, and
# the payout to each server's Lightning address (served on loopback by a small LNURL-pay
# service on the devnet, tests/e2e/lnurl_server.py). It keeps serving at the printed URL until
# Ctrl-C, with the web chat at that URL (its devnet demo wallet can pay). `--once` stops after
# the exchange (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
for arg in "$@"; do
  case "$arg" in
    --once) once=1 ;;
    *) echo "usage: $0 [--once]" >&2; exit 2 ;;
  esac
done
bash scripts/install-deps.sh
echo "building petalsln (the first build takes a few minutes)..."
bash scripts/build.sh >/dev/null
bin=${PETALSLN_BUILD_DIR:-build}/examples
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # see docs/BENCHMARKS.md
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

A fresh devnet (simulated Lightning, no real money): the client gets 1000 sats; each server
starts with nothing and charges 1000 msat per 1000 block-tokens, sold 2000 at a time.
TXT
devnet="$work/devnet.db"
wallet="$bin/wallet/petalsln-wallet"
"$wallet" --wallet "devnet:$devnet" create-account client --fund-sats 1000 >/dev/null
for who in alice bob carol; do "$wallet" --wallet "devnet:$devnet" create-account "$who" --fund-sats 0 >/dev/null; done
"$wallet" --wallet "devnet:$devnet" create-account gateway --fund-sats 1000 >/dev/null
balance() { "$wallet" --wallet "devnet:$devnet?account=$1" balance | sed 's/[^0-9]//g'; }
client_before=$(balance client)

echo
echo "Starting a Lightning address service for the servers' payouts (LNURL-pay on 127.0.0.1, paying"
echo "into their devnet accounts), a DHT bootstrap node and three priced contributor servers:"
python3 tests/e2e/lnurl_server.py --devnet "$devnet" --wallet "$wallet" >"$work/lnurl.out" 2>"$work/lnurl.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -qs '^ready ' "$work/lnurl.out" && break; sleep 0.1; done
grep -q '^ready ' "$work/lnurl.out" || { echo "the LNURL service did not start:" >&2; cat "$work/lnurl.err" >&2; exit 1; }
lnurl_port=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$work/lnurl.out")
printf '  %-10s %s\n' lnurl "$(cat "$work/lnurl.out") (alice@127.0.0.1:$lnurl_port, ...)"
start bootstrap --dht-only
dht=$(sed -n 's/.* dht=\([^ ]*\).*/\1/p' "$work/bootstrap.out")
blocks=(0:3 3:6 6:8)
i=0
for who in alice bob carol; do
  start "$who" --model "$model" --blocks "${blocks[$i]}" --initial-peers "$dht" --identity "$work/$who.key" \
    --public-name "$who" --lightning-address "$who@127.0.0.1:$lnurl_port" \
    --price-msat 1000 --credit-block-tokens 2000 --wallet "devnet:$devnet?account=$who"
  i=$((i + 1))
done

for question in "What is 17 + 25?" "Capital of Kenya?" "What is L402?"; do
  printf '\nyou> %s\n' "$question"
  "$bin/chat/petalsln-chat" --model "$model" --initial-peers "$dht" --greedy --max-new-tokens 64 \
    --wallet "devnet:$devnet?account=client" --budget-sats 100 --token-store "$work/chat-tokens.sqlite" \
    --prompt "$question" 2>&1 | grep -v -E '^(loading|petalsln-chat: )'
done

echo
echo "What the chat cost and what each server earned (devnet balances, msat):"
printf '  client  paid   %7d msat\n' $((client_before - $(balance client)))
for who in alice bob carol; do printf '  %-7s earned %7d msat\n' "$who" "$(balance "$who")"; done
servers_before=$(( $(balance alice) + $(balance bob) + $(balance carol) ))

echo
echo "Starting a gateway in front of the swarm: it sells chat at 10000 msat per 1000 tokens over"
echo "L402 (1000 tokens per payment, into its own devnet account), buys the servers' credit from it,"
echo "and splits each message's income, after a 10% fee, among the servers by the work each did,"
echo "paid to their Lightning addresses every 2 s (--ledger: a crash-safe payout ledger):"
"$wallet" --wallet "devnet:$devnet" create-account user --fund-sats 100 >/dev/null
# The web chat's "Pay from the demo wallet" pays from this devnet account (test money).
"$wallet" --wallet "devnet:$devnet" create-account demo --fund-sats 1000 >/dev/null
"$bin/gateway/petalsln-gateway" --model "$model" --initial-peers "$dht" --listen 127.0.0.1:0 \
  --wallet "devnet:$devnet?account=gateway" --budget-sats 500 --price-msat-per-1k-tokens 10000 \
  --credit-tokens 1000 --macaroon-key-file "$work/gateway.key" --demo-wallet demo \
  --ledger "$work/payouts.ledger" --fee-bps 1000 --payout-interval 2 --payout-threshold-sats 0 --payout-allow-http-loopback \
  >"$work/gateway.out" 2>"$work/gateway.err" &
pids+=($!)
gateway_pid=$!
for _ in $(seq 1 300); do
  grep -qs '^ready ' "$work/gateway.out" && break
  if ! kill -0 "$gateway_pid" 2>/dev/null; then cat "$work/gateway.err" >&2; exit 1; fi
  sleep 0.1
done
grep -q '^ready ' "$work/gateway.out" || { echo "the gateway did not start:" >&2; cat "$work/gateway.err" >&2; exit 1; }
printf '  %-10s %s\n' gateway "$(cat "$work/gateway.out")"
url=$(sed -n 's/.* url=\([^ ]*\).*/\1/p' "$work/gateway.out")
gateway_before=$(balance gateway)
# The receipt in the stream's last usage chunk (petalsln_receipt): what the message cost and what
# each server earned of it.
show_split() {
  python3 - "$work/stream.txt" <<'PY'
import json, sys
chunks = [json.loads(line[6:]) for line in open(sys.argv[1]) if line.startswith("data: {")]
r = chunks[-1]["petalsln_receipt"]
print("  its receipt: %d tokens (%d prompt + %d generated) at %d msat per 1000 = %d msat; gateway fee %d msat;"
      % (r["charged_tokens"], r["prompt_tokens"], r["generated_tokens"], r["price_msat_per_1k_tokens"], r["charged_msat"], r["fee_msat"]))
print("  the rest split by the work each server did:")
for h in r["route"]:
    print("    %-6s blocks %d-%d  %4d block-tokens  earned %4d msat -> %s"
          % (h["name"], h["blocks"][0], h["blocks"][1] - 1, h["block_tokens"], h["earned_msat"], h["lightning_address"]))
PY
}

# Waits (at most 20 s) for the payout run that pays every server's share, then shows what
# /api/v1/swarm says each earned.
show_payouts() {
  for _ in $(seq 1 100); do
    curl -sS "$url/api/v1/swarm" >"$work/swarm.json"
    python3 - "$work/swarm.json" <<'PY' && break
import json, sys
sys.exit(any(s["earned"]["owed_msat"] or s["earned"]["in_flight_msat"] for s in json.load(open(sys.argv[1]))["servers"]))
PY
    sleep 0.2
  done
  python3 - "$work/swarm.json" <<'PY'
import json, sys
for s in sorted(json.load(open(sys.argv[1]))["servers"], key=lambda s: s["blocks"]):
    e = s["earned"]
    print("    %-6s paid to %s: %4d msat of %4d msat earned from messages (and %d msat for credit the gateway bought at its paywall)"
          % (s["public_name"], s["lightning_address"], e["paid_msat"] - e["paywall_msat"], e["accrued_msat"] - e["paywall_msat"], e["paywall_msat"]))
PY
}
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
question='{"model": "demo-model", "messages": [{"role": "user", "content": "What is 7 * 8?"}], "temperature": 0'

echo
echo "One paid exchange through the gateway's OpenAI-compatible API (what a client program sees):"
echo "  POST $url/v1/chat/completions  {\"messages\": [{\"role\": \"user\", \"content\": \"What is 7 * 8?\"}]}"
curl -sS "$url/v1/chat/completions" -H 'Content-Type: application/json' -d "$question}" -D "$work/402.head" >"$work/402.json"
printf '  %s' "$(head -n 1 "$work/402.head")"
echo "  $(grep -i '^WWW-Authenticate: L402' "$work/402.head" | cut -c1-60)..."
echo "  the invoice asks $(json 'd["error"]["amount_msat"]' <"$work/402.json") msat for $(json 'd["error"]["credit_tokens"]' <"$work/402.json") tokens"
invoice=$(json 'd["error"]["invoice"]' <"$work/402.json")
macaroon=$(json 'd["error"]["macaroon"]' <"$work/402.json")
preimage=$("$wallet" --wallet "devnet:$devnet?account=user" pay "$invoice" | json 'd["preimage"]')
echo "  the user pays it from a devnet wallet (petalsln-wallet pay) and asks again with"
echo "  Authorization: L402 <macaroon>:<preimage>, streamed:"
curl -sS -N "$url/v1/chat/completions" -H 'Content-Type: application/json' -H "Authorization: L402 $macaroon:$preimage" \
  -d "$question, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" >"$work/stream.txt"
grep '^data: ' "$work/stream.txt" | sed -n '2,5s/^/  /p'
echo "  ... (one event per token, then the finish reason, the usage and [DONE])"
printf '  the reply: '
grep '^data: {' "$work/stream.txt" | sed 's/^data: //' | python3 -c '
import json, sys
print("".join((c["choices"][0]["delta"].get("content") or "") for c in map(json.loads, sys.stdin) if c.get("choices")))'
show_split
echo "  credit left on the token: $(curl -sS "$url/api/v1/credit" -H "Authorization: L402 $macaroon:$preimage" | json 'd["left_tokens"]') tokens"
echo "  the gateway's payout run paid each server's share to its Lightning address (GET /api/v1/swarm):"
show_payouts
paid_by_user=$((100000 - $(balance user)))
paid_to_servers=$(( $(balance alice) + $(balance bob) + $(balance carol) - servers_before ))
echo "  the user paid the gateway $paid_by_user msat; the gateway has paid the servers $paid_to_servers msat"
echo "  (credit they sell it, 2000 block-tokens at a time, and their payouts); its balance:"
echo "  $gateway_before + $paid_by_user - $paid_to_servers = $(balance gateway) msat"
echo "  the gateway's log line for the paid message: $(grep 'POST /v1/chat/completions 200' "$work/gateway.err" | tail -n 1)"

if [ "$once" = 0 ]; then
  echo
  echo "The web chat: open $url in a browser. Ask 'What is 17 + 25?', pay the invoice from the"
  echo "devnet demo wallet (test money, not real bitcoin) or scan its QR code, and watch the answer"
  echo "stream in with its receipt: the servers on the route and what each earned."
  echo
  echo "The gateway keeps serving at $url (OpenAI API under /v1, chat.petals.dev's under /api)."
  echo "Try: curl -s $url/v1/chat/completions -H 'Authorization: L402 $macaroon:$preimage' -d '{\"model\": \"demo-model\", \"messages\": [{\"role\": \"user\", \"content\": \"Capital of Japan?\"}]}'"
  echo "(that token has credit left; without it the gateway answers 402 with a fresh invoice), or open $url in a browser."
  echo "Press Ctrl-C to stop everything."
  while kill -0 "$gateway_pid" 2>/dev/null; do sleep 1; done
fi
printf '\nStopping the gateway and the swarm...\n'
stop_all
trap - EXIT
echo "done. For an interactive chat, start servers as above and run:"
echo "  $bin/chat/petalsln-chat --model $model --initial-peers HOST:PORT"
