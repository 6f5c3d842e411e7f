"""How much do the FPGA cost model's held-out figures depend on which <= 12 designs it is fitted on?

``hwq cost calibrate`` fits the LUT coefficients on 12 of its 112 designs (``calibrate.design_set``: one per
shape, rotating formats) and reports the other 100. The within-group goal (Spearman >= 0.95 in every group of
equal shape) asks the model to order formats whose yosys LUTs are often 0.2-1 % apart, so whether a group
passes can hinge on the fitted coefficients' last digit. This script re-fits the same model, with the same
features and the same cached yosys counts, on other fit sets and scores each on the designs it left out:

- ``packaged``: the calibration's own fit set (what the target files hold);
- ``all, in-sample``: fitted and scored on every design: not a held-out figure, but a bound on what the
  features can rank (a group that fails here fails whatever 12 designs are fitted);
- ``d-optimal``: 12 designs chosen from the features alone (greedy D-optimal design on the fit's relative
  feature rows, columns scaled to unit spread; no synthesis result is looked at);
- ``random``: ``--random N`` fit sets of one design in each of 12 shapes drawn at random (seeded): the
  distribution of groups below 0.95, within-group minimum, median and p90 error.

Nothing is synthesised with ``--cached-only`` (run ``hwq cost calibrate --target T`` first); otherwise the
missing designs are synthesised into the calibration cache as ``calibrate`` does.

Usage: ``python benchmarks/cost_fit_sets.py --target xc7 --target ice40 [--random 100] [--seed 0]
[--cached-only] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from hwq.cost import calibrate as cal
from hwq.cost.fpga import LUT_FEATURES, coefficient_vector
from hwq.cost.rtl_model import emitter_default_adders
from hwq.cost.targets import load_target


def score(designs: list[dict], target: dict, fit_idx: list[int], in_sample: bool = False) -> dict:
    """Fit ``calibrate.fit`` on the designs at ``fit_idx`` and score the others (or, ``in_sample``, all of
    them): Spearman overall, groups below 0.95 within, within-group minimum, median / p90 absolute error (%)."""
    chosen = set(fit_idx)
    for i, d in enumerate(designs):
        d["fit"] = i in chosen
    coefs = cal.fit(designs, target)
    cal.predict(designs, coefs, target)
    if in_sample:
        for d in designs:
            d["fit"] = False
    m = cal.accuracy(designs, "pred_lut")
    below = sorted(g["group"] for g in m["groups"] if g["spearman"] < 0.95)
    return {
        "held_out": m["designs"],
        "spearman": m["spearman"],
        "groups_below_0_95": len(below),
        "groups": len(m["groups"]),
        "below": below,
        "within_min": m["spearman_within_min"],
        "median_ape": m["median_ape"],
        "p90_ape": m["p90_ape"],
        "fit": [f"{designs[i]['group']} {designs[i]['format']}" for i in sorted(chosen)],
    }


def d_optimal(rows: np.ndarray, n: int) -> list[int]:
    """Greedy D-optimal choice of ``n`` row indices of ``rows`` (designs x features): each step adds the row
    that most increases log det(S^T S) of the chosen rows S (a tiny ridge keeps the first steps defined)."""
    chosen: list[int] = []
    ridge = 1e-6 * np.eye(rows.shape[1])
    for _ in range(n):
        best, best_i = -np.inf, -1
        for i in range(len(rows)):
            if i in chosen:
                continue
            s = rows[chosen + [i]]
            v = np.linalg.slogdet(s.T @ s + ridge)[1]
            if v > best:
                best, best_i = v, i
        chosen.append(best_i)
    return chosen


def fit_rows(designs: list[dict], target: dict) -> np.ndarray:
    """The rows the fit weighs (features of the coefficients it fits, over the prior model's LUTs: the fit is on
    relative error), columns scaled to unit standard deviation."""
    x = np.array([d["vector"] for d in designs])
    prior = coefficient_vector(target)
    fixed = set(target.get("model", {}).get("fixed", []))
    free = np.array([k not in fixed for k in LUT_FEATURES]) & x.any(axis=0)
    rows = x[:, free] / np.maximum(x @ prior, 1.0)[:, None]
    return rows / rows.std(axis=0).clip(1e-12)


def run_target(name: str, n_random: int, seed: int, cached_only: bool, jobs: int | None) -> dict:
    """All fit-set experiments for one FPGA target; returns a JSON-ready dict."""
    target = load_target(name)
    adders = emitter_default_adders()
    designs = cal.design_set()
    cal.featurise(designs, adders)
    designs = cal.synthesise(designs, target, jobs, adders, cached_only, log=lambda *a: None)
    if len(designs) < 100:
        raise SystemExit(f"{name}: only {len(designs)} designs synthesised; run `hwq cost calibrate --target {name}`")
    packaged = [i for i, d in enumerate(designs) if d["fit"]]
    out = {"target": name, "designs": len(designs), "fit_size": len(packaged)}
    out["packaged"] = score(designs, target, packaged)
    out["all_in_sample"] = score(designs, target, list(range(len(designs))), in_sample=True)
    out["d_optimal"] = score(designs, target, d_optimal(fit_rows(designs, target), len(packaged)))
    shapes: dict[str, list[int]] = {}
    for i, d in enumerate(designs):
        shapes.setdefault(d["group"], []).append(i)
    keys = sorted(shapes)
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(n_random):
        picked = rng.choice(len(keys), size=len(packaged), replace=False)
        runs.append(score(designs, target, [int(rng.choice(shapes[keys[s]])) for s in picked]))
        if (k + 1) % 20 == 0 or k + 1 == n_random:
            print(f"{name}: random fit set {k + 1}/{n_random}", file=sys.stderr, flush=True)
    below = np.array([r["groups_below_0_95"] for r in runs])
    out["random"] = {
        "sets": n_random,
        "seed": seed,
        "groups_below_0_95": {"min": int(below.min()), "median": float(np.median(below)), "max": int(below.max())},
        "sets_with_every_group_at_0_95": int((below == 0).sum()),
        "median_ape": _spread([r["median_ape"] for r in runs]),
        "p90_ape": _spread([r["p90_ape"] for r in runs]),
        "spearman": _spread([r["spearman"] for r in runs]),
        "packaged_rank": int((below < out["packaged"]["groups_below_0_95"]).sum()),
        "runs": runs,
    }
    return out


def _spread(vals: list[float]) -> dict:
    """min / median / max of a list of figures."""
    return {k: round(float(f(vals)), 4) for k, f in (("min", np.min), ("median", np.median), ("max", np.max))}


def _table(res: dict) -> str:
    """Markdown table of one target's results."""
    lines = [
        f"{res['target']}: {res['designs']} designs, fit sets of {res['fit_size']}",
        "| fit set | held out | Spearman | groups < 0.95 | within-group min | median | p90 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("packaged", "packaged"), ("d_optimal", "d-optimal"), ("all_in_sample", "all, in-sample")):
        r = res[key]
        lines.append(
            f"| {label} | {r['held_out']} | {r['spearman']} | {r['groups_below_0_95']} of {r['groups']} | "
            f"{r['within_min']} | {r['median_ape']} % | {r['p90_ape']} % |"
        )
    rr = res["random"]
    g, m, p, s = rr["groups_below_0_95"], rr["median_ape"], rr["p90_ape"], rr["spearman"]
    lines.append(
        f"| random x{rr['sets']} (min / median / max) | ~100 | {s['min']} / {s['median']} / {s['max']} | "
        f"{g['min']} / {g['median']:g} / {g['max']} | | {m['min']} / {m['median']} / {m['max']} % | "
        f"{p['min']} / {p['median']} / {p['max']} % |"
    )
    lines.append(
        f"random fit sets with every group >= 0.95: {rr['sets_with_every_group_at_0_95']} of {rr['sets']}; "
        f"with fewer failing groups than the packaged set: {rr['packaged_rank']}"
    )
    below = res["all_in_sample"]["below"]
    lines.append(f"groups below 0.95 even in-sample: {', '.join(below) if below else 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", help="FPGA target(s) (default: xc7 and ice40)")
    ap.add_argument("--random", type=int, default=100, help="random fit sets per target (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cached-only", action="store_true", help="use only cached syntheses (no yosys run)")
    ap.add_argument("--jobs", type=int, default=None, help="yosys processes (default: the core count)")
    ap.add_argument("--json", type=Path, help="write all results (every random fit set) here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = [
        run_target(t, args.random, args.seed, args.cached_only, args.jobs) for t in args.target or ["xc7", "ice40"]
    ]
    return finish(results, _table, t0, args.json)


def finish(results: list[dict], table, t0: float, json_path: Path | None) -> int:
    """Print ``table(result)`` of every target's results and the wall time since ``t0`` (s); write the results
    with the command line to ``json_path`` (atomically) when given. Returns the exit code 0."""
    for res in results:
        print(table(res), end="\n\n")
    print(f"{time.perf_counter() - t0:.1f} s")
    if json_path:
        from hwq.io import atomic_write

        atomic_write(json_path, json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
