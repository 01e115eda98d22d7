#!/usr/bin/env python3
"""Draws petalsln-bench-sessions tables as one PNG: aggregate decode tokens/s against the
number of concurrent sessions, batched and unbatched, one panel per model, beside the line a
perfectly scaling server would follow (the one-session rate times the session count).

Usage: plot_sessions.py --out docs/bench_sessions/sessions.png TITLE=TABLE.md [TITLE=TABLE.md ...]

Each TABLE.md holds the markdown table petalsln-bench-sessions printed (other lines are
ignored). Run by hand after the benchmark with a Python that has matplotlib (Debian:
python3-matplotlib, then /usr/bin/python3 scripts/plot_sessions.py ...).
"""

import argparse
import sys


def read_table(path):
    """Returns rows of (sessions, batched tok/s, unbatched tok/s, steps per batch)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 6 or not cells[0].isdigit():
                continue
            rows.append((int(cells[0]), float(cells[1]), float(cells[4]), float(cells[3])))
    if not rows:
        raise SystemExit(f"{path}: no petalsln-bench-sessions table found")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("tables", nargs="+", metavar="TITLE=TABLE.md")
    args = parser.parse_args()
    panels = []
    for spec in args.tables:
        title, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"{spec}: expected TITLE=TABLE.md")
        panels.append((title, read_table(path)))

    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (title, rows) in zip(axes[0], panels):
        sessions = [r[0] for r in rows]
        batched = [r[1] for r in rows]
        unbatched = [r[2] for r in rows]
        ideal = [batched[0] / sessions[0] * n for n in sessions]
        ax.plot(sessions, ideal, ":", color="grey", label="linear in sessions")
        ax.plot(sessions, batched, "o-", label="batched")
        ax.plot(sessions, unbatched, "s--", label="each step alone")
        for n, rate in zip(sessions, batched):
            ax.annotate(f"{rate / batched[0]:.1f}×", (n, rate), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sessions)
        ax.set_xticklabels([str(n) for n in sessions])
        ax.set_ylim(bottom=0, top=max(max(batched), max(unbatched)) * 1.25)
        ax.set_xlabel("concurrent sessions")
        ax.set_ylabel("aggregate decode tokens/s")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
