#!/usr/bin/env python3
"""Checks every #include in src/, include/, capi/ and examples/ against the layer matrix in
docs/DESIGN.md (the table under "### The layer matrix"), and that libtorch stays inside the
layers allowed to see it.

Usage: check_layers.py [--check layers|torch|all] [--stamp FILE] [SOURCE_DIR]

Exit status 0 when every include is allowed; 1 with one line per violation
(file:line: what was included and why it is not allowed). The build runs it (a forbidden
include fails `cmake --build`) and CTest runs it as two tests.
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
TORCH_PREFIXES = ("torch/", "ATen/", "c10/", "caffe2/")
# Files outside model that compute with tensors and may include libtorch in their
# implementation (never in a public header): the tensor codec and the translation units that
# drive blocks and heads.
TORCH_LAYERS = {"model", "rpc", "server", "client", "capi"}
SOURCE_EXTENSIONS = (".hpp", ".h", ".cpp", ".c")
# Generated protobuf headers belong to the layer that owns the schema.
PROTO_OWNERS = {"petalsln/v1/swarm.pb.h": "swarm"}
PROTO_DEFAULT_OWNER = "rpc"


def read_matrix(design_path):
    """Parses the layer matrix: {layer: (public layers allowed, internal layers allowed)}."""
    text = open(design_path, encoding="utf-8").read()
    marker = "### The layer matrix"
    if marker not in text:
        sys.exit(f"{design_path}: no '{marker}' section")
    section = text[text.index(marker):]
    matrix = {}
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("layer", "") or set(cells[0]) <= set("-: "):
            continue

        def names(cell):
            return {n.strip().strip("`") for n in cell.split(",") if n.strip() not in ("", "—", "-")}

        matrix[cells[0]] = (names(cells[1]), names(cells[2]))
    if not matrix:
        sys.exit(f"{design_path}: the layer matrix has no rows")
    return matrix


def layer_of(rel):
    """Returns (layer, kind) for a repository-relative path; kind is public/internal/example."""
    parts = rel.split("/")
    if parts[0] == "include" and len(parts) >= 3 and parts[1] == "petalsln":
        return (parts[2] if len(parts) > 3 else "umbrella"), "public"
    if parts[0] == "src":
        return parts[1], "internal"
    if parts[0] == "capi":
        return "capi", "internal"
    if parts[0] == "examples":
        return "examples", "example"
    return None, None


def target_of(spelling, including_file, root):
    """Classifies an included name: ("public", layer), ("internal", layer), ("local", None),
    ("example", None) or ("system", None)."""
    if spelling in PROTO_OWNERS:
        return "internal", PROTO_OWNERS[spelling]
    if spelling.startswith("petalsln/v1/"):
        return "internal", PROTO_DEFAULT_OWNER
    if spelling == "petalsln/petalsln.hpp":
        return "public", "umbrella"
    if spelling.startswith("petalsln/"):
        parts = spelling.split("/")
        return "public", (parts[1] if len(parts) > 2 else "?")
    here = os.path.dirname(os.path.join(root, including_file))
    if os.path.exists(os.path.join(here, spelling)):
        return "local", None
    first = spelling.split("/")[0]
    if os.path.isdir(os.path.join(root, "src", first)) and "/" in spelling:
        return "internal", first
    if including_file.startswith("examples/") and os.path.exists(os.path.join(root, "examples", spelling)):
        return "example", None
    return "system", None


def files_to_check(root):
    for top in ("src", "include", "capi", "examples"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "demo-model")]
            for name in sorted(filenames):
                if name.endswith(SOURCE_EXTENSIONS):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def check_layers(root, matrix):
    problems = []
    for rel in files_to_check(root):
        layer, kind = layer_of(rel)
        if layer is None:
            continue
        if layer not in matrix and layer != "umbrella":
            problems.append(f"{rel}: layer '{layer}' is not in the layer matrix of docs/DESIGN.md")
            continue
        public_ok, internal_ok = matrix.get(layer, (set(matrix), set()))
        for number, line in enumerate(open(os.path.join(root, rel), encoding="utf-8"), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            spelling = m.group(2)
            what, owner = target_of(spelling, rel, root)
            where = f"{rel}:{number}: #include {m.group(1)}{spelling}"
            if what == "public":
                if owner == "umbrella" and kind != "public":
                    continue
                if owner not in matrix:
                    problems.append(f"{where}: no layer '{owner}' in include/petalsln/")
                elif owner != layer and owner not in public_ok:
                    problems.append(f"{where}: layer '{layer}' may not use layer '{owner}'")
            elif what == "internal":
                if kind == "public":
                    problems.append(f"{where}: a public header may include only public headers")
                elif kind == "example":
                    problems.append(f"{where}: examples use only public headers (and examples/common)")
                elif owner != layer and owner not in internal_ok:
                    problems.append(f"{where}: '{owner}' headers in src/ are private to their layer")
    return problems


def check_torch(root):
    problems = []
    for rel in files_to_check(root):
        layer, kind = layer_of(rel)
        for number, line in enumerate(open(os.path.join(root, rel), encoding="utf-8"), 1):
            m = INCLUDE.match(line)
            if not m or not m.group(2).startswith(TORCH_PREFIXES):
                continue
            where = f"{rel}:{number}: #include <{m.group(2)}>"
            if kind == "public" and layer != "model":
                problems.append(f"{where}: only model's public headers may include libtorch")
            elif layer not in TORCH_LAYERS:
                problems.append(f"{where}: layer '{layer}' never sees libtorch")
            elif layer == "rpc" and not os.path.basename(rel).startswith("tensor_codec"):
                problems.append(f"{where}: in rpc only the tensor codec may include libtorch")
            elif kind != "public" and rel.endswith((".hpp", ".h")) and layer not in ("model", "rpc"):
                problems.append(f"{where}: libtorch belongs in .cpp files above model")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--check", choices=("layers", "torch", "all"), default="all")
    parser.add_argument("--stamp", help="file to touch when every check passes")
    args = parser.parse_args()
    problems = []
    if args.check in ("layers", "all"):
        problems += check_layers(args.root, read_matrix(os.path.join(args.root, "docs", "DESIGN.md")))
    if args.check in ("torch", "all"):
        problems += check_torch(args.root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} include(s) break the layers (docs/DESIGN.md, 'The layer matrix')", file=sys.stderr)
        return 1
    if args.stamp:
        with open(args.stamp, "w", encoding="utf-8"):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
