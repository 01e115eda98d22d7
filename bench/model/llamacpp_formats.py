#!/usr/bin/env python3
"""petalsln beside llama.cpp on the same weights, for every weight format, in one run.

    python3 bench/model/llamacpp_formats.py MODEL_DIR BUILD_DIR --peer PATH/TO/llamacpp-peer/run.sh [--rounds 3] [...]

Pairs each petalsln weight format with llama.cpp's nearest type: f32 with f32, f16 and bf16
with f16, int8 with q8_0. The comparison itself is made by the llamacpp-peer tool (the
project's yardstick, kept outside the project: it runs llama.cpp from the npm package
node-llama-cpp interleaved with petalsln-bench-model). The tool runs petalsln-bench-model as it
finds it under a build folder, so each format gets a folder whose petalsln-bench-model is a
two-line wrapper adding --dtype/--quant. Then petalsln-bench-model runs once per format alone
for its decode time against the memory-bandwidth floor. Prints one markdown table.
Extra options after the known ones go to the peer tool (e.g. --quiet-wait 20 --retries 1).
"""

import argparse
import os
import re
import stat
import subprocess
import sys
import tempfile

PAIRS = [("f32", ["--dtype", "f32"], "f32"), ("f16", ["--dtype", "f16"], "f16"), ("bf16", ["--dtype", "bf16"], "f16"),
         ("int8", ["--quant", "int8"], "q8_0")]
ROW_RE = re.compile(r"^\| (petalsln \(libtorch\)|llama\.cpp) \| ([^|]+) \| ([0-9.]+) \| ([0-9.]+) \|")
FLOOR_RE = re.compile(r"\| decode time / floor \| ([0-9.]+)x")
BYTES_RE = re.compile(r"\| weights read per decoded token \([a-z0-9]+\) \| ([0-9.]+) MB")
BW_RE = re.compile(r"\| measured read bandwidth \| ([0-9.]+) GB/s")


def wrapper_build(root, real_bench, flags):
    """A folder laid out like a build whose bench/model/petalsln-bench-model adds @p flags."""
    os.makedirs(os.path.join(root, "bench", "model"), exist_ok=True)
    path = os.path.join(root, "bench", "model", "petalsln-bench-model")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s \"$@\" %s\n" % (real_bench, " ".join(flags)))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return root


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("build")
    ap.add_argument("--peer", required=True, help="llamacpp-peer's run.sh")
    ap.add_argument("--formats", default="f32,f16,bf16,int8")
    ap.add_argument("--rounds", type=int, default=3)
    args, rest = ap.parse_known_args()
    real = os.path.abspath(os.path.join(args.build, "bench", "model", "petalsln-bench-model"))
    if not os.access(real, os.X_OK):
        sys.exit(f"llamacpp_formats: no petalsln-bench-model under {args.build}")
    wanted = args.formats.split(",")
    rows, logs = [], []
    with tempfile.TemporaryDirectory(prefix="petalsln-formats-") as tmp:
        for name, flags, llama_type in PAIRS:
            if name not in wanted:
                continue
            build = wrapper_build(os.path.join(tmp, name), real, flags)
            cmd = ["bash", args.peer, args.model, build, "--types", llama_type, "--rounds", str(args.rounds)] + rest
            print(f"[{name}] {' '.join(cmd)}", file=sys.stderr, flush=True)
            out = subprocess.run(cmd, capture_output=True, text=True)
            logs.append(out.stdout)
            if out.returncode != 0:
                sys.exit(f"llamacpp_formats: the peer tool failed for {name}:\n{out.stdout}\n{out.stderr}")
            found = {m.group(1): (float(m.group(3)), float(m.group(4))) for m in map(ROW_RE.match, out.stdout.splitlines()) if m}
            solo = subprocess.run([real, "--model", args.model, "--runs", "3", "--threads", "2"] + flags, capture_output=True, text=True).stdout
            floor, mb, bw = FLOOR_RE.search(solo), BYTES_RE.search(solo), BW_RE.search(solo)
            rows.append((name, llama_type, found["petalsln (libtorch)"], found["llama.cpp"], float(floor.group(1)) if floor else None,
                         float(mb.group(1)) if mb else None, float(bw.group(1)) if bw else None))
    header = next((l for l in logs[0].splitlines() if l.startswith("Machine:")), "") if logs else ""
    print(header)
    print()
    print("| petalsln weights | llama.cpp type | petalsln prefill tok/s | llama.cpp prefill tok/s | petalsln decode tok/s | "
          "llama.cpp decode tok/s | petalsln ÷ llama.cpp, decode | weights per token | petalsln decode ÷ floor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, lt, (pp, pd), (lp, ld), floor, mb, bw in rows:
        print(f"| {name} | {lt} | {pp:.1f} | {lp:.1f} | {pd:.2f} | {ld:.2f} | {pd / ld:.2f} | "
              f"{mb:.1f} MB | {floor:.2f}x (at {bw:.1f} GB/s) |" if floor else f"| {name} | {lt} | {pp:.1f} | {lp:.1f} | {pd:.2f} | {ld:.2f} | {pd / ld:.2f} | | |")
    print()
    print("Full output of each peer run:")
    for log in logs:
        print(log)


if __name__ == "__main__":
    main()
