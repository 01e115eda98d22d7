#!/usr/bin/env bash
# Installs every Debian (bookworm) package petalsln needs to build, test and run its examples.
# Idempotent: packages already present are skipped by apt-get. Must run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates python3
  # the install test checks `pip install bindings/python`
  python3-pip
  # model layer
  libtorch-dev
  # libtorch calls the system BLAS; Debian's default is the slow reference one. OpenBLAS
  # (OpenMP flavour, matching libtorch's own threading) takes over libblas.so.3.
  libopenblas0-openmp
  # util / text
  nlohmann-json3-dev libfmt-dev libpcre2-dev libicu-dev libsentencepiece-dev doctest-dev
  # rpc / swarm / lightning (later layers)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libopendht-dev libsecp256k1-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev
  # net / gateway: Boost.Beast (HTTP, WebSocket) on Boost.Asio. Bookworm's libopendht-dev
  # needs libmsgpack-cxx-dev, which needs libboost-dev (1.74); asking for libboost1.81-dev
  # makes apt remove libopendht-dev, so Beast comes from 1.74 too.
  libboost-dev
  # every example program's command line
  libcli11-dev
  # wallet-backend tests make self-signed TLS certificates for their loopback counterparts
  openssl
  # fuzz/: libFuzzer targets built with clang under ASan/UBSan (scripts/fuzz.sh)
  clang libfuzzer-14-dev
  python3-grpcio python3-protobuf  # tests/attack send hand-made and malformed gRPC messages
  chromium  # tests/webchat: the web chat page in a headless browser (driven by npm puppeteer-core)
)
# Node.js runs independent JavaScript implementations that tests and benchmarks cross-check
# against. A machine may already have a Node.js that ships its own npm (e.g. NodeSource);
# Debian's npm package conflicts with that, so only ask for Debian's when none is there.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
