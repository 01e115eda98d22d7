#!/usr/bin/env bash
# Installs the npm packages that tests and benchmarks cross-check against (tests/js), exactly
# as pinned in tests/js/package-lock.json. Needs node and npm (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../tests/js"
npm ci --no-audit --no-fund
# The npm bolt11 package, for the BOLT11 cross-check (its own folder and lock file).
(cd ../js-bolt11 && npm ci --no-audit --no-fund)
# nostr-tools and ws, for the Nostr Wallet Connect cross-check (tests/nwc: relay and wallet service).
(cd ../nwc && npm ci --no-audit --no-fund)
# The OpenAI SDK and ws, the real clients the gateway is tested against (tests/gateway).
(cd ../gateway && npm ci --no-audit --no-fund)
# puppeteer-core, which drives Debian's chromium through the web chat page (tests/webchat); it
# downloads no browser of its own.
(cd ../webchat && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
# The web chat page's browser library (the QR-code encoder), vendored into the installed page.
(cd ../../web/chat && npm ci --no-audit --no-fund)
