"""Speed of the cost models (one core): the digits MLP and a 50-layer CNN, exact and fast FPGA estimates, MCU.

Rows: the flow's digits MLP shape (64-64-32-10, 4-bit fixed point, random weights) and a 50-layer
streamed CNN (1 x 8 x 8 input, 49 conv3x3 layers of 4 channels with ReLU, then a dense layer), each
timed as ``hwq.cost.fpga(graph, "xc7")`` (exact: the Verilog emitter's own CSE and datapath builders)
three ways: cold (``rtl_model.clear_cache()`` first: every layer built; best of ``--repeat`` runs, the first of
which also imports the emitter's modules), warm (every layer found in the
per-layer cache: a hash of its weights, formats and input ranges) and one layer changed (the last
layer's weights perturbed, so that layer alone is rebuilt: a search step that changes one layer; a change
further up also rebuilds the layers below it whose input ranges change); ``fpga(..., exact=False)``
(the digit-count approximation) and ``hwq.cost.mcu(graph, "cortex-m4")`` where the MCU backend takes the
graph; best of ``--repeat`` runs (wall time, and CPU time of this process as ``*_cpu_s``, with the load
average at the cold runs, since a shared machine inflates wall time). The
bit-operations proxy of the old ``graph_cost`` is timed beside them
(the peer: the estimate a search would otherwise use). Goals from the issue: a full per-layer digits-MLP
estimate in <= 50 ms and a 50-layer CNN in <= 1 s.

Usage: ``python benchmarks/bench_cost.py [--repeat 3] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from hwq.cost import fpga, graph_cost, mcu
from hwq.cost.rtl_model import cache_info, clear_cache
from hwq.formats import FixedFormat, parse
from hwq.ir import Conv2d, Dense, Flatten, Graph, ReLU


def _acc(xf, wf, w, b, bf) -> FixedFormat:
    frac = xf.frac_bits + wf.frac_bits
    bound = int(np.abs(w.reshape(w.shape[0], -1)).sum(axis=1).max()) * (1 << xf.width) + (
        int(np.abs(b).max()) << max(0, frac - bf.frac_bits)
    )
    width = bound.bit_length() + 2
    return FixedFormat(width, width - frac, True)


def digits_mlp(seed: int = 0) -> Graph:
    """64-64-32-10 MLP, weights fixed<4,1>, activations ufixed<4,3>, ReLU between layers."""
    rng = np.random.default_rng(seed)
    wf, bf = parse("fixed<4,1>"), parse("fixed<8,3>")
    g = Graph("digits_mlp", ["x"], [])
    g.add_tensor("x", (64,), "ufixed<4,3>")
    cur, sizes = "x", [64, 64, 32, 10]
    for k, (n, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(m, n))
        b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(m,))
        y = f"fc{k}"
        g.add_tensor(y, (m,), "fixed<8,4,RND,SAT>")
        acc = _acc(g.tensor(cur).fmt, wf, w, b, bf)
        g.add_op(Dense(f"fc{k}", [cur], y, weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc))
        cur = y
        if k < 2:
            g.add_tensor(f"r{k}", (m,), "ufixed<4,3,RND,SAT>")
            g.add_op(ReLU(f"relu{k}", [cur], f"r{k}"))
            cur = f"r{k}"
    g.outputs = [cur]
    g.validate()
    return g


def deep_cnn(layers: int = 50, ch: int = 4, size: int = 8, seed: int = 0) -> Graph:
    """``layers - 1`` conv3x3 (pad 1, ``ch`` channels, ReLU) then flatten and a dense 10 layer."""
    rng = np.random.default_rng(seed)
    wf, bf = parse("fixed<4,1>"), parse("fixed<6,2>")
    g = Graph("deep_cnn", ["x"], [])
    g.add_tensor("x", (1, size, size), "ufixed<4,3>")
    cur, cin = "x", 1
    for k in range(layers - 1):
        w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(ch, cin, 3, 3))
        b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(ch,))
        acc = _acc(g.tensor(cur).fmt, wf, w, b, bf)
        g.add_tensor(f"c{k}", (ch, size, size), "fixed<6,3,RND,SAT>")
        g.add_op(
            Conv2d(f"conv{k}", [cur], f"c{k}", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc,
                   padding=(1, 1, 1, 1))
        )  # fmt: skip
        g.add_tensor(f"r{k}", (ch, size, size), "ufixed<4,3,RND,SAT>")
        g.add_op(ReLU(f"relu{k}", [f"c{k}"], f"r{k}"))
        cur, cin = f"r{k}", ch
    n = ch * size * size
    g.add_tensor("flat", (n,), "ufixed<4,3,RND,SAT>")
    g.add_op(Flatten("flatten", [cur], "flat"))
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(10, n))
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(10,))
    g.add_tensor("out", (10,), "fixed<8,4,RND,SAT>")
    g.add_op(Dense("fc", ["flat"], "out", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=_acc(
        g.tensor("flat").fmt, wf, w, b, bf)))  # fmt: skip
    g.outputs = ["out"]
    g.validate()
    return g


def _best(fn, repeat: int) -> float:
    return _best2(fn, repeat)[0]


def _best2(fn, repeat: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of this process) of ``repeat`` calls."""
    best = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return best, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = []
    for name, g, goal in (("digits MLP", digits_mlp(), 0.05), ("50-layer CNN", deep_cnn(), 1.0)):
        row = {"model": name, "layers": len(g.ops), "goal_s": goal}

        def cold(g=g):
            clear_cache()
            fpga(g, "xc7")

        row["exact_cold_s"], row["exact_cold_cpu_s"] = _best2(cold, args.repeat)
        row["load_average"] = [round(v, 2) for v in os.getloadavg()]
        row["exact_warm_s"], row["exact_warm_cpu_s"] = _best2(lambda g=g: fpga(g, "xc7"), args.repeat)
        last = g.ops[-1]
        changed = []
        for k in range(args.repeat):  # a new weight matrix for the last layer each time: a cache miss
            w = last.weight.copy()
            w.flat[k % w.size] = 0 if w.flat[k % w.size] else 1
            changed.append(w)
        best = best_cpu = float("inf")
        for w in changed:
            orig, last.weight = last.weight, w
            t0, c0 = time.perf_counter(), time.process_time()
            fpga(g, "xc7")
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
            last.weight = orig
        row["exact_one_layer_s"], row["exact_one_layer_cpu_s"] = best, best_cpu
        row["cache"] = cache_info()
        row["fast_s"], row["fast_cpu_s"] = _best2(lambda g=g: fpga(g, "xc7", exact=False), args.repeat)
        row["proxy_s"] = _best(lambda g=g: graph_cost(g), args.repeat)
        try:
            row["mcu_s"] = _best(lambda g=g: mcu(g, "cortex-m4"), args.repeat)
        except ValueError as e:
            row["mcu_s"] = None
            row["mcu_note"] = str(e)[:80]
        rows.append(row)
    print(
        f"{'model':14} {'ops':>4} {'exact cold':>11} {'cold CPU':>9} {'exact warm':>11} {'1 layer new':>12} "
        f"{'fast':>9} {'proxy':>8} {'mcu':>8} {'goal':>7}  warm/goal"
    )
    for r in rows:
        mcu_s = f"{r['mcu_s'] * 1e3:.1f} ms" if r["mcu_s"] is not None else "n/a"
        print(
            f"{r['model']:14} {r['layers']:>4} {r['exact_cold_s'] * 1e3:>8.0f} ms {r['exact_cold_cpu_s']:>7.2f} s "
            f"{r['exact_warm_s'] * 1e3:>8.1f} ms "
            f"{r['exact_one_layer_s'] * 1e3:>9.1f} ms {r['fast_s'] * 1e3:>6.1f} ms {r['proxy_s'] * 1e3:>5.1f} ms "
            f"{mcu_s:>8} {r['goal_s'] * 1e3:>4.0f} ms  {r['exact_warm_s'] / r['goal_s']:.2f}"
        )
    print(f"load average (1, 5, 15 min) at the cold runs: {rows[0]['load_average']}, {rows[-1]['load_average']}")
    for r in rows:
        print(
            f"CPU time ({r['model']}): exact cold {r['exact_cold_cpu_s']:.2f} s, "
            f"warm {r['exact_warm_cpu_s'] * 1e3:.1f} ms, "
            f"1 layer new {r['exact_one_layer_cpu_s'] * 1e3:.1f} ms, fast {r['fast_cpu_s'] * 1e3:.1f} ms"
        )
    for r in rows:
        if r.get("mcu_note"):
            print(f"mcu ({r['model']}): {r['mcu_note']}")
    if args.json:
        from pathlib import Path

        from hwq.io import atomic_write

        atomic_write(Path(args.json), json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
