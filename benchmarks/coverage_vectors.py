"""Coverage: vectors ``--vectors auto`` takes beside plain random vectors (issue 16), interpreter only.

For each model: the coverage items (``hwq.sim.coverage``), how many vectors ``auto_vectors`` needs to hit
every reachable item (from ``--start`` random vectors), and how many plain random vectors
(``random_inputs``, several seeds) hit the same items. Prints a markdown table.

    python benchmarks/coverage_vectors.py [--start 16] [--seeds 5] [--cap 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import hwq.rtl  # noqa: F401  (the installed package before the repository root joins sys.path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cap", type=int, default=20000)
    a = ap.parse_args()
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    from hwq.ir.random_graph import random_graph
    from hwq.sim.coverage import auto_vectors, random_vectors_to_cover
    from tests.rtl.graphs import digits_mlp
    from tests.rtl.graphs_ops import sat_dense
    from tests.rtl.graphs_stream import stream_cnn
    from tests.rtl.test_coverage import _depthwise
    from tests.rtl.test_ops import RANDOM_OPS

    models = [
        ("digits MLP 64-64-32-10, 8-bit", digits_mlp("fixed8")),
        ("digits MLP, 4-bit", digits_mlp("fixed4")),
        ("digits CNN (streamed, 1x8x8, conv-relu-maxpool-conv-relu-dense)", stream_cnn()),
        ("random dense/relu/clip (seed 0)", random_graph(0, ["dense", "relu", "dense", "clip", "dense"], max_width=8)),
        ("saturating dense (SAT accumulator)", sat_dense("SAT")),
        ("saturating depthwise conv 3x3", _depthwise()),
    ]
    models += [
        (f"random{k} ({', '.join(ops)})", random_graph(k, ops=ops, max_width=8)) for k, ops in enumerate(RANDOM_OPS)
    ]
    print(
        "| model | items | reachable (sat, min/max, ovf, tie) | auto: vectors, hit | auto CPU s "
        "| random: vectors for the same items (per seed) |"
    )
    print("|---|---|---|---|---|---|")
    for name, g in models:
        t0 = time.process_time()
        x, cov = auto_vectors(g, start=a.start)
        cpu = time.process_time() - t0
        s = cov.summary()
        pk = s["per_kind"]

        def r(*kinds, pk=pk):
            return sum(pk.get(k, {}).get("reachable", 0) for k in kinds)

        split = (
            f"{r('acc_sat_hi', 'acc_sat_lo')}, {r('out_max', 'out_min')}, {r('cast_ovf_hi', 'cast_ovf_lo')}, {r('tie')}"
        )
        target = {it.key for it in cov.items.values() if it.hits}
        runs = []
        for k in range(a.seeds):
            n, hit = random_vectors_to_cover(g, target, seed=1000 * k, cap=a.cap)
            runs.append(str(n) if target <= hit else f"> {a.cap}")
        miss = [it.key for it in cov.missing()]
        hit = f"{s['covered']}" + (f" (not hit: {', '.join(miss)})" if miss else "")
        row = (
            f"| {name} | {s['items']} | {s['reachable']} ({split}) | {len(x)}, {hit} | {cpu:.1f} | {', '.join(runs)} |"
        )
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
