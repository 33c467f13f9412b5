"""Tabulate a grid of scripts/bench-nbg.sh: per data set and strategy, the
validation regret (the table's best validation accuracy minus the best
found so far) after 50, 100 and all children, the test accuracy of the
best-by-validation architecture, the cached repeats, and per-seed wins
against random search (lower regret at the end; ties count half).

    .venv/bin/python bench/nbg/report.py OUT --budget 200 \
        --datasets pubmed --strategies preset random --seeds 1 2 3
"""

import argparse
import json
import math
import os
import statistics
import sys

RECORD = 32
LINKS = ["0000", "0001", "0011", "0012", "0013", "0111", "0112", "0122", "0123"]
OPS = ["gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip"]


def read_table(path):
    rows = []
    with open(path, "rb") as f:
        data = f.read()
    for i in range(0, len(data), RECORD):
        v, t = data[i:i + RECORD].split()[:2]
        rows.append(None if v == b"-" else (float(v), float(t)))
    return rows


def index(tokens):
    i = 0
    for t in tokens:
        i = i * 9 + t
    return i


def free_repeats(path):
    """How many repeats of the run are free (search.repeats = "free")."""
    import tomllib

    with open(os.path.join(path, "config.toml"), "rb") as f:
        c = tomllib.load(f)
    s = c.get("search", {})
    if s.get("repeats", "spend") != "free":
        return 0
    return s.get("free_limit", c["experiment"]["budget"])


def run_stats(path, table, best_val, checkpoints):
    recs = [json.loads(l) for l in open(os.path.join(path, "children.jsonl"))]
    free_left = free_repeats(path)
    best, best_tokens, regrets, cached, k = -1.0, None, {}, 0, 0
    # In log order; k counts the children that spent budget (a free
    # repeat, search.repeats = "free", spends none).
    for r in recs:
        if r["status"] == "cached":
            cached += 1
            if free_left > 0:
                free_left -= 1
            else:
                k += 1
        else:
            k += 1
        m = r.get("metric")
        if m is not None and r["status"] in ("ok", "cached") and m > best:
            best, best_tokens = m, r["tokens"]
        if k in checkpoints:
            regrets[k] = best_val - best
    n = k
    for c in checkpoints:
        regrets.setdefault(c, best_val - best if n >= c else math.nan)
    test = table[index(best_tokens)][1] if best_tokens else math.nan
    return regrets, test, cached


def fmt(xs, p=4):
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return "—"
    if len(xs) == 1:
        return f"{xs[0]:.{p}f}"
    return f"{statistics.mean(xs):.{p}f} ± {statistics.stdev(xs):.{p}f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--strategies", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", required=True)
    p.add_argument("--cache", default=os.path.join(os.path.dirname(__file__), "cache"))
    a = p.parse_args()
    checkpoints = sorted({c for c in (50, 100, a.budget) if c <= a.budget})
    for d in a.datasets:
        table = read_table(os.path.join(a.cache, f"{d}.tbl"))
        best_val = max(r[0] for r in table if r)
        best_test = max(r[1] for r in table if r)
        stats = {}
        for s in a.strategies:
            for seed in a.seeds:
                path = os.path.join(a.out, "runs", f"{d}-{s}-{seed}")
                if os.path.exists(os.path.join(path, "children.jsonl")):
                    stats[(s, seed)] = run_stats(path, table, best_val, checkpoints)
        print(f"### {d}: validation regret to the table's best ({best_val:.4f}; best test {best_test:.4f}), mean ± std over seeds\n")
        head = " | ".join(f"regret @{c}" for c in checkpoints)
        print(f"| strategy | seeds | {head} | test acc. of best-by-val | cached | wins vs random @{a.budget} |")
        print("|---|---:|" + "---:|" * (len(checkpoints) + 3))
        for s in a.strategies:
            runs = [(seed, stats[(s, seed)]) for seed in a.seeds if (s, seed) in stats]
            if not runs:
                continue
            cols = [fmt([r[1][0][c] for r in runs]) for c in checkpoints]
            test = fmt([r[1][1] for r in runs])
            cached = statistics.mean(r[1][2] for r in runs)
            wins, n = 0.0, 0
            for seed, (reg, _, _) in runs:
                other = stats.get(("random", seed))
                if other is None or s == "random":
                    continue
                n += 1
                mine, theirs = reg[checkpoints[-1]], other[0][checkpoints[-1]]
                wins += 1.0 if mine < theirs else 0.5 if mine == theirs else 0.0
            w = f"{wins:g} / {n}" if n else "—"
            print(f"| {s} | {len(runs)} | " + " | ".join(cols) + f" | {test} | {cached:.1f} | {w} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
