#!/usr/bin/env python3
"""Draws petalsln-bench-sessions tables as one PNG: aggregate decode tokens/s against the
number of concurrent sessions, batched and unbatched, one panel per model, beside the line a
perfectly scaling server would follow (the one-session rate times the session count).

Usage: plot_sessions.py --out docs/bench-sessions/sessions.png TITLE=TABLE.md[@N] [...]

Each TABLE.md holds markdown tables petalsln-bench-sessions printed (other lines are ignored);
@N picks the N-th (from 1; default the last). Each point is labelled with its multiple of the
one-session rate, taken as the higher of the batched and unbatched medians at one session
(both run the same path there, so the higher is the one less disturbed by other load). Run by hand after the benchmark with a Python that has matplotlib (Debian:
python3-matplotlib, then /usr/bin/python3 scripts/plot_sessions.py ...).
"""

import argparse
import sys


def read_table(spec):
    """Returns the rows (sessions, batched tok/s, unbatched tok/s, steps per batch) of the
    table that SPEC (PATH or PATH@N) names."""
    path, _, index = spec.partition("@")
    tables, current = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) in (6, 7) and cells[0].isdigit():  # 7: with the whole-run rate
                if current is None:
                    current = []
                    tables.append(current)
                current.append((int(cells[0]), float(cells[1]), float(cells[4]), float(cells[3])))
            elif not line.startswith("|"):
                current = None
    if not tables:
        raise SystemExit(f"{path}: no petalsln-bench-sessions table found")
    n = int(index) if index else len(tables)
    if not 1 <= n <= len(tables):
        raise SystemExit(f"{path}: has {len(tables)} tables, not a table {n}")
    return tables[n - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("tables", nargs="+", metavar="TITLE=TABLE.md[@N]")
    args = parser.parse_args()
    panels = []
    for spec in args.tables:
        title, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"{spec}: expected TITLE=TABLE.md[@N]")
        panels.append((title, read_table(path)))

    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (title, rows) in zip(axes[0], panels):
        sessions = [r[0] for r in rows]
        batched = [r[1] for r in rows]
        unbatched = [r[2] for r in rows]
        one = max(batched[0], unbatched[0]) / sessions[0]
        ideal = [one * n for n in sessions]
        ax.plot(sessions, ideal, ":", color="grey", label="linear in sessions")
        ax.plot(sessions, batched, "o-", label="batched")
        ax.plot(sessions, unbatched, "s--", label="each step alone")
        for n, rate in zip(sessions, batched):
            ax.annotate(f"{rate / one:.1f}×", (n, rate), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
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
