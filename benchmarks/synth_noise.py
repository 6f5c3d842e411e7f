"""How reproducible is the yosys LUT count the FPGA cost model is calibrated against?

``hwq cost calibrate`` synthesises its 112-design set in batches (several designs in one yosys process,
``calibrate.BATCH_FORMS``). abc's mapping depends on net order, and net order depends on what else is in the
process, so one design's LUT count moves with the batch it lands in. This script synthesises the same design
set a second time in a different arrangement (default: every design alone, as a user synthesising one design
gets it) into a separate cache, and reports

- run B against run A (the calibration cache): per-design |LUT_B / LUT_A - 1| (median, p90, max), FF and
  CARRY equal counts, and the Spearman rank correlation of B against A overall and within every group of
  equal shape (the issue's "within-group >= 0.95" metric, here measured on yosys against itself: the
  ceiling any model can reach when its reference is one abc run);
- the model, fitted on run A's 12 fit designs as ``calibrate`` fits it, against A, against B, and against
  the per-design mean of A and B, with the same within-group figures and its pairs ordered among the pairs
  whose two runs agree on the order.

Usage: ``python benchmarks/synth_noise.py --target xc7 [--batch 1] [--jobs 2] [--cache DIR] [--json OUT]``.
Run A must be in the calibration cache (``hwq cost calibrate --target T`` first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from hwq.cost import calibrate as cal


def _spearman_groups(designs: list[dict], a: str, b: str) -> dict:
    """Spearman of values ``d[a]`` vs ``d[b]`` overall and within each group of the held-out designs."""
    held = [d for d in designs if not d["fit"]]
    groups: dict[str, list[dict]] = {}
    for d in held:
        groups.setdefault(d["group"], []).append(d)
    per = {}
    for g, ds in groups.items():
        if len(ds) >= 2:
            per[g] = round(cal._spearman([d[a] for d in ds], [d[b] for d in ds]), 3)
    vals = [v for v in per.values() if not np.isnan(v)]
    return {
        "spearman": round(cal._spearman([d[a] for d in held], [d[b] for d in held]), 4),
        "within_min": round(min(vals), 3),
        "within_mean": round(float(np.mean(vals)), 3),
        "groups_below_0_95": sorted(g for g, v in per.items() if v < 0.95),
        "per_group": per,
    }


def _stable_pairs(designs: list[dict]) -> dict:
    """Pairs of held-out designs of one group that runs A and B order the same way (strictly): how many,
    and how many of them the model orders the same way too."""
    held = [d for d in designs if not d["fit"]]
    groups: dict[str, list[dict]] = {}
    for d in held:
        groups.setdefault(d["group"], []).append(d)
    agree = ok = flip = 0
    for ds in groups.values():
        for i in range(len(ds)):
            for j in range(i + 1, len(ds)):
                da = ds[i]["lut_a"] - ds[j]["lut_a"]
                db = ds[i]["lut_b"] - ds[j]["lut_b"]
                if da * db < 0:
                    flip += 1
                if da * db > 0:
                    agree += 1
                    ok += (ds[i]["pred_lut"] - ds[j]["pred_lut"]) * da > 0
    return {"pairs_both_runs_agree": agree, "model_orders_them": ok, "pairs_the_runs_flip": flip}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="xc7")
    ap.add_argument("--batch", type=int, default=1, help="designs per yosys process in run B (default 1: alone)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--cache", default=None, help="run B's synthesis cache (default <tmp>/hwq-cost-cache-bB)")
    ap.add_argument("--json", default=None, help="write the report here")
    args = ap.parse_args(argv)

    tgt = cal.load_target(args.target)
    designs = cal.design_set()
    t0 = time.perf_counter()
    cal.featurise(designs)
    print(f"featurised {len(designs)} designs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    run_a = cal.synthesise(designs, tgt, cached_only=True)
    if len(run_a) != len(designs):
        print(f"run A: only {len(run_a)}/{len(designs)} designs in {cal.cache_dir()}; calibrate first", file=sys.stderr)
        return 2
    for d in designs:
        d["meas_a"] = d["measured"]
    cache_a = os.environ.get("HWQ_COST_CACHE")
    os.environ["HWQ_COST_CACHE"] = args.cache or str(cal.cache_dir().parent / f"hwq-cost-cache-b{args.batch}")
    t0 = time.perf_counter()
    run_b = cal.synthesise(designs, tgt, args.jobs, batch=args.batch, log=lambda s: print(s, file=sys.stderr))
    wall_b = time.perf_counter() - t0
    if cache_a is None:
        del os.environ["HWQ_COST_CACHE"]
    else:
        os.environ["HWQ_COST_CACHE"] = cache_a
    assert len(run_b) == len(designs)
    for d in designs:
        d["meas_b"] = d["measured"]
        d["lut_a"], d["lut_b"] = d["meas_a"]["LUT"], d["meas_b"]["LUT"]
        d["lut_mean"] = (d["lut_a"] + d["lut_b"]) / 2
        d["measured"] = d["meas_a"]  # the model is fitted on run A, as calibrate fits it
    coefs = cal.fit(designs, tgt)
    cal.predict(designs, coefs, tgt)
    dev = [abs(d["lut_b"] / d["lut_a"] - 1) * 100 for d in designs]
    worst = max(designs, key=lambda d: abs(d["lut_b"] / d["lut_a"] - 1))
    report = {
        "target": tgt["target"]["name"],
        "yosys": cal.yosys_version(),
        "run_b_batch": args.batch,
        "run_b_wall_seconds": round(wall_b, 1),
        "designs": len(designs),
        "lut_b_vs_a_pct": {
            "median": round(float(np.median(dev)), 2),
            "p90": round(float(np.percentile(dev, 90)), 2),
            "max": round(max(dev), 2),
            "max_design": f"{worst['group']} {worst['format']}: {worst['lut_a']} -> {worst['lut_b']}",
            "unchanged": sum(d["lut_a"] == d["lut_b"] for d in designs),
        },
        "ff_equal": sum(d["meas_a"]["FF"] == d["meas_b"]["FF"] for d in designs),
        "carry_equal": sum(d["meas_a"]["CARRY"] == d["meas_b"]["CARRY"] for d in designs),
        "yosys_b_vs_yosys_a": _spearman_groups(designs, "lut_b", "lut_a"),
        "model_vs_a": _spearman_groups(designs, "pred_lut", "lut_a"),
        "model_vs_b": _spearman_groups(designs, "pred_lut", "lut_b"),
        "model_vs_mean": _spearman_groups(designs, "pred_lut", "lut_mean"),
        "pairs": _stable_pairs(designs),
    }
    for key in ("model_vs_a", "model_vs_b", "model_vs_mean"):
        held = [d for d in designs if not d["fit"]]
        ref = {"model_vs_a": "lut_a", "model_vs_b": "lut_b", "model_vs_mean": "lut_mean"}[key]
        err = [abs(d["pred_lut"] / d[ref] - 1) * 100 for d in held]
        report[key]["median_ape"] = round(float(np.median(err)), 2)
        report[key]["p90_ape"] = round(float(np.percentile(err, 90)), 2)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
