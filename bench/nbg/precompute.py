"""Precompute compact NAS-Bench-Graph tables for the trial command.

NAS-Bench-Graph (Qin et al., NeurIPS 2022 datasets track; the Python
package nas-bench-graph 1.4.0, Apache-2.0) holds, for each of 26,206
distinct GNN architectures on 9 node-classification data sets, the
validation and test accuracy of a trained network. Its architectures are
a link pattern (9 of them) and one operation for each of 4 nodes (9
operations). This script writes, for each data set asked for, one line per
token sequence of the declared space of bench/nbg/nbg.toml, in order:

    index = link * 9^4 + op0 * 9^3 + op1 * 9^2 + op2 * 9 + op3
    line index + 1: "<valid_perf> <test_perf>"  (or "- -" if not in the table)

so a trial answers with one seek. The tables are the package's data: they
are written at benchmark time (default bench/nbg/cache/, ignored by git) and
never committed.

    .venv/bin/python bench/nbg/precompute.py [--out DIR] DATASET...
"""

import argparse
import os
import sys

RECORD = 32  # bytes per line, fixed width


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "cache"))
    p.add_argument("datasets", nargs="+")
    a = p.parse_args()
    try:
        from nas_bench_graph import light_read, Arch
        from nas_bench_graph.architecture import link_list, gnn_list
    except ImportError as e:
        sys.stderr.write(
            f"cannot import nas_bench_graph ({e}): install it with\n"
            "  .venv/bin/pip install --no-deps nas-bench-graph==1.4.0\n"
            "(its loader also needs numpy)\n"
        )
        return 2
    os.makedirs(a.out, exist_ok=True)
    for name in a.datasets:
        try:
            bench = light_read(name)
        except FileNotFoundError:
            sys.stderr.write(f"no data set {name!r} in nas_bench_graph\n")
            return 2
        n = len(gnn_list)
        path = os.path.join(a.out, f"{name}.tbl")
        missing = 0
        with open(path + ".tmp", "w", encoding="ascii") as f:
            for li, link in enumerate(link_list):
                for i0 in range(n):
                    for i1 in range(n):
                        for i2 in range(n):
                            for i3 in range(n):
                                ops = [gnn_list[i] for i in (i0, i1, i2, i3)]
                                row = None
                                if ops != ["skip"] * 4:
                                    row = bench.get(Arch(list(link), ops).valid_hash())
                                if row is None:
                                    line = "- -"
                                    missing += 1
                                else:
                                    line = f"{row['valid_perf']:.6f} {row['perf']:.6f}"
                                f.write(line.ljust(RECORD - 1) + "\n")
        os.replace(path + ".tmp", path)
        print(f"{path}: {n ** 5} token sequences, {missing} not in the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
