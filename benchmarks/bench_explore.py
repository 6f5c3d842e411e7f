"""``hwq explore`` search cost and quality (not a test; prints a table).

1. ILP solve time (``scipy.optimize.milp``): one solve and a 25-budget sweep on instances the size of the
   digits MLP's default space (3 layers x 96 choices) and of a 52-layer network with 8 formats per layer
   (random sensitivities and costs, seeded).
2. NSGA-II hypervolume recovery: on a space small enough to enumerate (the digits MLP, 500
   configurations), every configuration is scored (PTQ, validation accuracy, LUTs of
   ``hwq.cost.fpga(exact=False)``); NSGA-II (pymoo) then runs with at most 10 % of that many evaluations
   (distinct configurations; explore's seeds and the sensitivity measurements behind them included), for
   ``--seeds`` NSGA-II seeds (default 10: 0-9), in the variants of ``VARIANTS``. Hypervolume of (validation
   error %, LUTs), both normalised by the exhaustive set's worst values.

    python benchmarks/bench_explore.py [--workers 2] [--out runs/bench_explore] [--skip-hv] [--ilp-budgets 25]
        [--seeds 10]
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
        sols, _, times = sweep(sens, {"luts": cost}, "luts", {}, n=25, fill=25)  # as explore sweeps
        total, tcpu = time.perf_counter() - t0, time.process_time() - c0
        name = f"{layers} layers x {choices} choices"
        rows.append((name, max(one) * 1e3, max(cpu) * 1e3, max(times) * 1e3, total, tcpu, len(times)))
    return rows


SMALL_SPACE = {"space": {"weight": ["fixed<2>", "fixed<3>", "fixed<4>", "csd<1>", "e2m1"], "act": [3, 6], "acc": [12]}}


def setup(out: Path, workers: int):
    """The digits MLP (float model cached under ``out``), its small space and a cached Evaluator."""
    import torch

    from hwq.explore.evaluate import Context, Evaluator, Executor, fingerprint
    from hwq.explore.run import _float_model, _model_layers, _splits, cost_model_hash
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
    ctx = Context(cfg, state, data, layers, act, "xc7", extra={"fpga_model": "fast"})
    # the cost model's hash is part of the key (as in explore): a changed model is never answered from the cache
    ctx.fingerprint = fingerprint(
        cfg, state, "xc7", {"bench": "hv", "fpga_cost": "fast", "cost_model": cost_model_hash()}
    )
    ex = Executor(ctx, "local", workers)
    return sp, ctx, ex, Evaluator(ctx, ex, cache, True), fm


def exhaustive(sp, ev) -> tuple[dict, float]:
    """Every configuration of the space scored: {genes: (validation error %, LUTs)}, seconds."""
    import itertools

    genes = list(itertools.product(*[range(n) for _, _, n in sp.dims()]))
    t0 = time.perf_counter()
    recs = ev.run([sp.decode(g) for g in genes], "ptq", desc="exhaustive")
    pts = {tuple(g): (100 - r["val_accuracy"], r["costs"]["luts"]) for g, r in zip(genes, recs)}
    return pts, time.perf_counter() - t0


def hv_ratio(seen: list[tuple], worst, hv_all: float) -> float:
    """Hypervolume of the non-dominated ``seen`` points over the exhaustive front's (both normalised by the
    exhaustive set's worst values, reference point just beyond (1, 1))."""
    from hwq.explore.pareto import hypervolume, nondominated

    ref = (1.0 + 1e-9, 1.0 + 1e-9)
    pts = [(e / worst[0], c / worst[1]) for e, c in seen]
    return hypervolume([p for p, k in zip(pts, nondominated(pts)) if k], ref) / hv_all


#: NSGA-II variants of the hypervolume benchmark: (name, population). plain: random initial population,
#: genes in the space's order (the earlier configuration); ordered: genes ranked by cost; seeded: ranked,
#: and the initial population taken from explore's seeds (uniform configurations and ILP solutions, whose
#: evaluations, and the sensitivity measurements behind the ILP, count against the budget); seeded-grid:
#: the same with the ILP sweep's geometric grid alone (no gap-filling solves; explore before this change);
#: seeded-rank: seeded with ``run_nsga2(operators="rank")``; plain-rank: plain with it
VARIANTS = (
    ("plain", 10),
    ("plain-rank", 10),
    ("ordered", 10),
    ("seeded-grid", 24),
    ("seeded", 24),
    ("seeded-rank", 24),
)


def hv_recovery(out: Path, workers: int, seeds=tuple(range(10)), ilp_budgets: int = 25) -> dict:
    from hwq.explore.nsga import initial_population, run_nsga2
    from hwq.explore.pareto import hypervolume, nondominated
    from hwq.explore.run import gene_order, seed_configs

    sp, ctx, ex, ev, fm = setup(out, workers)
    pts, t_exh = exhaustive(sp, ev)
    worst = np.max(np.array(list(pts.values())), axis=0)
    allp = list(pts.values())
    front = [p for p, keep in zip(allp, nondominated(allp)) if keep]
    hv_all = hypervolume([(e / worst[0], c / worst[1]) for e, c in front], (1.0 + 1e-9, 1.0 + 1e-9))
    budget = len(pts) // 10
    # explore's own seeds: the uniform configurations of the space and the ILP sweep's solutions (their
    # sensitivity measurements are evaluations too, of configurations outside the space)
    t0 = time.perf_counter()
    seed_cfgs, extra_evals, by_uniform = seed_configs(sp, ev, fm, "fpga", probes=32, seed=0, ilp_budgets=ilp_budgets)
    t_seed = time.perf_counter() - t0
    grid_cfgs, grid_extra, _ = seed_configs(sp, ev, fm, "fpga", probes=32, seed=0, ilp_budgets=ilp_budgets, ilp_fill=0)
    order = gene_order(sp, by_uniform, "luts")
    ex.close()
    seed_sets = {
        "fill": ([tuple(sp.encode(c)) for c in seed_cfgs], extra_evals),
        "grid": ([tuple(sp.encode(c)) for c in grid_cfgs], grid_extra),
    }
    seed_genes = seed_sets["fill"][0]
    runs = []
    for variant, pop in VARIANTS:
        sgenes, sextra = seed_sets["grid" if variant == "seeded-grid" else "fill"]
        if not variant.startswith("seeded"):
            sgenes, sextra = [], 0
        for seed in seeds:
            asked: list = []

            def score(gs, asked=asked):
                asked.extend(tuple(g) for g in gs)
                return [{"val_accuracy": 100 - pts[tuple(g)][0], "costs": {"luts": pts[tuple(g)][1]}} for g in gs]

            init, kw, pre = None, {}, set()
            if not variant.startswith("plain"):
                kw["order"] = order
            if variant.endswith("-rank"):
                kw["operators"] = "rank"
            if sgenes:
                pre = set(sgenes)
                done = [(sp.decode(g), score([g])[0]) for g in sgenes]
                init = initial_population(sp, done, ["luts"], {}, pop)
            left = budget - len(pre) - sextra
            run_nsga2(sp, score, ["luts"], {}, pop, 1000, seed, init, max_evals=max(left, 0), seen=pre, **kw)
            distinct = list(dict.fromkeys(asked))
            runs.append(
                {
                    "variant": variant,
                    "population": pop,
                    "seed": seed,
                    "in_space": len(distinct),
                    "evaluations": len(distinct) + sextra,
                    "hv_ratio": hv_ratio([pts[g] for g in distinct], worst, hv_all),
                    "hv_seeds_only": hv_ratio([pts[g] for g in sgenes], worst, hv_all) if sgenes else None,
                }
            )
    return {
        "space_size": len(pts),
        "exhaustive_seconds": t_exh,
        "exhaustive_front": len(front),
        "hv_exhaustive": hv_all,
        "budget": budget,
        "seed_configs": len(seed_genes),
        "seed_front": hv_ratio([pts[g] for g in seed_genes], worst, hv_all),
        "seed_extra_evaluations": extra_evals,
        "grid_seed_configs": len(seed_sets["grid"][0]),
        "grid_seed_front": hv_ratio([pts[g] for g in seed_sets["grid"][0]], worst, hv_all),
        "exhaustive_front_points": sorted(front, key=lambda p: p[1]),
        "seed_seconds": t_seed,
        "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/bench_explore")
    ap.add_argument("--skip-hv", action="store_true")
    ap.add_argument(
        "--ilp-budgets", type=int, default=25, help="budgets of the seeding ILP sweep (explore's default 25)"
    )
    ap.add_argument("--seeds", type=int, default=10, help="NSGA-II seeds per variant: 0 .. N-1 (default 10)")
    a = ap.parse_args()
    print(
        "| ILP instance | one solve, max wall (ms) | CPU (ms) | sweep solve, max wall (ms) "
        "| 25-budget sweep + 25 gap fills, wall (s) | CPU (s) | solves |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, one, cpu, sw, tot, tcpu, n in ilp_timing():
        print(f"| {name} | {one:.1f} | {cpu:.1f} | {sw:.1f} | {tot:.2f} | {tcpu:.2f} | {n} |")
    if a.skip_hv:
        return
    t0, c0 = time.perf_counter(), time.process_time()
    r = hv_recovery(Path(a.out), a.workers, seeds=tuple(range(a.seeds)), ilp_budgets=a.ilp_budgets)
    r["wall_seconds"], r["cpu_seconds_main"] = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"\nexhaustive: {r['space_size']} configurations in {r['exhaustive_seconds']:.0f} s, "
        f"front {r['exhaustive_front']} points"
    )
    print(
        f"10 % budget: {r['budget']} evaluations; explore's seeds: {r['seed_configs']} configurations of the space "
        f"(+{r['seed_extra_evaluations']} sensitivity evaluations outside it, {r['seed_seconds']:.0f} s), "
        f"hypervolume of the seeds alone {r['seed_front']:.4f} (grid-only ILP: {r['grid_seed_configs']} "
        f"configurations, {r['grid_seed_front']:.4f})"
    )
    print("| variant | population | seed | evaluations (in space) | % of exhaustive | hypervolume / exhaustive |")
    print("|---|---:|---:|---:|---:|---:|")
    for run in r["runs"]:
        pct = 100 * run["evaluations"] / r["space_size"]
        print(
            f"| {run['variant']} | {run['population']} | {run['seed']} | {run['evaluations']} ({run['in_space']}) "
            f"| {pct:.1f} | {run['hv_ratio']:.4f} |"
        )
    print("\n| variant | seeds | evaluations | hypervolume ratio: worst | median | best | mean |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, pop in VARIANTS:
        sel = [run for run in r["runs"] if run["variant"] == name and run["population"] == pop]
        hv = [run["hv_ratio"] for run in sel]
        ne = sorted({run["evaluations"] for run in sel})
        print(
            f"| {name} (pop {pop}) | {len(hv)} | {'/'.join(map(str, ne))} | {min(hv):.4f} | {np.median(hv):.4f} "
            f"| {max(hv):.4f} | {np.mean(hv):.4f} |"
        )
    Path(a.out, "hv.json").write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
