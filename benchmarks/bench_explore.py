"""``hwq explore`` search cost and quality (not a test; prints a table).

1. ILP solve time (``scipy.optimize.milp``): one solve and a 25-budget sweep on instances the size of the
   digits MLP's default space (3 layers x 96 choices) and of a 52-layer network with 8 formats per layer
   (random sensitivities and costs, seeded).
2. NSGA-II hypervolume recovery: on a space small enough to enumerate (the digits MLP, 500
   configurations), every configuration is scored (PTQ, validation accuracy, fast LUT estimate); NSGA-II
   (pymoo, unseeded population) then runs with at most 10 % of that many evaluations, for seeds 0-2.
   Hypervolume of (validation error %, LUTs), both normalised by the exhaustive set's worst values.

    python benchmarks/bench_explore.py [--workers 2] [--out runs/bench_explore] [--skip-hv]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def ilp_timing() -> list[tuple]:
    from hwq.explore.ilp import solve, sweep

    rows = []
    for layers, choices in ((3, 96), (52, 8)):
        rng = np.random.default_rng(0)
        sens = [rng.random(choices) for _ in range(layers)]
        cost = [rng.integers(100, 5000, choices).astype(float) for _ in range(layers)]
        lo, hi = sum(c.min() for c in cost), sum(c.max() for c in cost)
        solve(sens, {"luts": cost}, {"luts": (lo + hi) / 2})  # warm-up (imports)
        one, cpu = [], []
        for frac in np.linspace(0.05, 0.95, 9):
            c0 = time.process_time()
            _, dt = solve(sens, {"luts": cost}, {"luts": lo + (hi - lo) * frac})
            cpu.append(time.process_time() - c0)
            one.append(dt)
        t0, c0 = time.perf_counter(), time.process_time()
        sols, _, times = sweep(sens, {"luts": cost}, "luts", {}, n=25)
        total, tcpu = time.perf_counter() - t0, time.process_time() - c0
        name = f"{layers} layers x {choices} choices"
        rows.append((name, max(one) * 1e3, max(cpu) * 1e3, max(times) * 1e3, total, tcpu, len(sols)))
    return rows


SMALL_SPACE = {"space": {"weight": ["fixed<2>", "fixed<3>", "fixed<4>", "csd<1>", "e2m1"], "act": [3, 6], "acc": [12]}}


def hv_recovery(out: Path, workers: int, seeds=(0, 1, 2)) -> dict:
    import itertools

    import torch

    from hwq.explore.evaluate import Context, Evaluator, Executor, fingerprint
    from hwq.explore.nsga import run_nsga2
    from hwq.explore.pareto import hypervolume, nondominated
    from hwq.explore.run import _float_model, _model_layers, _splits
    from hwq.explore.space import build_space
    from hwq.train.config import resolve_config

    torch.set_num_threads(1)
    cfg = resolve_config({"ptq": {"calibrator": "mse"}})
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    data = _splits(cfg, 0.2)
    fm, _ = _float_model(cfg, data, cache, False)
    layers, act = _model_layers(fm)
    sp = build_space(layers, act, "fpga", SMALL_SPACE)
    data["x_cal"] = np.ascontiguousarray(
        data["x_fit"][np.sort(np.random.default_rng(0).permutation(len(data["x_fit"]))[:512])]
    )
    state = {k: v.detach().numpy().copy() for k, v in fm.state_dict().items()}
    ctx = Context(cfg, state, data, layers, act, "xc7")
    ctx.fingerprint = fingerprint(cfg, state, "xc7", {"bench": "hv"})
    ex = Executor(ctx, "local", workers)
    ev = Evaluator(ctx, ex, cache, True)
    genes = list(itertools.product(*[range(n) for _, _, n in sp.dims()]))
    t0 = time.perf_counter()
    recs = ev.run([sp.decode(g) for g in genes], "ptq", desc="exhaustive")
    t_exh = time.perf_counter() - t0
    pts = {tuple(g): (100 - r["val_accuracy"], r["costs"]["luts"]) for g, r in zip(genes, recs)}
    worst = np.max(np.array(list(pts.values())), axis=0)
    ref = (1.0 + 1e-9, 1.0 + 1e-9)

    def norm(ps):
        return [(e / worst[0], c / worst[1]) for e, c in ps]

    allp = list(pts.values())
    front = [p for p, keep in zip(allp, nondominated(allp)) if keep]
    hv_all = hypervolume(norm(front), ref)
    runs = []
    budget = len(genes) // 10
    for seed in seeds:
        asked: list = []

        def score(gs, asked=asked):
            asked.extend(tuple(g) for g in gs)
            return [{"val_accuracy": 100 - pts[tuple(g)][0], "costs": {"luts": pts[tuple(g)][1]}} for g in gs]

        pop, gens = 10, 1
        while True:  # the most generations whose distinct evaluations stay within 10 %
            asked.clear()
            run_nsga2(sp, score, ["luts"], {}, pop, gens + 1, seed)
            if len(set(asked)) > budget:
                break
            gens += 1
        asked.clear()
        run_nsga2(sp, score, ["luts"], {}, pop, gens, seed)
        seen = [pts[g] for g in dict.fromkeys(asked)]
        hv = hypervolume(norm([p for p, k in zip(seen, nondominated(seen)) if k]), ref)
        runs.append({"seed": seed, "generations": gens, "evaluations": len(set(asked)), "hv_ratio": hv / hv_all})
    ex.close()
    return {
        "space_size": len(genes),
        "exhaustive_seconds": t_exh,
        "exhaustive_front": len(front),
        "hv_exhaustive": hv_all,
        "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/bench_explore")
    ap.add_argument("--skip-hv", action="store_true")
    a = ap.parse_args()
    print(
        "| ILP instance | one solve, max wall (ms) | CPU (ms) | sweep solve, max wall (ms) "
        "| 25-budget sweep wall (s) | CPU (s) | solutions |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, one, cpu, sw, tot, tcpu, n in ilp_timing():
        print(f"| {name} | {one:.1f} | {cpu:.1f} | {sw:.1f} | {tot:.2f} | {tcpu:.2f} | {n} |")
    if a.skip_hv:
        return
    r = hv_recovery(Path(a.out), a.workers)
    print(
        f"\nexhaustive: {r['space_size']} configurations in {r['exhaustive_seconds']:.0f} s, "
        f"front {r['exhaustive_front']} points"
    )
    print("| NSGA-II seed | generations (pop 10) | distinct evaluations | % of exhaustive | hypervolume / exhaustive |")
    print("|---:|---:|---:|---:|---:|")
    for run in r["runs"]:
        pct = 100 * run["evaluations"] / r["space_size"]
        print(f"| {run['seed']} | {run['generations']} | {run['evaluations']} | {pct:.1f} | {run['hv_ratio']:.4f} |")
    Path(a.out, "hv.json").write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
