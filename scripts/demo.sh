#!/usr/bin/env bash
# The main job: sets up everything on a fresh Debian bookworm machine (as root), builds
# petalsln and runs a chat exchange with the bundled demo model.
#
# The demo model (examples/demo-model) is a 3.3M-parameter Llama trained only to answer
# two-digit arithmetic, the capitals of 32 countries, and a few facts about Lightning, L402
# and petalsln. Anything else gets an answer to one of those questions instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
chat=${PETALSLN_BUILD_DIR:-build}/examples/chat/petalsln-chat
model=examples/demo-model

cat <<'TXT'

== petalsln demo: a local chat with the bundled demo model ==
The demo model is tiny (3.3M parameters, 8 blocks). It really answers two-digit addition
and subtraction, multiplication up to 12 x 12, the capitals of 32 countries, and a few
questions about Lightning, L402, macaroons and petalsln. Ask it anything else and it will
answer one of those questions instead: it is a demonstration, not an assistant.
TXT
for question in "What is 17 + 25?" "Capital of Kenya?" "What is L402?"; do
  printf '\nyou> %s\n' "$question"
  printf 'model> '
  "$chat" --model "$model" --local --greedy --max-new-tokens 64 --prompt "$question" 2>/dev/null
  echo
done
printf '\nFor an interactive chat: %s --model %s --local\n' "$chat" "$model"
